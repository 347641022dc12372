"""Render a member card (storeCard) or a coupon into a pass.json dict — pure and deterministic.

The renderer owns the keys Wallet uses to identify, update and trust a pass (ids, web service, colours,
barcode, expiry, voided); the template owns the field layout. Time never comes from the clock: the pass
record's ``updated_at`` is the "now" of a render (it decides whether a coupon has expired).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from walletpass.domain.members import Member
from walletpass.domain.offers import EXPIRED, REDEEMED, TRANSLATABLE, VOIDED, Coupon, Offer
from walletpass.domain.passes import News, PassRef
from walletpass.domain.programs import BARCODE_CHOICES, Program
from walletpass.errors import InvalidInput
from walletpass.render.barcodes import barcodes
from walletpass.render.template import COUPON, MEMBER, PROGRAM_FIELD_TEXTS, PassTemplate, substitute
from walletpass.render.texts import localized_strings, offer_text_key, program_text_key, tier_key

BARCODE_FORMAT = "PKBarcodeFormatQR"
#: pass.json style keys (as walletpass.pkpass.passjson.STYLES, which render may not import: pkpass imports render)
STYLES = ("boardingPass", "coupon", "eventTicket", "generic", "storeCard")


@dataclass(frozen=True, slots=True)
class RenderContext:
    """Values of the installation, not of a pass: the Apple team and where devices call back."""

    team_id: str
    web_service_url: str
    #: the public URL that adds a coupon to Wallet, from its pass's public token (``PublicUrls.pkpass``)
    coupon_url: Callable[[str], str] | None = None


@dataclass(frozen=True, slots=True)
class RenderedPass:
    """pass.json as a dict plus locale → pass.strings entries."""

    pass_json: dict[str, Any]
    strings: dict[str, dict[str, str]]


def w3c_date(value: datetime) -> str:
    """An ISO 8601 timestamp with zone, in UTC; a naive datetime is taken as UTC (as SQLite returns it)."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.replace(microsecond=0).isoformat()


def _check_kind(template: PassTemplate, pass_ref: PassRef, kind: str) -> None:
    if template.kind != kind:
        raise InvalidInput("template", f"template {template.name!r} is for {template.kind} passes, not {kind}")
    if pass_ref.kind != kind:
        raise InvalidInput("pass_ref.kind", f"the pass record is a {pass_ref.kind!r} pass, not a {kind!r} pass")


def _base(template: PassTemplate, values: dict[str, Any], pass_ref: PassRef, ctx: RenderContext,
          program: Program, colors: tuple[str, str, str], barcode_message: str) -> dict[str, Any]:
    p: dict[str, Any] = substitute(template.skeleton, values)
    p.setdefault("description", "description")
    p.update({
        "formatVersion": 1,
        "passTypeIdentifier": pass_ref.pass_type_id,
        "serialNumber": pass_ref.serial_number,
        "teamIdentifier": ctx.team_id,
        "organizationName": "organization_name",
        "webServiceURL": ctx.web_service_url,
        "authenticationToken": pass_ref.authentication_token,
        "backgroundColor": colors[0],
        "foregroundColor": colors[1],
        "labelColor": colors[2],
        "barcodes": barcodes(barcode_message, BARCODE_CHOICES[program.pass_options.barcode_format]),
    })
    return p


def _add_program_extras(p: dict[str, Any], program: Program, *, benefits: bool) -> None:
    """The program's stores as ``locations`` (the first 10: :attr:`Program.pass_stores`; the lock screen shows
    the store's name near it) and, with *benefits*, its benefits as back fields (after the template's own)."""
    if program.pass_stores:
        p["locations"] = [{"latitude": s.latitude, "longitude": s.longitude, "relevantText": s.name}
                          for s in program.pass_stores]
    style = next((k for k in STYLES if isinstance(p.get(k), dict)), None)
    if benefits and program.benefits and style is not None:
        back = p[style].setdefault("backFields", [])
        for i, b in enumerate(program.benefits):
            value = "\n".join(part for part in (b.body, b.uri) if part) or b.header
            back.append({"key": f"benefit_{i}", "label": b.header, "value": value})


def _program_values(program: Program) -> dict[str, str | None]:
    """``program.<text>`` (its own text, or None) and ``program.<text>_key`` (the pass.strings key, or None: field
    left out, when no locale has that text)."""
    out: dict[str, str | None] = {}
    for name in PROGRAM_FIELD_TEXTS:
        out[f"program.{name}"] = program.own_text(name) or None
        out[f"program.{name}_key"] = program_text_key(name) if program.has_text(name) else None
    return out


def member_pass_json(template: PassTemplate, program: Program, member: Member, pass_ref: PassRef,
                     ctx: RenderContext, news: News | None = None) -> dict[str, Any]:
    """pass.json (storeCard) for *member* of *program*; *news*: the campaign message its news field shows."""
    _check_kind(template, pass_ref, MEMBER)
    values = {
        "member.name": member.name,
        "member.number": member.member_number,
        "member.points": member.points,
        "member.tier_key": tier_key(member.tier),
        "member.email": member.email,
        "pass.serial_number": pass_ref.serial_number,
        "pass.news_key": news.key if news else None,
        "pass.news_link_key": news.link_key if news and ctx.coupon_url else None,
        **_program_values(program),
    }
    p = _base(template, values, pass_ref, ctx, program, program.colors_for(member.tier), member.member_number)
    _add_program_extras(p, program, benefits=True)
    _member_options(p, program)
    if pass_ref.voided:
        p["voided"] = True
    return p


#: The featured action a program's ``benefits_url`` becomes (iOS 27 ``featuredActions``).
BENEFITS_ACTION = {"identifier": "membership-benefits", "type": "membershipBenefits"}
#: Keys of the poster's fields: the store card's keys with this prefix (keys are unique across the whole pass).
POSTER_KEY_PREFIX = "poster_"


