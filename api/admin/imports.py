"""/api/v1/programs/{id}/members:import, /api/v1/imports/{id}, /api/v1/programs/{id}/members:export"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, request, url_for

from api.admin import bp
from api.auth import require_key
from api.context import services
from api.idempotency import respond, retry_of
from api.representations import import_json, members_csv
from walletpass.domain.imports import MAX_IMPORT_BYTES, MemberImport
from walletpass.errors import PayloadTooLarge
from walletpass.ids import sha256_hex
from walletpass.services import imports


def _accepted(i: MemberImport) -> tuple[int, dict[str, Any]]:
    return 202, import_json(i)


def _import_location(status: int, body: Mapping[str, Any]) -> str:
    return url_for("admin.get_import", import_id=body["id"])


def _upload() -> bytes:
    """The request's body, up to MAX_IMPORT_BYTES (413 beyond, before more is read)."""
    if request.content_length is not None and request.content_length > MAX_IMPORT_BYTES:
        raise PayloadTooLarge("file", f"the file is larger than {MAX_IMPORT_BYTES} bytes: split it")
    request.max_content_length = MAX_IMPORT_BYTES
    data = request.stream.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge("file", f"the file is larger than {MAX_IMPORT_BYTES} bytes: split it")
    return data


@bp.post("/programs/<int:program_id>/members:import")
@require_key("members", owner="program_id")
def import_members(program_id: int) -> tuple[Response, int, dict[str, str]]:
    """Accept a CSV or NDJSON file of members (202): the job worker imports them; poll the Location."""
    s = services()
    data = _upload()
    retry = retry_of(_accepted, {"content_type": request.content_type, "sha256": sha256_hex(data)})
    result = imports.start_import(s.uow(), s.clock, program_id, data, request.content_type, retry=retry)
    return respond(result, _accepted, _import_location)


@bp.get("/imports/<int:import_id>")
@require_key("members", owner="import_id")
def get_import(import_id: int) -> Response:
    return jsonify(import_json(imports.import_progress(services().read_uow(), import_id)))


@bp.get("/programs/<int:program_id>/members:export")
@require_key("members", owner="program_id")
def export_members(program_id: int) -> Response:
    """The program's members as CSV, streamed a page at a time (the columns an import takes, and the links)."""
    s = services()
    pages = imports.export_members(s.read_uow, program_id)
    return Response(members_csv(pages, s.urls), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="program-{program_id}-members.csv"'})
