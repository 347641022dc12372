"""Offers: what a coupon grants (title, discount, validity window, texts in several languages)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from walletpass.domain.offers import (
    EXPIRED,
    ISSUED,
    REDEEMED,
    TRANSLATABLE,
    VOIDED,
    CouponIssue,
    Offer,
    check_window,
    parse_instant,
)
from walletpass.errors import InvalidInput
from walletpass.ports import Clock, UnitOfWork
from walletpass.services.idempotency import Replayed, Retry, no_lock, once

#: Coupon states in the order the API lists them.
COUPON_STATES = (ISSUED, REDEEMED, VOIDED, EXPIRED)


@dataclass(frozen=True, slots=True)
class OfferDetails:
    """An offer with its coupons counted by state (as of now) and its bulk issues."""

    offer: Offer
    coupons: Mapping[str, int]
    issues: tuple[CouponIssue, ...]


def _texts(raw: Mapping[str, Mapping[str, str]], locales: Sequence[str]) -> dict[str, dict[str, str]]:
    for locale, entries in raw.items():
        if locale not in locales:
            raise InvalidInput(f"texts.{locale}", f"locale {locale!r} is not in the program's locales {list(locales)}")
        for key in entries:
            if key not in TRANSLATABLE:
                raise InvalidInput(f"texts.{locale}.{key}", f"unknown text key; use some of {list(TRANSLATABLE)}")
    return {k: dict(v) for k, v in raw.items()}


def _instant(data: Mapping[str, Any], key: str) -> datetime | None:
    return parse_instant(data[key], key) if data.get(key) is not None else None


def create_offer(uow: UnitOfWork, clock: Clock, program_id: int, data: Mapping[str, Any], *,
                 retry: Retry | None = None) -> Offer | Replayed:
    """Create an offer of *program_id* from validated API data."""
    title = data["title"].strip()
    if not title:
        raise InvalidInput("title", "must not be blank")
    now = clock.now()
    valid_from, valid_until = _instant(data, "valid_from"), _instant(data, "valid_until")
    check_window(valid_from, valid_until, now)

    def create(u: UnitOfWork) -> Offer:
        program = u.programs.get(program_id)
        return u.offers.add({
            "program_id": program_id, "title": title, "description": data.get("description") or "",
            "discount": data.get("discount") or "", "valid_from": valid_from, "valid_until": valid_until,
            "terms": data.get("terms") or "", "texts": _texts(data.get("texts") or {}, program.locales),
            "rotating_barcode": bool(data.get("rotating_barcode"))}, now)

    return once(uow, now, retry, no_lock, create)


def offer_details(uow: UnitOfWork, clock: Clock, offer_id: int) -> OfferDetails:
    """An offer, its coupons by state, its bulk issues."""
    with uow:
        offer = uow.offers.get(offer_id)
        counts = uow.offers.coupon_counts(offer_id)
        if offer.expired(clock.now()):  # not swept yet: an issued coupon of an ended offer is expired already
            counts[EXPIRED] = counts.get(EXPIRED, 0) + counts.pop(ISSUED, 0)
        return OfferDetails(offer, {state: counts.get(state, 0) for state in COUPON_STATES},
                            tuple(uow.offers.issues(offer_id)))


def issue_progress(uow: UnitOfWork, issue_id: int) -> CouponIssue:
    with uow:
        return uow.offers.issue(issue_id)
