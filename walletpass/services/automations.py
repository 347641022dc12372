"""Automations: a program's birthday, welcome and win-back rules — set, shown, and carried out.

Each rule gives an offer's coupon and/or a message, at most once per member and period
(:mod:`walletpass.domain.automations`). Firing is one transaction: the run rows (whose unique key refuses a
second firing, also a concurrent one) and the coupons, issued as bulk issues issue them
(:func:`walletpass.services.coupons.issue_to_members`). Messages go out as campaigns to the members reached
(:func:`walletpass.services.campaigns.schedule_message`, segment ``{"member_ids": […]}``), so they are delivered,
paced and shown on the lock screen as every campaign is, out of the program's quiet hours.

Scheduling: welcome fires in the enrolment's transaction. Birthday and win-back fire in the program's daily run,
a job (``automations_daily``) due at 00:00 of each day in the program's time zone; each run queues the next day's
before it ends (after a worker outage, the missed days run in order, up to CATCH_UP_DAYS back; older ones are
skipped). A day is queued once however many workers run it (``automation_days``: one row per program and
day), and setting the rules runs today's at once, so a rule turned on at noon still greets today's birthdays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from walletpass.config import Settings
from walletpass.domain import automations as rules
from walletpass.domain.automations import BIRTHDAY, DAILY, WELCOME, WIN_BACK, Automation, Fired
from walletpass.domain.campaigns import parse_message
from walletpass.domain.jobs import Job, JobKind, JobOutcome, JobResult
from walletpass.domain.offers import Offer
from walletpass.domain.programs import Program
from walletpass.domain.segments import MAX_VALUES, Conditions, Segment, parse_segment
from walletpass.errors import InvalidInput, NotFound
from walletpass.ports import Clock, UnitOfWork
from walletpass.services.campaigns import schedule_message
from walletpass.services.coupons import ISSUE_SLICE, ISSUE_SLICES_PER_RUN, issue_to_members

log = logging.getLogger("walletpass.automations")

#: The cursor of a rule the daily run has finished (in the job's payload, beside the member id cursors).
FINISHED = -1


@dataclass(frozen=True, slots=True)
class AutomationsView:
    """A program's rules (absent: off), how often each fired, and when the next daily run is due."""

    program: Program
    rules: Mapping[str, Automation]
    fired: Mapping[str, Fired]
    next_run_at: datetime | None


def get(uow: UnitOfWork, program_id: int) -> AutomationsView:
    with uow:
        return _view(uow, uow.programs.get(program_id))


def put(uow: UnitOfWork, clock: Clock, program_id: int, data: Mapping[str, Any]) -> AutomationsView:
    """Replace the program's rules with those of *data* (``birthday``, ``welcome``, ``win_back``; absent or null:
    off). Every rule is checked before anything is written. With a daily rule on, today's run is queued now."""
    now = clock.now()
    with uow:
        program = uow.programs.get(program_id, for_update=True)  # one change of a program's rules at a time
        wanted = [_parse(uow, program, name, data[name], now) for name in rules.RULES if data.get(name) is not None]
        uow.automations.replace(program.id, wanted, now)
        if any(a.enabled and a.rule in DAILY for a in wanted):
            _queue_day(uow, program, rules.local_day(now, program.time_zone), now, now, again=True)
        view = _view(uow, program)
        uow.commit()
        return view


def _view(uow: UnitOfWork, program: Program) -> AutomationsView:
    return AutomationsView(program, {a.rule: a for a in uow.automations.rules(program.id)},
                           uow.automations.fired(program.id), uow.automations.next_run(program.id))


def _parse(uow: UnitOfWork, program: Program, name: str, raw: Mapping[str, Any], now: datetime) -> Automation:
    offer_id = raw.get("offer_id")
    if offer_id is not None:
        try:
            offer = uow.offers.get(offer_id)
        except NotFound:
            raise InvalidInput(f"{name}.offer_id", f"there is no offer {offer_id}") from None
        if offer.program_id != program.id:
            raise InvalidInput(f"{name}.offer_id", f"offer {offer_id} is not an offer of program {program.id}")
        if offer.expired(now):
            raise InvalidInput(f"{name}.offer_id", f"offer {offer_id} has ended")
    message = None
    if raw.get("message") is not None:
        message = parse_message(raw["message"], program.locales, field=f"{name}.message")
    if offer_id is None and message is None:
        raise InvalidInput(name, "send offer_id (a coupon of it), message, or both")
    segment = parse_segment(raw.get("segment", {}), [t.name for t in program.tiers], field=f"{name}.segment")
    days = raw.get("days")
    if name == WIN_BACK and not (isinstance(days, int) and rules.MIN_DAYS <= days <= rules.MAX_DAYS):
        raise InvalidInput(f"{name}.days", f"must be an integer from {rules.MIN_DAYS} to {rules.MAX_DAYS}")
    return Automation(rule=name, enabled=bool(raw.get("enabled", True)), offer_id=offer_id, message=message,
                      segment=segment.as_json(), days=days if name == WIN_BACK else None)


