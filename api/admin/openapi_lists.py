"""The lists and the till's lookups in the OpenAPI document (api.admin.lists, api.paging): their query
parameters, pages and rules; ``api.admin.openapi.document`` merges them into the document's paths."""

from __future__ import annotations

from typing import Any

from api import schemas
from walletpass.domain.members import MAX_POINTS
from walletpass.paging import DEFAULT_LIMIT, MAX_LIMIT

_INT, _STR = {"type": "integer"}, {"type": "string"}
_NULL_STR = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
_INSTANT = {"type": "string", "format": "date-time", "maxLength": 64, "pattern": schemas.INSTANT}
_POSITIVE = r"^[1-9][0-9]{0,9}(?![\s\S])"
_NATURAL = r"^(?:0|[1-9][0-9]{0,9})(?![\s\S])"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": properties, "required": list(properties)}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _int_query(name: str, description: str, *, minimum: int = 1, maximum: int = 2**31 - 1) -> dict[str, Any]:
    return _query(name, {"type": "string", "pattern": _POSITIVE if minimum else _NATURAL,
                         "description": f"{minimum}–{maximum}"}, description)


def _text_query(name: str, max_length: int, description: str) -> dict[str, Any]:
    return _query(name, {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": schemas.TEXT},
                  description)


PAGE_PARAMS = [
    _int_query("limit", f"rows per page, 1–{MAX_LIMIT} (default {DEFAULT_LIMIT})", maximum=MAX_LIMIT),
    _query("cursor", {"type": "string", "minLength": 1, "maxLength": 64},
           "where the page starts: the cursor of the previous page's next link (leave it out for the first page)"),
]
PAGE_RULES = [("cursor", "a cursor of this list and these filters, from a next link"),
              ("limit", f"1–{MAX_LIMIT}")]

_STATE = _query("state", {"type": "string", "enum": ["issued", "redeemed", "voided", "expired"]},
                "coupons in this state (as stored: the expiry sweep marks the issued coupons of ended offers)")
MEMBER_FILTER_PARAMS = [
    _text_query("tier", 64, "members of this tier"),
    _int_query("min_points", "members with at least these points", minimum=0, maximum=MAX_POINTS),
    _int_query("max_points", "members with at most these points", minimum=0, maximum=MAX_POINTS),
    _text_query("source", 64, "members who enrolled from this src (a flyer, api, …)"),
    _query("enrolled_after", _INSTANT, "members enrolled at or after this instant"),
    _query("enrolled_before", _INSTANT, "members enrolled before this instant"),
]
MEMBER_FILTER_RULES = [("min_points", f"0–{MAX_POINTS}"), ("max_points", f"0–{MAX_POINTS}"),
                       ("enrolled_after", "a real day of its month"), ("enrolled_before", "a real day of its month")]
LOOKUP_PARAMS = [
    _int_query("program_id", "only this program's members (default: every program the key sees)"),
    _text_query("barcode", 32, "the message of the barcode on the member's card (their member number)"),
    _text_query("external_id", 200, "the member's external_id"),
    _text_query("email", 320, "the member's email, in any case"),
    _query("phone", {k: v for k, v in schemas.MEMBER["properties"]["phone"].items() if k != "x-detail"},
           "the member's phone, in any spelling (separators are dropped)"),
]
LOOKUP_RULES = [("program_id", "1–2147483647")]

#: What the lists answer, beside the views of api.admin.openapi.
VIEWS: dict[str, dict[str, Any]] = {
    "MemberSummaryView": _object({
        "id": _INT, "program_id": _INT, "name": _STR, "email": _NULL_STR, "phone": _NULL_STR,
        "external_id": _NULL_STR, "member_number": _STR, "serial_number": _NULL_STR, "points": _INT,
        "tier": _NULL_STR, "links": {"oneOf": [_ref("Links"), {"type": "null"}]}, "source": _NULL_STR,
        "birthday": {"type": ["string", "null"], "format": "date"}, "created_at": _TIME}),
    "OfferSummaryView": _object({
        "id": _INT, "program_id": _INT, "title": _STR, "description": _STR, "discount": _STR,
        "valid_from": _NULL_TIME, "valid_until": _NULL_TIME, "terms": _STR,
        "texts": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": _STR}},
        "rotating_barcode": {"type": "boolean"}, "created_at": _TIME}),
    "LedgerEntryView": _object({"id": _INT, "points": _INT, "balance": _INT, "reason": _STR, "created_at": _TIME}),
    "TransactionEntryView": _object({"id": _INT, "points": _INT, "balance": _INT, "reason": _STR,
                                     "created_at": _TIME, "member_id": _INT}),
    "DeviceView": _object({"id": _INT, "device": _STR, "serial_number": _STR, "registered_at": _TIME,
                           "last_pushed": _NULL_TIME, "last_fetched": _NULL_TIME,
                           "up_to_date": {"type": "boolean"}}),
    "Redeem": schemas.REDEEM,
    "ApiKey": schemas.API_KEY,
}
_API_KEY_FIELDS = {
    "id": _INT, "prefix": {"type": "string", "description": "the key starts wp_<prefix>_"}, "name": _STR,
    "scopes": {"type": "array", "items": _STR},
    "programs": {"type": ["array", "null"], "items": _INT, "description": "null: every program"},
    "created_at": _TIME, "last_used_at": {**_NULL_TIME, "description": "to within 5 minutes"},
    "revoked_at": _NULL_TIME}
VIEWS["ApiKeyView"] = _object(_API_KEY_FIELDS)
VIEWS["ApiKeyCreatedView"] = _object({**_API_KEY_FIELDS, "key": {
    "type": "string", "description": "the key: shown this once, only its hash is stored"}})
for _item in ("ApiKey", "Program", "MemberSummary", "OfferSummary", "Coupon", "LedgerEntry", "Device", "Campaign"):
    VIEWS[f"{_item}Page"] = _object({
        "data": {"type": "array", "items": _ref(f"{_item}View"), "maxItems": MAX_LIMIT},
        "next": {"type": ["string", "null"], "format": "uri",
                 "description": "the URL of the next page; null on the last one"}})


def _path_id(name: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]


def _list(op: Any, operation_id: str, summary: str, page: str, params: list[dict[str, Any]], *,
          found: bool = True, scopes: str = "") -> dict[str, Any]:
    problems = {"422": "a query parameter breaks its schema or a rule of x-rules-beyond-schema; errors[] names it"}
    if found:
        problems["404"] = "no such resource (or one of a program the API key may not see)"
    out = op(operation_id, summary + (f" (scopes: {scopes})" if scopes else ""),
             {"200": {"description": "a page, oldest first", "content": {"application/json": {"schema": _ref(page)}}}},
             problems=problems)
    return {**out, "parameters": [*params, *PAGE_PARAMS]}


def paths(op: Any, idempotency_rule: tuple[str, str]) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], Any]]:
    """The list operations (by path and method) and their rules beyond the schema; *op* is openapi._op."""
    items: dict[str, dict[str, Any]] = {
        "/programs": {"get": _list(op, "listPrograms", "Programs the API key may see", "ProgramPage", [],
                                   found=False)},
        "/programs/{program_id}/members": {"get": _list(
            op, "listMembers", "A program's members, filtered", "MemberSummaryPage", MEMBER_FILTER_PARAMS)},
        "/members": {"get": _list(
            op, "findMembers", "Find members: by the barcode on their card, external_id, email or phone (exact "
                               "matches), in one program or every program the key sees",
            "MemberSummaryPage", LOOKUP_PARAMS + MEMBER_FILTER_PARAMS, scopes="members or pos")},
        "/programs/{program_id}/offers": {"get": _list(op, "listOffers", "A program's offers", "OfferSummaryPage",
                                                       [])},
        "/offers/{offer_id}/coupons": {"get": _list(op, "listOfferCoupons", "An offer's coupons", "CouponPage",
                                                    [_STATE])},
        "/members/{member_id}/coupons": {"parameters": _path_id("member_id"), "get": _list(op, "listMemberCoupons", "A member's coupons", "CouponPage",
                                                      [_STATE], scopes="offers or pos")},
        "/coupons": {"get": _list(
            op, "findCoupons", "Find coupons: by the code on the coupon (its QR code), offer, member or state",
            "CouponPage", [_text_query("code", 32, "the coupon's code"),
                           _int_query("offer_id", "coupons of this offer"),
                           _int_query("member_id", "coupons of this member"), _STATE], scopes="offers or pos")},
        "/coupons/redeem": {"post": op(
            "redeemCouponByCode", "Redeem the coupon with this code (scopes: offers or pos)",
            {"200": {"description": "redeemed", "content": {"application/json": {"schema": _ref("CouponState")}}}},
            body=_ref("Redeem"), idempotent=True,
            problems={"404": "no coupon with this code (in the programs the key may see)",
                      "409": "the coupon was already redeemed or voided, or has expired"})},
        "/members/{member_id}/transactions": {"get": _list(
            op, "listTransactions", "A member's transactions", "LedgerEntryPage", [], scopes="points or pos")},
        "/transactions/{transaction_id}": {"parameters": _path_id("transaction_id"), "get": op(
            "getTransaction", "One transaction (scopes: points or pos)",
            {"200": {"description": "the transaction", "content": {"application/json": {
                "schema": _ref("TransactionEntryView")}}}}, problems={"404": "no such transaction"})},
        "/members/{member_id}/devices": {"parameters": _path_id("member_id"), "get": _list(
            op, "listDevices", "The devices that hold a member's card", "DevicePage", [])},
        "/api-keys": {
            "get": _list(op, "listApiKeys", "API keys, revoked ones too (never the keys themselves; scope: admin, "
                                            "a key for every program)", "ApiKeyPage", [], found=False),
            "post": op("createApiKey", "Create an API key (scope: admin, a key for every program); Idempotency-Key "
                                       "is not honoured: the answer kept for a retry would hold the key",
                       {"201": {"description": "the key, shown once",
                                "headers": {"Location": {"description": "the key's record", "required": True,
                                                         "schema": {"type": "string", "format": "uri-reference"}}},
                                "content": {"application/json": {"schema": _ref("ApiKeyCreatedView")}},
                                "links": {"GetApiKey": {"operationId": "getApiKey",
                                                        "parameters": {"key_id": "$response.body#/id"}}}}},
                       body=_ref("ApiKey"))},
        "/api-keys/{key_id}": {
            "parameters": _path_id("key_id"),
            "get": op("getApiKey", "An API key's record", {"200": {"description": "the key's record", "content": {
                "application/json": {"schema": _ref("ApiKeyView")}}}}, problems={"404": "no such API key, or a revoked one (the list shows those)"}),
            "delete": op("revokeApiKey", "Revoke an API key: refused from the next request on",
                         {"204": {"description": "revoked (or already revoked)"}},
                         problems={"404": "no such API key", "409": "the key of this very request"})},
        "/campaigns": {"get": _list(
            op, "listCampaigns", "Campaigns", "CampaignPage",
            [_int_query("program_id", "campaigns of this program"),
             _query("state", {"type": "string", "enum": ["scheduled", "sending", "done", "cancelled"]},
                    "campaigns in this state")])},
    }
    ids = [("program_id", "1–2147483647"), ("offer_id", "1–2147483647"), ("member_id", "1–2147483647")]
    rules: dict[tuple[str, str], Any] = {
        ("get", "/programs"): PAGE_RULES,
        ("get", "/programs/{program_id}/members"): PAGE_RULES + MEMBER_FILTER_RULES,
        ("get", "/members"): PAGE_RULES + MEMBER_FILTER_RULES + LOOKUP_RULES,
        ("get", "/programs/{program_id}/offers"): PAGE_RULES,
        ("get", "/offers/{offer_id}/coupons"): PAGE_RULES,
        ("get", "/members/{member_id}/coupons"): PAGE_RULES,
        ("get", "/coupons"): PAGE_RULES + ids[1:],
        ("post", "/coupons/redeem"): [idempotency_rule],
        ("get", "/members/{member_id}/transactions"): PAGE_RULES,
        ("get", "/members/{member_id}/devices"): PAGE_RULES,
        ("get", "/campaigns"): PAGE_RULES + ids[:1],
        ("get", "/api-keys"): PAGE_RULES,
        ("post", "/api-keys"): [("program", "ids of existing programs")],
    }
    return items, rules
