"""/api/v1/programs/{id}/offers, /api/v1/offers/{id}[/coupons], /api/v1/coupons/{id}[/redeem|/void]"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, url_for

from api import schemas
from api.admin import bp
from api.auth import require_key
from api.context import services
from api.idempotency import respond, retry_of
from api.representations import coupon_json, coupon_state_json, issue_json, offer_json
from api.validation import json_body
from walletpass.domain.offers import Coupon, CouponIssue, Offer
from walletpass.services import coupons, offers
from walletpass.services.coupons import CouponDetails


def _created(offer: Offer) -> tuple[int, dict[str, Any]]:
    return 201, {"id": offer.id}


@bp.post("/programs/<int:program_id>/offers")
@require_key("offers", owner="program_id")
def create_offer(program_id: int) -> tuple[Response, int, dict[str, str]]:
    s = services()
    data = json_body(schemas.OFFER, max_bytes=s.settings.max_body_bytes)
    result = offers.create_offer(s.uow(), s.clock, program_id, data, retry=retry_of(_created, data))
    return respond(result, _created, lambda status, body: url_for("admin.get_offer", offer_id=body["id"]))


@bp.get("/offers/<int:offer_id>")
@require_key("offers", owner="offer_id")
def get_offer(offer_id: int) -> Response:
    s = services()
    return jsonify(offer_json(offers.offer_details(s.read_uow(), s.clock, offer_id)))


def _issue_location(status: int, body: Mapping[str, Any]) -> str:
    if status == 201:
        return url_for("admin.get_coupon", coupon_id=body["id"])
    return url_for("admin.get_coupon_issue", issue_id=body["id"])


@bp.post("/offers/<int:offer_id>/coupons")
@require_key("offers", owner="offer_id")
def issue_coupons(offer_id: int) -> tuple[Response, int, dict[str, str]]:
    """One coupon to ``member_id`` (201), or one per member of ``segment`` through the job worker (202)."""
    s = services()
    data = json_body(schemas.COUPONS, max_bytes=s.settings.max_body_bytes)

    def render(result: CouponDetails | CouponIssue) -> tuple[int, dict[str, Any]]:
        if isinstance(result, CouponDetails):
            return 201, coupon_json(result, s.urls)
        return 202, issue_json(result)

    result = coupons.issue(s.uow(), s.clock, s.settings, offer_id, data, retry_of(render, data))
    return respond(result, render, _issue_location)


@bp.get("/coupon-issues/<int:issue_id>")
@require_key("offers", owner="issue_id")
def get_coupon_issue(issue_id: int) -> Response:
    return jsonify(issue_json(offers.issue_progress(services().read_uow(), issue_id)))


@bp.get("/coupons/<int:coupon_id>")
@require_key("offers", owner="coupon_id")
def get_coupon(coupon_id: int) -> Response:
    s = services()
    return jsonify(coupon_json(coupons.coupon_details(s.read_uow(), s.clock, coupon_id), s.urls))


def _state(coupon: Coupon) -> tuple[int, dict[str, Any]]:
    return 200, coupon_state_json(coupon)


@bp.post("/coupons/<int:coupon_id>/redeem")
@require_key("offers", "pos", owner="coupon_id")
def redeem_coupon(coupon_id: int) -> tuple[Response, int, dict[str, str]]:
    s = services()
    return respond(coupons.redeem(s.uow(), s.clock, s.settings, coupon_id, retry_of(_state)), _state)


@bp.post("/coupons/<int:coupon_id>/void")
@require_key("offers", owner="coupon_id")
def void_coupon(coupon_id: int) -> tuple[Response, int, dict[str, str]]:
    s = services()
    return respond(coupons.void(s.uow(), s.clock, s.settings, coupon_id, retry_of(_state)), _state)