def _queue_day(uow: UnitOfWork, program: Program, day: date, due_at: datetime, now: datetime, *,
               again: bool = False) -> None:
    """Queue the program's daily run of *day* at *due_at*, once (*again*: also if it ran already)."""
    if uow.automations.schedule_day(program.id, day, due_at, again=again):
        uow.outbox.enqueue(JobKind.AUTOMATIONS_DAILY, {"program_id": program.id, "day": day.isoformat()}, now,
                           delay_seconds=max(0.0, (due_at - now).total_seconds()))


# -- firing -------------------------------------------------------------------------------------------------------
def _usable_offer(uow: UnitOfWork, program: Program, rule: Automation, now: datetime, *,
                  lock: bool = False) -> tuple[bool, Offer | None]:
    """(whether the rule can fire, the offer it gives or None): it cannot once its offer has ended.

    With *lock*, the offer's row stays locked until commit, as campaign chunks and bulk issues lock it before they
    issue: a chunk that issues the same offer to the same members waits for this transaction's coupons and then
    sees them (it skips members who hold one), instead of issuing a second beside a coupon not yet committed.
    """
    if rule.offer_id is None:
        return True, None
    offer = uow.offers.get(rule.offer_id, for_update=lock)
    if offer.expired(now):
        log.warning("the %s automation of program %s gives offer %s, which has ended: it does not fire until it "
                    "gives another", rule.rule, program.id, offer.id)
        return False, None
    return True, offer


def _fire(uow: UnitOfWork, settings: Settings, program: Program, rule: Automation, offer: Offer | None,
          periods: Mapping[int, str], now: datetime) -> int:
    """Fire *rule* for the members of *periods* (member id → period) it has not reached in that period yet: the
    runs and their coupons, in the caller's transaction. Return how many it reached."""
    runs = uow.automations.add_runs(program.id, rule.rule, periods, notify=rule.message is not None, now=now)
    if offer is not None and runs:
        coupons = issue_to_members(uow, settings, offer, sorted(runs), now)
        uow.automations.set_coupons({runs[c.member_id]: c.id for c in coupons if c.member_id is not None})
    return len(runs)


def on_enrolment(uow: UnitOfWork, settings: Settings, program: Program, member_id: int, now: datetime) -> None:
    """Fire the program's welcome for a member just enrolled, in the enrolment's transaction (an Idempotency-Key
    retry of the enrolment replays its answer and fires nothing)."""
    rule = uow.automations.rule(program.id, WELCOME)
    if rule is None or not rule.enabled:
        return
    segment = Segment.from_json(rule.segment)
    if not segment.everyone and not uow.automations.matching(program.id, segment, [member_id]):
        return
    # No lock of the offer here: the member is this transaction's own, so no other can issue to them before it
    # commits (and the enrolment holds the tag counter already; locking the offer after it would invert the
    # order chunks and bulk issues take them in).
    usable, offer = _usable_offer(uow, program, rule, now)
    if not usable:
        return
    reached = _fire(uow, settings, program, rule, offer, {member_id: rules.WELCOME_PERIOD}, now)
    if reached and rule.message is not None:
        uow.outbox.enqueue(JobKind.AUTOMATION_MESSAGES, {"program_id": program.id}, now,
                           delay_seconds=rules.WELCOME_MESSAGE_DELAY.total_seconds())


# -- the worker's side ----------------------------------------------------------------------------------------------
def run_jobs(jobs: Sequence[Job], *, uow: Callable[[], UnitOfWork], clock: Clock,
             settings: Settings) -> list[JobResult]:
    """Handle ``automations_daily`` and ``automation_messages`` jobs (a JobHandler)."""
    results = []
    for job in jobs:
        program_id = int(job.payload["program_id"])
        if job.kind == JobKind.AUTOMATIONS_DAILY:
            results.append(_daily(uow, clock, settings, job, program_id, date.fromisoformat(job.payload["day"])))
        else:
            send_messages(uow, clock, program_id)
            results.append(JobResult(job, JobOutcome.DONE))
    return results


