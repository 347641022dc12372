"""Push campaigns: create (or dry-run), start, deliver chunk by chunk, cancel; progress from the deliveries.

Exactly once: when a campaign starts, one delivery row per member card of its segment is written (unique per
campaign and pass) and numbered into chunks; each chunk is one job and one transaction that sets the passes' news
to the campaign, moves their versions (so every wallet that holds them is told: an APNs push, …), lets each wallet
provider record how it shows the message (Google: an addMessage job), and marks the chunk's deliveries sent. With
an offer, the same transaction first issues the offer's coupon to each member of the chunk who holds none, so the
news field (which links to the member's coupon) never shows before the coupon exists. A
worker that dies mid-chunk committed nothing of it; the job comes back and does it once. A cancel takes the
campaign's row lock, so no chunk commits after it.

A/B and holdout: the same INSERT … SELECT assigns each delivery its variant, or holds it out (state ``held_out``:
counted, never handed to a wallet, the pass untouched); :func:`stats` compares the groups.

The thundering herd: every device of a chunk comes back for its pass when pushed. The chunk also queues a
``pass_sign`` job that signs the new versions ahead (services.passes.SignedPasses: each version signed once and
kept), and the chunk's pushes are held until their passes are stored (SIGN_AHEAD_HOLD at most), so the fetches
are served from storage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from walletpass.config import Settings
from walletpass.domain import campaigns as rules
from walletpass.domain.campaigns import CHUNK, Campaign, CampaignMessage, GroupStats, Progress, QuietHours, Variant
from walletpass.domain.jobs import Job, JobKind, JobOutcome, JobResult
from walletpass.domain.offers import parse_instant
from walletpass.domain.programs import Program
from walletpass.domain.segments import Segment, parse_segment
from walletpass.domain.webhooks import Event
from walletpass.errors import InvalidInput, NotFound
from walletpass.google.objects import NOTIFY_LIMIT, NOTIFY_WINDOW
from walletpass.ports import Clock, UnitOfWork
from walletpass.services.changes import passes_changed
from walletpass.services.coupons import issue_to_members
from walletpass.services.idempotency import Replayed, Retry, no_lock, once

#: A campaign's message, or its variants, and its holdout (per cent).
Content = tuple[rules.Message | None, tuple[Variant, ...], float]
#: How far in the past a ``send_at`` may be (clocks differ a little): later than this before now is refused.
SEND_AT_SKEW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class CampaignDetails:
    campaign: Campaign
    progress: Progress


@dataclass(frozen=True, slots=True)
class CampaignStats:
    """How each group of a campaign did: one entry per variant (one for a campaign without variants), and the
    holdout; conversions counted within *window_days* days of each member's delivery."""

    campaign: Campaign
    window_days: int
    variants: tuple[GroupStats, ...]
    holdout: GroupStats


@dataclass(frozen=True, slots=True)
class Reach:
    """What a campaign would reach (a dry run): nothing is written or sent."""

    passes: int
    apple_devices: int
    google_objects: int
    google_over_quota: int
    #: "objects" (one addMessage per object) or "class" (one addMessage on the program's class: a campaign to the
    #: whole program with one message and no holdout — a class message cannot differ between members)
    google_path: str
    estimated_seconds: float
    start_at: datetime


def _quiet(hours: tuple[str, str] | None) -> QuietHours | None:
    if hours is None:
        return None
    start, end = (time.fromisoformat(h) for h in hours)
    return QuietHours(start, end)


def create(uow: UnitOfWork, clock: Clock, data: Mapping[str, Any], *, rate: float, dry_run: bool = False,
           retry: Retry | None = None) -> CampaignDetails | Reach | Replayed:
    """Schedule a campaign (it starts at ``send_at``, now by default, moved out of the program's quiet hours
    unless ``ignore_quiet_hours``), or with *dry_run* say what it would reach and write nothing. *rate*: passes
    per second a campaign is delivered at (the estimate of a dry run)."""
    now = clock.now()
    send_at = (parse_instant(data["send_at"], "send_at").astimezone(UTC) if data.get("send_at") is not None
               else now)
    if send_at < now - SEND_AT_SKEW:
        raise InvalidInput("send_at", f"is in the past (now is {now.isoformat(timespec='seconds')})")

    def plan(u: UnitOfWork) -> tuple[Any, Segment, Content, datetime]:
        try:
            program = u.programs.get(int(data["program_id"]))
        except NotFound:
            raise InvalidInput("program_id", f"there is no program {data['program_id']}") from None
        content = rules.parse_content(data, program.locales)
        segment = parse_segment(data.get("segment", {}), [t.name for t in program.tiers])
        offer_id = data.get("offer_id")
        if offer_id is not None:
            try:
                offer = u.offers.get(int(offer_id))
            except NotFound:
                raise InvalidInput("offer_id", f"there is no offer {offer_id}") from None
            if offer.program_id != program.id:
                raise InvalidInput("offer_id", f"offer {offer_id} is not an offer of program {program.id}")
            if offer.expired(now):
                raise InvalidInput("offer_id", f"offer {offer_id} has ended")
        quiet = None if data.get("ignore_quiet_hours") else _quiet(program.quiet_hours)
        return program, segment, content, rules.start_time(send_at, program.time_zone, quiet)

    if dry_run:
        with uow:
            program, segment, (_, variants, holdout), start_at = plan(uow)
            return _reach(uow, rate, program.id, segment, start_at, now, uniform=not variants and holdout == 0)

    def schedule(u: UnitOfWork) -> CampaignDetails:
        program, segment, (message, variants, holdout), start_at = plan(u)
        campaign = u.campaigns.add(program_id=program.id, name=(data.get("name") or "").strip(), message=message,
                                   segment=segment, state=rules.SCHEDULED, send_at=start_at,
                                   offer_id=data.get("offer_id"), now=now, variants=variants, holdout=holdout)
        u.outbox.enqueue(JobKind.CAMPAIGN_START, {"campaign_id": campaign.id}, now,
                         delay_seconds=max(0.0, (start_at - now).total_seconds()))
        return CampaignDetails(campaign, Progress(0, 0, 0, 0, 0))

    return once(uow, now, retry, no_lock, schedule)


