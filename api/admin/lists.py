"""Lists of every resource and the till's lookups: ``{data: [...], next}`` cursor pages (api.paging).

GET /programs, /programs/{id}/members, /programs/{id}/offers, /offers/{id}/coupons, /members/{id}/coupons,
/members/{id}/transactions, /members/{id}/devices; the lookups GET /members?barcode=|external_id=|email=|phone=
and GET /coupons?code=, and POST /coupons/redeem {code}.

A key bound to programs sees only their resources: a list of one resource's children checks that resource
(``require_key(owner=…)``: 404 as for one that does not exist); the lists across programs (programs, members,
coupons) hold only what the key's programs hold, and a ``program_id``/``offer_id``/``member_id`` filter of
another program is a 404, as in GET /campaigns.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from api import schemas
from api.admin import bp
from api.auth import IN_REQUEST, current_principal, require_key
from api.context import services
from api.idempotency import respond, retry_of
from api.paging import PAGE_ARGS, instant_arg, int_arg, only_args, page_request, page_response, str_arg
from api.representations import (
    coupon_json,
    coupon_state_json,
    device_json,
    ledger_json,
    member_summary_json,
    offer_summary_json,
    program_json,
)
from api.validation import json_body
from walletpass.domain.members import MAX_POINTS, normalize_phone
from walletpass.domain.offers import EXPIRED, ISSUED, REDEEMED, VOIDED, Coupon
from walletpass.errors import InvalidInput
from walletpass.paging import CouponFilter, MemberFilter
from walletpass.services import lists
from walletpass.services.api_keys import ensure_visible

#: The filters of a program's members (GET /programs/{id}/members and GET /members).
MEMBER_FILTERS = ("tier", "min_points", "max_points", "source", "enrolled_after", "enrolled_before")
#: The till's lookups (GET /members): exact matches, each index-backed.
MEMBER_LOOKUPS = ("barcode", "external_id", "email", "phone")
COUPON_STATES = (ISSUED, REDEEMED, VOIDED, EXPIRED)


def _id(row: Any) -> int:
    return int(row.id)


@bp.get("/programs")
@require_key("programs", owner=IN_REQUEST)
def list_programs() -> Response:
    """Programs oldest first: those the key may see."""
    only_args(*PAGE_ARGS)
    req = page_request()
    rows = lists.programs(services().read_uow(), req.fetch, visible=current_principal().programs)
    return page_response(rows, req, program_json, _id)


def _member_filter(program_id: int | None) -> MemberFilter:
    phone = str_arg("phone", max_length=32)
    return MemberFilter(
        programs=current_principal().programs, program_id=program_id,
        barcode=str_arg("barcode", max_length=32), external_id=str_arg("external_id"),
        email=str_arg("email", max_length=320), phone=None if phone is None else normalize_phone(phone),
        tier=str_arg("tier", max_length=64), min_points=int_arg("min_points", minimum=0, maximum=MAX_POINTS),
        max_points=int_arg("max_points", minimum=0, maximum=MAX_POINTS), source=str_arg("source", max_length=64),
        enrolled_after=instant_arg("enrolled_after"), enrolled_before=instant_arg("enrolled_before"))


def _members(program_id: int | None) -> Response:
    s = services()
    req = page_request()
    rows = lists.members(s.read_uow(), _member_filter(program_id), req.fetch)
    return page_response(rows, req, lambda m: member_summary_json(m, s.urls), lambda m: m.member.id)


@bp.get("/programs/<int:program_id>/members")
@require_key("members", owner="program_id")
def list_members(program_id: int) -> Response:
    """The program's members oldest first, filtered by tier, points range, source, enrolment range."""
    only_args(*MEMBER_FILTERS, *PAGE_ARGS)
    return _members(program_id)


@bp.get("/members")
@require_key("members", "pos", owner=IN_REQUEST)
def find_members() -> Response:
    """The till's lookup: members by the barcode on their card, external_id, email (any case) or phone, in
    program_id or every program the key sees; the list filters apply too."""
    only_args("program_id", *MEMBER_LOOKUPS, *MEMBER_FILTERS, *PAGE_ARGS)
    program_id = int_arg("program_id")
    if program_id is not None:
        ensure_visible(current_principal(), services().read_uow, "program", program_id)
    return _members(program_id)


