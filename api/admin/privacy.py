"""DELETE /api/v1/members/{id} (erase the member's personal data), GET /api/v1/members/{id}/export"""

from __future__ import annotations

from flask import Response, jsonify

from api.admin import bp
from api.auth import require_key
from api.context import services
from api.representations import member_record_json
from walletpass.services import privacy


@bp.delete("/members/<int:member_id>")
@require_key("members", owner="member_id")
def erase_member(member_id: int) -> tuple[str, int]:
    """Erase the member (204; again 204 for a member erased before): see walletpass.domain.privacy."""
    s = services()
    privacy.erase_member(s.uow(), s.clock, s.settings, member_id)
    return "", 204


@bp.get("/members/<int:member_id>/export")
@require_key("members", owner="member_id")
def export_member(member_id: int) -> Response:
    """Everything held about the member, as JSON."""
    s = services()
    return jsonify(member_record_json(privacy.member_record(s.read_uow(), member_id), s.urls))
