"""Broker mode (``WALLETPASS_BROKER_URL``): Celery workers with a Redis broker, on any number of machines.

The outbox table stays the source of truth. A Celery message carries no job, only "drain the outbox now":

* web processes send a ``drain`` kick after a commit that wrote outbox rows (:mod:`walletpass.jobs.kick`);
* ``walletpass worker`` runs a Celery worker that consumes the queue, and also sweeps (drains on a timer) so jobs
  rescheduled with backoff, and jobs whose kick was lost, still go out — even while the broker is down.

Any number of drains may run at once, in one process or on many machines: each claims its jobs with a lease
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two drains never push the same job, and a drain that dies leaves
its jobs to the next one when the lease runs out.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from celery import Celery, bootsteps

from walletpass.errors import RemoteError
from walletpass.jobs.broker import DRAIN, check_broker, make_celery, send_drain
from walletpass.jobs.worker import Worker, WorkerServices

log = logging.getLogger("walletpass.celery")

#: Batches one drain task handles before it hands the rest to a new task (other workers may pick it up).
MAX_BATCHES = 20


def _register_drain(app: Celery, services: WorkerServices) -> None:
    """Register the ``drain`` task; every run uses *services*, built once for this worker process."""
    queue = services.settings.broker_queue
    worker = Worker(services)  # one per process: its sweep clock spans messages (a sweep per sweep_seconds,
    #                            not a coupon-expiry transaction per kick); each claim has its own lease token

    @app.task(name=DRAIN, ignore_result=True, shared=False)  # type: ignore[untyped-decorator]
    def drain() -> None:
        """Deliver due outbox jobs; if a full MAX_BATCHES were due, queue another drain for the rest."""
        if worker.drain(MAX_BATCHES, stopping=_shutting_down):
            try:
                send_drain(app, queue, eta=None)
            except RemoteError as exc:
                log.warning("could not queue the next drain (%s); the sweep goes on with it", exc)


def _shutting_down() -> bool:
    """True once this Celery worker got SIGTERM/SIGINT: a drain then ends after its current batch."""
    from celery.worker import state

    return any(flag is not None and flag is not False for flag in (state.should_stop, state.should_terminate))


def run_celery_worker(services: WorkerServices, *, concurrency: int = 1) -> int:
    """``walletpass worker`` in broker mode: consume the queue and sweep until SIGTERM; return the exit code.

    Pool: threads, *concurrency* of them, all sharing this process's services. Drains wait on PostgreSQL and
    APNs, not on the CPU, and one process keeps one multiplexed HTTP/2 connection per pass type and one
    Prometheus registry (``--metrics-port``) — prefork would multiply connections and split the metrics over
    child processes. For more CPU, run more ``walletpass worker`` processes.
    """
    settings = services.settings
    app = make_celery(settings)
    _register_drain(app, services)
    check_broker(app)
    app.steps["worker"].add(_SweepStep)
    worker = app.Worker(
        hostname=f"walletpass-{os.getpid()}@{socket.gethostname()}", queues=[settings.broker_queue],
        pool="threads", concurrency=concurrency, loglevel=settings.log_level, quiet=True,
        without_mingle=True, without_gossip=True, without_heartbeat=True,   # no chatter between workers
        walletpass_services=services,
    )
    worker.start()
    return int(worker.exitcode or 0)


class Sweeper:
    """Drain the outbox every ``settings.sweep_seconds`` in a thread of this worker process.

    Every worker process sweeps: with N machines that is N sweeps per period, which is harmless (each claim is
    leased, so a job is pushed by one of them) and cheap (one indexed query when nothing is due). It needs no
    broker, so retries and jobs whose kick was lost go out even while Redis is down.
    """

    def __init__(self, services: WorkerServices) -> None:
        self.worker = Worker(services)
        self.period = services.settings.sweep_seconds
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="walletpass-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.worker.stop()               # a drain in progress ends after its current batch
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        log.info("sweeping the outbox every %s s", self.period)
        while True:
            while self.worker.drain(MAX_BATCHES):
                pass
            if self._done.wait(self.period):
                return


class _SweepStep(bootsteps.StartStopStep):  # type: ignore[misc]  # celery ships no types
    """Worker bootstep that runs a :class:`Sweeper` for as long as the Celery worker runs."""

    def __init__(self, parent: Any, walletpass_services: WorkerServices | None = None, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.services = walletpass_services

    def create(self, parent: Any) -> Sweeper | None:
        return Sweeper(self.services) if self.services is not None else None
