"""Pass page, pkpass download and Google save link, reached only through a pass's public token."""

from __future__ import annotations

from email.utils import format_datetime

from flask import Response, abort, render_template

from api.context import services
from api.public import bp
from walletpass.services.passes import build_pass, pass_id_for_token

PKPASS_MIME = "application/vnd.apple.pkpass"


def _pass_id(token: str) -> int:
    pass_id = pass_id_for_token(services().uow(), token)
    if pass_id is None:
        abort(404, "no pass behind this link; check that the link was copied whole")
    return pass_id


@bp.get("/p/<token>/pass.pkpass")
def pkpass(token: str) -> Response:
    s = services()
    built = build_pass(s.uow(), s.pass_builder, _pass_id(token))
    resp = Response(built.data, mimetype=PKPASS_MIME)
    resp.headers["Content-Disposition"] = f'attachment; filename="{built.filename}"'
    resp.headers["Last-Modified"] = format_datetime(built.last_modified, usegmt=True)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/p/<token>")
def page(token: str) -> str:
    s = services()
    pass_id = _pass_id(token)
    base = s.settings.base_url.rstrip("/")
    return render_template("pass_page.html", pkpass_url=f"{base}/p/{token}/pass.pkpass",
                           google_url=f"{base}/p/{token}/google", pass_id=pass_id)
