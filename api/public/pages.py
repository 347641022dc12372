"""Pass page, pkpass download and Google save link, reached only through a pass's public token."""

from __future__ import annotations

from email.utils import format_datetime

from flask import Response, abort, render_template
from werkzeug.wrappers import Response as WerkzeugResponse

from api.context import services
from api.public import bp
from walletpass.services.passes import pass_id_for_token

PKPASS_MIME = "application/vnd.apple.pkpass"


def _pass_id(token: str) -> int:
    pass_id = pass_id_for_token(services().read_uow(), token)
    if pass_id is None:
        abort(404, "no pass behind this link; check that the link was copied whole")
    return pass_id


@bp.get("/p/<token>/pass.pkpass")
def pkpass(token: str) -> Response:
    s = services()
    built = s.signed_passes.latest(_pass_id(token))
    resp = Response(built.data, mimetype=PKPASS_MIME)
    resp.headers["Content-Disposition"] = f'attachment; filename="{built.filename}"'
    resp.headers["Last-Modified"] = format_datetime(built.last_modified, usegmt=True)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/p/<token>/google")
def google_save(token: str) -> WerkzeugResponse:
    """302 to Google's save page with a signed JWT (google.md §1)."""
    from flask import redirect

    url = services().wallet("google").save_link(_pass_id(token))
    resp = redirect(url, code=302)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/assets/programs/<int:program_id>/<slot>.png")
def program_image(program_id: int, slot: str) -> Response:
    """Public program images (Google fetches logo and hero from here): the upload, else the template's."""
    from walletpass.services.programs import program_image_source

    s = services()
    data, content_type = program_image_source(s.read_uow(), s.pass_builder, program_id, slot)
    resp = Response(data, mimetype=content_type)
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp


@bp.post("/google/callback")
def google_callback() -> tuple[str, int]:
    """Google's save/delete callback: verified (ECv2SigningOnly), deduplicated by nonce, recorded."""
    from flask import request

    raw = request.get_data(cache=False)
    if len(raw) > 64 * 1024:
        abort(413)
    services().wallet("google").handle_callback(raw, dict(request.headers))
    return "", 200


@bp.get("/p/<token>")
def page(token: str) -> str:
    s = services()
    pass_id = _pass_id(token)
    return render_template("pass_page.html", pkpass_url=s.urls.pkpass(token), google_url=s.urls.google_save(token),
                           pass_id=pass_id)
