"""/api/v1/programs"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for

from api import schemas
from api.admin import bp
from api.auth import require_key
from api.context import services
from api.idempotency import respond, retry_of
from api.representations import program_json, warnings_json
from api.validation import json_body
from walletpass.domain.programs import Program, Store
from walletpass.errors import MalformedRequest, PayloadTooLarge
from walletpass.services import programs as svc


def _created(program: Program) -> tuple[int, dict[str, Any]]:
    """201 with the id and the colours that fail WCAG AA contrast (saved all the same: a warning, not a 422)."""
    return 201, {"id": program.id, "warnings": warnings_json(program)}


@bp.post("/programs")
@require_key("programs")
def create_program() -> tuple[Response, int, dict[str, str]]:
    s = services()
    data = json_body(schemas.PROGRAM, max_bytes=s.settings.max_body_bytes)
    result = svc.create_program(s.uow(), s.clock, data, retry=retry_of(_created, data))
    return respond(result, _created, lambda status, body: url_for("admin.get_program", program_id=body["id"]))


@bp.get("/programs/<int:program_id>")
@require_key("programs", owner="program_id")
def get_program(program_id: int) -> Response:
    return jsonify(program_json(svc.get_program(services().read_uow(), program_id)))


@bp.patch("/programs/<int:program_id>")
@require_key("programs", owner="program_id")
def update_program(program_id: int) -> Response:
    """Change the design (the fields POST takes); every pass of the program is updated on the phones."""
    s = services()
    data = json_body(schemas.PROGRAM_PATCH, max_bytes=s.settings.max_body_bytes)
    return jsonify(program_json(svc.update_program(s.uow(), s.clock, program_id, data,
                                                   coalesce_seconds=s.settings.push_coalesce_seconds)))


def _stores_json(stores: tuple[Store, ...]) -> dict[str, Any]:
    return {"stores": [{"name": s.name, "latitude": s.latitude, "longitude": s.longitude, "address": s.address}
                       for s in stores]}


@bp.get("/programs/<int:program_id>/stores")
@require_key("programs", owner="program_id")
def get_stores(program_id: int) -> Response:
    return jsonify(_stores_json(svc.get_stores(services().read_uow(), program_id)))


@bp.put("/programs/<int:program_id>/stores")
@require_key("programs", owner="program_id")
def put_stores(program_id: int) -> Response:
    """Replace the program's stores; the passes carry the first 10 (Apple locations, Google merchantLocations)."""
    s = services()
    data = json_body(schemas.STORES, max_bytes=s.settings.max_body_bytes)
    return jsonify(_stores_json(svc.set_stores(s.uow(), s.clock, program_id, data["stores"],
                                               coalesce_seconds=s.settings.push_coalesce_seconds)))


@bp.put("/programs/<int:program_id>/images/<slot>")
@require_key("programs", owner="program_id")
def put_image(program_id: int, slot: str) -> tuple[str, int]:
    """Upload a PNG or JPEG source image (raw body); icon/logo/strip for Apple, logo/hero for Google."""
    from walletpass.pkpass.images import check_upload

    s = services()
    cap = s.settings.max_image_bytes
    if request.content_length is not None and request.content_length > cap:
        raise PayloadTooLarge("image", f"images may be at most {cap} bytes")
    data = request.get_data(cache=False)
    if not data:
        raise MalformedRequest("image", "send the image bytes as the request body (Content-Type image/png or image/jpeg)")
    content_type = check_upload(data, slot, field="image", max_bytes=cap)  # decoded and rendered before storing
    svc.set_program_image(s.uow(), s.clock, program_id, slot, data, content_type,
                          coalesce_seconds=s.settings.push_coalesce_seconds)
    return "", 204
