"""Webhooks: subscribe (the secret shown once), list, delete, see the deliveries; and the worker's side, which
delivers each webhook's events in order (domain.webhooks has the rules).

Events are written by the use cases that make the changes, in their own transaction (``uow.webhooks.emit``), one
delivery per subscribed webhook, and each such webhook gets a ``webhook_deliver`` outbox job. The job's handler
takes the webhook's lease (one worker per webhook at a time, so a member's events go out in order), sends what is
due, records each try, and queues the webhook's next job for the earliest retry still pending.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from walletpass.config import Settings
from walletpass.domain import webhooks as rules
from walletpass.domain.jobs import Job, JobKind, JobOutcome, JobResult
from walletpass.domain.webhooks import Delivery, Webhook
from walletpass.errors import InvalidInput
from walletpass.ids import new_token, new_webhook_secret
from walletpass.ports import Clock, UnitOfWork, WebhookSender
from walletpass.services.idempotency import Replayed, Retry, no_lock, once

#: How long the worker delivering a webhook holds it (renewed after every batch; well above BUDGET_SECONDS plus a
#: request's timeout), so a worker that died leaves the webhook to the next one after this.
LEASE = timedelta(seconds=120)
#: How long one job sends before it hands the rest to a new job (other workers may take it).
BUDGET_SECONDS = 20.0
#: Deliveries read (and settled) at a time.
BATCH = 100
#: A job that finds the webhook busy (another worker delivers it) comes back this much later.
BUSY_WAIT = timedelta(seconds=2)
#: Delivered deliveries are listed this long, then forgotten (parked ones stay).
KEEP_DELIVERED = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Created:
    """A new webhook; ``secret_generated``: the secret was made here, and this is the one time it is shown."""

    webhook: Webhook
    secret_generated: bool


@dataclass(frozen=True, slots=True)
class WebhookDetails:
    webhook: Webhook
    deliveries: Mapping[str, int]


def create(uow: UnitOfWork, clock: Clock, settings: Settings, data: Mapping[str, Any], *,
           retry: Retry | None = None) -> Created | Replayed:
    """Subscribe ``url`` to ``events``; sign with ``secret`` (whsec_…) or one made now."""
    url = rules.check_url(data["url"], allow_private=settings.webhooks_allow_private)
    events = rules.parse_events(list(data["events"]))
    given = data.get("secret")
    secret = rules.parse_secret(given) if given is not None else new_webhook_secret()
    now = clock.now()

    def add(u: UnitOfWork) -> Created:
        return Created(u.webhooks.add(url=url, events=events, secret=secret, now=now), given is None)

    return once(uow, now, retry, no_lock, add)


def details(uow: UnitOfWork, webhook_id: int) -> WebhookDetails:
    with uow:
        return WebhookDetails(uow.webhooks.get(webhook_id), uow.webhooks.counts(webhook_id))


def page(uow: UnitOfWork, *, cursor: int, limit: int) -> list[WebhookDetails]:
    """Webhooks after id *cursor*, oldest first."""
    with uow:
        return [WebhookDetails(w, uow.webhooks.counts(w.id)) for w in uow.webhooks.page(after_id=cursor, limit=limit)]


def delete(uow: UnitOfWork, webhook_id: int) -> None:
    """Delete a webhook and its deliveries: nothing more is sent to it."""
    with uow:
        uow.webhooks.delete(webhook_id)
        uow.commit()


def deliveries(uow: UnitOfWork, webhook_id: int, *, cursor: int, limit: int,
               state: str | None = None) -> list[Delivery]:
    """A webhook's deliveries after id *cursor*, oldest first (NotFound for an unknown webhook)."""
    if state is not None and state not in rules.STATES:
        raise InvalidInput("state", f"must be one of {', '.join(rules.STATES)}")
    with uow:
        uow.webhooks.get(webhook_id)
        return uow.webhooks.deliveries(webhook_id, after_id=cursor, limit=limit, state=state)


# -- the worker's side --------------------------------------------------------------------------------------------


