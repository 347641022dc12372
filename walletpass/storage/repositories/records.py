"""Small records: Idempotency-Key answers, funnel events, API keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, String, case, cast, func, literal, select

from walletpass.domain.funnel import ONCE_PER_PASS
from walletpass.domain.passes import MEMBER_CARD
from walletpass.storage.repositories._base import SessionRepository, dialect_insert
from walletpass.storage.tables import IdempotencyKeyRow, MemberRow, PassEventRow, PassRow, UTCDateTime


class IdempotencyRepository(SessionRepository):
    """The first answer given to each request made with an ``Idempotency-Key`` (scoped to the API key)."""

    def get(self, api_key_id: int, key: str) -> tuple[str, Mapping[str, Any]] | None:
        """(request hash, answer) of the key's first use, or None."""
        row = self._s.scalars(select(IdempotencyKeyRow).where(IdempotencyKeyRow.api_key_id == api_key_id,
                                                              IdempotencyKeyRow.key == key)).first()
        if row is None:
            return None
        return row.request_hash, {"status": row.status, "body": row.response}

    def save(self, api_key_id: int, key: str, request_hash: str, answer: Mapping[str, Any], now: datetime) -> None:
        """Keep *answer* (``{"status": …, "body": …}``, as the shell rendered it); a concurrent first use of the
        same key makes this a Conflict."""
        self._add(IdempotencyKeyRow(api_key_id=api_key_id, key=key, request_hash=request_hash,
                                    status=int(answer["status"]), response=dict(answer["body"]), created_at=now))


class EventRepository(SessionRepository):
    """Funnel events (walletpass.domain.funnel), counted by program, source and day."""

    def record(self, program_id: int, kind: str, now: datetime, *, pass_id: int | None = None,
               source: str | None = None) -> None:
        """An event of a visit or an enrolment, with its source."""
        self._s.add(PassEventRow(program_id=program_id, pass_id=pass_id, kind=kind, source=source,
                                 day=now.date().isoformat(), at=now))

    def record_card(self, pass_id: int, kind: str, now: datetime) -> bool:
        """An event of a member card (install, save, first transaction, uninstall), with the source of its member,
        in one INSERT … SELECT over two primary keys; nothing for a coupon pass. A kind of ``ONCE_PER_PASS``
        already recorded for the card is not recorded again (the unique index decides, so concurrent first
        registrations record one). Return whether a row was written."""
        values = select(PassRow.program_id, PassRow.id, literal(kind, String), MemberRow.source,
                        literal(now.date().isoformat(), String), literal(now, UTCDateTime())) \
            .join(MemberRow, MemberRow.id == PassRow.member_id) \
            .where(PassRow.id == pass_id, PassRow.kind == MEMBER_CARD)
        insert = dialect_insert(self._s.get_bind().dialect.name)(PassEventRow).from_select(
            ["program_id", "pass_id", "kind", "source", "day", "at"], values)
        if kind in ONCE_PER_PASS:
            insert = insert.on_conflict_do_nothing()
        result = self._s.execute(insert)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def funnel(self, program_id: int, first: datetime, after: datetime, by: str, zone: str,
               offsets: Sequence[tuple[datetime, int]]) -> list[tuple[str | None, str, int]]:
        """``(key, kind, count)`` of the program's events in [first, after): key is the source, or (``by="day"``)
        the ISO date in *zone* (PostgreSQL converts with its own zone data; SQLite shifts by *offsets*, the zone's
        UTC offsets through the window). One GROUP BY over the (program_id, day) index's range."""
        e = PassEventRow
        key: Any
        if by == "source":
            key = e.source
        elif self._s.get_bind().dialect.name == "postgresql":
            key = cast(func.timezone(zone, e.at), Date)
        else:
            shift: Any = literal(f"{offsets[0][1]:+d} seconds")
            if len(offsets) > 1:  # the offset in force at each event: the last change before it
                shift = case(*((e.at < since, f"{off:+d} seconds")
                               for (since, _), (_, off) in zip(offsets[1:], offsets, strict=False)),
                             else_=f"{offsets[-1][1]:+d} seconds")
            key = func.date(e.at, shift)
        last = after - timedelta(microseconds=1)
        stmt = (select(key, e.kind, func.count())
                .where(e.program_id == program_id, e.day >= first.date().isoformat(),
                       e.day <= last.date().isoformat(), e.at >= first, e.at < after)
                .group_by(key, e.kind))
        return [(k.isoformat() if isinstance(k, date) else k, kind, int(n)) for k, kind, n in self._s.execute(stmt)]

    def counts(self, program_id: int) -> list[tuple[str, str | None, str, int]]:
        """(day, source, kind, count) rows for a program's funnel."""
        stmt = (select(PassEventRow.day, PassEventRow.source, PassEventRow.kind, func.count())
                .where(PassEventRow.program_id == program_id)
                .group_by(PassEventRow.day, PassEventRow.source, PassEventRow.kind)
                .order_by(PassEventRow.day, PassEventRow.source, PassEventRow.kind))
        return [(d, s, k, int(n)) for d, s, k, n in self._s.execute(stmt)]
