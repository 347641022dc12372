"""Members, their points ledger, and segments of a program's members."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, extract, func, null, or_, select, true, update
from sqlalchemy.sql.elements import ColumnElement

from walletpass.domain.members import LedgerEntry, Member
from walletpass.domain.programs import Tier
from walletpass.domain.segments import Conditions, Segment
from walletpass.storage.repositories._base import SessionRepository, is_id
from walletpass.storage.repositories.programs import change_row
from walletpass.storage.tables import (
    CouponRow,
    GoogleMessageRow,
    LedgerEntryRow,
    MemberRow,
    PassRow,
    RegistrationRow,
    WalletObjectRow,
)


def to_member(row: MemberRow) -> Member:
    return Member(id=row.id, program_id=row.program_id, name=row.name, member_number=row.member_number,
                  points=row.points, tier=row.tier, email=row.email, external_id=row.external_id,
                  created_at=row.created_at, source=row.source, version=row.version, updated_at=row.updated_at,
                  birthday=row.birthday, phone=row.phone, erased_at=row.erased_at,
                  consented_at=row.consented_at, consent_terms_sha256=row.consent_terms_sha256)


#: Where a member card counts as installed, per wallet (Google: saved by the user; inserted by REST is not).
_GOOGLE_INSTALLED = ("saved",)


def _card_on_apple() -> ColumnElement[bool]:
    return exists().where(PassRow.member_id == MemberRow.id, RegistrationRow.pass_id == PassRow.id)


def _card_on_google() -> ColumnElement[bool]:
    return exists().where(PassRow.member_id == MemberRow.id, WalletObjectRow.pass_id == PassRow.id,
                          WalletObjectRow.provider == "google", WalletObjectRow.state.in_(_GOOGLE_INSTALLED))


def _conditions(c: Conditions) -> list[ColumnElement[bool]]:
    """WHERE clauses (all must hold) of one conditions object, over ``members``."""
    where: list[ColumnElement[bool]] = []
    if c.tiers is not None:
        where.append(MemberRow.tier.in_(c.tiers))
    if c.min_points is not None:
        where.append(MemberRow.points >= c.min_points)
    if c.max_points is not None:
        where.append(MemberRow.points <= c.max_points)
    if c.enrolled_after is not None:
        where.append(MemberRow.created_at >= c.enrolled_after)
    if c.enrolled_before is not None:
        where.append(MemberRow.created_at < c.enrolled_before)
    if c.sources is not None:
        where.append(MemberRow.source.in_(c.sources))
    if c.external_ids is not None:
        where.append(MemberRow.external_id.in_(c.external_ids))
    if c.member_ids is not None:
        where.append(MemberRow.id.in_(c.member_ids))
    if c.birthday_month is not None:
        where.append(extract("month", MemberRow.birthday) == c.birthday_month)
    if c.has_coupon is not None:
        holds = exists().where(CouponRow.member_id == MemberRow.id)
        if isinstance(c.has_coupon, bool):
            where.append(holds if c.has_coupon else ~holds)
        else:
            where.append(exists().where(CouponRow.member_id == MemberRow.id, CouponRow.offer_id == c.has_coupon))
    if c.installed == "apple":
        where.append(_card_on_apple())
    elif c.installed == "google":
        where.append(_card_on_google())
    elif c.installed == "any":
        where.append(or_(_card_on_apple(), _card_on_google()))
    elif c.installed == "none":
        where.append(and_(~_card_on_apple(), ~_card_on_google()))
    return where


def segment_where(program_id: int, segment: Segment, without_coupon_of: int | None = None
                  ) -> list[ColumnElement[bool]]:
    """WHERE clauses of the program's members in *segment* (who hold no coupon of *without_coupon_of*, if given):
    one query, set-based; the indexes on members (program, tier / points / created_at / source) serve it."""
    where: list[ColumnElement[bool]] = [MemberRow.program_id == program_id]
    if without_coupon_of is not None:
        where.append(~exists().where(CouponRow.offer_id == without_coupon_of, CouponRow.member_id == MemberRow.id))
    if not segment.everyone:
        where.append(or_(*(and_(true(), *_conditions(c)) for c in segment.any_of)))
    return where


def tier_of_points(tiers: Sequence[Tier]) -> ColumnElement[Any]:
    """The tier name a member's points reach under *tiers* (NULL below every tier), as SQL over ``members``."""
    ranked = sorted(tiers, key=lambda t: t.min_points, reverse=True)
    return case(*[(MemberRow.points >= t.min_points, t.name) for t in ranked]) if ranked else null()


