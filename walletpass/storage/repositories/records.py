"""Small records: Idempotency-Key answers, funnel events, API keys."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from walletpass.storage.repositories._base import SessionRepository
from walletpass.storage.tables import IdempotencyKeyRow, PassEventRow


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
    """Funnel events (visit, enrol, apple_install, google_save, uninstall), by program, source and day."""

    def record(self, program_id: int, kind: str, now: datetime, *, pass_id: int | None = None,
               source: str | None = None) -> None:
        self._s.add(PassEventRow(program_id=program_id, pass_id=pass_id, kind=kind, source=source,
                                 day=now.date().isoformat(), at=now))

    def counts(self, program_id: int) -> list[tuple[str, str | None, str, int]]:
        """(day, source, kind, count) rows for a program's funnel."""
        stmt = (select(PassEventRow.day, PassEventRow.source, PassEventRow.kind, func.count())
                .where(PassEventRow.program_id == program_id)
                .group_by(PassEventRow.day, PassEventRow.source, PassEventRow.kind)
                .order_by(PassEventRow.day, PassEventRow.source, PassEventRow.kind))
        return [(d, s, k, int(n)) for d, s, k, n in self._s.execute(stmt)]
