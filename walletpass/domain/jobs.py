"""Jobs of the transactional outbox: what kinds exist, a claimed job, and what became of it. PURE.

A job is written in the transaction of the change that needs it (``uow.outbox``); a worker claims due jobs with a
lease, hands each kind's batch to its handler (registered in the composition root), and applies the
:class:`JobResult` each handler returns: done, try again at a time, park, or hand back untried.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

#: A job tried this often and still not done is reported as failing (/metrics, /healthz).
FAILING_ATTEMPTS = 5


class JobKind(StrEnum):
    """The kinds of job (the values are stored in ``outbox.kind``)."""

    #: tell Apple devices that a pass changed (APNs push to each registration)
    APPLE_PUSH = "pass_changed"
    #: bring a pass's Google object up to date (PATCH, re-insert when gone)
    GOOGLE_SYNC = "google_sync"
    #: bring a program's or an offer's Google class up to date
    GOOGLE_CLASS_SYNC = "google_class_sync"
    #: issue an offer's coupons to a segment of members, slice by slice
    COUPON_ISSUE = "coupon_issue"
    #: start a campaign: write its deliveries, queue its chunks
    CAMPAIGN_START = "campaign_start"
    #: deliver one chunk of a campaign's passes to the wallets
    CAMPAIGN_CHUNK = "campaign_chunk"
    #: add a campaign's message to a pass's Google object (or, without a pass, to the program's class)
    GOOGLE_MESSAGE = "google_message"
    #: put a campaign's coupon beside a member's Google loyalty card (insert its OfferObject, link it)
    GOOGLE_OFFER_LINK = "google_offer_link"
    #: sign and keep the new versions of passes before their devices come for them (a campaign chunk's)
    PASS_SIGN = "pass_sign"
    #: a program's daily run of its automations (birthday, win-back) for one day; queues the next day's
    AUTOMATIONS_DAILY = "automations_daily"
    #: give the members a program's automations reached their rule's message (campaigns to them)
    AUTOMATION_MESSAGES = "automation_messages"
    #: mail a member their card's link (the enrolment page: a welcome, or an enrolled address asking again)
    CARD_LINK_MAIL = "card_link_mail"
    #: deliver a webhook's due events (one job per webhook at a time; the deliveries hold each event's tries)
    WEBHOOK_DELIVER = "webhook_deliver"
    #: tell Samsung Wallet that a pass it holds changed (Update Notification; Samsung then gets the card data)
    SAMSUNG_UPDATE = "samsung_update"
    #: import the staged rows of a bulk import of members, chunk by chunk
    MEMBER_IMPORT = "member_import"


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed job. ``locked_by`` is the lease token of the claim that handed it out: completing, rescheduling
    or parking act only on rows that token still holds (a worker whose lease ran out cannot touch another's)."""

    id: int
    kind: str
    pass_id: int | None
    payload: Mapping[str, Any]
    attempts: int
    created_at: datetime
    locked_by: str = ""


class JobOutcome(StrEnum):
    """What became of a job."""

    DONE = "done"          # delivered: delete it
    SKIPPED = "skipped"    # nothing to do any more (e.g. the pass is not at Google): delete it
    RETRY = "retry"        # a later try can succeed (429/5xx/no answer): run again at ``at``
    PAUSE = "pause"        # the operator must fix credentials: run again at ``at`` (after a pause)
    AGAIN = "again"        # more work left (a long bulk issue): run again at ``at``, usually now
    PARK = "park"          # retrying cannot fix it: keep it aside with its error, never claimed again
    RELEASED = "released"  # not started within the lease: hand it back untried


@dataclass(frozen=True, slots=True)
class JobResult:
    """A handler's verdict on one job: *outcome*, when to run again (``at``), the payload to run it with (None:
    unchanged) and the error to keep for the operator."""

    job: Job
    outcome: JobOutcome
    at: datetime | None = None
    payload: Mapping[str, Any] | None = None
    error: str = ""

    def __post_init__(self) -> None:
        if self.outcome in (JobOutcome.RETRY, JobOutcome.PAUSE, JobOutcome.AGAIN) and self.at is None:
            raise ValueError(f"a {self.outcome} result needs the time to run again")
