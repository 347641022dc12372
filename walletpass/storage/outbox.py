"""The transactional outbox, both sides: jobs written in the transaction of the change that needs them
(:class:`OutboxWriter`, ``uow.outbox``), and claimed, leased, completed, rescheduled or parked by workers
(:class:`Outbox`).

Writing: a pass change becomes one job per pass and job kind; a pending job for the same pass that no worker has
tried or claimed absorbs the change (several changes within the coalescing window become one delivery). A job a
worker has claimed, or is claiming, is never merged into: the pending job is locked (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL) so no claim can take it before this transaction ends, and one a claim holds locked is skipped; on
SQLite the write lock already keeps claims out. A job already tried and waiting out a backoff is left alone too: it
holds only the devices that failed, and merging a new change into it would make every device wait for that
backoff.

Claiming: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (many workers, no double claims); on SQLite ``BEGIN
IMMEDIATE`` already serialises writers. A claim is a lease: a worker that dies leaves its jobs to be claimed again
when the lease runs out, so nothing committed is lost. Each claim writes a lease token of its own into
``locked_by`` and the claimed :class:`~walletpass.domain.jobs.Job` carries it; ``extend``, ``complete``,
``reschedule``, ``park`` and ``release`` act only on rows that still hold that token, so a worker whose lease ran
out can neither delete nor release another worker's claim.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Engine, and_, delete, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from walletpass.domain.jobs import Job, JobOutcome, JobResult
from walletpass.domain.passes import PassesChanged
from walletpass.storage.repositories.wallets import held_by
from walletpass.storage.tables import OutboxRow, PassRow, UTCDateTime

#: ``available_at`` of a parked job: kept (with ``last_error``) for the operator, never claimed again.
PARKED_AT = datetime(9999, 1, 1, tzinfo=UTC)
#: Reasons kept on a job that absorbed several changes (for logs and notification decisions).
MAX_REASONS = 10


class OutboxWriter:
    """Jobs written in the unit of work's transaction; *on_write* is told that this transaction wrote some."""

    def __init__(self, session: Session, on_write: Callable[[], None] = lambda: None) -> None:
        self._s = session
        self._on_write = on_write

    def enqueue(self, kind: str, payload: Mapping[str, Any], now: datetime, *, pass_id: int | None = None,
                delay_seconds: float = 0.0) -> None:
        """A new job of *kind*, due *delay_seconds* after *now*."""
        self._s.add(OutboxRow(kind=kind, pass_id=pass_id, payload=dict(payload), attempts=0, created_at=now,
                              available_at=now + timedelta(seconds=delay_seconds)))
        self._on_write()

    def enqueue_changes(self, kind: str, change: PassesChanged, *,
                        held_by_wallet: tuple[str, Sequence[str]] | None = None) -> None:
        """A *kind* job for each pass of *change* (only those a wallet holds, with *held_by_wallet* =
        (provider, states)), due after the change's coalescing window.

        Listed passes coalesce into pending jobs (see the module docstring); every pass of a program gets a job
        of its own, set-based (INSERT … SELECT: a handful of statements for 100,000 passes).
        """
        sel = change.selection
        where: list[ColumnElement[bool]] = []
        if held_by_wallet is not None:
            where.append(held_by(*held_by_wallet))
        if sel.program_id is not None:
            self._insert_select(kind, change, [PassRow.program_id == sel.program_id, *where])
            return
        pass_ids: Sequence[int] = sel.pass_ids
        if where and pass_ids:
            pass_ids = self._s.scalars(select(PassRow.id).where(PassRow.id.in_(list(pass_ids)), *where)
                                       .order_by(PassRow.id)).all()
        if pass_ids:
            self._coalesce(kind, pass_ids, change)

    def enqueue_each(self, kind: str, pass_ids: Sequence[int], payload: Mapping[str, Any], now: datetime, *,
                     held_by_wallet: tuple[str, Sequence[str]] | None = None) -> None:
        """A *kind* job with *payload* for each of *pass_ids* (those a wallet holds, with *held_by_wallet*), never
        merged into another (each carries its own payload): one INSERT … SELECT."""
        if not pass_ids:
            return
        where: list[ColumnElement[bool]] = [PassRow.id.in_(list(pass_ids))]
        if held_by_wallet is not None:
            where.append(held_by(*held_by_wallet))
        stamp = UTCDateTime()
        rows = select(PassRow.id).where(*where).add_columns(
            literal(kind), literal(dict(payload), JSON), literal(0), literal(now, stamp), literal(now, stamp))
        self._s.execute(insert(OutboxRow).from_select(
            ["pass_id", "kind", "payload", "attempts", "created_at", "available_at"], rows))
        self._on_write()

    def enqueue_once(self, kind: str, payloads: Sequence[Mapping[str, Any]], now: datetime, *,
                     delay_seconds: float = 0.0) -> None:
        """A *kind* job for each of *payloads*, due *delay_seconds* after *now*, unless an untried, unclaimed job of
        *kind* with an equal payload waits already: that one is made due then if it was due later.

        For kinds with few jobs at a time (one per webhook): the pending jobs of *kind* are read in one query.
        Two transactions may still both add one (neither sees the other's); their handler must tolerate that.
        """
        if not payloads:
            return
        due = now + timedelta(seconds=delay_seconds)
        pending = self._s.execute(
            select(OutboxRow.id, OutboxRow.payload, OutboxRow.available_at)
            .where(OutboxRow.kind == kind, OutboxRow.locked_by.is_(None), OutboxRow.attempts == 0,
                   OutboxRow.available_at < PARKED_AT)
            .order_by(OutboxRow.id).with_for_update(skip_locked=True)).all()
        waiting: dict[str, tuple[int, datetime]] = {}
        for row in pending:
            waiting.setdefault(_key(row.payload), (row.id, _aware(row.available_at)))
        sooner, fresh = [], []
        for payload in {_key(p): p for p in payloads}.values():
            found = waiting.get(_key(payload))
            if found is None:
                fresh.append(payload)
            elif found[1] > due:
                sooner.append(found[0])
        if sooner:
            self._s.execute(update(OutboxRow).where(OutboxRow.id.in_(sooner)).values(available_at=due)
                            .execution_options(synchronize_session=False))
        if fresh:
            self._s.execute(insert(OutboxRow), [
                {"kind": kind, "pass_id": None, "payload": dict(p), "attempts": 0, "created_at": now,
                 "available_at": due} for p in fresh])
        if sooner or fresh:
            self._on_write()

    def _coalesce(self, kind: str, pass_ids: Sequence[int], change: PassesChanged) -> None:
        """Merge the change into each listed pass's pending job, or give the pass a new job: two statements for
        any number of passes (a campaign chunk lists 1,000; one query and one INSERT per pass held SQLite's write
        lock for ~1 ms of CPU per pass, so the devices' fetches, which write too, waited up to the busy timeout)."""
        pending = self._s.scalars(
            select(OutboxRow).where(OutboxRow.kind == kind, OutboxRow.pass_id.in_(list(pass_ids)),
                                    OutboxRow.locked_until.is_(None), OutboxRow.locked_by.is_(None),
                                    OutboxRow.attempts == 0)
            .order_by(OutboxRow.id).with_for_update(skip_locked=True)
        ).all()
        merged: set[int | None] = set()
        for job in pending:
            if job.pass_id in merged:  # a pass has one pending job, unless a race made two: the first absorbs
                continue
            merged.add(job.pass_id)
            reasons = list(job.payload.get("reasons", []))
            if change.reason not in reasons:
                job.payload = {**job.payload, "reasons": [*reasons, change.reason][-MAX_REASONS:]}
        fresh = [p for p in dict.fromkeys(pass_ids) if p not in merged]
        if not fresh:
            return
        available = change.at + timedelta(seconds=change.coalesce_seconds)
        self._s.execute(insert(OutboxRow), [
            {"kind": kind, "pass_id": p, "payload": {"reasons": [change.reason]}, "attempts": 0,
             "created_at": change.at, "available_at": available} for p in fresh])
        self._on_write()

    def _insert_select(self, kind: str, change: PassesChanged, where: Sequence[ColumnElement[bool]]) -> None:
        stamp = UTCDateTime()
        rows = select(PassRow.id).where(*where).add_columns(
            # no CAST: SQLite's CAST(… AS JSON) has numeric affinity and stored the payload as 0
            literal(kind), literal({"reasons": [change.reason]}, JSON), literal(0),
            literal(change.at, stamp), literal(change.at + timedelta(seconds=change.coalesce_seconds), stamp))
        self._s.execute(insert(OutboxRow).from_select(
            ["pass_id", "kind", "payload", "attempts", "created_at", "available_at"], rows))
        self._on_write()

    def hasten(self, pass_ids: Sequence[int], now: datetime, until: datetime) -> int:
        """Make due at *now* the untried, unclaimed jobs of *pass_ids* held until *until* at the latest (a hold
        that ended early: a campaign's pushes wait for their passes to be signed ahead); return how many."""
        if not pass_ids:
            return 0
        done = self._s.execute(update(OutboxRow).where(
            OutboxRow.pass_id.in_(list(pass_ids)), OutboxRow.attempts == 0, OutboxRow.locked_by.is_(None),
            OutboxRow.available_at > now, OutboxRow.available_at <= until,
        ).values(available_at=now).execution_options(synchronize_session=False))
        if done.rowcount:  # type: ignore[attr-defined]
            self._on_write()  # broker mode: the commit kicks the workers, as for a new job
        return int(done.rowcount)  # type: ignore[attr-defined]

    def drop_parked(self, kind: str, pass_id: int) -> None:
        """A newer job for the pass succeeded: its parked jobs of *kind* are out of date."""
        self._s.execute(delete(OutboxRow).where(OutboxRow.kind == kind, OutboxRow.pass_id == pass_id,
                                                OutboxRow.available_at >= PARKED_AT))

    # -- what is waiting (health, metrics). Parked jobs are counted by parked() alone: they wait for nobody.
    def backlog(self) -> int:
        return int(self._s.scalar(select(func.count()).select_from(OutboxRow)
                                  .where(OutboxRow.available_at < PARKED_AT)) or 0)

    def oldest(self) -> datetime | None:
        return self._s.scalar(select(func.min(OutboxRow.created_at)).where(OutboxRow.available_at < PARKED_AT))

    def oldest_due(self, now: datetime) -> datetime | None:
        """When the job that has waited longest for a worker became due (None when no job is due)."""
        return self._s.scalar(select(func.min(OutboxRow.available_at)).where(OutboxRow.available_at <= now))

    def failing(self, min_attempts: int) -> int:
        """Jobs tried *min_attempts* times or more and still not done (devices unreachable, or parked on 403)."""
        return int(self._s.scalar(select(func.count()).select_from(OutboxRow)
                                  .where(OutboxRow.attempts >= min_attempts,
                                         OutboxRow.available_at < PARKED_AT)) or 0)

    def parked(self) -> dict[str, int]:
        """Parked jobs by kind (for /metrics)."""
        stmt = (select(OutboxRow.kind, func.count()).where(OutboxRow.available_at >= PARKED_AT)
                .group_by(OutboxRow.kind))
        return {kind: int(n) for kind, n in self._s.execute(stmt)}


