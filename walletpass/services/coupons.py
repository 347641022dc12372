"""Coupons: issue (one, or a segment in bulk through the job worker), redeem, void, and expire them.

Every change of a coupon reaches the phones: the coupon's pass gets a new version and its deliveries in the same
transaction (:func:`walletpass.services.changes.passes_changed`); pass.json then carries ``voided`` (apple.md §2.1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from walletpass.config import Settings
from walletpass.domain import offers as rules
from walletpass.domain.jobs import Job, JobKind, JobOutcome, JobResult
from walletpass.domain.offers import Coupon, CouponIssue, Offer
from walletpass.domain.passes import COUPON, Pass
from walletpass.domain.segments import Segment, parse_segment
from walletpass.domain.webhooks import Event
from walletpass.errors import Conflict, InvalidInput, NotFound
from walletpass.ids import new_coupon_code, new_serial, new_token
from walletpass.ports import Clock, UnitOfWork
from walletpass.services.changes import passes_changed
from walletpass.services.idempotency import Replayed, Retry, once

log = logging.getLogger("walletpass.coupons")

#: Members issued to per transaction of a bulk issue, and transactions per job run (then the job runs again,
#: so one run stays well inside its lease).
ISSUE_SLICE, ISSUE_SLICES_PER_RUN = 200, 10


@dataclass(frozen=True, slots=True)
class CouponDetails:
    """A coupon, its pass, and its state as of now (an issued coupon of an ended offer is expired)."""

    coupon: Coupon
    pass_: Pass
    state: str


def _new_coupon(uow: UnitOfWork, settings: Settings, offer: Offer, member_id: int | None,
                now: datetime) -> tuple[Coupon, Pass]:
    """Insert a coupon and its pass (serial, tokens, a new tag)."""
    code = new_coupon_code()
    while uow.offers.code_taken(code):
        code = new_coupon_code()
    coupon = uow.offers.add_coupon(offer_id=offer.id, member_id=member_id, code=code, now=now)
    pass_ = uow.passes.add(serial_number=new_serial(), pass_type_id=settings.coupon_pass_type_id, kind=COUPON,
                           program_id=offer.program_id, coupon_id=coupon.id, authentication_token=new_token(24),
                           public_token=new_token(24), tag=uow.passes.next_tag(), now=now)
    return coupon, pass_


def issue_to_members(uow: UnitOfWork, settings: Settings, offer: Offer, member_ids: Sequence[int],
                     now: datetime, *, link: bool = True) -> list[Coupon]:
    """Issue one coupon of *offer* to each of *member_ids*, in the caller's transaction (bulk issues, automations):
    each gets its pass, which wallets learn of when the member adds it. Webhooks get a ``coupon.issued`` each (one
    multi-row INSERT). *link*: the wallets put each coupon beside the member's card (False: the caller's campaign
    message does, :meth:`WalletProvider.on_message`)."""
    issued = [_new_coupon(uow, settings, offer, member_id, now)[0] for member_id in member_ids]
    _tell_issued(uow, offer, issued, now, link=link)
    return issued


def _tell_issued(uow: UnitOfWork, offer: Offer, issued: Sequence[Coupon], now: datetime, *,
                 link: bool = True) -> None:
    members = [c.member_id for c in issued if c.member_id is not None]
    if link and members:
        for wallet in uow.wallets:  # Google: linked beside the member's card
            wallet.on_coupons_issued(uow, offer.id, members, now)
    uow.webhooks.emit([Event("coupon.issued", now, {"program_id": offer.program_id, "member_id": c.member_id,
                                                    "offer_id": offer.id, "coupon_id": c.id, "code": c.code})
                       for c in issued])


def _usable_offer(offer: Offer, now: datetime) -> None:
    if offer.expired(now):
        raise Conflict(f"offer {offer.id} ended at {offer.valid_until.isoformat()}; "  # type: ignore[union-attr]
                       "no more coupons can be issued for it")


def issue(uow: UnitOfWork, clock: Clock, settings: Settings, offer_id: int, data: Mapping[str, Any],
          retry: Retry | None = None) -> CouponDetails | CouponIssue | Replayed:
    """Issue one coupon to ``member_id`` (a CouponDetails), or queue a bulk issue to ``segment`` (a CouponIssue
    that the job worker carries out)."""
    if ("member_id" in data) == ("segment" in data):
        raise InvalidInput("member_id", "send either member_id (one coupon) or segment (one coupon per member "
                                        "of the segment), not both and not neither")
    now = clock.now()

    def lock(u: UnitOfWork) -> object:  # serialises issues of one offer (single, bulk slices, retries)
        return u.offers.get(offer_id, for_update=True)

    def one(u: UnitOfWork) -> CouponDetails:
        offer = u.offers.get(offer_id)
        _usable_offer(offer, now)
        member_id = data["member_id"]
        try:
            member = u.members.get(member_id)
        except NotFound:
            raise InvalidInput("member_id", f"there is no member {member_id}") from None
        if member.program_id != offer.program_id:
            raise InvalidInput("member_id", f"member {member_id} is not in program {offer.program_id}, "
                                            "the offer's program")
        coupon, pass_ = _new_coupon(u, settings, offer, member.id, now)
        _tell_issued(u, offer, [coupon], now)
        return CouponDetails(coupon, pass_, rules.ISSUED)

    def bulk(u: UnitOfWork) -> CouponIssue:
        offer = u.offers.get(offer_id)
        _usable_offer(offer, now)
        program = u.programs.get(offer.program_id)
        segment = parse_segment(data["segment"], [t.name for t in program.tiers])
        total = u.members.count_in_segment(program.id, segment, without_coupon_of=offer_id)
        issue_ = u.offers.add_issue(offer_id=offer_id, segment=segment.as_json(), total=total, now=now)
        u.outbox.enqueue(JobKind.COUPON_ISSUE, {"issue_id": issue_.id, "offer_id": offer_id}, now)
        return issue_

    work: Callable[[UnitOfWork], CouponDetails | CouponIssue] = one if "member_id" in data else bulk
    return once(uow, now, retry, lock, work)


def coupon_details(uow: UnitOfWork, clock: Clock, coupon_id: int) -> CouponDetails:
    """A coupon with its pass; ``state`` as of now (an issued coupon of an ended offer is expired)."""
    with uow:
        coupon = uow.offers.coupon(coupon_id)
        state = coupon.effective_state(uow.offers.get(coupon.offer_id), clock.now())
        return CouponDetails(coupon, uow.passes.of_coupons([coupon.id])[0], state)


def _change_state(uow: UnitOfWork, clock: Clock, settings: Settings, coupon_id: int,
                  rule: Callable[[Coupon, Offer, datetime], str], retry: Retry | None) -> Coupon | Replayed:
    now = clock.now()

    def work(u: UnitOfWork) -> Coupon:
        coupon = u.offers.coupon(coupon_id)
        offer = u.offers.get(coupon.offer_id)
        state = rule(coupon, offer, now)
        coupon = u.offers.set_coupon_state(coupon_id, state, now)
        if state == rules.REDEEMED:
            u.webhooks.emit([Event("coupon.redeemed", now, {"program_id": offer.program_id,
                                                            "member_id": coupon.member_id, "offer_id": offer.id,
                                                            "coupon_id": coupon.id, "code": coupon.code})])
        passes_changed(u, [p.id for p in u.passes.of_coupons([coupon_id])], now, reason=state,
                       coalesce_seconds=settings.push_coalesce_seconds)
        return coupon

    return once(uow, now, retry, lambda u: u.offers.coupon(coupon_id, for_update=True), work)


def redeem(uow: UnitOfWork, clock: Clock, settings: Settings, coupon_id: int,
           retry: Retry | None = None) -> Coupon | Replayed:
    """Redeem a coupon; Conflict when it was redeemed, voided or has expired."""
    return _change_state(uow, clock, settings, coupon_id, rules.redeem, retry)


def void(uow: UnitOfWork, clock: Clock, settings: Settings, coupon_id: int,
         retry: Retry | None = None) -> Coupon | Replayed:
    """Void a coupon; Conflict when it was redeemed, voided or has expired."""
    return _change_state(uow, clock, settings, coupon_id, rules.void, retry)


def run_issue_jobs(jobs: Sequence[Job], *, uow: Callable[[], UnitOfWork], clock: Clock,
                   settings: Settings) -> list[JobResult]:
    """Work on bulk issues: DONE once an issue is finished, else AGAIN (due now, under a new lease).

    Each slice is one transaction under the offer's row lock that issues to members of the segment who hold
    no coupon of the offer yet, so a job run twice (a retry, a lease that ran out) never issues twice.
    """
    results = []
    for job in jobs:
        finished = False
        for _ in range(ISSUE_SLICES_PER_RUN):
            finished = _issue_slice(uow(), clock, settings, int(job.payload["offer_id"]),
                                    int(job.payload["issue_id"]))
            if finished:
                break
        results.append(JobResult(job, JobOutcome.DONE) if finished
                       else JobResult(job, JobOutcome.AGAIN, at=clock.now()))
    return results


def _issue_slice(uow: UnitOfWork, clock: Clock, settings: Settings, offer_id: int, issue_id: int) -> bool:
    """Issue one slice of a bulk issue; True once the issue is done."""
    now = clock.now()
    with uow:
        try:  # the offer's lock first, then the issue row: both read after the lock, never stale
            offer = uow.offers.get(offer_id, for_update=True)
            issue_ = uow.offers.issue(issue_id, for_update=True)
        except NotFound:
            log.error("bulk coupon issue %s of offer %s is gone; dropping its job", issue_id, offer_id)
            return True
        if issue_.state == "done":
            return True
        members = []
        if not offer.expired(now):
            # not checked again: a tier renamed since the issue was queued matches nobody, the issue still ends
            members = uow.members.in_segment(offer.program_id, Segment.from_json(issue_.segment),
                                             without_coupon_of=offer.id, limit=ISSUE_SLICE)
        issue_to_members(uow, settings, offer, [m.id for m in members], now)
        finished = len(members) < ISSUE_SLICE
        uow.offers.advance_issue(issue_id, len(members), now, finished=finished)
        uow.commit()
        return finished


def expire_due(uow: Callable[[], UnitOfWork], clock: Clock, settings: Settings, *, batch: int = 500) -> int:
    """Mark issued coupons of ended offers expired, once, and bump their passes; return how many."""
    total = 0
    while True:
        now = clock.now()
        with uow() as u:
            expired = u.offers.expire_due(now, batch)
            if not expired:
                return total
            passes_changed(u, [p.id for p in u.passes.of_coupons(expired)], now, reason=rules.EXPIRED,
                           coalesce_seconds=settings.push_coalesce_seconds)
            u.commit()
        total += len(expired)
        if len(expired) < batch:
            return total
