"""/api/v1/api-keys: create (the key shown once), list, get, revoke — with the ``admin`` scope and a key for
every program (a key bound to programs gets 403: it could otherwise make itself a wider one)."""

from __future__ import annotations

from flask import Response, jsonify, url_for

from api import schemas
from api.admin import bp
from api.auth import current_principal, require_key
from api.context import services
from api.paging import PAGE_ARGS, only_args, page_request, page_response
from api.representations import api_key_json
from api.validation import json_body
from walletpass.errors import Conflict, NotFound
from walletpass.ids import api_key_prefix
from walletpass.services import lists
from walletpass.services.api_keys import create_api_key, revoke_api_key


@bp.post("/api-keys")
@require_key("admin")
def create_key() -> tuple[Response, int, dict[str, str]]:
    """201 and the key, shown this once (only its hash is stored). Idempotency-Key is not honoured here: the answer
    kept for a retry would hold the key itself."""
    s = services()
    data = json_body(schemas.API_KEY, max_bytes=s.settings.max_body_bytes)
    key = create_api_key(s.uow(), s.clock, s.api_keys.hasher, data["name"], data.get("scopes", ["admin"]),
                         programs=data.get("programs"))
    with s.read_uow() as uow:
        stored = uow.api_keys.by_prefix(api_key_prefix(key) or "")
    assert stored is not None
    return (jsonify({**api_key_json(stored), "key": key}), 201,
            {"Location": url_for("admin.get_key", key_id=stored.id)})


@bp.get("/api-keys")
@require_key("admin")
def list_keys() -> Response:
    """Every key, oldest first, revoked ones too: prefix, name, scopes, programs, created, last used, revoked."""
    only_args(*PAGE_ARGS)
    req = page_request()
    return page_response(lists.api_keys(services().read_uow(), req.fetch), req, api_key_json, lambda k: k.id)


@bp.get("/api-keys/<int:key_id>")
@require_key("admin")
def get_key(key_id: int) -> Response:
    with services().read_uow() as uow:
        found = uow.api_keys.get(key_id)
    if found is None or found.revoked_at is not None:  # revoked = deleted: the list still shows when
        raise NotFound(f"API key {key_id} not found")
    return jsonify(api_key_json(found))


@bp.delete("/api-keys/<int:key_id>")
@require_key("admin")
def revoke_key(key_id: int) -> tuple[str, int]:
    """Revoke the key: 401 for it from the next request on (every process of the instance within a second)."""
    s = services()
    if key_id == current_principal().api_key_id:
        raise Conflict("this is the API key of this request: revoke it with another admin key, or with "
                       "'walletpass apikey revoke'")
    revoke_api_key(s.uow(), s.clock, str(key_id))
    s.api_keys.forget()
    return "", 204
