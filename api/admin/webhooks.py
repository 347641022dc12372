"""/api/v1/webhooks: subscribe to events (the secret shown once), list, get, delete, and see the deliveries."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for

from api import schemas
from api.admin import bp
from api.auth import require_key
from api.context import services
from api.idempotency import respond, retry_of
from api.paging import PAGE_ARGS, only_args, page_request, page_response
from api.representations import created_webhook_json, delivery_json, webhook_details_json
from api.validation import json_body
from walletpass.services import webhooks
from walletpass.services.webhooks import Created


def _render(result: Created) -> tuple[int, dict[str, Any]]:
    return 201, created_webhook_json(result)


@bp.post("/webhooks")
@require_key("webhooks")
def create_webhook() -> tuple[Response, int, dict[str, str]]:
    """201 and the webhook; with the secret when it was made here (shown this once)."""
    s = services()
    data = json_body(schemas.WEBHOOK, max_bytes=s.settings.max_body_bytes)
    result = webhooks.create(s.uow(), s.clock, s.settings, data, retry=retry_of(_render, data))
    return respond(result, _render, lambda status, body: url_for("admin.get_webhook", webhook_id=body["id"]))


@bp.get("/webhooks")
@require_key("webhooks")
def list_webhooks() -> Response:
    """Webhooks oldest first: ?limit= (≤ 200), ?cursor= (the next link's)."""
    only_args(*PAGE_ARGS)
    req = page_request()
    found = webhooks.page(services().read_uow(), cursor=req.after_id, limit=req.limit + 1)
    return page_response(found, req, webhook_details_json, id_of=lambda d: d.webhook.id)


@bp.get("/webhooks/<int:webhook_id>")
@require_key("webhooks")
def get_webhook(webhook_id: int) -> Response:
    return jsonify(webhook_details_json(webhooks.details(services().read_uow(), webhook_id)))


@bp.delete("/webhooks/<int:webhook_id>")
@require_key("webhooks")
def delete_webhook(webhook_id: int) -> tuple[str, int]:
    """204: the webhook and its deliveries are gone; nothing more is sent to it."""
    s = services()
    webhooks.delete(s.uow(), webhook_id)
    return "", 204


@bp.get("/webhooks/<int:webhook_id>/deliveries")
@require_key("webhooks")
def list_webhook_deliveries(webhook_id: int) -> Response:
    """A webhook's deliveries oldest first: tries, state (pending, delivered, parked), last status and error, next
    try; ?state=, ?limit= (≤ 200), ?cursor=."""
    only_args("state", *PAGE_ARGS)
    req = page_request()
    found = webhooks.deliveries(services().read_uow(), webhook_id, cursor=req.after_id, limit=req.limit + 1,
                                state=request.args.get("state"))
    return page_response(found, req, delivery_json, id_of=lambda d: d.id)
