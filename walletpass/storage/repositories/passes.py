"""Passes, and the update tag counter that orders their versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select, update

from walletpass.domain.passes import MEMBER_CARD, Pass, next_last_modified
from walletpass.storage.repositories._base import SessionRepository, is_id
from walletpass.storage.tables import CounterRow, CouponRow, PassRow


def to_pass(row: PassRow) -> Pass:
    return Pass(id=row.id, serial_number=row.serial_number, pass_type_id=row.pass_type_id, kind=row.kind,
                program_id=row.program_id, authentication_token=row.authentication_token,
                public_token=row.public_token, update_tag=int(row.update_tag), updated_at=row.updated_at,
                member_id=row.member_id, coupon_id=row.coupon_id, voided=row.voided, created_at=row.created_at,
                news_campaign_id=row.news_campaign_id)


class PassRepository(SessionRepository):
    def add(self, *, serial_number: str, pass_type_id: str, kind: str, program_id: int, authentication_token: str,
            public_token: str, tag: int, now: datetime, member_id: int | None = None,
            coupon_id: int | None = None) -> Pass:
        """A new pass at version *tag*, Last-Modified *now* (whole seconds)."""
        return to_pass(self._add(PassRow(
            serial_number=serial_number, pass_type_id=pass_type_id, kind=kind, program_id=program_id,
            member_id=member_id, coupon_id=coupon_id, authentication_token=authentication_token,
            public_token=public_token, update_tag=tag, voided=False, created_at=now,
            updated_at=now.replace(microsecond=0))))

    def get(self, pass_id: int, *, for_update: bool = False) -> Pass:
        return to_pass(self._row(PassRow, pass_id, "pass", for_update=for_update))

    def get_many(self, pass_ids: Sequence[int]) -> dict[int, Pass]:
        """The passes of *pass_ids* that exist, by id, in one query."""
        if not pass_ids:
            return {}
        return {p.id: p for p in self._all(select(PassRow).where(PassRow.id.in_(list(pass_ids))))}

    def by_public_token(self, token: str) -> Pass | None:
        return self._first(select(PassRow).where(PassRow.public_token == token))

    def by_serial(self, pass_type_id: str, serial: str) -> Pass | None:
        return self._first(select(PassRow).where(PassRow.pass_type_id == pass_type_id,
                                                 PassRow.serial_number == serial))

    def by_serial_any(self, serial: str) -> Pass | None:
        return self._first(select(PassRow).where(PassRow.serial_number == serial))

    def of_member(self, member_id: int) -> list[Pass]:
        """The member's own passes (their member card first)."""
        if not is_id(member_id):
            return []
        return self._all(select(PassRow).where(PassRow.member_id == member_id).order_by(PassRow.id))

    def cards_of(self, member_ids: Sequence[int]) -> list[int]:
        """The ids of the member cards of *member_ids*, in one query."""
        ids = [m for m in member_ids if is_id(m)]
        if not ids:
            return []
        return list(self._s.scalars(select(PassRow.id).where(PassRow.member_id.in_(ids), PassRow.kind == MEMBER_CARD,
                                                             PassRow.coupon_id.is_(None)).order_by(PassRow.id)))

    def of_member_coupons(self, member_id: int) -> list[Pass]:
        """The passes of the coupons issued to *member_id* (they show the member's name)."""
        return self._all(select(PassRow).join(CouponRow, CouponRow.id == PassRow.coupon_id)
                         .where(CouponRow.member_id == member_id).order_by(PassRow.id))

    def of_coupons(self, coupon_ids: Sequence[int]) -> list[Pass]:
        """The passes of the coupons *coupon_ids*, in one query."""
        if not coupon_ids:
            return []
        return self._all(select(PassRow).where(PassRow.coupon_id.in_(list(coupon_ids))).order_by(PassRow.id))

    def of_program_exist(self, program_id: int) -> bool:
        return bool(self._s.scalar(select(func.count()).select_from(PassRow).where(PassRow.program_id == program_id)))

    # -- versions --------------------------------------------------------------------------------------------
    def next_tag(self) -> int:
        """Take the next pass update tag; the counter row stays locked until commit, so tags commit in order."""
        return int(self._s.execute(
            update(CounterRow).where(CounterRow.name == "pass_tag")
            .values(value=CounterRow.value + 1).returning(CounterRow.value)
        ).scalar_one())

    def current_tag(self) -> int:
        return int(self._s.scalar(select(CounterRow.value).where(CounterRow.name == "pass_tag")) or 0)

    def last_modified(self, pass_ids: Sequence[int]) -> dict[int, datetime]:
        """The Last-Modified of each pass as committed (read once the tag counter is held)."""
        self._s.flush()
        return dict(self._s.execute(select(PassRow.id, PassRow.updated_at).where(PassRow.id.in_(list(pass_ids)))
                                    .execution_options(populate_existing=True)).all())

    def set_versions(self, versions: Mapping[int, datetime], tag: int) -> None:
        """Give each pass of *versions* (pass id → Last-Modified) the update tag *tag*."""
        if versions:  # one executemany UPDATE by primary key (no row loaded)
            self._s.execute(update(PassRow), [{"id": pass_id, "update_tag": tag, "updated_at": last_modified}
                                              for pass_id, last_modified in versions.items()])

    def bump_program(self, program_id: int, tag: int, now: datetime) -> None:
        """Every pass of the program gets *tag*; Last-Modified moves as :func:`next_last_modified` says, in a
        handful of statements whether the program has ten passes or 100,000 (no ORM object per pass)."""
        self._s.flush()
        of_program = PassRow.program_id == program_id
        second = now.replace(microsecond=0)
        late = self._s.scalars(select(PassRow.updated_at).where(of_program, PassRow.updated_at >= second)
                               .distinct()).all()
        for previous in sorted(late, reverse=True):  # latest first: a moved row never meets a later UPDATE
            self._s.execute(update(PassRow).where(of_program, PassRow.updated_at == previous)
                            .values(update_tag=tag, updated_at=next_last_modified(previous, now))
                            .execution_options(synchronize_session=False))
        self._s.execute(update(PassRow).where(of_program, PassRow.updated_at < second)
                        .values(update_tag=tag, updated_at=second).execution_options(synchronize_session=False))
        self._s.expire_all()  # rows loaded before hold the old tag and time

    def _first(self, stmt: object) -> Pass | None:
        row = self._s.scalars(stmt).first()  # type: ignore[call-overload]
        return None if row is None else to_pass(row)

    def _all(self, stmt: object) -> list[Pass]:
        return [to_pass(r) for r in self._s.scalars(stmt)]  # type: ignore[call-overload]
