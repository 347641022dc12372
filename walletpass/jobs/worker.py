"""Job workers: the embedded thread of ``walletpass serve`` and the ``walletpass worker`` process."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sqlalchemy import Engine

from walletpass.config import Settings
from walletpass.jobs.lease import LeaseKeeper
from walletpass.ports import Clock, JobHandler, UnitOfWork
from walletpass.storage.outbox import Outbox

log = logging.getLogger("walletpass.worker")


class WorkerServices(Protocol):
    """What a worker needs of the composition root (walletpass.bootstrap.Services)."""

    settings: Settings
    engine: Engine
    clock: Clock

    def uow(self) -> UnitOfWork: ...

    @property
    def job_handlers(self) -> Mapping[str, JobHandler]: ...


class Worker:
    """Claims due outbox jobs and delivers them; safe to run in several processes at once."""

    def __init__(self, services: WorkerServices, *, batch: int = 500, idle_sleep: float = 0.25) -> None:
        self.services = services
        self.outbox = Outbox(services.engine)
        self.batch = batch
        self.idle_sleep = idle_sleep
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"
        self._stop = threading.Event()
        self._next_sweep = 0.0

    def sweep(self) -> None:
        """Periodic work that no job announces: coupons whose offer ended become expired (once; their passes
        are bumped then). Runs at most every ``sweep_seconds`` per worker; a failure is logged, never raised."""
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + self.services.settings.sweep_seconds
        from walletpass.services.coupons import expire_due

        s = self.services
        try:
            expired = expire_due(s.uow, s.clock, s.settings)
        except Exception:  # noqa: BLE001 - the next sweep tries again; delivery must go on
            log.exception("coupon expiry sweep failed; trying again at the next sweep")
            return
        if expired:
            log.info("%d coupon(s) expired", expired)

    def run_once(self) -> int:
        """Sweep when due, then claim and handle one batch; return how many jobs were handled."""
        s = self.services
        self.sweep()
        jobs = self.outbox.claim(self.worker_id, s.clock.now(), limit=self.batch,
                                 lease_seconds=s.settings.job_lease_seconds)
        if not jobs:
            return 0
        by_kind: dict[str, list[Any]] = defaultdict(list)
        for job in jobs:
            by_kind[job.kind].append(job)
        # A batch may outlast its lease (pushes: 3 tries × a 10 s timeout, topic after topic; Google after them):
        # the lease is renewed while it runs, so no other worker claims these jobs. If this process dies, the
        # renewals stop and the jobs come back one lease later.
        with LeaseKeeper(self.outbox, jobs, s.settings.job_lease_seconds, s.clock.now):
            for kind, group in by_kind.items():
                handler = s.job_handlers.get(kind)
                if handler is None:
                    log.error("no handler for job kind %r; leaving %d job(s) for a newer worker", kind, len(group))
                    continue
                self.outbox.apply(handler(group))
        return len(jobs)

    def drain(self, max_batches: int = 20, *, stopping: Callable[[], bool] | None = None) -> bool:
        """Handle batches until nothing is due or *max_batches* ran; return True if more may be due.

        The drain also ends between batches once :meth:`stop` was called or *stopping()* is true (shutdown).
        A failing batch is logged and ends the drain: its jobs stay leased and come back when the lease runs
        out, so a poison batch cannot spin a worker.
        """
        for _ in range(max_batches):
            if self._stop.is_set() or (stopping is not None and stopping()):
                return False
            try:
                handled = self.run_once()
            except Exception:  # noqa: BLE001 - the lease brings the batch back; the next drain goes on
                log.exception("worker batch failed; its jobs return when their lease runs out")
                return False
            if handled < self.batch:
                return False
        return True

    def run_forever(self) -> None:
        log.info("worker %s started", self.worker_id)
        while not self._stop.is_set():
            try:
                handled = self.run_once()
            except Exception:  # noqa: BLE001 - a worker must survive a bad batch; the lease brings it back
                log.exception("worker batch failed; retrying shortly")
                handled = 0
            if not handled:
                self._stop.wait(self.idle_sleep)
        log.info("worker %s stopped", self.worker_id)

    def stop(self) -> None:
        self._stop.set()


def start_embedded_worker(services: WorkerServices) -> Worker:
    """Start the worker as a daemon thread of this process (single-box mode)."""
    worker = Worker(services)
    thread = threading.Thread(target=worker.run_forever, name="walletpass-worker", daemon=True)
    thread.start()
    return worker


def run_worker_process(services: WorkerServices) -> None:
    """``walletpass worker``: run until SIGTERM/SIGINT."""
    import signal

    worker = Worker(services)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    worker.run_forever()
    time.sleep(0)
