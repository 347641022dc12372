"""Coupons: issue (one, or a segment in bulk through the job worker), redeem, void, and expire them.

Every change of a coupon reaches the phones: the coupon's pass gets a new update tag and Last-Modified and its
push job in the same transaction (``touch_passes``); pass.json then carries ``voided`` (apple.md §2.1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from walletpass.config import Settings
from walletpass.domain import offers as rules
from walletpass.domain.passes import COUPON
from walletpass.domain.segments import Segment, parse_segment
from walletpass.errors import Conflict, InvalidInput, NotFound
from walletpass.ids import new_coupon_code, new_serial, new_token
from walletpass.ports import Clock
from walletpass.services.enrolment import links
from walletpass.services.idempotency import Answer, Retry, once
from walletpass.services.offers import issue_view
from walletpass.storage.repositories import to_coupon, to_offer, to_program
from walletpass.storage.uow import SqlUnitOfWork

log = logging.getLogger("walletpass.coupons")

#: Job kind of a bulk issue; its payload is ``{"issue_id": …, "offer_id": …}``.
ISSUE_JOB = "coupon_issue"
#: Members issued to per transaction of a bulk issue, and transactions per job run (then the job is requeued,
#: so one run stays well inside its lease).
ISSUE_SLICE, ISSUE_SLICES_PER_RUN = 200, 10


def _new_coupon(uow: SqlUnitOfWork, settings: Settings, offer_row: Any, member_id: int | None,
                now: datetime) -> tuple[Any, Any]:
    """Insert a coupon and its pass (serial, tokens, a new tag); return (coupon row, pass row)."""
    code = new_coupon_code()
    while uow.coupon_code_taken(code):
        code = new_coupon_code()
    coupon = uow.add_coupon(offer_id=offer_row.id, member_id=member_id, code=code, state=rules.ISSUED, version=1,
                            created_at=now, updated_at=now)
    pass_row = uow.add_pass(serial_number=new_serial(), pass_type_id=settings.coupon_pass_type_id, kind=COUPON,
                            program_id=offer_row.program_id, coupon_id=coupon.id,
                            authentication_token=new_token(24), public_token=new_token(24),
                            update_tag=uow.next_tag(), voided=False, created_at=now,
                            updated_at=now.replace(microsecond=0))
    return coupon, pass_row


def _usable_offer(offer_row: Any, now: datetime) -> None:
    offer = to_offer(offer_row)
    if offer.expired(now):
        raise Conflict(f"offer {offer.id} ended at {offer.valid_until.isoformat()}; "  # type: ignore[union-attr]
                       "no more coupons can be issued for it")


def issue(uow: SqlUnitOfWork, clock: Clock, settings: Settings, offer_id: int, data: Mapping[str, Any],
          retry: Retry | None = None) -> Answer:
    """Issue one coupon to ``member_id`` (201) or queue a bulk issue to ``segment`` (202); return (status, body)."""
    if ("member_id" in data) == ("segment" in data):
        raise InvalidInput("member_id", "send either member_id (one coupon) or segment (one coupon per member "
                                        "of the segment), not both and not neither")
    now = clock.now()

    def lock(u: SqlUnitOfWork) -> object:  # serialises issues of one offer (single, bulk slices, retries)
        return u.offer(offer_id, for_update=True)

    def one(u: SqlUnitOfWork) -> Answer:
        offer_row = u.offer(offer_id)
        _usable_offer(offer_row, now)
        member_id = data["member_id"]
        try:
            member = u.member(member_id)
        except NotFound:
            raise InvalidInput("member_id", f"there is no member {member_id}") from None
        if member.program_id != offer_row.program_id:
            raise InvalidInput("member_id", f"member {member_id} is not in program {offer_row.program_id}, "
                                            "the offer's program")
        coupon, pass_row = _new_coupon(u, settings, offer_row, member.id, now)
        return 201, _coupon_json(settings, coupon, pass_row, rules.ISSUED)

    def bulk(u: SqlUnitOfWork) -> Answer:
        offer_row = u.offer(offer_id)
        _usable_offer(offer_row, now)
        program = to_program(u.program(offer_row.program_id))
        segment = parse_segment(data["segment"], [t.name for t in program.tiers])
        total = u.count_segment_members_without_coupon(program.id, segment, offer_id)
        row = u.add_coupon_issue(offer_id=offer_id, segment=segment.as_json(), state="queued", total=total,
                                 issued=0, created_at=now, updated_at=now)
        u.enqueue(ISSUE_JOB, {"issue_id": row.id, "offer_id": offer_id}, now)
        return 202, issue_view(row)

    return once(uow, now, retry, lock, one if "member_id" in data else bulk)


def _coupon_json(settings: Settings, coupon: Any, pass_row: Any, state: str) -> dict[str, Any]:
    return {"id": coupon.id, "offer_id": coupon.offer_id, "member_id": coupon.member_id, "code": coupon.code,
            "state": state, "serial_number": pass_row.serial_number, "links": links(settings, pass_row.public_token),
            "redeemed_at": coupon.redeemed_at.isoformat() if coupon.redeemed_at else None,
            "created_at": coupon.created_at.isoformat()}


def coupon_view(uow: SqlUnitOfWork, clock: Clock, settings: Settings, coupon_id: int) -> dict[str, Any]:
    """The API representation of a coupon; ``state`` as of now (an issued coupon of an ended offer is expired)."""
    with uow:
        row = uow.coupon(coupon_id)
        state = to_coupon(row).effective_state(to_offer(uow.offer(row.offer_id)), clock.now())
        return _coupon_json(settings, row, uow.coupon_passes(row.id)[0], state)


def issue_progress(uow: SqlUnitOfWork, issue_id: int) -> dict[str, Any]:
    with uow:
        return issue_view(uow.coupon_issue(issue_id))


def _change_state(uow: SqlUnitOfWork, clock: Clock, settings: Settings, coupon_id: int,
                  rule: Callable[[rules.Coupon, rules.Offer, datetime], str], retry: Retry | None) -> Answer:
    now = clock.now()

    def work(u: SqlUnitOfWork) -> Answer:
        row = u.coupon(coupon_id)
        state = rule(to_coupon(row), to_offer(u.offer(row.offer_id)), now)
        row.state, row.version, row.updated_at = state, row.version + 1, now
        if state == rules.REDEEMED:
            row.redeemed_at = now
        u.touch_passes(u.coupon_passes(row.id), now, reason=state, coalesce_seconds=settings.push_coalesce_seconds)
        return 200, {"id": row.id, "state": state, "redeemed_at": row.redeemed_at.isoformat() if row.redeemed_at
                     else None}

    return once(uow, now, retry, lambda u: u.coupon(coupon_id, for_update=True), work)


def redeem(uow: SqlUnitOfWork, clock: Clock, settings: Settings, coupon_id: int, retry: Retry | None = None) -> Answer:
    """Redeem a coupon (200 ``{state: "redeemed"}``); 409 when it was redeemed, voided or has expired."""
    return _change_state(uow, clock, settings, coupon_id, rules.redeem, retry)


def void(uow: SqlUnitOfWork, clock: Clock, settings: Settings, coupon_id: int, retry: Retry | None = None) -> Answer:
    """Void a coupon (200 ``{state: "voided"}``); 409 when it was redeemed, voided or has expired."""
    return _change_state(uow, clock, settings, coupon_id, rules.void, retry)


def run_issue_jobs(jobs: Sequence[Any], *, uow: Callable[[], SqlUnitOfWork], clock: Clock,
                   settings: Settings) -> tuple[list[Any], list[Any]]:
    """Work on bulk issues; return (jobs done, jobs to run again).

    Each slice is one transaction under the offer's row lock that issues to members of the segment who hold
    no coupon of the offer yet, so a job run twice (a retry, a lease that ran out) never issues twice.
    """
    done: list[Any] = []
    again: list[Any] = []
    for job in jobs:
        finished = False
        for _ in range(ISSUE_SLICES_PER_RUN):
            finished = _issue_slice(uow(), clock, settings, int(job.payload["offer_id"]),
                                    int(job.payload["issue_id"]))
            if finished:
                break
        (done if finished else again).append(job)
    return done, again


def _issue_slice(uow: SqlUnitOfWork, clock: Clock, settings: Settings, offer_id: int, issue_id: int) -> bool:
    """Issue one slice of a bulk issue; True once the issue is done."""
    now = clock.now()
    with uow:
        try:  # the offer's lock first, then the issue row: both read after the lock, never stale
            offer_row = uow.offer(offer_id, for_update=True)
            issue_row = uow.coupon_issue(issue_id, for_update=True)
        except NotFound:
            log.error("bulk coupon issue %s of offer %s is gone; dropping its job", issue_id, offer_id)
            return True
        if issue_row.state == "done":
            return True
        members: Sequence[Any] = ()
        if not to_offer(offer_row).expired(now):
            # not checked again: a tier renamed since the issue was queued matches nobody, the issue still ends
            segment = Segment.from_json(issue_row.segment)
            members = uow.segment_members_without_coupon(offer_row.program_id, segment, offer_row.id, ISSUE_SLICE)
        for member in members:
            _new_coupon(uow, settings, offer_row, member.id, now)
        issue_row.issued += len(members)
        issue_row.state, issue_row.updated_at = "running", now
        finished = len(members) < ISSUE_SLICE
        if finished:
            issue_row.state, issue_row.finished_at = "done", now
        uow.commit()
        return finished


def expire_due(uow: Callable[[], SqlUnitOfWork], clock: Clock, settings: Settings, *, batch: int = 500) -> int:
    """Mark issued coupons of ended offers expired, once, and bump their passes; return how many."""
    total = 0
    while True:
        now = clock.now()
        with uow() as u:
            rows = u.expiring_coupons(now, batch)
            if not rows:
                return total
            for row in rows:
                row.state, row.version, row.updated_at = rules.EXPIRED, row.version + 1, now
            passes = u.passes_of_coupons([row.id for row in rows])
            u.touch_passes(passes, now, reason=rules.EXPIRED, coalesce_seconds=settings.push_coalesce_seconds)
            u.commit()
        total += len(rows)
        if len(rows) < batch:
            return total