def run_jobs(jobs: Sequence[Job], *, uow: Callable[[], UnitOfWork], clock: Clock, sender: WebhookSender,
             rng: random.Random | None = None, budget: float = BUDGET_SECONDS,
             monotonic: Callable[[], float] = time.monotonic) -> list[JobResult]:
    """Handle ``webhook_deliver`` jobs (a JobHandler): deliver each job's webhook's due events."""
    token = new_token(12)
    return [_deliver(job, token, uow, clock, sender, rng or random.Random(), budget, monotonic) for job in jobs]


def _deliver(job: Job, token: str, uow: Callable[[], UnitOfWork], clock: Clock, sender: WebhookSender,
             rng: random.Random, budget: float, monotonic: Callable[[], float]) -> JobResult:
    webhook_id = int(job.payload["webhook_id"])
    now = clock.now()
    with uow() as u:
        got = u.webhooks.lease(webhook_id, token, now, now + LEASE)
        webhook = u.webhooks.get(webhook_id) if got == "taken" else None
        u.commit()
    if webhook is None:
        if got == "busy":  # a fresh job, not this one again: its tries would count as failures (/healthz)
            with uow() as u:
                u.outbox.enqueue_once(JobKind.WEBHOOK_DELIVER, [{"webhook_id": webhook_id}], now,
                                      delay_seconds=BUSY_WAIT.total_seconds())
                u.commit()
        return JobResult(job, JobOutcome.SKIPPED)
    try:
        _send_due(webhook, token, uow, clock, sender, rng, monotonic() + budget, monotonic)
    finally:
        _wrap_up(webhook.id, token, uow, clock)
    return JobResult(job, JobOutcome.DONE)


def _send_due(webhook: Webhook, token: str, uow: Callable[[], UnitOfWork], clock: Clock, sender: WebhookSender,
              rng: random.Random, deadline: float, monotonic: Callable[[], float]) -> None:
    """Send the webhook's due deliveries in id order until none is due or *deadline* (monotonic) passed."""
    while monotonic() < deadline:
        with uow() as u:
            batch = u.webhooks.due(webhook.id, clock.now(), BATCH)
        if not batch:
            return
        settled: list[dict[str, Any]] = []
        waiting: set[int] = set()  # members whose earlier delivery failed in this batch: theirs wait for it
        for delivery in batch:
            member = delivery.values.get("member_id")
            if member in waiting:
                continue
            if monotonic() >= deadline:
                break
            outcome = sender.send(webhook, delivery, rules.body(delivery))
            settled.append(_settle(delivery, outcome, clock.now(), rng))
            if settled[-1]["state"] == rules.PENDING and member is not None:
                waiting.add(member)
        now = clock.now()
        with uow() as u:
            u.webhooks.settle(settled)
            u.webhooks.lease(webhook.id, token, now, now + LEASE)
            u.commit()


def _settle(delivery: Delivery, outcome: rules.Outcome, now: datetime, rng: random.Random) -> dict[str, Any]:
    attempts = delivery.attempts + 1
    out: dict[str, Any] = {"id": delivery.id, "attempts": attempts, "last_status": outcome.status or None,
                           "last_error": None if outcome.ok else (outcome.error or f"HTTP {outcome.status}")[:1000]}
    if outcome.ok:
        return {**out, "state": rules.DELIVERED, "delivered_at": now, "next_attempt_at": None}
    at = rules.next_try(attempts, delivery.created_at, now, outcome, rng)
    if at is None:
        return {**out, "state": rules.PARKED, "next_attempt_at": None}
    return {**out, "state": rules.PENDING, "next_attempt_at": at}


def _wrap_up(webhook_id: int, token: str, uow: Callable[[], UnitOfWork], clock: Clock) -> None:
    """Release the lease, forget old delivered deliveries, and queue the webhook's next job when one is pending."""
    now = clock.now()
    with uow() as u:
        u.webhooks.release(webhook_id, token)
        u.webhooks.prune(webhook_id, now - KEEP_DELIVERED)
        due = u.webhooks.next_due(webhook_id)
        if due is not None:
            u.outbox.enqueue_once(JobKind.WEBHOOK_DELIVER, [{"webhook_id": webhook_id}], now,
                                  delay_seconds=max(0.0, (due - now).total_seconds()))
        u.commit()
