"""Push policy: what an APNs answer means and when to try again. PURE: no I/O, no clock, no global RNG.

The table follows apple.md §4 ("Responses"):

======================  ================  ==============================================================
APNs answer             kind              what the caller does
======================  ================  ==============================================================
200                     ``ok``            keep the registration
410 (Unregistered,      ``unregistered``  delete the device's registrations (the token is dead)
ExpiredToken), 400
BadDeviceToken
429, 500, 503, other    ``retry``         try again later with backoff + jitter (new connection for 503)
5xx, status 0
(transport / GOAWAY)
403                     ``forbidden``     stop: the certificate is wrong/revoked; report it in health
other 4xx (BadTopic,    ``error``         a configuration bug: alert, do not retry blindly
BadPriority, 404, …)
======================  ================  ==============================================================
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from walletpass.domain.devices import PushTarget
from walletpass.domain.jobs import Job, JobOutcome, JobResult


class Outcome(StrEnum):
    """Classification of one push attempt."""

    OK = "ok"
    UNREGISTERED = "unregistered"
    RETRY = "retry"
    FORBIDDEN = "forbidden"
    ERROR = "error"


#: 400 reasons that mean the token itself is bad: treated like 410 (VPK deletes the device, apple.md §4).
UNREGISTERED_400_REASONS = frozenset({"BadDeviceToken"})


def classify(status: int, reason: str = "") -> Outcome:
    """Return what an APNs *status* (0 = no HTTP answer) with *reason* means for the caller."""
    if status == 200:
        return Outcome.OK
    if status == 410 or (status == 400 and reason in UNREGISTERED_400_REASONS):
        return Outcome.UNREGISTERED
    if status == 0 or status == 429 or 500 <= status <= 599:
        return Outcome.RETRY
    if status == 403:
        return Outcome.FORBIDDEN
    return Outcome.ERROR


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """The final answer for one device token.

    ``status`` is the HTTP status, or 0 when no answer arrived (connection refused/reset, GOAWAY, timeout);
    ``reason`` is APNs' ``reason`` (or the transport error text when ``status`` is 0); ``apns_id`` is the
    ``apns-id`` APNs echoed; ``timestamp`` is the 410 body's timestamp (ms since the epoch), when given.
    """

    token: str
    status: int
    reason: str = ""
    apns_id: str | None = None
    timestamp: int | None = None

    @property
    def kind(self) -> Outcome:
        """The classification of this answer (see the module table)."""
        return classify(self.status, self.reason)

    @classmethod
    def transport_failure(cls, token: str, reason: str) -> PushOutcome:
        """An attempt that got no HTTP answer; always retryable."""
        return cls(token=token, status=0, reason=reason)


class RandomSource(Protocol):
    """What the backoff needs of an RNG: ``random.Random`` fits."""

    def random(self) -> float: ...


DEFAULT_BASE = 0.5   # seconds before the first retry (upper bound)
DEFAULT_CAP = 30.0   # never wait longer than this between two attempts


def backoff_delay(attempt: int, *, base: float = DEFAULT_BASE, cap: float = DEFAULT_CAP,
                  rng: RandomSource) -> float:
    """Return the seconds to wait after failed attempt number *attempt* (1-based).

    Exponential with "equal jitter": the ceiling ``min(cap, base * 2**(attempt-1))`` is split into a fixed
    half and a random half, so the delay lies in ``[ceiling/2, ceiling]``. Jitter spreads the retries of
    many tokens that failed together (one 503 on a shared connection) instead of re-sending them in step.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 62))
    half = ceiling / 2.0
    return half + half * rng.random()


def should_retry(outcome: PushOutcome, attempt: int, max_attempts: int) -> bool:
    """Return True if *outcome* of attempt number *attempt* deserves another try within *max_attempts*.

    Only ``retry`` outcomes are retried; 403 and other 4xx never are (retrying cannot fix a certificate or a
    configuration bug and would only hammer APNs).
    """
    return outcome.kind is Outcome.RETRY and attempt < max_attempts


def parse_error_body(body: bytes) -> tuple[str, int | None]:
    """Return ``(reason, timestamp)`` from an APNs error body ``{"reason": …[, "timestamp": …]}``.

    A body that is empty or not the documented JSON gives ``("", None)``; it never raises.
    """
    if not body:
        return "", None
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "", None
    if not isinstance(doc, dict):
        return "", None
    reason = doc.get("reason")
    timestamp = doc.get("timestamp")
    return (reason if isinstance(reason, str) else "",
            timestamp if isinstance(timestamp, int) and not isinstance(timestamp, bool) else None)