def schedule_message(uow: UnitOfWork, program: Program, name: str, message: rules.Message, segment: Segment,
                     now: datetime, *, not_before: datetime | None = None) -> Campaign:
    """Schedule a campaign of *message* to *segment*, in the caller's transaction (automations' messages): it
    starts at *not_before* (default now), moved out of the program's quiet hours."""
    start_at = rules.start_time(max(now, not_before or now), program.time_zone, _quiet(program.quiet_hours))
    campaign = uow.campaigns.add(program_id=program.id, name=name, message=message, segment=segment,
                                 state=rules.SCHEDULED, send_at=start_at, offer_id=None, now=now)
    uow.outbox.enqueue(JobKind.CAMPAIGN_START, {"campaign_id": campaign.id}, now,
                       delay_seconds=max(0.0, (start_at - now).total_seconds()))
    return campaign


def _reach(uow: UnitOfWork, rate: float, program_id: int, segment: Segment, start_at: datetime,
           now: datetime, *, uniform: bool) -> Reach:
    counts = uow.members.reach(program_id, segment, now, notify_limit=NOTIFY_LIMIT, notify_window=NOTIFY_WINDOW)
    return Reach(passes=counts["passes"], apple_devices=counts["apple_devices"],
                 google_objects=counts["google_objects"], google_over_quota=counts["google_over_quota"],
                 google_path="class" if segment.everyone and uniform else "objects",
                 estimated_seconds=rules.estimated_seconds(counts["passes"], rate),
                 start_at=start_at)


def details(uow: UnitOfWork, campaign_id: int) -> CampaignDetails:
    with uow:
        return CampaignDetails(uow.campaigns.get(campaign_id), uow.campaigns.progress(campaign_id))


def stats(uow: UnitOfWork, campaign_id: int) -> CampaignStats:
    """Per variant and for the holdout: members, sent, and how many redeemed the campaign's offer or made a
    transaction within STATS_WINDOW of their delivery."""
    window_days = rules.STATS_WINDOW.days
    with uow:
        campaign = uow.campaigns.get(campaign_id)
        groups = uow.campaigns.stats(campaign_id, campaign.offer_id, window_days)
    empty = GroupStats(redeemed=0 if campaign.offer_id is not None else None)
    return CampaignStats(campaign, window_days,
                         tuple(groups.get(i, empty) for i in range(len(campaign.variants) or 1)),
                         groups.get(None, empty))


def page(uow: UnitOfWork, *, program_id: int | None, state: str | None, cursor: int, limit: int,
         programs: Sequence[int] | None = None) -> list[CampaignDetails]:
    """Campaigns after id *cursor*, oldest first (of *programs* only, when given: a key bound to them)."""
    if state is not None and state not in rules.STATES:
        raise InvalidInput("state", f"must be one of {', '.join(rules.STATES)}")
    with uow:
        found = uow.campaigns.page(program_id=program_id, state=state, after_id=cursor, limit=limit,
                                   programs=programs)
        return [CampaignDetails(c, uow.campaigns.progress(c.id)) for c in found]


def cancel(uow: UnitOfWork, clock: Clock, campaign_id: int) -> CampaignDetails:
    """Cancel a scheduled or sending campaign: its row lock orders it after any chunk being delivered, and no
    chunk is delivered after it commits; Conflict for a campaign already done or cancelled."""
    now = clock.now()
    with uow:
        campaign = uow.campaigns.get(campaign_id, for_update=True)
        rules.check_cancel(campaign)
        uow.campaigns.cancel_pending(campaign_id, now)
        uow.campaigns.set_state(campaign_id, rules.CANCELLED, now)
        result = CampaignDetails(uow.campaigns.get(campaign_id), uow.campaigns.progress(campaign_id))
        uow.commit()
        return result