def _daily(uow: Callable[[], UnitOfWork], clock: Clock, settings: Settings, job: Job, program_id: int,
           day: date) -> JobResult:
    """The program's run of *day*: each daily rule slice by slice (a transaction each), then their messages,
    then the next day queued. AGAIN (with the cursors in the payload) when a run holds more slices."""
    with uow() as u:
        if not u.automations.day_pending(program_id, day):
            return JobResult(job, JobOutcome.SKIPPED)  # done already (this job ran twice), or never queued
        program = u.programs.get(program_id)
    cursors: dict[str, int] = {k: int(v) for k, v in job.payload.get("after", {}).items()}
    if rules.stale(day, rules.local_day(clock.now(), program.time_zone)):
        log.warning("the automations of program %s for %s ran too late to fire; skipped", program_id, day)
        cursors = dict.fromkeys(DAILY, FINISHED)
    for _ in range(ISSUE_SLICES_PER_RUN):
        name = next((n for n in DAILY if cursors.get(n, 0) != FINISHED), None)
        if name is None:
            break
        cursors[name] = _daily_slice(uow(), clock, settings, program, name, day, cursors.get(name, 0))
    else:
        if any(cursors.get(n, 0) != FINISHED for n in DAILY):
            return JobResult(job, JobOutcome.AGAIN, at=clock.now(), payload={**job.payload, "after": cursors})
    send_messages(uow, clock, program_id)
    _finish_day(uow(), clock, program_id, day)
    return JobResult(job, JobOutcome.DONE)


def _daily_slice(uow: UnitOfWork, clock: Clock, settings: Settings, program: Program, name: str, day: date,
                 after_id: int) -> int:
    """Fire rule *name* for the next slice of members it reaches (ids after *after_id*); return the cursor for
    the next slice, or FINISHED."""
    now = clock.now()
    with uow:
        rule = uow.automations.rule(program.id, name)  # read again: a rule turned off stops at the next slice
        if rule is None or not rule.enabled:
            return FINISHED
        usable, offer = _usable_offer(uow, program, rule, now, lock=True)  # before any other lock it takes
        if not usable:
            return FINISHED
        segment = Segment.from_json(rule.segment)
        if name == BIRTHDAY:
            period = rules.birthday_period(day)
            ids = uow.automations.birthdays(program.id, segment, rules.birthdays_on(day), period,
                                            after_id=after_id, limit=ISSUE_SLICE)
            periods = dict.fromkeys(ids, period)
        else:
            lapsed = uow.automations.lapsed(program.id, segment, now - timedelta(days=rule.days or rules.MAX_DAYS),
                                            after_id=after_id, limit=ISSUE_SLICE)
            periods = {member_id: rules.win_back_period(at) for member_id, at in lapsed}
        reached = _fire(uow, settings, program, rule, offer, periods, now)
        uow.commit()
    if reached:
        log.info("%s automation of program %s reached %d member(s)", name, program.id, reached)
    return max(periods) if len(periods) == ISSUE_SLICE else FINISHED


def _finish_day(uow: UnitOfWork, clock: Clock, program_id: int, day: date) -> None:
    """Mark the run of *day* done and, while a daily rule is on, queue the next day's at its 00:00."""
    now = clock.now()
    with uow:
        if uow.automations.finish_day(program_id, day, now):
            program = uow.programs.get(program_id)
            if any(a.enabled and a.rule in DAILY for a in uow.automations.rules(program_id)):
                following = rules.next_day(day, rules.local_day(now, program.time_zone))
                _queue_day(uow, program, following, rules.midnight(following, program.time_zone), now)
        uow.commit()


def send_messages(uow: Callable[[], UnitOfWork], clock: Clock, program_id: int) -> int:
    """Give the members the program's rules reached their rule's message: a campaign per rule and up to
    MAX_VALUES members (scheduled out of the quiet hours), each run taken by one campaign. Return how many."""
    sent = 0
    for name in rules.RULES:
        while True:
            now = clock.now()
            with uow() as u:
                runs = u.automations.unsent_messages(program_id, name, MAX_VALUES)
                if not runs:
                    break
                rule = u.automations.rule(program_id, name)
                if rule is None or not rule.enabled or rule.message is None:
                    u.automations.drop_messages([r for r, _ in runs])
                else:
                    program = u.programs.get(program_id)
                    members = Segment((Conditions(member_ids=tuple(m for _, m in runs)),))
                    label = f"{name.replace('_', '-')} {rules.local_day(now, program.time_zone).isoformat()}"
                    campaign = schedule_message(u, program, label, rule.message, members, now)
                    u.automations.set_campaign([r for r, _ in runs], campaign.id)
                    sent += len(runs)
                u.commit()
            if len(runs) < MAX_VALUES:
                break
    return sent
