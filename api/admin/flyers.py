"""/api/v1/programs/{id}/qr: the flyer QR code of a program's enrolment page (svg, png) or a printable A6 flyer
(pdf)."""

from __future__ import annotations

from flask import Response, request

from api.admin import bp
from api.auth import require_key
from api.context import services
from walletpass.errors import InvalidInput
from walletpass.services import flyers


@bp.get("/programs/<int:program_id>/qr")
@require_key("programs", owner="program_id")
def program_qr(program_id: int) -> Response:
    """?src= (kept through enrolment), ?format=svg|png|pdf, ?ec=L|M|Q|H, ?scale=, ?border= (svg, png).

    The ETag is computed from the inputs, so a client's If-None-Match gets its 304 before anything is drawn.
    """
    s = services()
    for name, values in request.args.lists():
        if len(values) > 1:
            raise InvalidInput(name, "give each parameter once")
    code = flyers.prepare(s.read_uow(), s.pass_builder, s.urls, program_id, request.args.to_dict())
    headers = {"ETag": f'"{code.etag}"', "Cache-Control": "private, no-cache", "Vary": "Authorization",
               "Content-Disposition": f'inline; filename="{code.filename}"'}
    if request.if_none_match.contains_weak(code.etag):
        return Response(status=304, headers=headers)
    return Response(flyers.render(code, s.settings.flyer_font), mimetype=code.options.content_type, headers=headers)