# -- the worker's side --------------------------------------------------------------------------------------------
def run_jobs(jobs: Sequence[Job], *, uow: Callable[[], UnitOfWork], clock: Clock, settings: Settings,
             rate: float, feedback: bool = False) -> list[JobResult]:
    """Handle ``campaign_start`` and ``campaign_chunk`` jobs (a JobHandler). With *feedback* (the default pace:
    ``WALLETPASS_CAMPAIGN_RATE`` unset), a chunk that comes due while the devices of the earlier ones still wait
    for their passes is held back (AGAIN, later: rules.chunk_delay)."""
    results = []
    for job in jobs:
        if job.kind == JobKind.CAMPAIGN_START:
            _start(uow(), clock, rate, int(job.payload["campaign_id"]))
        else:
            delay = _deliver_chunk(uow(), clock, settings, int(job.payload["campaign_id"]), int(job.payload["chunk"]),
                                   feedback=feedback)
            if delay:
                results.append(JobResult(job, JobOutcome.AGAIN, at=clock.now() + timedelta(seconds=delay)))
                continue
        results.append(JobResult(job, JobOutcome.DONE))
    return results


def _start(uow: UnitOfWork, clock: Clock, rate: float, campaign_id: int) -> None:
    """Write the campaign's deliveries and queue its chunks, paced at *rate* passes per second."""
    now = clock.now()
    with uow:
        campaign = uow.campaigns.get(campaign_id, for_update=True)
        if campaign.state != rules.SCHEDULED:
            return  # cancelled before it started, or started already (a job run twice)
        segment = Segment.from_json(campaign.segment)
        total = uow.campaigns.write_deliveries(campaign_id, campaign.program_id, segment, campaign.split, now)
        chunks = uow.campaigns.chunks(campaign_id)  # those with pending deliveries: not the holdout's
        uow.campaigns.set_state(campaign_id, rules.SENDING if chunks else rules.DONE, now, total=total)
        if not chunks:
            _tell_finished(uow, campaign, total, now)
        for chunk in chunks:
            delay = chunk * CHUNK / rate if rate > 0 else 0.0
            uow.outbox.enqueue(JobKind.CAMPAIGN_CHUNK, {"campaign_id": campaign_id, "chunk": chunk}, now,
                               delay_seconds=delay)
        uow.commit()


def _deliver_chunk(uow: UnitOfWork, clock: Clock, settings: Settings, campaign_id: int, chunk: int, *,
                   feedback: bool = False) -> float:
    """Deliver the chunk; return 0, or (with *feedback*) the seconds to hold it back, having written nothing."""
    now = clock.now()
    with uow:
        campaign = uow.campaigns.get(campaign_id, for_update=True)  # a cancel waits for this chunk, or it for it
        if campaign.state != rules.SENDING:
            return 0.0
        pass_ids = uow.campaigns.pending(campaign_id, chunk)
        if pass_ids and feedback:  # read under the campaign's lock: chunks coming due together see each other
            backlog = uow.campaigns.backlog(campaign_id, now, window=rules.BACKLOG_WINDOW, span=rules.FETCH_SPAN)
            delay = rules.chunk_delay(backlog, len(pass_ids))
            if delay:
                return delay
        if pass_ids:
            if campaign.offer_id is not None:  # each member reached gets the offer's coupon (once), before the
                offer = uow.offers.get(campaign.offer_id, for_update=True)  # news that links to it is shown
                if not offer.expired(now):
                    members = uow.campaigns.pending_members(campaign_id, chunk)
                    have = uow.offers.holders(offer.id, members)
                    issue_to_members(uow, settings, offer, [m for m in members if m not in have], now,
                                     link=False)  # the campaign's message links them (GoogleWallet.on_message)
            uow.campaigns.set_news(pass_ids, campaign_id)
            # Every device of these passes will fetch its new version as soon as it is pushed: the versions are
            # signed ahead (a pass_sign job), and the wallets' jobs of this change wait for that (it makes them
            # due group by group), SIGN_AHEAD_HOLD at most.
            hold = rules.SIGN_AHEAD_HOLD
            passes_changed(uow, pass_ids, now, reason="news", coalesce_seconds=hold.total_seconds())
            for start in range(0, len(pass_ids), rules.SIGN_JOB):  # several jobs: every worker can sign some
                uow.outbox.enqueue(JobKind.PASS_SIGN, {"pass_ids": list(pass_ids[start:start + rules.SIGN_JOB]),
                                                       "hold_until": (now + hold).isoformat()}, now)
            for wallet in uow.wallets:
                wallet.on_message(uow, CampaignMessage(campaign, tuple(pass_ids), first=chunk == 0))
            uow.campaigns.mark(campaign_id, pass_ids, "sent", now)
        progress = uow.campaigns.progress(campaign_id)
        if progress.pending == 0:
            uow.campaigns.set_state(campaign_id, rules.DONE, now)
            _tell_finished(uow, campaign, progress.total, now)
        uow.commit()
    return 0.0


def _tell_finished(uow: UnitOfWork, campaign: Campaign, total: int, now: datetime) -> None:
    uow.webhooks.emit([Event("campaign.finished", now, {"program_id": campaign.program_id,
                                                        "campaign_id": campaign.id, "total": total})])