class MemberRepository(SessionRepository):
    def add(self, *, program_id: int, name: str, member_number: str, points: int, tier: str | None,
            email: str | None, external_id: str | None, source: str | None, now: datetime,
            birthday: date | None = None, phone: str | None = None,
            consent: tuple[datetime, str] | None = None) -> Member:
        return to_member(self._add(MemberRow(
            program_id=program_id, name=name, email=email, external_id=external_id, member_number=member_number,
            points=points, tier=tier, version=1, source=source, birthday=birthday, phone=phone, created_at=now,
            updated_at=now, consented_at=consent[0] if consent else None,
            consent_terms_sha256=consent[1] if consent else None)))

    def get(self, member_id: int, *, for_update: bool = False) -> Member:
        """The member (its row locked until commit with *for_update*: SELECT … FOR UPDATE on PostgreSQL)."""
        return to_member(self._row(MemberRow, member_id, "member", for_update=for_update))

    def get_many(self, member_ids: Sequence[int]) -> dict[int, Member]:
        """The members of *member_ids* that exist, by id, in one query."""
        if not member_ids:
            return {}
        return {r.id: to_member(r) for r in self._s.scalars(select(MemberRow).where(
            MemberRow.id.in_(list(member_ids))))}

    def by_external_id(self, program_id: int, external_id: str) -> Member | None:
        row = self._s.scalars(select(MemberRow).where(MemberRow.program_id == program_id,
                                                      MemberRow.external_id == external_id)).first()
        return None if row is None else to_member(row)

    def by_email(self, program_id: int, email: str) -> Member | None:
        """The program's member with *email*, compared case-insensitively (the oldest if several share it)."""
        row = self._s.scalars(select(MemberRow).where(MemberRow.program_id == program_id,
                                                      func.lower(MemberRow.email) == email.lower())
                              .order_by(MemberRow.id)).first()
        return None if row is None else to_member(row)

    def by_phone(self, program_id: int, phone: str) -> Member | None:
        """The program's member with *phone* (normalised, see domain.members.normalize_phone), the oldest first."""
        row = self._s.scalars(select(MemberRow).where(MemberRow.program_id == program_id, MemberRow.phone == phone)
                              .order_by(MemberRow.id)).first()
        return None if row is None else to_member(row)

    def number_taken(self, number: str) -> bool:
        return bool(self._s.scalar(select(func.count()).where(MemberRow.member_number == number)))

    def update(self, member_id: int, values: Mapping[str, Any], now: datetime) -> frozenset[str]:
        """Apply *values* (name, email, phone, external_id, birthday); return the fields that changed."""
        return change_row(self._row(MemberRow, member_id, "member"), values, now)

    def set_balance(self, member_id: int, points: int, tier: str | None, now: datetime) -> None:
        self._s.execute(update(MemberRow).where(MemberRow.id == member_id)
                        .values(points=points, tier=tier, version=MemberRow.version + 1, updated_at=now))

    def recompute_tiers(self, program_id: int, tiers: Sequence[Tier], now: datetime) -> int:
        """Set every member's tier from their points and *tiers* (set-based); return how many changed."""
        tier = tier_of_points(tiers)
        result = self._s.execute(
            update(MemberRow).where(MemberRow.program_id == program_id, MemberRow.tier.is_distinct_from(tier))
            .values(tier=tier, version=MemberRow.version + 1, updated_at=now)
            .execution_options(synchronize_session=False))
        self._s.expire_all()
        return int(getattr(result, "rowcount", 0) or 0)

    def in_segment(self, program_id: int, segment: Segment, *, without_coupon_of: int | None = None,
                   limit: int) -> list[Member]:
        """Members of the program in *segment*, by id (those holding no coupon of *without_coupon_of*, if given)."""
        stmt = (select(MemberRow).where(*segment_where(program_id, segment, without_coupon_of))
                .order_by(MemberRow.id).limit(limit))
        return [to_member(r) for r in self._s.scalars(stmt)]

    def reach(self, program_id: int, segment: Segment, now: datetime, *, notify_limit: int,
              notify_window: timedelta) -> dict[str, int]:
        """What a campaign to *segment* reaches: member cards, Apple device registrations, Google objects, and of
        those how many had *notify_limit* notifications within *notify_window* (they get the message silently)."""
        cards = (select(PassRow.id).join(MemberRow, MemberRow.id == PassRow.member_id)
                 .where(PassRow.kind == "member", *segment_where(program_id, segment)).subquery())
        google = (select(WalletObjectRow.pass_id).where(
            WalletObjectRow.pass_id.in_(select(cards.c.id)), WalletObjectRow.provider == "google",
            WalletObjectRow.state.in_(("inserted", "saved"))).subquery())
        busy = (select(GoogleMessageRow.pass_id).where(
            GoogleMessageRow.pass_id.in_(select(google.c.pass_id)), GoogleMessageRow.notify.is_(True),
            GoogleMessageRow.sent_at > now - notify_window)
            .group_by(GoogleMessageRow.pass_id).having(func.count() >= notify_limit).subquery())

        def count(query: Any) -> int:
            return int(self._s.scalar(select(func.count()).select_from(query)) or 0)

        return {"passes": count(cards), "google_objects": count(google), "google_over_quota": count(busy),
                "apple_devices": int(self._s.scalar(select(func.count()).select_from(RegistrationRow).where(
                    RegistrationRow.pass_id.in_(select(cards.c.id)))) or 0)}

    def count_in_segment(self, program_id: int, segment: Segment, *, without_coupon_of: int | None = None) -> int:
        return int(self._s.scalar(select(func.count()).select_from(MemberRow).where(
            *segment_where(program_id, segment, without_coupon_of))) or 0)


def to_entry(row: LedgerEntryRow) -> LedgerEntry:
    return LedgerEntry(id=row.id, member_id=row.member_id, points=row.points, balance=row.balance, reason=row.reason,
                       created_at=row.created_at, api_key_id=row.api_key_id)


class LedgerRepository(SessionRepository):
    def add(self, member_id: int, points: int, balance: int, reason: str, api_key_id: int | None,
            now: datetime) -> LedgerEntry:
        return to_entry(self._add(LedgerEntryRow(member_id=member_id, points=points, balance=balance, reason=reason,
                                                 api_key_id=api_key_id, created_at=now)))

    def get(self, entry_id: int) -> LedgerEntry:
        return to_entry(self._row(LedgerEntryRow, entry_id, "transaction"))

    def of_member(self, member_id: int) -> list[LedgerEntry]:
        if not is_id(member_id):
            return []
        return [to_entry(r) for r in self._s.scalars(select(LedgerEntryRow).where(
            LedgerEntryRow.member_id == member_id).order_by(LedgerEntryRow.id))]
