"""The pass page, its card picture, the badges, the smart link, the pkpass download and the Google save link, all
reached only through a pass's public token (unguessable); any text that is no token answers the same 404."""

from __future__ import annotations

from email.utils import format_datetime
from typing import Any

import segno
from flask import Response, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from api.context import services
from api.public import bp
from api.public.frame import frame, page_locale
from api.public.i18n import LOCALES, format_date, texts
from api.public.platforms import ANDROID, DESKTOP, IOS, platform, samsung_browser, wallet_order
from walletpass.domain.programs import Program
from walletpass.render.badges import WALLETS, accessible_name, badge
from walletpass.render.texts import offer_entries, tier_key
from walletpass.services.pages import PassPageView
from walletpass.services.passes import pass_id_for_token

PKPASS_MIME = "application/vnd.apple.pkpass"
#: The one answer for every token that leads nowhere (unknown, tampered, malformed): it tells nothing.
NOT_FOUND = "no pass behind this link; check that the link was copied whole"


def _pass_id(token: str) -> int:
    pass_id = pass_id_for_token(services().read_uow(), token)
    if pass_id is None:
        abort(404, NOT_FOUND)
    return pass_id


def _view(token: str) -> PassPageView:
    s = services()
    view = s.pass_pages.view(token, s.clock.now())
    if view is None:
        abort(404, NOT_FOUND)
    return view


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
    url = services().wallet("google").save_link(_pass_id(token))
    resp = redirect(url, code=302)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _samsung_offered(user_agent: str | None, view: PassPageView) -> bool:
    """Whether this visitor is offered Samsung Wallet for the pass: Samsung Internet, Samsung configured for
    the pass's kind."""
    samsung = services().samsung
    return samsung_browser(user_agent) and samsung is not None and samsung.offers(view.pass_.kind)


@bp.get("/a/<token>")
def smart_link(token: str) -> WerkzeugResponse:
    """The member's one link (an e-mail, an SMS): 302 to the ``.pkpass`` on iOS, to Google's save redirect on
    Android, to the pass page anywhere else — and on Samsung Internet when Samsung Wallet is offered for the pass
    (the page's badges: Samsung Wallet first, Google Wallet next)."""
    s = services()
    user_agent = request.headers.get("User-Agent")
    # on Samsung Internet the pass's kind decides whether Samsung Wallet is offered: read the view (one read)
    view = s.pass_pages.view(token, s.clock.now()) if samsung_browser(user_agent) else None
    if view is None and not s.pass_pages.exists(token):
        abort(404, NOT_FOUND)
    # a Galaxy phone has Samsung Wallet and Google Wallet: the page offers both, Samsung's first
    kind = DESKTOP if view is not None and _samsung_offered(user_agent, view) else platform(user_agent)
    target = {IOS: s.urls.pkpass, ANDROID: s.urls.google_save}.get(kind, s.urls.page)(token)
    resp = redirect(target, code=302)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Vary"] = "User-Agent"
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


@bp.get("/assets/badges/<wallet>.<locale>.svg")
def badge_svg(wallet: str, locale: str) -> Response:
    """The "Add to Apple / Google / Samsung Wallet" badge in a page language (walletpass.render.badges)."""
    if wallet not in WALLETS or locale not in LOCALES:
        abort(404, "no such badge")
    resp = Response(badge(wallet, locale).svg, mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


@bp.post("/google/callback")
def google_callback() -> tuple[str, int]:
    """Google's save/delete callback: verified (ECv2SigningOnly), deduplicated by nonce, recorded."""
    raw = request.get_data(cache=False)
    if len(raw) > 64 * 1024:
        abort(413)
    services().wallet("google").handle_callback(raw, dict(request.headers))
    return "", 200


def _state_key(view: PassPageView) -> str | None:
    """The catalog key of the pass's state when it can no longer be used, else None."""
    if view.state in ("redeemed", "expired", "voided"):
        return view.state
    return "voided" if view.pass_.voided else None


@bp.get("/p/<token>/card.png")
def card_picture(token: str) -> Response:
    """The picture of the card (walletpass.render.preview), drawn once per pass version and language; ETag and
    Last-Modified by that version, so a browser that has it gets a 304."""
    s = services()
    view = _view(token)
    locale = page_locale(view.program)
    previews = s.previews
    etag = previews.etag(view, locale)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Accept-Language",
               "Last-Modified": format_datetime(view.pass_.updated_at, usegmt=True)}
    if request.if_none_match.contains_weak(etag.strip('"')):
        return Response(status=304, headers=headers)
    state = _state_key(view)
    banner = texts(locale)[f"pass.state.{state}"] if state else None
    preview = previews.get(view, locale, banner)
    return Response(preview.data, mimetype="image/png", headers=headers)