@bp.get("/programs/<int:program_id>/offers")
@require_key("offers", owner="program_id")
def list_offers(program_id: int) -> Response:
    only_args(*PAGE_ARGS)
    req = page_request()
    rows = lists.offers(services().read_uow(), program_id, req.fetch)
    return page_response(rows, req, offer_summary_json, _id)


def _state_arg() -> str | None:
    state = str_arg("state", max_length=16)
    if state is not None and state not in COUPON_STATES:
        raise InvalidInput("state", f"must be one of {', '.join(COUPON_STATES)}")
    return state


def _coupons(f: CouponFilter) -> Response:
    s = services()
    req = page_request()
    rows = lists.coupon_page(s.read_uow(), s.clock, f, req.fetch)
    return page_response(rows, req, lambda c: coupon_json(c, s.urls), lambda c: c.coupon.id)


@bp.get("/offers/<int:offer_id>/coupons")
@require_key("offers", owner="offer_id")
def list_offer_coupons(offer_id: int) -> Response:
    """The offer's coupons oldest first (?state= as stored: the expiry sweep marks those of ended offers)."""
    only_args("state", *PAGE_ARGS)
    return _coupons(CouponFilter(offer_id=offer_id, state=_state_arg()))


@bp.get("/members/<int:member_id>/coupons")
@require_key("offers", "pos", owner="member_id")
def list_member_coupons(member_id: int) -> Response:
    only_args("state", *PAGE_ARGS)
    return _coupons(CouponFilter(member_id=member_id, state=_state_arg()))


@bp.get("/coupons")
@require_key("offers", "pos", owner=IN_REQUEST)
def find_coupons() -> Response:
    """The till's lookup: a coupon by the code on it (its QR code), among the programs the key sees."""
    only_args("code", "offer_id", "member_id", "state", *PAGE_ARGS)
    principal, read_uow = current_principal(), services().read_uow
    offer_id, member_id = int_arg("offer_id"), int_arg("member_id")
    if offer_id is not None:
        ensure_visible(principal, read_uow, "offer", offer_id)
    if member_id is not None:
        ensure_visible(principal, read_uow, "member", member_id)
    return _coupons(CouponFilter(programs=principal.programs, offer_id=offer_id, member_id=member_id,
                                 code=str_arg("code", max_length=32), state=_state_arg()))


def _state(coupon: Coupon) -> tuple[int, dict[str, Any]]:
    return 200, coupon_state_json(coupon)


@bp.post("/coupons/redeem")
@require_key("offers", "pos", owner=IN_REQUEST)
def redeem_by_code() -> tuple[Response, int, dict[str, str]]:
    """Redeem the coupon whose code the till scanned: 200 {state: redeemed}, 409 when redeemed or expired."""
    s = services()
    only_args()
    data = json_body(schemas.REDEEM, max_bytes=s.settings.max_body_bytes)
    result = lists.redeem_by_code(s.uow(), s.read_uow(), s.clock, s.settings, data["code"],
                                  visible=current_principal().programs, retry=retry_of(_state, data))
    return respond(result, _state)


@bp.get("/members/<int:member_id>/transactions")
@require_key("points", "pos", owner="member_id")
def list_transactions(member_id: int) -> Response:
    """The member's transactions, oldest first."""
    only_args(*PAGE_ARGS)
    req = page_request()
    return page_response(lists.transactions(services().read_uow(), member_id, req.fetch), req, ledger_json, _id)


@bp.get("/transactions/<int:transaction_id>")
@require_key("points", "pos", owner="transaction_id")
def get_transaction(transaction_id: int) -> Response:
    """One transaction (a created one's Location)."""
    entry = lists.transaction(services().read_uow(), transaction_id)
    return jsonify({**ledger_json(entry), "member_id": entry.member_id})


@bp.get("/members/<int:member_id>/devices")
@require_key("members", owner="member_id")
def list_devices(member_id: int) -> Response:
    """The devices that hold the member's card (Apple Wallet registrations), by registration."""
    only_args(*PAGE_ARGS)
    req = page_request()
    return page_response(lists.devices(services().read_uow(), member_id, req.fetch), req, device_json,
                         lambda d: d.registration.id)

