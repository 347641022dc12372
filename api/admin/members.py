"""/api/v1/programs/{id}/members, /api/v1/members/{id}[/transactions]"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, url_for

from api import schemas
from api.admin import bp
from api.auth import current_principal, require_key
from api.context import services
from api.idempotency import respond, retry_of
from api.representations import member_json, transaction_json
from api.validation import json_body
from walletpass.services import enrolment, members, points
from walletpass.services.enrolment import MemberDetails
from walletpass.services.points import PointsAdded


def _member_location(status: int, body: Mapping[str, Any]) -> str:
    return url_for("admin.get_member", member_id=body["id"])


@bp.post("/programs/<int:program_id>/members")
@require_key("members", owner="program_id")
def create_member(program_id: int) -> tuple[Response, int, dict[str, str]]:
    s = services()
    data = json_body(schemas.MEMBER, max_bytes=s.settings.max_body_bytes)

    def render(d: MemberDetails) -> tuple[int, dict[str, Any]]:
        return 201, member_json(d, s.urls)

    result = enrolment.enrol_member(s.uow(), s.clock, s.settings, program_id, data, source=data.get("source", "api"),
                                    retry=retry_of(render, data))
    return respond(result, render, _member_location)


@bp.get("/members/<int:member_id>")
@require_key("members", "pos", owner="member_id")
def get_member(member_id: int) -> Response:
    s = services()
    return jsonify(member_json(enrolment.member_details(s.read_uow(), member_id), s.urls))


@bp.patch("/members/<int:member_id>")
@require_key("members", owner="member_id")
def update_member(member_id: int) -> Response:
    """Change name, email or external_id; the member's passes are updated when a field they show changed."""
    s = services()
    data = json_body(schemas.MEMBER_PATCH, max_bytes=s.settings.max_body_bytes)
    details = members.update_member(s.uow(), s.clock, s.settings, member_id, data,
                                    templates=s.pass_builder.templates_in_use())
    return jsonify(member_json(details, s.urls))


@bp.post("/members/<int:member_id>/transactions")
@require_key("points", "pos", owner="member_id")
def add_transaction(member_id: int) -> tuple[Response, int, dict[str, str]]:
    s = services()
    data = json_body(schemas.TRANSACTION, max_bytes=s.settings.max_body_bytes)

    def render(t: PointsAdded) -> tuple[int, dict[str, Any]]:
        return 201, transaction_json(t)

    result = points.add_transaction(s.uow(), s.clock, s.settings, member_id, data["points"], data["reason"],
                                    api_key_id=current_principal().api_key_id, retry=retry_of(render, data))
    return respond(result, render, lambda status, body: url_for("admin.get_transaction", transaction_id=body["id"]))

