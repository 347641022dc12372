"""Offers and coupons: a coupon goes issued → redeemed | voided | expired, never back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from walletpass.errors import Conflict, InvalidInput

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
    #: locale → {"title", "description", "discount", "terms"}: the offer's texts in other languages
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: Google shows the coupon's code with a rotating TOTP value (a screenshot stops working)
    rotating_barcode: bool = False

    def expired(self, now: datetime) -> bool:
        """Whether the offer's validity has ended at *now*."""
        return self.valid_until is not None and now >= self.valid_until


@dataclass(frozen=True, slots=True)
class Coupon:
    id: int
    offer_id: int
    code: str
    state: str = ISSUED
    member_id: int | None = None
    redeemed_at: datetime | None = None
    created_at: datetime | None = None
    version: int = 1

    def effective_state(self, offer: Offer, now: datetime) -> str:
        """The state as of *now*: an issued coupon past ``valid_until`` is expired."""
        if self.state == ISSUED and offer.valid_until is not None and now >= offer.valid_until:
            return EXPIRED
        return self.state


@dataclass(frozen=True, slots=True)
class CouponIssue:
    """A bulk issue of an offer's coupons to a segment of members, done by the job worker (and its progress)."""

    id: int
    offer_id: int
    segment: Mapping[str, object] | Sequence[Mapping[str, object]]
    state: str  # queued | running | done
    total: int
    issued: int
    created_at: datetime
    finished_at: datetime | None = None


#: The text keys an offer may translate (``texts[locale]``).
TRANSLATABLE = ("title", "description", "discount", "terms")


def parse_instant(value: str, field_name: str) -> datetime:
    """An ISO 8601 date and time *with* its zone (``2026-12-31T23:59:00+08:00`` or ``…Z``); else InvalidInput."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field_name, f"{value!r} is not an ISO 8601 date and time, e.g. "
                                       "'2026-12-31T23:59:00+08:00'") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidInput(field_name, f"{value!r} has no time zone; add one, e.g. '+08:00' or 'Z'")
    if not 1970 <= parsed.year <= 9998:
        raise InvalidInput(field_name, "must be a year between 1970 and 9998")
    return parsed


def check_window(valid_from: datetime | None, valid_until: datetime | None, now: datetime) -> None:
    """An offer's validity window: ``valid_until`` after ``valid_from`` and not already past."""
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise InvalidInput("valid_until", "must be later than valid_from")
    if valid_until is not None and valid_until <= now:
        raise InvalidInput("valid_until", f"is already past (now is {now.isoformat(timespec='seconds')})")


def _usable(coupon: Coupon, offer: Offer, now: datetime) -> None:
    state = coupon.effective_state(offer, now)
    if state == REDEEMED:
        raise Conflict("coupon already redeemed")
    if state == EXPIRED:
        raise Conflict("coupon expired")
    if state == VOIDED:
        raise Conflict("coupon voided")


def void(coupon: Coupon, offer: Offer, now: datetime) -> str:
    """Return the new state for voiding at *now*; a coupon already redeemed, voided or expired is a Conflict."""
    _usable(coupon, offer, now)
    return VOIDED


def redeem(coupon: Coupon, offer: Offer, now: datetime) -> str:
    """Return the new state for a redemption at *now*, or raise Conflict (409)."""
    _usable(coupon, offer, now)
    if offer.valid_from is not None and now < offer.valid_from:
        raise Conflict(f"coupon not valid before {offer.valid_from.isoformat()}")
    return REDEEMED