def poster_of(store_card: dict[str, Any]) -> dict[str, Any]:
    """iOS 27's ``posterGeneric`` block made from a member card's ``storeCard`` (which stays beside it for older
    iOS): its header and primary fields, its last secondary field (the member number) as the one footer field, and
    its back; each field's key prefixed with :data:`POSTER_KEY_PREFIX`."""
    def fields(group: str) -> list[dict[str, Any]]:
        return [{**f, "key": POSTER_KEY_PREFIX + f["key"]} for f in store_card.get(group, [])]

    poster = {"headerFields": fields("headerFields"), "primaryFields": fields("primaryFields"),
              "footerFields": fields("secondaryFields")[-1:], "backFields": fields("backFields")}
    return {group: f for group, f in poster.items() if f}


def _member_options(p: dict[str, Any], program: Program) -> None:
    """A member card's keys from the program's PassOptions (none with the defaults: the pass stays as it was)."""
    opts = program.pass_options
    if opts.member_card_style == "posterGeneric":
        p["posterGeneric"] = poster_of(p["storeCard"])
        # poster-only keys (apple.md §2.1): a store card alone does not carry them
        if opts.footer_background_color is not None:
            p["footerBackgroundColor"] = opts.footer_background_color
        if opts.use_automatic_colors:
            p["useAutomaticColors"] = True
    if opts.benefits_url is not None:
        p["featuredActions"] = [{**BENEFITS_ACTION, "url": opts.benefits_url}]


def coupon_voided(coupon: Coupon, offer: Offer, pass_ref: PassRef) -> bool:
    """True when the coupon can no longer be used as of the pass record's ``updated_at``."""
    return pass_ref.voided or coupon.effective_state(offer, pass_ref.updated_at) in (REDEEMED, VOIDED, EXPIRED)


def _offer_text_keys(offer: Offer) -> dict[str, str | None]:
    """``offer.<text>_key`` → the pass.strings key, or None (field left out) when no locale has that text."""
    return {f"offer.{name}_key": offer_text_key(name)
            if getattr(offer, name) or any(t.get(name) for t in offer.texts.values()) else None
            for name in TRANSLATABLE}


def coupon_pass_json(template: PassTemplate, program: Program, offer: Offer, coupon: Coupon, member: Member | None,
                     pass_ref: PassRef, ctx: RenderContext) -> dict[str, Any]:
    """pass.json (coupon) for *coupon* of *offer*, optionally issued to *member*."""
    _check_kind(template, pass_ref, COUPON)
    values = {
        "coupon.code": coupon.code,
        "offer.title": offer.title,
        "offer.description": offer.description or None,
        "offer.discount": offer.discount or None,
        "offer.terms": offer.terms or None,
        **_offer_text_keys(offer),
        "offer.valid_from": w3c_date(offer.valid_from) if offer.valid_from else None,
        "offer.valid_until": w3c_date(offer.valid_until) if offer.valid_until else None,
        "member.name": member.name if member else None,
        "member.number": member.member_number if member else None,
        "pass.serial_number": pass_ref.serial_number,
        **_program_values(program),
    }
    colors = program.colors_for(member.tier if member else None)
    p = _base(template, values, pass_ref, ctx, program, colors, coupon.code)
    _add_program_extras(p, program, benefits=False)
    if offer.valid_until is not None:
        p["expirationDate"] = w3c_date(offer.valid_until)
    voided = coupon_voided(coupon, offer, pass_ref)
    if voided:
        p["voided"] = True
    if program.pass_options.coupon_sharing_prohibited:
        p["sharingProhibited"] = True
    if program.pass_options.coupon_relevant_dates and not voided:
        p.update(relevance_of(offer, coupon))
    return p


def relevance_of(offer: Offer, coupon: Coupon) -> dict[str, Any]:
    """A coupon's validity window as ``relevantDates`` (iOS 18) and its start as ``relevantDate`` (older iOS).

    The window runs from the offer's ``valid_from`` (else the coupon's issue) to its ``valid_until``; without an
    end it is the single date it starts; without either date there is none (an empty dict).
    """
    start = offer.valid_from or coupon.created_at
    end = offer.valid_until
    if start is not None and end is not None and start < end:
        return {"relevantDate": w3c_date(start),
                "relevantDates": [{"startDate": w3c_date(start), "endDate": w3c_date(end)}]}
    moment = start or end
    if moment is None:
        return {}
    return {"relevantDate": w3c_date(moment), "relevantDates": [{"date": w3c_date(moment)}]}


def render_member(template: PassTemplate, program: Program, member: Member, pass_ref: PassRef,
                  ctx: RenderContext, news: News | None = None) -> RenderedPass:
    """pass.json and localized strings of a member card."""
    return RenderedPass(member_pass_json(template, program, member, pass_ref, ctx, news),
                        localized_strings(template, program, news=news, news_link=news_link(ctx, news)))


def news_link(ctx: RenderContext, news: News | None) -> str | None:
    """The URL that adds the member's coupon of the campaign's offer, when the news field links to one."""
    if news is None or news.coupon_token is None or ctx.coupon_url is None:
        return None
    return ctx.coupon_url(news.coupon_token)


def render_coupon(template: PassTemplate, program: Program, offer: Offer, coupon: Coupon, member: Member | None,
                  pass_ref: PassRef, ctx: RenderContext) -> RenderedPass:
    """pass.json and localized strings (the program's and *offer*'s) of a coupon."""
    return RenderedPass(coupon_pass_json(template, program, offer, coupon, member, pass_ref, ctx),
                        localized_strings(template, program, offer))
