"""The marketer API under /api/v1: one module per resource."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/api/v1")

from api.admin import (  # noqa: E402,F401  (routes register on bp)
    api_keys,
    automations,
    campaigns,
    docs,
    flyers,
    imports,
    lists,
    members,
    offers,
    openapi,
    privacy,
    programs,
    stats,
    webhooks,
)
