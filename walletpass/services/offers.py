"""Offers: what a coupon grants (title, discount, validity window, texts in several languages)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from walletpass.domain.offers import EXPIRED, ISSUED, REDEEMED, TRANSLATABLE, VOIDED, check_window, parse_instant
from walletpass.errors import InvalidInput
from walletpass.ports import Clock
from walletpass.render.passes import w3c_date
from walletpass.storage.repositories import to_offer
from walletpass.storage.uow import SqlUnitOfWork


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


def create_offer(uow: SqlUnitOfWork, clock: Clock, program_id: int, data: Mapping[str, Any]) -> int:
    """Create an offer of *program_id* from validated API data; return its id."""
    title = data["title"].strip()
    if not title:
        raise InvalidInput("title", "must not be blank")
    now = clock.now()
    valid_from, valid_until = _instant(data, "valid_from"), _instant(data, "valid_until")
    check_window(valid_from, valid_until, now)
    with uow:
        program = uow.program(program_id)
        row = uow.add_offer(program_id=program_id, title=title, description=data.get("description") or "",
                            discount=data.get("discount") or "", valid_from=valid_from, valid_until=valid_until,
                            terms=data.get("terms") or "", texts=_texts(data.get("texts") or {}, program.locales),
                            created_at=now, updated_at=now)
        uow.commit()
        return row.id


def issue_view(row: Any) -> dict[str, Any]:
    """A bulk issue and its progress."""
    return {"id": row.id, "offer_id": row.offer_id, "segment": row.segment, "state": row.state,
            "total": row.total, "issued": row.issued, "created_at": row.created_at.isoformat(),
            "finished_at": row.finished_at.isoformat() if row.finished_at else None}


def offer_view(uow: SqlUnitOfWork, clock: Clock, offer_id: int) -> dict[str, Any]:
    """The API representation of an offer: its fields, its coupons by state, its bulk issues."""
    with uow:
        row = uow.offer(offer_id)
        offer = to_offer(row)
        counts = uow.coupon_counts(offer_id)
        if offer.expired(clock.now()):  # not swept yet: an issued coupon of an ended offer is expired already
            counts[EXPIRED] = counts.get(EXPIRED, 0) + counts.pop(ISSUED, 0)
        coupons = {state: counts.get(state, 0) for state in (ISSUED, REDEEMED, VOIDED, EXPIRED)}
        return {
            "id": offer.id, "program_id": offer.program_id, "title": offer.title,
            "description": offer.description, "discount": offer.discount,
            "valid_from": w3c_date(offer.valid_from) if offer.valid_from else None,
            "valid_until": w3c_date(offer.valid_until) if offer.valid_until else None,
            "terms": offer.terms, "texts": offer.texts,
            "coupons": {**coupons, "total": sum(coupons.values())},
            "issues": [issue_view(i) for i in uow.coupon_issues(offer_id)],
            "created_at": row.created_at.isoformat(),
        }
