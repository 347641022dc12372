"""The Apple push job handler: a batch of ``pass_changed`` jobs becomes one multiplexed APNs call per pass type,
each device token pushed once (plan and verdict are pure: walletpass.push.policy). Devices of the Android pkpass
apps, which speak Apple's web service but hold no APNs token, are pushed through their app's relay instead
(walletpass.push.relays), with the same outcomes; devices of apps that poll are never pushed.

Outcomes come back into the database as they arrive, a chunk at a time: 200 marks the registration as pushed that
version, 410 / BadDeviceToken forgets the device. A batch resumed after its worker died (the lease ran out and
another worker claimed it) therefore skips the devices already pushed. 429 / 5xx / transport failures reschedule
the job for just those tokens with backoff; 403 pauses it (the certificate must be fixed) without a retry storm,
and is recorded for every process (/healthz). Nothing is lost: a job ends only when each of its devices got the
push or is gone, and every other failure is retried for as long as it takes.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from walletpass.domain.devices import PushClient, PushTarget
from walletpass.domain.jobs import FAILING_ATTEMPTS, Job, JobOutcome, JobResult
from walletpass.errors import WalletpassError
from walletpass.ports import PushGateway, PushStatusBook, UnitOfWork
from walletpass.push.policy import (
    PUSH_TRIES,
    Outcome,
    PushOutcome,
    decide_pushes,
    delivered,
    plan_pushes,
    refused_recently,
    short_token,
)

log = logging.getLogger("walletpass.jobs")

#: Device tokens sent per call: the outcomes of each chunk are recorded before the next one is sent.
PUSH_CHUNK = 200


class Observer(Protocol):
    def pushed(self, outcome: Outcome, latency_seconds: float) -> None: ...


class Relays(Protocol):
    """The Android apps' push relays (walletpass.push.relays.RelayGateway)."""

    def send(self, topic: str, targets: Mapping[str, Sequence[PushTarget]]) -> list[PushOutcome]: ...


class ApplePushHandler:
    """Delivers ``pass_changed`` jobs (a :class:`walletpass.ports.JobHandler`)."""

    def __init__(self, uow: Callable[[], UnitOfWork], sender_for: Callable[[str], PushGateway],
                 status: PushStatusBook, now: Callable[[], datetime], observer: Observer | None = None,
                 rng: random.Random | None = None, chunk: int = PUSH_CHUNK, relays: Relays | None = None) -> None:
        self._uow, self._sender_for, self._status, self._now = uow, sender_for, status, now
        self._observer, self._rng, self._chunk = observer, rng or random.Random(), chunk
        self._relays = relays

    def __call__(self, jobs: Sequence[Job]) -> list[JobResult]:
        pass_ids = sorted({j.pass_id for j in jobs if j.pass_id is not None})
        with self._uow() as u:
            plan = plan_pushes(jobs, u.devices.push_targets(pass_ids))
        states = self._status.all()  # one read for every topic of the batch
        started = self._now()
        outcomes: dict[tuple[str, str], PushOutcome] = {}
        held: set[str] = set()  # topics not sent to at all (certificate refused recently)
        for topic, tokens in plan.by_topic.items():
            state = states.get(topic)
            refused = refused_recently(state.forbidden_at, state.forbidden_reason, started) if state else None
            if refused is not None:
                # Refused (403) within the park window: every push would be refused too. Pause these jobs without
                # sending, so a broken certificate plus a stream of changes never becomes a stream of doomed
                # requests; one attempt is made again once the window has passed.
                outcomes.update({(topic, t): PushOutcome(t, 403, refused) for t in tokens})
                held.add(topic)
                continue
            outcomes.update(self._send_topic(topic, tokens))
        finished = self._now()
        verdict = decide_pushes(jobs, plan, outcomes, frozenset(held), finished, self._rng)
        for topic, reason in verdict.forbidden.items():
            self._status.record_forbidden(topic, reason, finished)
        for topic in verdict.accepted:
            self._status.record_accepted(topic, finished, states.get(topic))
        if self._observer is not None:
            for outcome, since in verdict.observed:
                self._observer.pushed(outcome.kind, max(0.0, (finished - since).total_seconds()))
        self._log(verdict.observed, verdict.results)
        return list(verdict.results)

    def _send_topic(self, topic: str, tokens: Mapping[str, Sequence[PushTarget]]
                    ) -> dict[tuple[str, str], PushOutcome]:
        """Send to every token of *topic*, a chunk at a time, recording each chunk's deliveries before the next."""
        out: dict[tuple[str, str], PushOutcome] = {}
        order = list(tokens)
        for start in range(0, len(order), self._chunk):
            chunk = order[start:start + self._chunk]
            forbidden = next((o for o in out.values() if o.kind is Outcome.FORBIDDEN), None)
            if forbidden is not None:  # APNs refused the certificate: the rest would be refused too
                out.update({(topic, t): PushOutcome(t, 403, forbidden.reason) for t in chunk})
                continue
            apns = [t for t in chunk if tokens[t][0].client is PushClient.APPLE]
            results = self._send_apns(topic, apns) if apns else []
            relayed = {t: tokens[t] for t in chunk if tokens[t][0].client not in (PushClient.APPLE, PushClient.POLL)}
            if relayed:
                results += (self._relays.send(topic, relayed) if self._relays is not None else
                            [PushOutcome(t, 400, "no push relays configured") for t in relayed])
            # an app that polls (FossWallet) is never pushed: it will see the change when it next asks
            results += [PushOutcome(t, 200, "polls") for t in chunk if tokens[t][0].client is PushClient.POLL]
            out.update({(topic, o.token): o for o in results})
            pushed, dead = delivered({t: tokens[t] for t in chunk}, results)
            if pushed or dead:
                with self._uow() as u:
                    u.devices.mark_pushed(pushed, self._now())
                    u.devices.forget_push_tokens(dead)
                    u.commit()
        return out

    def _send_apns(self, topic: str, tokens: list[str]) -> list[PushOutcome]:
        try:  # a missing or unreadable certificate fails this topic only, not the batch
            return self._sender_for(topic).send_with_retry(tokens, topic, max_attempts=PUSH_TRIES)
        except WalletpassError as exc:
            log.warning("APNs unavailable for %s: %s", topic, exc)
            return [PushOutcome.transport_failure(t, str(exc)[:200]) for t in tokens]

    @staticmethod
    def _log(observed: Sequence[tuple[PushOutcome, datetime]], results: Sequence[JobResult]) -> None:
        for o, _ in observed:
            if o.kind is Outcome.UNREGISTERED:
                log.info("APNs: token %s is gone (%s %s); forgetting the device", short_token(o.token), o.status,
                         o.reason)
            elif o.kind is Outcome.ERROR:
                log.error("APNs refused a push (%s %s): check the configuration; retrying with backoff", o.status,
                          o.reason)
        for r in results:
            if r.outcome is not JobOutcome.DONE and r.job.attempts == FAILING_ATTEMPTS:
                log.error("pass %s: %d device(s) still not reached after %d tries; retrying at most hourly",
                          r.job.pass_id, len((r.payload or {}).get("tokens", ())), r.job.attempts)
