"""Render (pure): a template + program + member or coupon → pass.json dict and localized pass.strings."""

from walletpass.render.passes import (
    RenderContext,
    RenderedPass,
    coupon_pass_json,
    coupon_voided,
    member_pass_json,
    render_coupon,
    render_member,
    w3c_date,
)
from walletpass.render.template import COUPON, MEMBER, PassTemplate
from walletpass.render.texts import localized_strings, tier_key

__all__ = [
    "COUPON",
    "MEMBER",
    "PassTemplate",
    "RenderContext",
    "RenderedPass",
    "coupon_pass_json",
    "coupon_voided",
    "localized_strings",
    "member_pass_json",
    "render_coupon",
    "render_member",
    "tier_key",
    "w3c_date",
]
