"""/api/v1/openapi.json: the OpenAPI 3.1 document of the marketer API, built from the request schemas."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from api import schemas
from api.admin import bp

_problem = {"description": "problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


#: What an operation that takes a body may answer besides 401/403/404/422: unparseable (400), too large (413).
_body_problems = {"400": _problem, "413": _problem}


def _op(summary: str, body: dict[str, Any] | None = None, ok: str = "200", extra: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "security": [{"bearer": []}],
                          "responses": {ok: {"description": "success"}, "401": _problem, "403": _problem,
                                        "404": _problem, "422": _problem, **(extra or {})}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        op["responses"].update(_body_problems)
    return op


def document() -> dict[str, Any]:
    pid = [{"name": "program_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    mid = [{"name": "member_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    oid = [{"name": "offer_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    cid = [{"name": "coupon_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    iid = [{"name": "issue_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    idem = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 255}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "walletpass marketer API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {"type": "object", "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {
                        "field": {"type": "string"}, "detail": {"type": "string"}}}}}},
                "Program": schemas.PROGRAM, "Member": schemas.MEMBER, "Transaction": schemas.TRANSACTION,
                "ProgramPatch": schemas.PROGRAM_PATCH, "MemberPatch": schemas.MEMBER_PATCH, "Offer": schemas.OFFER,
                "Coupons": schemas.COUPONS,
            },
        },
        "paths": {
            "/programs": {"post": _op("Create a loyalty program", {"$ref": "#/components/schemas/Program"}, "201")},
            "/programs/{program_id}": {"parameters": pid, "get": _op("Get a program"), "patch": _op(
                "Change a program's design (every pass of it is updated on the phones)",
                {"$ref": "#/components/schemas/ProgramPatch"})},
            "/programs/{program_id}/offers": {"parameters": pid, "post": _op(
                "Create an offer", {"$ref": "#/components/schemas/Offer"}, "201")},
            "/offers/{offer_id}": {"parameters": oid, "get": _op("Get an offer, its coupons by state, its bulk issues")},
            "/offers/{offer_id}/coupons": {"parameters": oid, "post": {**_op(
                "Issue a coupon to member_id (201), or one to every member of segment through the worker (202)",
                {"$ref": "#/components/schemas/Coupons"}, "201",
                {"202": {"description": "bulk issue queued; poll its Location"}, "409": _problem}),
                "parameters": [idem]}},
            "/coupon-issues/{issue_id}": {"parameters": iid, "get": _op("Progress of a bulk coupon issue")},
            "/coupons/{coupon_id}": {"parameters": cid, "get": _op("Get a coupon, its state and links")},
            "/coupons/{coupon_id}/redeem": {"parameters": cid, "post": {**_op(
                "Redeem a coupon (409 when already redeemed, voided or expired)", None, "200", {"409": _problem}),
                "parameters": [idem]}},
            "/coupons/{coupon_id}/void": {"parameters": cid, "post": {**_op(
                "Void a coupon (409 when already redeemed, voided or expired)", None, "200", {"409": _problem}),
                "parameters": [idem]}},
            "/programs/{program_id}/images/{slot}": {
                "parameters": pid + [{"name": "slot", "in": "path", "required": True,
                                      "schema": {"enum": ["icon", "logo", "strip", "hero"]}}],
                "put": {**_op("Upload a PNG/JPEG source image", None, "204", _body_problems),
                        "requestBody": {"content": {"image/png": {}, "image/jpeg": {}}}}},
            "/programs/{program_id}/members": {"parameters": pid, "post": _op(
                "Enrol a member (creates their pass)", {"$ref": "#/components/schemas/Member"}, "201",
                {"409": _problem})},
            "/members/{member_id}": {"parameters": mid, "get": _op("Get a member, their links and devices"),
                                     "patch": _op("Change a member's name, email or external_id",
                                                  {"$ref": "#/components/schemas/MemberPatch"}, "200",
                                                  {"409": _problem})},
            "/members/{member_id}/transactions": {
                "parameters": mid,
                "post": {**_op("Add or spend points", {"$ref": "#/components/schemas/Transaction"}, "201",
                               {"409": _problem}), "parameters": [idem]},
                "get": _op("List a member's transactions")},
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())
