"""Lists and lookups of the API: one page of a resource (keyset on id, oldest first; walletpass.paging), and the
till's calls (a member by the barcode on their card, a coupon by its code, redeem by code).

A page is fetched with ``limit`` = the page size + 1 by the caller (the extra row says whether a next page
exists). Lists of a resource's children (a program's offers, a member's transactions) answer NotFound for a
parent that does not exist, as its own GET does. *programs*: what a key bound to programs may see (None: every
program); a lookup never finds anything outside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from walletpass.config import Settings
from walletpass.domain.api_keys import ApiKey
from walletpass.domain.devices import Device, Registration
from walletpass.domain.members import LedgerEntry, Member
from walletpass.domain.offers import Coupon, Offer
from walletpass.domain.passes import Pass
from walletpass.domain.programs import Program
from walletpass.errors import NotFound
from walletpass.paging import CouponFilter, MemberFilter, PageRequest
from walletpass.ports import Clock, UnitOfWork
from walletpass.services import coupons
from walletpass.services.coupons import CouponDetails
from walletpass.services.idempotency import Replayed, Retry


@dataclass(frozen=True, slots=True)
class MemberSummary:
    """A member in a list: the member and their card (its links); None only while the member is being enrolled."""

    member: Member
    card: Pass | None


@dataclass(frozen=True, slots=True)
class DeviceRegistration:
    """A device that holds one of a member's passes."""

    registration: Registration
    device: Device
    pass_: Pass


def programs(uow: UnitOfWork, req: PageRequest, *, visible: Sequence[int] | None) -> list[Program]:
    with uow:
        return uow.pages.programs(programs=visible, after_id=req.after_id, limit=req.limit)


def members(uow: UnitOfWork, f: MemberFilter, req: PageRequest) -> list[MemberSummary]:
    """Members matching *f* (a program's, or a lookup across the programs the caller sees)."""
    with uow:
        if f.program_id is not None:
            uow.programs.get(f.program_id)
        rows = uow.pages.members(f, after_id=req.after_id, limit=req.limit)
        return [MemberSummary(m, card) for m, card in rows]


def offers(uow: UnitOfWork, program_id: int, req: PageRequest) -> list[Offer]:
    with uow:
        uow.programs.get(program_id)
        return uow.pages.offers(program_id, after_id=req.after_id, limit=req.limit)


def coupon_page(uow: UnitOfWork, clock: Clock, f: CouponFilter, req: PageRequest) -> list[CouponDetails]:
    """Coupons matching *f*, each with its pass and its state as of now."""
    now = clock.now()
    with uow:
        if f.offer_id is not None:
            uow.offers.get(f.offer_id)
        if f.member_id is not None:
            uow.members.get(f.member_id)
        rows = uow.pages.coupons(f, after_id=req.after_id, limit=req.limit)
        return [CouponDetails(c, p, c.effective_state(o, now)) for c, o, p in rows if p is not None]


def transactions(uow: UnitOfWork, member_id: int, req: PageRequest) -> list[LedgerEntry]:
    with uow:
        uow.members.get(member_id)
        return uow.pages.ledger(member_id, after_id=req.after_id, limit=req.limit)


def transaction(uow: UnitOfWork, entry_id: int) -> LedgerEntry:
    with uow:
        return uow.ledger.get(entry_id)


def devices(uow: UnitOfWork, member_id: int, req: PageRequest) -> list[DeviceRegistration]:
    with uow:
        uow.members.get(member_id)
        return [DeviceRegistration(r, d, p)
                for r, d, p in uow.pages.registrations(member_id, after_id=req.after_id, limit=req.limit)]


def api_keys(uow: UnitOfWork, req: PageRequest) -> list[ApiKey]:
    with uow:
        return uow.pages.api_keys(after_id=req.after_id, limit=req.limit)


def coupon_by_code(uow: UnitOfWork, code: str, *, visible: Sequence[int] | None) -> Coupon:
    """The coupon whose code is *code* (a coupon's QR code carries it), among the programs the caller sees."""
    with uow:
        found = uow.pages.coupons(CouponFilter(programs=None if visible is None else tuple(visible), code=code),
                                  after_id=0, limit=1)
    if not found:
        raise NotFound(f"no coupon has the code {code!r}")
    return found[0][0]


def redeem_by_code(uow: UnitOfWork, read_uow: UnitOfWork, clock: Clock, settings: Settings, code: str, *,
                   visible: Sequence[int] | None, retry: Retry | None = None) -> Coupon | Replayed:
    """Redeem the coupon with *code*: what ``coupons.redeem`` does for its id (Conflict when redeemed, voided or
    expired; the same Idempotency-Key answers), NotFound for a code no coupon the caller sees has."""
    coupon = coupon_by_code(read_uow, code, visible=visible)
    return coupons.redeem(uow, clock, settings, coupon.id, retry)
