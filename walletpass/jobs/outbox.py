"""The outbox, read side: claim due jobs with a lease, complete or reschedule them.

Jobs are *written* by repositories (``enqueue``) inside the transaction of the change itself. Here workers claim
them: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (many workers, no double claims); on SQLite ``BEGIN IMMEDIATE``
already serialises writers. A claim is a lease: a worker that dies leaves its jobs to be claimed again when the
lease runs out, so nothing committed is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, or_, select, update

from walletpass.storage.tables import OutboxRow


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    pass_id: int | None
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, worker_id: str, now: datetime, *, limit: int = 500, lease_seconds: float = 60.0) -> list[Job]:
        """Lease up to *limit* due jobs to *worker_id*."""
        with self._engine.begin() as conn:
            ids = conn.scalars(
                select(OutboxRow.id)
                .where(OutboxRow.available_at <= now,
                       or_(OutboxRow.locked_until.is_(None), OutboxRow.locked_until < now))
                .order_by(OutboxRow.available_at, OutboxRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not ids:
                return []
            conn.execute(update(OutboxRow).where(OutboxRow.id.in_(ids))
                         .values(locked_until=now + timedelta(seconds=lease_seconds), locked_by=worker_id,
                                 attempts=OutboxRow.attempts + 1))
            rows = conn.execute(select(OutboxRow.id, OutboxRow.kind, OutboxRow.pass_id, OutboxRow.payload,
                                       OutboxRow.attempts, OutboxRow.created_at)
                                .where(OutboxRow.id.in_(ids)).order_by(OutboxRow.id)).all()
        return [Job(r.id, r.kind, r.pass_id, dict(r.payload or {}), r.attempts, _aware(r.created_at)) for r in rows]

    def complete(self, job_ids: Sequence[int]) -> None:
        if not job_ids:
            return
        with self._engine.begin() as conn:
            conn.execute(delete(OutboxRow).where(OutboxRow.id.in_(list(job_ids))))

    def reschedule(self, job_id: int, at: datetime, *, payload: dict[str, Any] | None = None,
                   error: str | None = None) -> None:
        values: dict[str, Any] = {"available_at": at, "locked_until": None, "locked_by": None,
                                  "last_error": (error or "")[:2000] or None}
        if payload is not None:
            values["payload"] = payload
        with self._engine.begin() as conn:
            conn.execute(update(OutboxRow).where(OutboxRow.id == job_id).values(**values))


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
