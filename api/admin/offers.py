"""/api/v1/programs/{id}/offers, /api/v1/offers/{id}[/coupons], /api/v1/coupons/{id}[/redeem|/void]"""

from __future__ import annotations

from flask import Response, jsonify, url_for

from api import schemas
from api.admin import bp
from api.auth import require_key
from api.context import services
from api.idempotency import retry_of
from api.validation import json_body
from walletpass.services import coupons, offers


@bp.post("/programs/<int:program_id>/offers")
@require_key("offers", owner="program_id")
def create_offer(program_id: int) -> tuple[Response, int, dict[str, str]]:
    s = services()
    data = json_body(schemas.OFFER, max_bytes=s.settings.max_body_bytes)
    offer_id = offers.create_offer(s.uow(), s.clock, program_id, data)
    return jsonify({"id": offer_id}), 201, {"Location": url_for("admin.get_offer", offer_id=offer_id)}


@bp.get("/offers/<int:offer_id>")
@require_key("offers", owner="offer_id")
def get_offer(offer_id: int) -> Response:
    s = services()
    return jsonify(offers.offer_view(s.read_uow(), s.clock, offer_id))


@bp.post("/offers/<int:offer_id>/coupons")
@require_key("offers", owner="offer_id")
def issue_coupons(offer_id: int) -> tuple[Response, int, dict[str, str]]:
    """One coupon to ``member_id`` (201), or one per member of ``segment`` through the job worker (202)."""
    s = services()
    data = json_body(schemas.COUPONS, max_bytes=s.settings.max_body_bytes)
    status, body = coupons.issue(s.uow(), s.clock, s.settings, offer_id, data, retry_of(data))
    if status == 201:
        location = url_for("admin.get_coupon", coupon_id=body["id"])
    else:
        location = url_for("admin.get_coupon_issue", issue_id=body["id"])
    return jsonify(body), status, {"Location": location}


@bp.get("/coupon-issues/<int:issue_id>")
@require_key("offers", owner="issue_id")
def get_coupon_issue(issue_id: int) -> Response:
    return jsonify(coupons.issue_progress(services().read_uow(), issue_id))


@bp.get("/coupons/<int:coupon_id>")
@require_key("offers", owner="coupon_id")
def get_coupon(coupon_id: int) -> Response:
    s = services()
    return jsonify(coupons.coupon_view(s.read_uow(), s.clock, s.settings, coupon_id))


@bp.post("/coupons/<int:coupon_id>/redeem")
@require_key("offers", owner="coupon_id")
def redeem_coupon(coupon_id: int) -> tuple[Response, int]:
    s = services()
    status, body = coupons.redeem(s.uow(), s.clock, s.settings, coupon_id, retry_of())
    return jsonify(body), status


@bp.post("/coupons/<int:coupon_id>/void")
@require_key("offers", owner="coupon_id")
def void_coupon(coupon_id: int) -> tuple[Response, int]:
    s = services()
    status, body = coupons.void(s.uow(), s.clock, s.settings, coupon_id, retry_of())
    return jsonify(body), status
