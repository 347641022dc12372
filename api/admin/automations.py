"""/api/v1/programs/{id}/automations: a program's birthday, welcome and win-back rules."""

from __future__ import annotations

from flask import Response, jsonify

from api import schemas
from api.admin import bp
from api.auth import require_key
from api.context import services
from api.representations import automations_json
from api.validation import json_body
from walletpass.services import automations


@bp.get("/programs/<int:program_id>/automations")
@require_key("campaigns", owner="program_id")
def get_automations(program_id: int) -> Response:
    return jsonify(automations_json(automations.get(services().read_uow(), program_id)))


@bp.put("/programs/<int:program_id>/automations")
@require_key("campaigns", owner="program_id")
def put_automations(program_id: int) -> Response:
    """Replace the program's rules (a rule absent or null is off); every rule is checked before any is stored."""
    s = services()
    data = json_body(schemas.AUTOMATIONS, max_bytes=s.settings.max_body_bytes)
    return jsonify(automations_json(automations.put(s.uow(), s.clock, program_id, data)))
