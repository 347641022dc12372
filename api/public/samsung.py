"""Samsung Wallet's routes (samsung-android.md §1): the add link behind a pass's public token, and the partner URL
Samsung calls — Get Card Data and Send Card State — each verified by Samsung's AUTH token (401 otherwise)."""

from __future__ import annotations

from flask import Response, abort, jsonify, redirect, request
from werkzeug.wrappers import Response as WerkzeugResponse

from api.context import services
from api.public import bp
from api.public.pages import _pass_id
from walletpass.samsung.provider import SamsungWallet

#: Samsung's ids in paths: Card ID String(32), refId String(32) (§1.1).
_MAX_ID = 32


def _samsung() -> SamsungWallet:
    samsung = services().samsung
    if samsung is None:
        abort(404, "Samsung Wallet is not configured on this instance")
    return samsung


def _ids(card_id: str, ref_id: str) -> None:
    if len(card_id) > _MAX_ID or len(ref_id) > _MAX_ID:
        abort(404, "no such card")


@bp.get("/p/<token>/samsung")
def samsung_add(token: str) -> WerkzeugResponse:
    """302 to Samsung's Data Transmit Link, its ``cdata`` built now (it expires ~30 s later: never cached)."""
    samsung = _samsung()
    pass_id = _pass_id(token)
    url = samsung.save_link(pass_id)
    resp = redirect(url, code=302)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _signed_path() -> str:
    """The request path as Samsung signs it: no scheme, host or query (§1.4)."""
    return request.script_root + request.path


@bp.get("/samsung/cards/<card_id>/<ref_id>")
def samsung_card_data(card_id: str, ref_id: str) -> Response:
    """Get Card Data: 200 ``{"cdata": …}``, 204 for a card we do not know, 401 for a bad token."""
    samsung = _samsung()
    _ids(card_id, ref_id)
    found = samsung.card_data(card_id, ref_id, request.headers.get("Authorization"), _signed_path())
    if found is None:
        return Response(status=204)
    resp = jsonify(found)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/samsung/cards/<card_id>/<ref_id>")
def samsung_card_state(card_id: str, ref_id: str) -> Response:
    """Send Card State (``?cc2=…&event=ADDED|DELETED|…``, body ``{"callback": …}``): 200 with no body."""
    samsung = _samsung()
    _ids(card_id, ref_id)
    raw = request.get_data(cache=False)
    if len(raw) > 16 * 1024:
        abort(413)
    samsung.card_state(card_id, ref_id, cc2=request.args.get("cc2"), event=request.args.get("event"), body=raw,
                       authorization=request.headers.get("Authorization"), path=_signed_path())
    return Response(status=200)

