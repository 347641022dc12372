"""The broker side every process shares (``WALLETPASS_BROKER_URL``): the Celery app, the ``drain`` kick that web
processes send after a commit that wrote outbox rows, and the broker check. The worker side (the task, the sweep,
``walletpass worker``) is :mod:`walletpass.jobs.celery_app`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from celery import Celery
from kombu.utils.url import maybe_sanitize_url

from walletpass.config import Settings
from walletpass.errors import RemoteError
from walletpass.jobs.kick import Kicker

#: The one task: "drain the outbox now" (the message carries no job; the outbox table is the source of truth).
DRAIN = "walletpass.drain"


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


def broker_kicker(settings: Settings) -> Kicker:
    """The kicker of a web process: drain kicks to *settings*' broker, delayed by the coalescing window."""
    app = make_celery(settings)
    return Kicker(lambda eta: send_drain(app, settings.broker_queue, eta=eta), delay=settings.push_coalesce_seconds)


def send_drain(app: Celery, queue: str, *, eta: float | None) -> None:
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
