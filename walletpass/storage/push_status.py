"""APNs state per topic (pass type), kept in the ``push_status`` table so every process sees the same one.

ADAPTER (STYLE.md §4). A 403 from APNs (apple.md §4: "fix the credentials") is recorded with Apple's reason by
whichever process sent the push — a gunicorn worker's embedded job thread, a ``walletpass worker``, a Celery
worker — and cleared by the next push APNs accepts for that topic. /healthz in any process reads it from here,
and the job handler reads it to park new jobs for a refused topic without sending them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from walletpass.push.policy import PushState
from walletpass.storage.tables import PushStatusRow

#: A topic's ``ok_at`` is rewritten at most this often while nothing else changes (one small write, not one
#: per batch of a campaign).
OK_REFRESH = timedelta(minutes=1)


class PushStatusStore:
    """Read and record the APNs state of topics in the database (safe from any number of processes)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, topic: str) -> PushState | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(PushStatusRow.__table__).where(PushStatusRow.topic == topic)).first()
        return None if row is None else PushState(row.topic, row.forbidden_at, row.forbidden_reason, row.ok_at)

    def all(self) -> dict[str, PushState]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(PushStatusRow.__table__)).all()
        return {r.topic: PushState(r.topic, r.forbidden_at, r.forbidden_reason, r.ok_at) for r in rows}

    def record_forbidden(self, topic: str, reason: str, at: datetime) -> None:
        """APNs answered 403 *reason* for *topic* at *at*: the topic is refused until a push is accepted."""
        self._put(topic, {"forbidden_at": at, "forbidden_reason": reason or "Forbidden"})

    def record_accepted(self, topic: str, at: datetime, known: PushState | None = None) -> None:
        """APNs accepted a push for *topic* at *at*: clear a 403. *known*: the state read before sending (its
        ``ok_at`` is only refreshed once per :data:`OK_REFRESH` when nothing else changes)."""
        if known is not None and not known.forbidden and known.ok_at is not None and at - known.ok_at < OK_REFRESH:
            return
        self._put(topic, {"forbidden_at": None, "forbidden_reason": None, "ok_at": at})

    def _put(self, topic: str, values: dict[str, object]) -> None:
        """Insert or update the topic's row in one statement (ON CONFLICT: two processes may race on a topic)."""
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(PushStatusRow).values(topic=topic, **values)
        with self._engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["topic"], set_=values))

__all__ = ["OK_REFRESH", "PushState", "PushStatusStore"]
