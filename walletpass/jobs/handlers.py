"""Job handlers: turn claimed outbox jobs into APNs pushes (and Google updates).

One batch of claimed jobs becomes one multiplexed APNs call per pass type, each device token pushed once
(a device lists every changed serial after one push). Outcomes come back into the database: 200 marks the
registration pushed; 410 / BadDeviceToken forgets the device; 429 / 5xx / transport failures reschedule the
job for just those tokens with backoff; 403 parks the job (credentials must be fixed) without a retry storm.

Nothing is lost: a ``pass_changed`` job ends only when each of its devices got the push or is gone (410 /
BadDeviceToken, or unregistered). Every other failure is retried for as long as it takes, with jittered backoff
capped at RETRY_CAP, and shows in /metrics and /healthz (``FAILING_ATTEMPTS``) instead of being dropped.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from walletpass.domain.jobs import Job
from walletpass.errors import CredentialError, PushUnavailable, WalletpassError
from walletpass.push.policy import Outcome, PushOutcome, backoff_delay, short_token
from walletpass.push.status import PushState
from walletpass.storage.outbox import Outbox

log = logging.getLogger("walletpass.jobs")

MAX_ATTEMPTS = 12  # Google jobs: parked after this many tries (pushes never give up, see the module docstring)
FORBIDDEN_PARK = timedelta(minutes=15)
#: Longest wait between two tries of an undelivered push (the backoff is jittered below it).
RETRY_CAP = 3600.0
#: Tries of one push within a batch (``send_with_retry``), before the job is rescheduled.
PUSH_TRIES = 3
#: A job tried this often and still not done is reported as failing (/metrics, /healthz).
FAILING_ATTEMPTS = 5


class PushSender(Protocol):
    def send_with_retry(self, tokens: Sequence[str], topic: str, *, max_attempts: int = ...) -> list[PushOutcome]: ...


class PushStatusBook(Protocol):
    """The APNs state of each topic, shared by every process (walletpass.push.status.PushStatusStore)."""

    def get(self, topic: str) -> PushState | None: ...

    def record_forbidden(self, topic: str, reason: str, at: datetime) -> None: ...

    def record_accepted(self, topic: str, at: datetime, known: PushState | None = None) -> None: ...


def _refused_recently(state: PushState | None, now: datetime) -> str | None:
    """APNs' reason when the topic's certificate got a 403 less than FORBIDDEN_PARK ago (any process), else None."""
    if state is None or state.forbidden_at is None:
        return None
    return (state.forbidden_reason or "Forbidden") if now - state.forbidden_at < FORBIDDEN_PARK else None


class Observer(Protocol):
    def pushed(self, outcome: Outcome, latency_seconds: float) -> None: ...


class _NullObserver:
    def pushed(self, outcome: Outcome, latency_seconds: float) -> None:
        return None


#: topic → token → the (registration id, pass id, tag) it stands for
Plan = dict[str, dict[str, list[tuple[int, int, int]]]]


def _plan(jobs: Sequence[Job], targets: Sequence[tuple[int, int, str, str, int]],
          only: dict[int, set[str] | None]) -> Plan:
    """Which tokens to push per topic (each token once: a device lists every changed serial after one push)."""
    by_topic: Plan = defaultdict(lambda: defaultdict(list))
    jobs_of_pass: dict[int, list[Job]] = defaultdict(list)
    for j in jobs:
        if j.pass_id is not None:
            jobs_of_pass[j.pass_id].append(j)
    for reg_id, pass_id, topic, token, tag in targets:
        if any((tokens := only[j.id]) is None or token in tokens for j in jobs_of_pass[pass_id]):
            by_topic[topic][token].append((reg_id, pass_id, tag))
    return by_topic


def push_pass_updates(jobs: Sequence[Job], *, uow: Callable[[], Any], outbox: Outbox,
                      sender_for: Callable[[str], PushSender], now: Callable[[], datetime],
                      status: PushStatusBook, observer: Observer | None = None,
                      rng: random.Random | None = None) -> None:
    """Deliver a batch of ``pass_changed`` jobs; a 403 is recorded in *status* (and cleared by an accepted push).

    The sends can outlast a lease (3 tries × the request timeout, topic after topic): the worker keeps the
    batch's lease renewed meanwhile (:class:`walletpass.jobs.lease.LeaseKeeper`), and ``complete`` /
    ``reschedule`` touch only jobs this claim still holds.
    """
    observer = observer or _NullObserver()
    rng = rng or random.Random()
    pass_ids = sorted({j.pass_id for j in jobs if j.pass_id is not None})
    with uow() as u:
        targets = [(t.registration_id, t.pass_id, t.topic, t.token, t.tag) for t in u.devices.push_targets(pass_ids)]
    only: dict[int, set[str] | None] = {j.id: (set(j.payload["tokens"]) if "tokens" in j.payload else None)
                                        for j in jobs}
    by_topic = _plan(jobs, targets, only)

    outcomes: dict[tuple[str, str], PushOutcome] = {}
    parked: dict[str, str] = {}
    held: set[str] = set()  # topics not sent to at all (certificate refused recently): not counted as pushes
    started = now()
    states = status.all()  # one read for every topic of the batch
    for topic, tokens in by_topic.items():
        refused = _refused_recently(states.get(topic), started)
        if refused is not None:
            # The certificate was refused (403) within the park window: every push would be refused too.
            # Park these jobs without sending, so a broken certificate plus a stream of changes never
            # becomes a stream of doomed requests; one attempt is made again once the window has passed.
            results = [PushOutcome(t, 403, refused) for t in tokens]
            held.add(topic)
        else:
            try:  # a missing or unreadable certificate fails this topic only, not the batch
                results = sender_for(topic).send_with_retry(list(tokens), topic, max_attempts=PUSH_TRIES)
            except (PushUnavailable, CredentialError, WalletpassError) as exc:
                log.warning("APNs unavailable for %s: %s", topic, exc)
                results = [PushOutcome.transport_failure(t, str(exc)[:200]) for t in tokens]
        for o in results:
            outcomes[(topic, o.token)] = o
            if o.kind is Outcome.FORBIDDEN:
                parked[topic] = o.reason or "Forbidden"

    finished = now()
    for topic in by_topic.keys() - held:
        if topic in parked:
            status.record_forbidden(topic, parked[topic], finished)
        elif any(outcomes[(topic, t)].kind is Outcome.OK for t in by_topic[topic]):
            status.record_accepted(topic, finished, states.get(topic))
    pushed: list[tuple[int, int]] = []
    dead: list[str] = []
    retry_tokens: dict[int, set[str]] = defaultdict(set)  # pass id → tokens to try again
    first_change: dict[int, datetime] = {}  # pass id → when its oldest job of this batch was recorded
    for j in jobs:
        if j.pass_id is not None and (j.pass_id not in first_change or j.created_at < first_change[j.pass_id]):
            first_change[j.pass_id] = j.created_at
    for topic, tokens in by_topic.items():
        for token, regs in tokens.items():
            o = outcomes[(topic, token)]
            kind = o.kind
            if topic not in held:  # one push per device token, however many jobs and passes it stands for
                oldest = min(first_change[p] for _, p, _ in regs)
                observer.pushed(kind, max(0.0, (finished - oldest).total_seconds()))
            if kind is Outcome.OK:
                pushed.extend((reg_id, tag) for reg_id, _, tag in regs)
            elif kind is Outcome.UNREGISTERED:
                dead.append(token)
                log.info("APNs: token %s is gone (%s %s); forgetting the device", short_token(token), o.status,
                         o.reason)
            else:  # retry, 403, or a configuration error: the device is still there, so the push is kept
                if kind is Outcome.ERROR:
                    log.error("APNs refused a push for %s (%s %s): check the configuration; retrying with backoff",
                              topic, o.status, o.reason)
                for _, pass_id, _ in regs:
                    retry_tokens[pass_id].add(token)

    with uow() as u:
        u.devices.mark_pushed(pushed, finished)
        u.devices.forget_push_tokens(dead)
        u.commit()

    done: list[Job] = []
    for j in jobs:
        left = retry_tokens.get(j.pass_id or -1, set())
        if only[j.id] is not None:
            left = left & only[j.id]  # type: ignore[operator]
        if not left:
            done.append(j)
            continue
        if j.attempts == FAILING_ATTEMPTS:
            log.error("pass %s: %d device(s) still not reached after %d tries; retrying at most hourly",
                      j.pass_id, len(left), j.attempts)
        topics = {t for t, toks in by_topic.items() if left & set(toks)}
        if topics & set(parked):
            at = finished + FORBIDDEN_PARK
            error = "APNs 403 " + ", ".join(sorted({parked[t] for t in topics & set(parked)}))
        else:
            at = finished + timedelta(seconds=backoff_delay(j.attempts, base=1.0, cap=RETRY_CAP, rng=rng))
            error = "APNs: " + "; ".join(sorted({f"{o.status} {o.reason}".strip() for (t, tok), o in outcomes.items()
                                                  if t in topics and tok in left}))[:500]
        outbox.reschedule(j, at, payload={**j.payload, "tokens": sorted(left)}, error=error)
    outbox.complete(done)


# -- Google ---------------------------------------------------------------------------------------------
#: Share of the job lease a Google batch may spend starting jobs (the rest covers the last requests' timeouts);
#: jobs not reached are handed back untried. At 20 requests/s a 60 s lease starts ~480 jobs.
GOOGLE_LEASE_SHARE = 0.4
GOOGLE_RETRY_BASE, GOOGLE_RETRY_CAP = 5.0, 1800.0


def apply_google_outcomes(jobs: Sequence[Job], outcomes: Sequence[Any], *, outbox: Outbox,
                          now: Callable[[], datetime], rng: random.Random | None = None) -> dict[str, int]:
    """Complete, retry (backoff), pause (credentials), park or release each Google job by its own outcome;
    return counts by result (for logs)."""
    rng = rng or random.Random()
    by_id = {j.id: j for j in jobs}
    done, released, counts = [], [], defaultdict(int)
    for o in outcomes:
        job = by_id[o.job_id]
        result = o.result
        if result in ("retry", "pause") and job.attempts >= MAX_ATTEMPTS:
            result = "park"
        counts[result] += 1
        if result in ("done", "skipped"):
            done.append(job)
        elif result == "released":
            released.append(job)
        elif result == "retry":
            delay = backoff_delay(job.attempts, base=GOOGLE_RETRY_BASE, cap=GOOGLE_RETRY_CAP, rng=rng)
            outbox.reschedule(job, now() + timedelta(seconds=delay), error=o.error)
        elif result == "pause":
            log.warning("Google refused %s job %s (%s); pausing it %s", job.kind, job.id, o.error, FORBIDDEN_PARK)
            outbox.reschedule(job, now() + FORBIDDEN_PARK, error=o.error)
        else:
            log.error("Google %s job %s parked after %d attempt(s): %s", job.kind, job.id, job.attempts, o.error)
            outbox.park(job, o.error or "parked")
    outbox.release(released)
    outbox.complete(done)
    return dict(counts)


def sync_google(jobs: Sequence[Job], *, services: Any, outbox: Outbox) -> dict[str, int]:
    """Deliver ``google_sync`` (object PATCH) and ``google_class_sync`` jobs, each with its own outcome.

    The client makes one try per request (no sleeping in the lease); a failed job is retried later with
    backoff, or paused / parked (see :class:`walletpass.services.google_wallet.SyncOutcome`).
    """
    from walletpass.google.client import RetryPolicy
    from walletpass.services import google_wallet

    s = services
    client = s.google_client().with_retry(RetryPolicy(attempts=1))
    objects = [j for j in jobs if j.kind == "google_sync"]
    outcomes = google_wallet.sync_objects(objects, uow=s.uow, settings=s.settings, clock=s.clock, client=client,
                                          budget_seconds=s.settings.job_lease_seconds * GOOGLE_LEASE_SHARE)
    seen: set[str] = set()
    for job in (j for j in jobs if j.kind == "google_class_sync"):
        key = repr(sorted(job.payload.items()))
        if key in seen:  # several design changes in one batch: one upsert per class
            outcomes.append(google_wallet.SyncOutcome(job.id, "skipped"))
            continue
        seen.add(key)
        outcomes.append(google_wallet.sync_class(job, uow=s.uow, settings=s.settings, client=client))
    return apply_google_outcomes(jobs, outcomes, outbox=outbox, now=s.clock.now)