def _when(program: Program, value: Any, locale: str) -> str:
    from zoneinfo import ZoneInfo

    return format_date(value.astimezone(ZoneInfo(program.time_zone)), locale)


def _card(view: PassPageView, locale: str) -> dict[str, Any]:
    """What the page says about the pass besides its picture (the picture's alt text, a coupon's texts)."""
    program, member = view.program, view.member
    t = texts(locale)
    strings = program.texts.get(locale, {})
    if view.offer is not None and view.coupon is not None:
        offer = {k.split(".", 1)[1]: v for k, v in offer_entries(view.offer, locale).items()}
        validity = []
        if view.offer.valid_from:
            validity.append((t["pass.valid_from"], _when(program, view.offer.valid_from, locale)))
        validity.append((t["pass.valid_until"], _when(program, view.offer.valid_until, locale)
                         if view.offer.valid_until else t["pass.no_end"]))
        alt = " · ".join(x for x in (t["pass.coupon_picture"], offer["title"], offer["discount"],
                                     f'{t["pass.code"]} {view.coupon.code}') if x)
        return {"kind": "coupon", "offer": offer, "validity": validity, "code": view.coupon.code, "alt": alt}
    assert member is not None
    tier = strings.get(tier_key(member.tier)) or member.tier or ""
    points_label = strings.get("points_label") or program.points_label
    alt = " · ".join(x for x in (t["pass.picture"], member.name, tier, f"{member.points:,} {points_label}") if x)
    return {"kind": "card", "alt": alt}


def _qr_of(url: str, fg: str) -> str:
    """A data: URI of an SVG QR code of *url* (the pages' CSP allows data: images)."""
    return segno.make(url, error="m", micro=False).svg_data_uri(scale=5, border=4, dark=fg)


@bp.get("/p/<token>")
def page(token: str) -> str:
    """The pass page: the card's picture, the Add to Apple Wallet / Add to Google Wallet badges (the visitor's
    own wallet first; Samsung Internet also gets Add to Samsung Wallet, first, when Samsung is configured; a
    computer also gets a QR code of this page), a coupon's offer, validity and state."""
    s = services()
    view = _view(token)
    program = view.program
    locale = page_locale(program)
    user_agent = request.headers.get("User-Agent")
    kind = platform(user_agent)
    wallets: tuple[str, ...] = wallet_order(kind)
    if _samsung_offered(user_agent, view):
        wallets = ("samsung", *wallets)  # Samsung Internet: a Galaxy phone, its own wallet first
    hrefs = {"apple": s.urls.pkpass, "google": s.urls.google_save, "samsung": s.urls.samsung_add}
    badges = [{"wallet": w, "href": hrefs[w](token),
               "label": accessible_name(w, locale), "width": badge(w, locale).width,
               "src": url_for("public.badge_svg", wallet=w, locale=locale)} for w in wallets]
    state = _state_key(view)
    return render_template(
        "public/pass.html", **frame(program, locale), card=_card(view, locale), badges=badges if view.usable else [],
        state=state, preview_url=f"{s.urls.preview(token)}?lang={locale}&v={view.pass_.update_tag}",
        scan_qr=_qr_of(s.urls.page(token), "#1d1d1f") if kind == DESKTOP else None, desktop=kind == DESKTOP)