class Outbox:
    """The workers' side: claim due jobs with a lease, and settle them."""

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

    def reschedule(self, job: Job | int, at: datetime, *, payload: Mapping[str, Any] | None = None,
                   error: str | None = None) -> None:
        """Release *job* (if its claim still holds it) to run again at *at*."""
        values: dict[str, Any] = {"available_at": at, "locked_until": None, "locked_by": None,
                                  "last_error": (error or "")[:2000] or None}
        if payload is not None:
            values["payload"] = dict(payload)
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

    def apply(self, results: Sequence[JobResult]) -> None:
        """Settle each job as its handler decided (see :class:`~walletpass.domain.jobs.JobOutcome`)."""
        done = [r.job for r in results if r.outcome in (JobOutcome.DONE, JobOutcome.SKIPPED)]
        self.release([r.job for r in results if r.outcome is JobOutcome.RELEASED])
        for r in results:
            if r.outcome in (JobOutcome.RETRY, JobOutcome.PAUSE, JobOutcome.AGAIN):
                assert r.at is not None  # JobResult checks it
                self.reschedule(r.job, r.at, payload=r.payload, error=r.error or None)
            elif r.outcome is JobOutcome.PARK:
                self.park(r.job, r.error or "parked")
        self.complete(done)


def _held(jobs: Sequence[Job | int]) -> ColumnElement[bool]:
    """Rows of *jobs* still leased by the claim that handed each out (bare ids: the rows, unchecked)."""
    by_lease: dict[str | None, list[int]] = {}
    for j in jobs:
        lease, ident = (None, j) if isinstance(j, int) else (j.locked_by, j.id)
        by_lease.setdefault(lease, []).append(ident)
    return or_(*(OutboxRow.id.in_(ids) if lease is None else and_(OutboxRow.locked_by == lease, OutboxRow.id.in_(ids))
                 for lease, ids in by_lease.items()))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _key(payload: Mapping[str, Any] | None) -> str:
    return json.dumps(payload or {}, sort_keys=True, separators=(",", ":"))
