"""The outbox, read side: claim due jobs with a lease, complete or reschedule them.

Jobs are *written* by repositories (``enqueue``) inside the transaction of the change itself. Here workers claim
them: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (many workers, no double claims); on SQLite ``BEGIN IMMEDIATE``
already serialises writers. A claim is a lease: a worker that dies leaves its jobs to be claimed again when the
lease runs out, so nothing committed is lost.

Each claim writes a lease token of its own into ``locked_by`` and the claimed :class:`Job` carries it.
``extend``, ``complete`` and ``reschedule`` act only on rows that still hold that token: a worker whose lease
ran out (its jobs claimed again by another) can neither delete nor release the other worker's claim.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, and_, delete, or_, select, update

from walletpass.storage.repositories import PARKED_AT
from walletpass.storage.tables import OutboxRow

log = logging.getLogger("walletpass.jobs")


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    pass_id: int | None
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    locked_by: str = ""  # the lease token of the claim that handed this job out


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, worker_id: str, now: datetime, *, limit: int = 500, lease_seconds: float = 60.0) -> list[Job]:
        """Lease up to *limit* due jobs to *worker_id* (the lease token is *worker_id* plus a per-claim suffix)."""
        lease = f"{worker_id[:51]}/{secrets.token_hex(6)}"
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
                         .values(locked_until=now + timedelta(seconds=lease_seconds), locked_by=lease,
                                 attempts=OutboxRow.attempts + 1))
            rows = conn.execute(select(OutboxRow.id, OutboxRow.kind, OutboxRow.pass_id, OutboxRow.payload,
                                       OutboxRow.attempts, OutboxRow.created_at)
                                .where(OutboxRow.id.in_(ids)).order_by(OutboxRow.id)).all()
        return [Job(r.id, r.kind, r.pass_id, dict(r.payload or {}), r.attempts, _aware(r.created_at), lease)
                for r in rows]

    def extend(self, jobs: Sequence[Job], until: datetime) -> list[Job]:
        """Renew the lease of *jobs* to *until*; return those still held (the others were claimed again)."""
        if not jobs:
            return []
        with self._engine.begin() as conn:
            held = set(conn.scalars(update(OutboxRow).where(_held(jobs)).values(locked_until=until)
                                    .returning(OutboxRow.id)).all())
        return [j for j in jobs if j.id in held]

    def complete(self, jobs: Sequence[Job | int]) -> None:
        """Delete done *jobs* — those their claim still holds. (A bare job id is not checked: pass the Job.)"""
        if not jobs:
            return
        with self._engine.begin() as conn:
            conn.execute(delete(OutboxRow).where(_held(jobs)))

    def reschedule(self, job: Job | int, at: datetime, *, payload: dict[str, Any] | None = None,
                   error: str | None = None) -> None:
        """Release *job* (if its claim still holds it) to run again at *at*."""
        values: dict[str, Any] = {"available_at": at, "locked_until": None, "locked_by": None,
                                  "last_error": (error or "")[:2000] or None}
        if payload is not None:
            values["payload"] = payload
        with self._engine.begin() as conn:
            conn.execute(update(OutboxRow).where(_held([job])).values(**values))


    def park(self, job: Job, error: str) -> None:
        """Keep *job* (if its claim still holds it), which retrying cannot fix, out of the way with its error:
        never claimed again (``available_at`` = PARKED_AT), counted by walletpass_outbox_parked."""
        with self._engine.begin() as conn:
            conn.execute(update(OutboxRow).where(_held([job])).values(
                available_at=PARKED_AT, locked_until=None, locked_by=None, last_error=error[:2000]))

    def release(self, jobs: Sequence[Job]) -> None:
        """Hand claimed *jobs* back untried (the claim counted an attempt): due now, free to absorb changes."""
        if not jobs:
            return
        with self._engine.begin() as conn:
            conn.execute(update(OutboxRow).where(_held(jobs)).values(
                locked_until=None, locked_by=None, attempts=OutboxRow.attempts - 1))


class LeaseKeeper:
    """While a batch runs (``with LeaseKeeper(...)``), renew its lease every third of *lease_seconds*.

    A batch can take longer than its lease; renewing keeps other workers off its jobs for as long as this process
    works on them, while a worker that dies stops renewing and its jobs return within one lease.
    """

    def __init__(self, outbox: Outbox, jobs: Sequence[Job], lease_seconds: float,
                 now: Callable[[], datetime]) -> None:
        self._outbox, self._jobs, self._lease, self._now = outbox, list(jobs), lease_seconds, now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="walletpass-lease", daemon=True)
        self.renewals = 0

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while self._jobs and not self._stop.wait(self._lease / 3):
            try:
                self._jobs = self._outbox.extend(self._jobs, self._now() + timedelta(seconds=self._lease))
            except Exception:  # noqa: BLE001 - a missed renewal is retried; at worst the lease runs out
                log.warning("could not renew the lease of %d job(s)", len(self._jobs), exc_info=True)
            self.renewals += 1


def _held(jobs: Sequence[Job | int]) -> Any:
    """Rows of *jobs* still leased by the claim that handed each out (bare ids: the rows, unchecked)."""
    by_lease: dict[str | None, list[int]] = {}
    for j in jobs:
        lease, ident = (None, j) if isinstance(j, int) else (j.locked_by, j.id)
        by_lease.setdefault(lease, []).append(ident)
    return or_(*(OutboxRow.id.in_(ids) if lease is None else and_(OutboxRow.locked_by == lease, OutboxRow.id.in_(ids))
                 for lease, ids in by_lease.items()))


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
