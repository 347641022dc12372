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
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from celery import Celery, bootsteps
from kombu.utils.url import maybe_sanitize_url

from walletpass.config import Settings
from walletpass.errors import RemoteError
from walletpass.jobs.kick import Kicker
from walletpass.jobs.worker import Worker

if TYPE_CHECKING:
    from walletpass.bootstrap import Services

log = logging.getLogger("walletpass.celery")

DRAIN = "walletpass.drain"
#: Batches one drain task handles before it hands the rest to a new task (other workers may pick it up).
MAX_BATCHES = 20


def make_celery(settings: Settings) -> Celery:
    """Build the Celery app of *settings* (no tasks: web processes only send ``drain`` by name)."""
    queue = settings.broker_queue
    app = Celery("walletpass", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_ignore_result=True, result_backend=None,        # a drain has no result; the outbox has the state
        task_serializer="json", accept_content=["json"], event_serializer="json",
        task_acks_late=True, worker_prefetch_multiplier=1,    # a message leaves Redis only once its drain ran
        task_default_queue=queue, task_default_exchange=queue, task_default_routing_key=queue,
        broker_connection_timeout=2.0,
        # A kick is a hint: two quick tries, then the sender logs and the sweep delivers.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5,
                                   "interval_max": 1},
        broker_connection_retry_on_startup=False,             # `walletpass worker` checks the broker first
        broker_connection_max_retries=None,                   # later outages: reconnect forever, sweeps go on
        worker_enable_remote_control=False,                   # no pidbox queues: nothing uses them
        worker_send_task_events=False,
    )
    return app


def _register_drain(app: Celery, services: Services) -> None:
    """Register the ``drain`` task; every run uses *services*, built once for this worker process."""
    queue = services.settings.broker_queue
    worker = Worker(services)  # one per process: its sweep clock spans messages (a sweep per sweep_seconds,
    #                            not a coupon-expiry transaction per kick); each claim has its own lease token

    @app.task(name=DRAIN, ignore_result=True, shared=False)
    def drain() -> None:
        """Deliver due outbox jobs; if a full MAX_BATCHES were due, queue another drain for the rest."""
        if worker.drain(MAX_BATCHES, stopping=_shutting_down):
            try:
                _send(app, queue, eta=None)
            except RemoteError as exc:
                log.warning("could not queue the next drain (%s); the sweep goes on with it", exc)


def _shutting_down() -> bool:
    """True once this Celery worker got SIGTERM/SIGINT: a drain then ends after its current batch."""
    from celery.worker import state

    return any(flag is not None and flag is not False for flag in (state.should_stop, state.should_terminate))


def broker_kicker(settings: Settings) -> Kicker:
    """The kicker of a web process: drain kicks to *settings*' broker, delayed by the coalescing window."""
    app = make_celery(settings)
    return Kicker(lambda eta: _send(app, settings.broker_queue, eta=eta), delay=settings.push_coalesce_seconds)


def _send(app: Celery, queue: str, *, eta: float | None) -> None:
    try:
        app.send_task(DRAIN, queue=queue, eta=datetime.fromtimestamp(eta, UTC) if eta is not None else None)
    except Exception as exc:  # noqa: BLE001 - kombu/redis raise many types; one error out of this adapter
        raise RemoteError(f"broker {maybe_sanitize_url(app.conf.broker_url)}: {exc}") from exc


def check_broker(app: Celery) -> None:
    """Raise RemoteError (one readable line) unless the broker answers."""
    url = maybe_sanitize_url(app.conf.broker_url)
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0.5, timeout=3)
            conn.default_channel.client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure here means the same thing to the operator
        reason = str(exc).strip().rstrip(".") or type(exc).__name__
        raise RemoteError(f"cannot reach the broker at {url}: {reason} "
                          "(check WALLETPASS_BROKER_URL and that Redis is running)") from exc


def run_celery_worker(services: Services, *, concurrency: int = 1) -> int:
    """``walletpass worker`` in broker mode: consume the queue and sweep until SIGTERM; return the exit code.

    Pool: threads, *concurrency* of them, all sharing this process's Services. Drains wait on PostgreSQL and
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

    def __init__(self, services: Services) -> None:
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


class _SweepStep(bootsteps.StartStopStep):
    """Worker bootstep that runs a :class:`Sweeper` for as long as the Celery worker runs."""

    def __init__(self, parent: Any, walletpass_services: Services | None = None, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.services = walletpass_services

    def create(self, parent: Any) -> Sweeper | None:
        return Sweeper(self.services) if self.services is not None else None