def short_token(token: str, keep: int = 8) -> str:
    """Return *token* shortened for logs: device tokens are personal data and are never logged in full."""
    return token[:min(keep, len(token) // 2)] + "…"



# -- what APNs last said about a topic ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushState:
    """What APNs last said about a topic: refused (``forbidden_at`` and Apple's reason) and/or last accepted."""

    topic: str
    forbidden_at: datetime | None = None
    forbidden_reason: str | None = None
    ok_at: datetime | None = None

    @property
    def forbidden(self) -> bool:
        return self.forbidden_at is not None


# -- a batch of push jobs: plan (who to push) and verdict (what became of each job) --------------------------------

#: Tries of one push within a batch, before its job is rescheduled.
PUSH_TRIES = 3
#: Longest wait between two tries of an undelivered push (the backoff is jittered below it).
RETRY_CAP = 3600.0
#: How long a topic whose certificate APNs refused (403) is left alone before one more try.
FORBIDDEN_PARK = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class PushPlan:
    """Which device tokens to push, per topic (the pass type), each token once however many passes and jobs it
    stands for: a device lists every changed serial after one push (apple.md §3)."""

    #: topic → token → the registrations (and pass versions) that token stands for
    by_topic: Mapping[str, Mapping[str, tuple[PushTarget, ...]]]
    #: job id → the tokens that job still owes (a job rescheduled for some devices), None: every device of its pass
    only: Mapping[int, frozenset[str] | None]
    #: registrations that already got a push for the pass's current version (a batch resumed after a worker died)
    delivered: tuple[PushTarget, ...] = ()


def plan_pushes(jobs: Sequence[Job], targets: Sequence[PushTarget]) -> PushPlan:
    """Plan a batch of push jobs over the registrations of their passes (*targets*)."""
    only: dict[int, frozenset[str] | None] = {
        j.id: (frozenset(j.payload["tokens"]) if "tokens" in j.payload else None) for j in jobs}
    jobs_of_pass: dict[int, list[Job]] = defaultdict(list)
    for j in jobs:
        if j.pass_id is not None:
            jobs_of_pass[j.pass_id].append(j)
    by_topic: dict[str, dict[str, list[PushTarget]]] = defaultdict(lambda: defaultdict(list))
    delivered: list[PushTarget] = []
    for t in targets:
        if not any((tokens := only[j.id]) is None or t.token in tokens for j in jobs_of_pass[t.pass_id]):
            continue
        if t.pushed_tag is not None and t.pushed_tag >= t.tag:
            delivered.append(t)  # this device was pushed this version already: it will fetch it
            continue
        by_topic[t.topic][t.token].append(t)
    return PushPlan({topic: {tok: tuple(ts) for tok, ts in tokens.items()} for topic, tokens in by_topic.items()},
                    only, tuple(delivered))


def refused_recently(forbidden_at: datetime | None, reason: str | None, now: datetime) -> str | None:
    """APNs' reason when the topic's certificate got a 403 less than FORBIDDEN_PARK ago, else None."""
    if forbidden_at is None:
        return None
    return (reason or "Forbidden") if now - forbidden_at < FORBIDDEN_PARK else None


def delivered(tokens: Mapping[str, Sequence[PushTarget]],
              outcomes: Sequence[PushOutcome]) -> tuple[list[tuple[int, int]], list[str]]:
    """What a chunk of answers settles for good: (registration id, version) pushed, and tokens that are gone."""
    pushed: list[tuple[int, int]] = []
    dead: list[str] = []
    for o in outcomes:
        if o.kind is Outcome.OK:
            pushed.extend((t.registration_id, t.tag) for t in tokens.get(o.token, ()))
        elif o.kind is Outcome.UNREGISTERED:
            dead.append(o.token)
    return pushed, dead


@dataclass(frozen=True, slots=True)
class PushVerdict:
    """What a batch's answers mean: each job's result, each topic's APNs state, each device's outcome."""

    results: tuple[JobResult, ...]
    #: topic → APNs' reason, for topics that answered 403 (record it: the certificate must be fixed)
    forbidden: Mapping[str, str]
    #: topics where APNs accepted at least one push (clears a recorded 403)
    accepted: frozenset[str]
    #: one per device token sent to: its outcome and when the oldest change it stands for was recorded
    observed: tuple[tuple[PushOutcome, datetime], ...]


def decide_pushes(jobs: Sequence[Job], plan: PushPlan, outcomes: Mapping[tuple[str, str], PushOutcome],
                  held: frozenset[str], finished: datetime, rng: RandomSource) -> PushVerdict:
    """Settle a batch. *outcomes*: (topic, token) → the answer; *held*: topics not sent to at all (refused
    recently). A job ends only when every device it owes got the push or is gone; the others are retried with
    jittered backoff (capped at RETRY_CAP), or paused FORBIDDEN_PARK when APNs refused the certificate."""
    forbidden = {topic: o.reason or "Forbidden" for (topic, _), o in outcomes.items()
                 if o.kind is Outcome.FORBIDDEN and topic not in held}
    accepted = frozenset(topic for (topic, _), o in outcomes.items() if o.kind is Outcome.OK) - forbidden.keys()
    first_change: dict[int, datetime] = {}  # pass id → when its oldest job of this batch was recorded
    for j in jobs:
        if j.pass_id is not None and (j.pass_id not in first_change or j.created_at < first_change[j.pass_id]):
            first_change[j.pass_id] = j.created_at
    observed: list[tuple[PushOutcome, datetime]] = []
    retry_tokens: dict[int, set[str]] = defaultdict(set)  # pass id → tokens to try again
    for topic, tokens in plan.by_topic.items():
        for token, regs in tokens.items():
            o = outcomes[(topic, token)]
            if topic not in held:  # one observation per device token, however many jobs and passes it stands for
                observed.append((o, min(first_change[t.pass_id] for t in regs)))
            if o.kind not in (Outcome.OK, Outcome.UNREGISTERED):  # the device is still there: the push is kept
                for t in regs:
                    retry_tokens[t.pass_id].add(token)
    results = []
    for j in jobs:
        left = set(retry_tokens.get(j.pass_id or -1, set()))
        owed = plan.only[j.id]
        if owed is not None:
            left &= owed
        if not left:
            results.append(JobResult(j, JobOutcome.DONE))
            continue
        topics = {t for t, toks in plan.by_topic.items() if left & toks.keys()}
        refused = topics & (forbidden.keys() | held)
        payload = {**j.payload, "tokens": sorted(left)}
        if refused:
            reasons = sorted({forbidden.get(t) or outcomes[(t, tok)].reason for t in refused
                              for tok in left if (t, tok) in outcomes})
            results.append(JobResult(j, JobOutcome.PAUSE, finished + FORBIDDEN_PARK, payload,
                                     "APNs 403 " + ", ".join(r for r in reasons if r)))
            continue
        delay = backoff_delay(j.attempts, base=1.0, cap=RETRY_CAP, rng=rng)
        error = "APNs: " + "; ".join(sorted({f"{o.status} {o.reason}".strip() for (t, tok), o in outcomes.items()
                                             if t in topics and tok in left}))
        results.append(JobResult(j, JobOutcome.RETRY, finished + timedelta(seconds=delay), payload, error[:500]))
    return PushVerdict(tuple(results), forbidden, accepted, tuple(observed))


# -- Google jobs: what each outcome means for the job ---------------------------------------------------------------

#: Google jobs are parked after this many tries (pushes never give up: they end on delivery or a gone device).
GOOGLE_MAX_ATTEMPTS = 12
GOOGLE_RETRY_BASE, GOOGLE_RETRY_CAP = 5.0, 1800.0


def decide_sync(job: Job, outcome: JobOutcome, error: str, now: datetime, rng: RandomSource) -> JobResult:
    """A Google job's result: RETRY with backoff (429/5xx/no answer), PAUSE FORBIDDEN_PARK (401/403: the operator
    must fix credentials), both PARK once tried GOOGLE_MAX_ATTEMPTS times; the rest as they are."""
    if outcome in (JobOutcome.RETRY, JobOutcome.PAUSE) and job.attempts >= GOOGLE_MAX_ATTEMPTS:
        outcome = JobOutcome.PARK
    if outcome is JobOutcome.RETRY:
        delay = backoff_delay(job.attempts, base=GOOGLE_RETRY_BASE, cap=GOOGLE_RETRY_CAP, rng=rng)
        return JobResult(job, outcome, now + timedelta(seconds=delay), error=error)
    if outcome is JobOutcome.PAUSE:
        return JobResult(job, outcome, now + FORBIDDEN_PARK, error=error)
    if outcome is JobOutcome.PARK:
        return JobResult(job, outcome, error=error or "parked")
    return JobResult(job, outcome, error=error)

__all__ = [
    "DEFAULT_BASE",
    "DEFAULT_CAP",
    "FORBIDDEN_PARK",
    "GOOGLE_MAX_ATTEMPTS",
    "Outcome",
    "PUSH_TRIES",
    "PushOutcome",
    "PushPlan",
    "PushState",
    "PushVerdict",
    "RETRY_CAP",
    "RandomSource",
    "UNREGISTERED_400_REASONS",
    "backoff_delay",
    "classify",
    "decide_pushes",
    "decide_sync",
    "delivered",
    "parse_error_body",
    "plan_pushes",
    "refused_recently",
    "short_token",
]
