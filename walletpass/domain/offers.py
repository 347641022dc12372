"""Offers and coupons: a coupon goes issued → redeemed | voided | expired, never back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from walletpass.errors import Conflict

ISSUED, REDEEMED, VOIDED, EXPIRED = "issued", "redeemed", "voided", "expired"


@dataclass(frozen=True, slots=True)
class Offer:
    id: int
    program_id: int
    title: str
    description: str = ""
    discount: str = ""
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    terms: str = ""


@dataclass(frozen=True, slots=True)
class Coupon:
    id: int
    offer_id: int
    code: str
    state: str = ISSUED
    member_id: int | None = None
    redeemed_at: datetime | None = None

    def effective_state(self, offer: Offer, now: datetime) -> str:
        """The state as of *now*: an issued coupon past ``valid_until`` is expired."""
        if self.state == ISSUED and offer.valid_until is not None and now >= offer.valid_until:
            return EXPIRED
        return self.state


def redeem(coupon: Coupon, offer: Offer, now: datetime) -> str:
    """Return the new state for a redemption at *now*, or raise Conflict (409)."""
    state = coupon.effective_state(offer, now)
    if state == REDEEMED:
        raise Conflict("coupon already redeemed")
    if state == EXPIRED:
        raise Conflict("coupon expired")
    if state == VOIDED:
        raise Conflict("coupon voided")
    if offer.valid_from is not None and now < offer.valid_from:
        raise Conflict(f"coupon not valid before {offer.valid_from.isoformat()}")
    return REDEEMED
