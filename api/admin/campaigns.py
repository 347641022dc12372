"""/api/v1/campaigns: push campaigns (create or dry-run, list, get, stats, cancel)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for

from api import schemas
from api.admin import bp
from api.auth import IN_REQUEST, current_principal, require_key
from api.context import services
from api.idempotency import respond, retry_of
from api.paging import PAGE_ARGS, int_arg, only_args, page_request, page_response
from api.representations import campaign_json, campaign_stats_json, reach_json
from api.validation import json_body
from walletpass.errors import InvalidInput
from walletpass.services import campaigns
from walletpass.services.api_keys import ensure_visible
from walletpass.services.campaigns import CampaignDetails, Reach


def _render(result: CampaignDetails | Reach) -> tuple[int, dict[str, Any]]:
    if isinstance(result, Reach):
        return 200, reach_json(result)
    return 202, campaign_json(result)


def _flag(name: str) -> bool:
    value = request.args.get(name, "0")
    if value not in ("0", "1", "true", "false"):
        raise InvalidInput(name, "must be 1 or 0")
    return value in ("1", "true")


@bp.post("/campaigns")
@require_key("campaigns", owner=IN_REQUEST)
def create_campaign() -> tuple[Response, int, dict[str, str]]:
    """202 and the campaign (scheduled; sent by the worker at send_at); ?dry_run=1: 200 and what it would reach."""
    s = services()
    only_args("dry_run")
    dry_run = _flag("dry_run")
    data = json_body(schemas.CAMPAIGN, max_bytes=s.settings.max_body_bytes)
    ensure_visible(current_principal(), s.read_uow, "program", data["program_id"])
    result = campaigns.create(s.uow(), s.clock, data, rate=s.campaign_rate, dry_run=dry_run,
                              retry=None if dry_run else retry_of(_render, data))
    return respond(result, _render,
                   lambda status, body: url_for("admin.get_campaign", campaign_id=body["id"]) if status == 202
                   else None)


@bp.get("/campaigns")
@require_key("campaigns", owner=IN_REQUEST)
def list_campaigns() -> Response:
    """Campaigns oldest first: ?program_id=, ?state=, and the list's limit and cursor (api.paging)."""
    s = services()
    only_args("program_id", "state", *PAGE_ARGS)
    program_id = int_arg("program_id")
    if program_id is not None:
        ensure_visible(current_principal(), s.read_uow, "program", program_id)
    req = page_request()
    found = campaigns.page(s.read_uow(), program_id=program_id, state=request.args.get("state"),
                           cursor=req.after_id, limit=req.fetch.limit, programs=current_principal().programs)
    return page_response(found, req, campaign_json, lambda d: d.campaign.id)


@bp.get("/campaigns/<int:campaign_id>")
@require_key("campaigns", owner="campaign_id")
def get_campaign(campaign_id: int) -> Response:
    return jsonify(campaign_json(campaigns.details(services().read_uow(), campaign_id)))


@bp.get("/campaigns/<int:campaign_id>/stats")
@require_key("campaigns", owner="campaign_id")
def get_campaign_stats(campaign_id: int) -> Response:
    """Per variant and for the holdout: members, sent, and how many redeemed the campaign's offer or made a
    transaction within 7 days of their delivery."""
    return jsonify(campaign_stats_json(campaigns.stats(services().read_uow(), campaign_id)))


@bp.post("/campaigns/<int:campaign_id>/cancel")
@require_key("campaigns", owner="campaign_id")
def cancel_campaign(campaign_id: int) -> Response:
    """200 and the campaign, cancelled: nothing more is handed to the wallets; 409 when it has finished."""
    s = services()
    return jsonify(campaign_json(campaigns.cancel(s.uow(), s.clock, campaign_id)))
