"""Map programs, members, offers and coupons to Google Wallet class/object JSON (PURE: no I/O, no clock).

Every body built here validates against Google's walletobjects v1 discovery schema in strict mode
(:mod:`walletpass.google.schema`): no deprecated fields or enum aliases, no read-only fields.

Choices (google.md §2):

- **One class per program** (``<issuer>.program-<id>``) and one per offer (``<issuer>.offer-<id>``); objects are
  ``<issuer>.<serial_number>`` with anything outside ``[A-Za-z0-9._-]`` replaced by ``_``.
- **Tier is text, not points.** ``LoyaltyClass.rewardsTier`` is class-level, so it cannot differ per member, and
  ``secondaryLoyaltyPoints`` would show a tier name as a "balance". The tier therefore goes into an object text
  module ``tier``: one localized line "Tier: Gold" / "等級：金卡" (a translated header and a translated body would
  cost twice the bytes in every member's save link; LoyaltyObject has no class-side label for it). Tier colours
  are not shown on Google: ``hexBackgroundColor`` exists on classes only (never on Loyalty/Offer objects), and it
  carries the program colour.
- **Coupon states**: issued → ``ACTIVE``; redeemed → ``COMPLETED`` (DISCO: "Object has completed its lifecycle" —
  a used coupon is done, not invalid; ``INACTIVE`` means "no longer valid" and fits a *voided* coupon);
  voided → ``INACTIVE``; expired → ``EXPIRED``. A voided coupon pass (``PassRef.voided``) is ``INACTIVE`` whatever its
  state. A voided member card (its member was erased) is ``EXPIRED``: Google's way to end an object, which has no
  DELETE (google.md §3.1, "expire it instead").
- **Localized strings** carry ``defaultValue`` in the program's first locale and ``translatedValues`` for its other
  locales (``en``, ``zh-Hant``, ``zh-Hans``): program strings from ``Program.texts``, our own labels from
  :data:`LABELS`. A string with no translation gets no ``localized*`` field at all — the plain field already says
  it, and every byte counts against the 1,800-character save link. On objects (in every member's link) the plain
  field is left out beside its LocalizedString ("the non-localized field will not be used"), and the loyalty
  barcode has no ``alternateText``: Google shows ``accountId``, the same number, under it.
- **Program texts** are class text modules (class-side, so they cost no bytes in a member's save link once the
  class is at Google): a loyalty class shows ``how_to_earn`` and ``terms``, an offer class ``discount`` and
  ``how_to_redeem``; a program without a text has no module for it. (The pass descriptions are Apple's alone.)
- **Benefits** are class-side ``valueAddedModuleData`` (DISCO: "Required fields are header and uri"; header and
  body are LocalizedStrings, 60/50 characters): a benefit without a link of its own leads to *benefit_uri* (the
  program's join page), or is left out when there is none. Class-side, as every member has the same benefits and
  they then cost nothing in a member's save link.
- **Stores** are class-side ``merchantLocations`` (the first 10, DISCO: "Any additional MerchantLocations added
  beyond the 10 will be rejected") on the loyalty class and on every offer class of the program: Google notifies a
  holder who dwells near one.
- **Rotating barcodes** (an offer's ``rotating_barcode``): the OfferObject carries ``rotatingBarcode`` instead of
  ``barcode`` — a QR of ``<code>:<TOTP value>`` (DISCO ``valuePattern`` with ``{totp_value_0}``; ``totpDetails``:
  ``TOTP_SHA1``, RFC 6238, 30 s, 8 digits, the object's own key in Base16, kept server-side in
  ``wallet_objects.barcode_key``), so a screenshot stops scanning within a minute; :func:`totp_value` computes the
  value a till would check.
- Images are ``{sourceUri: {uri}, contentDescription}``; the URLs come from the caller (slot → URL), since the
  asset URL scheme is decided elsewhere. Slots: ``"logo"`` (required for loyalty classes) and ``"hero"``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from walletpass.domain.members import Member
from walletpass.domain.offers import EXPIRED, ISSUED, REDEEMED, VOIDED, Coupon, Offer
from walletpass.domain.passes import PassRef
from walletpass.domain.programs import SUPPORTED_LOCALES, Program, color_to_hex
from walletpass.errors import InvalidInput

Kind = Literal["loyalty", "offer"]
Json = dict[str, Any]
#: slot ("logo", "hero") → public URL or None; a plain mapping works too.
ImageSource = Mapping[str, str] | Callable[[str], str | None]

#: Our own labels in every supported locale (program strings come from Program.texts).
LABELS: Mapping[str, Mapping[str, str]] = {
    "member": {"en": "Member", "zh-Hant": "會員", "zh-Hans": "会员"},
    "member_no": {"en": "Member no.", "zh-Hant": "會員編號", "zh-Hans": "会员编号"},
    "tier": {"en": "Tier", "zh-Hant": "等級", "zh-Hans": "等级"},
    "terms": {"en": "Terms", "zh-Hant": "條款", "zh-Hans": "条款"},
    "how_to_earn": {"en": "How to earn", "zh-Hant": "如何累積", "zh-Hans": "如何累积"},
    "how_to_redeem": {"en": "How to redeem", "zh-Hant": "如何使用", "zh-Hans": "如何使用"},
    "discount": {"en": "Discount", "zh-Hant": "優惠", "zh-Hans": "优惠"},
    "logo": {"en": "Logo", "zh-Hant": "標誌", "zh-Hans": "标志"},
}

COUPON_STATES = {ISSUED: "ACTIVE", REDEEMED: "COMPLETED", VOIDED: "INACTIVE", EXPIRED: "EXPIRED"}
POINTS_LABEL_MAX = 9  # LoyaltyPoints.label: "Recommended maximum length is 9 characters"
NOTIFY_LIMIT, NOTIFY_WINDOW = 3, timedelta(hours=24)  # google.md §3.5
TEXT, TEXT_AND_NOTIFY = "TEXT", "TEXT_AND_NOTIFY"
REDEMPTION_CHANNELS = ("INSTORE", "ONLINE", "BOTH", "TEMPORARY_PRICE_REDUCTION")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
#: Rotating barcodes: RFC 6238 TOTP with SHA-1 (DISCO RotatingBarcodeTotpDetails.algorithm ``TOTP_SHA1``), a new
#: value every 30 s, 8 digits (RFC 4226 §5.3 allows 6–8).
TOTP_PERIOD_SECONDS, TOTP_DIGITS = 30, 8
#: TOTP key bytes per object (RFC 4226 §4: 160 bits recommended for SHA-1).
TOTP_KEY_BYTES = 20


# -- ids ----------------------------------------------------------------------------------------
def object_id(issuer_id: str, serial_number: str) -> str:
    """``<issuer>.<serial>`` with characters outside ``[A-Za-z0-9._-]`` replaced by ``_`` (DISCO ``id``)."""
    return f"{issuer_id}.{_UNSAFE.sub('_', serial_number)}"


def program_class_id(issuer_id: str, program_id: int) -> str:
    """The LoyaltyClass id of a program."""
    return f"{issuer_id}.program-{program_id}"


def offer_class_id(issuer_id: str, offer_id: int) -> str:
    """The OfferClass id of an offer."""
    return f"{issuer_id}.offer-{offer_id}"


# -- localization -------------------------------------------------------------------------------
def _languages(program: Program) -> tuple[str, ...]:
    langs = tuple(dict.fromkeys(loc for loc in program.locales if loc in SUPPORTED_LOCALES))
    return langs or ("en",)


def _localized(langs: Sequence[str], values: Mapping[str, str]) -> Json | None:
    """A LocalizedString, or None when there is nothing to translate (the plain field says it all, and the
    save JWT stays short)."""
    extra = [{"language": lang, "value": values[lang]} for lang in langs[1:] if values.get(lang)]
    if not extra:
        return None
    return {"defaultValue": {"language": langs[0], "value": values[langs[0]]}, "translatedValues": extra}


def _program_text(program: Program, key: str, base: str, langs: Sequence[str],
                  limit: int = 0) -> tuple[str, Json | None]:
    """(default value, LocalizedString) of a program string; a locale without a translation is left out."""
    values = {langs[0]: program.text(langs[0], key, base)}
    values.update({lang: program.texts[lang][key] for lang in langs[1:] if key in program.texts.get(lang, {})})
    if limit:
        values = {lang: v[:limit] for lang, v in values.items()}
    return values[langs[0]], _localized(langs, values)


def _plain(value: str, localized: Json | None) -> str | None:
    """The plain field beside a LocalizedString, or None when the localized one is set: "If the corresponding
    localized field is set, the non-localized field will not be used" (Google's localization guide), and its
    ``defaultValue`` already says it. Used on objects, whose bytes count against the save link on every member."""
    return None if localized else value


def _label(name: str, langs: Sequence[str]) -> tuple[str, Json | None]:
    values = {lang: LABELS[name].get(lang, LABELS[name]["en"]) for lang in langs}
    return values[langs[0]], _localized(langs, values)


# -- building blocks ----------------------------------------------------------------------------
def _clean(value: Any) -> Any:
    """Drop None-valued keys everywhere (absent LocalizedStrings, optional parts)."""
    if type(value) is dict:
        return {k: _clean(v) if type(v) in (dict, list) else v for k, v in value.items() if v is not None}
    if type(value) is list:
        return [_clean(v) if type(v) in (dict, list) else v for v in value]
    return value


def _image_url(images: ImageSource, slot: str) -> str | None:
    return images.get(slot) if isinstance(images, Mapping) else images(slot)


def _image(url: str, description: Json | None) -> Json:
    return {"sourceUri": {"uri": url}, "contentDescription": description}


def _text_module(module_id: str, header: tuple[str, Json | None], body: tuple[str, Json | None]) -> Json:
    return {"id": module_id, "header": header[0], "localizedHeader": header[1],
            "body": body[0], "localizedBody": body[1]}


def _program_module(program: Program, name: str, langs: Sequence[str]) -> Json | None:
    """A text module (header: our label, body: the program's text) of ``terms``, ``how_to_earn`` or
    ``how_to_redeem``, or None when the program has no such text in its first language (nothing to show)."""
    body = _program_text(program, name, program.own_text(name), langs)
    return _text_module(name, _label(name, langs), body) if body[0] else None


#: How a label and its value join in one line, per language ("Tier: Gold", "等級：金卡").
_LABEL_JOIN = {"zh-Hant": "：", "zh-Hans": "："}


def _labelled_line(name: str, value: str, program: Program, key: str, langs: Sequence[str]) -> tuple[str, Json | None]:
    """(default, LocalizedString) of "<label>: <value>" in every language (the value untranslated where the
    program has no translation): one localized string instead of a translated header and a translated body,
    half the bytes of a per-member module in the save link."""
    lines = {lang: LABELS[name].get(lang, LABELS[name]["en"]) + _LABEL_JOIN.get(lang, ": ")
             + program.text(lang, key, value) for lang in langs}
    return lines[langs[0]], _localized(langs, lines)


def _qr(value: str, *, text_under: bool = True) -> Json:
    """A QR code; *text_under* False leaves ``alternateText`` out where Google shows the same text anyway (a loyalty
    card falls back to ``accountId`` under the barcode: google.md §1.4's field budget, Google's loyalty design page)."""
    return {"type": "QR_CODE", "value": value, "alternateText": value if text_under else None}


def _date(value: datetime) -> Json:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return {"date": aware.isoformat(timespec="seconds")}


def _interval(start: datetime | None, end: datetime | None) -> Json | None:
    out: Json = {}
    if start is not None:
        out["start"] = _date(start)
    if end is not None:
        out["end"] = _date(end)
    return out or None


def _branding(program: Program, images: ImageSource, langs: Sequence[str], logo_key: str,
              *, logo_required: bool) -> Json:
    """Issuer name, colour, logo and hero shared by loyalty and offer classes."""
    issuer, localized_issuer = _program_text(program, "organization_name", program.organization_name, langs)
    out: Json = {"issuerName": issuer, "localizedIssuerName": localized_issuer,
                 "hexBackgroundColor": color_to_hex(program.background_color)}
    logo = _image_url(images, "logo")
    if logo:
        out[logo_key] = _image(logo, localized_issuer)
    elif logo_required:
        raise InvalidInput("logo", "a program logo URL is required for Google Wallet (LoyaltyClass.programLogo)")
    hero = _image_url(images, "hero")
    if hero:
        out["heroImage"] = _image(hero, localized_issuer)
    return out


def _merchant_locations(program: Program) -> list[Json] | None:
    """``merchantLocations`` of the program's first 10 stores (None: it has none)."""
    return [{"latitude": s.latitude, "longitude": s.longitude} for s in program.pass_stores] or None


def _value_added(program: Program, langs: Sequence[str], default_uri: str | None) -> list[Json] | None:
    """``valueAddedModuleData`` of the program's benefits (None: none to show)."""
    lang = langs[0]
    modules = [{"header": {"defaultValue": {"language": lang, "value": b.header}},
                "body": {"defaultValue": {"language": lang, "value": b.body}} if b.body else None,
                "uri": b.uri or default_uri, "sortIndex": i}
               for i, b in enumerate(program.benefits) if b.uri or default_uri]
    return modules or None


# -- loyalty ------------------------------------------------------------------------------------
def loyalty_class(program: Program, *, issuer_id: str, images: ImageSource, callback_url: str | None = None,
                  benefit_uri: str | None = None) -> Json:
    """Return the LoyaltyClass of *program* (``reviewStatus: UNDER_REVIEW``, as Google asks on every write)."""
    langs = _languages(program)
    name, localized_name = _program_text(program, "name", program.name, langs)
    body: Json = {"id": program_class_id(issuer_id, program.id), "reviewStatus": "UNDER_REVIEW",
                  "programName": name, "localizedProgramName": localized_name}
    body.update(_branding(program, images, langs, "programLogo", logo_required=True))
    member_label, member_no_label = _label("member", langs), _label("member_no", langs)
    body.update({"accountNameLabel": member_label[0], "localizedAccountNameLabel": member_label[1],
                 "accountIdLabel": member_no_label[0], "localizedAccountIdLabel": member_no_label[1]})
    modules = [_program_module(program, name, langs) for name in ("how_to_earn", "terms")]
    if any(modules):
        body["textModulesData"] = [m for m in modules if m]
    body["valueAddedModuleData"] = _value_added(program, langs, benefit_uri)
    body["merchantLocations"] = _merchant_locations(program)
    if callback_url:
        body["callbackOptions"] = {"url": callback_url}
    cleaned: Json = _clean(body)
    return cleaned


def loyalty_object(program: Program, member: Member, ref: PassRef, *, issuer_id: str) -> Json:
    """Return the LoyaltyObject of *member*'s card: points balance, tier text module, QR with the member number."""
    langs = _languages(program)
    label, localized_label = _program_text(program, "points_label", program.points_label, langs, POINTS_LABEL_MAX)
    body: Json = {
        "id": object_id(issuer_id, ref.serial_number),
        "classId": program_class_id(issuer_id, program.id),
        "state": "EXPIRED" if ref.voided else "ACTIVE",
        "accountId": member.member_number,
        "accountName": member.name,
        "loyaltyPoints": {"label": _plain(label, localized_label), "localizedLabel": localized_label,
                          "balance": {"int": member.points}},
        "barcode": _qr(member.member_number, text_under=False),
    }
    if member.tier:
        line, localized_line = _labelled_line("tier", member.tier, program, f"tier.{member.tier}", langs)
        body["textModulesData"] = [{"id": "tier", "body": _plain(line, localized_line),
                                    "localizedBody": localized_line}]
    cleaned: Json = _clean(body)
    return cleaned


# -- offers -------------------------------------------------------------------------------------
def _offer_text(offer: Offer, key: str, base: str, langs: Sequence[str]) -> tuple[str, Json | None]:
    """(default value, LocalizedString) of an offer string from ``Offer.texts`` (locale → {title, description,
    discount, terms}); a locale without a translation is left out."""
    values = {lang: offer.texts[lang][key] for lang in langs if (offer.texts.get(lang) or {}).get(key)}
    values.setdefault(langs[0], base)
    return values[langs[0]], _localized(langs, values)


def offer_class(offer: Offer, program: Program, *, issuer_id: str, images: ImageSource,
                redemption_channel: str = "INSTORE", callback_url: str | None = None) -> Json:
    """Return the OfferClass of *offer*: title, provider (the organization), details, fine print (terms).

    Title, details, fine print and the discount module carry ``localized*`` values from ``offer.texts`` for
    the program's other locales; fine print falls back to the program's terms (and their translations).
    """
    if redemption_channel not in REDEMPTION_CHANNELS:
        raise InvalidInput("redemption_channel", f"must be one of {', '.join(REDEMPTION_CHANNELS)}")
    langs = _languages(program)
    title = _offer_text(offer, "title", offer.title, langs)
    body: Json = {"id": offer_class_id(issuer_id, offer.id), "reviewStatus": "UNDER_REVIEW",
                  "title": title[0], "localizedTitle": title[1], "redemptionChannel": redemption_channel}
    body.update(_branding(program, images, langs, "titleImage", logo_required=False))
    body["provider"], body["localizedProvider"] = body["issuerName"], body["localizedIssuerName"]
    if offer.description:
        body["details"], body["localizedDetails"] = _offer_text(offer, "description", offer.description, langs)
    if offer.terms:
        body["finePrint"], body["localizedFinePrint"] = _offer_text(offer, "terms", offer.terms, langs)
    elif program.terms:
        body["finePrint"], body["localizedFinePrint"] = _program_text(program, "terms", program.terms, langs)
    discount = _offer_text(offer, "discount", offer.discount, langs)
    modules = [_text_module("discount", _label("discount", langs), discount) if offer.discount else None,
               _program_module(program, "how_to_redeem", langs)]
    if any(modules):
        body["textModulesData"] = [m for m in modules if m]
    body["merchantLocations"] = _merchant_locations(program)
    if callback_url:
        body["callbackOptions"] = {"url": callback_url}
    cleaned: Json = _clean(body)
    return cleaned


def coupon_state(coupon: Coupon, offer: Offer, ref: PassRef, now: datetime) -> str:
    """The OfferObject ``state`` for *coupon* as of *now* (see the module docstring for the mapping)."""
    if ref.voided:
        return "INACTIVE"
    return COUPON_STATES[coupon.effective_state(offer, now)]


def totp_value(key_hex: str, at: datetime, *, digits: int = TOTP_DIGITS, period: int = TOTP_PERIOD_SECONDS) -> str:
    """The RFC 6238 (SHA-1) value of *key_hex* at *at*, as Google's ``{totp_value_n}`` shows it."""
    counter = int(at.timestamp()) // period
    mac = hmac.new(bytes.fromhex(key_hex), counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def rotating_barcode(code: str, key_hex: str) -> Json:
    """A ``RotatingBarcode``: a QR of ``<code>:<TOTP value>`` with the object's key (see the module docstring)."""
    return {"type": "QR_CODE", "valuePattern": f"{code}:{{totp_value_0}}",
            "totpDetails": {"algorithm": "TOTP_SHA1", "periodMillis": str(TOTP_PERIOD_SECONDS * 1000),
                            "parameters": [{"key": key_hex, "valueLength": TOTP_DIGITS}]}}


def offer_object(coupon: Coupon, offer: Offer, ref: PassRef, *, issuer_id: str, now: datetime,
                 totp_key: str | None = None) -> Json:
    """Return the OfferObject of *coupon*: state as of *now*, QR with the code (a rotating one with *totp_key*, the
    object's TOTP key in hex), validity window of the offer."""
    body: Json = {
        "id": object_id(issuer_id, ref.serial_number),
        "classId": offer_class_id(issuer_id, offer.id),
        "state": coupon_state(coupon, offer, ref, now),
    }
    if totp_key:
        body["rotatingBarcode"] = rotating_barcode(coupon.code, totp_key)
    else:
        body["barcode"] = _qr(coupon.code)
    interval = _interval(offer.valid_from, offer.valid_until)
    if interval:
        body["validTimeInterval"] = interval
    cleaned: Json = _clean(body)
    return cleaned


# -- messages -----------------------------------------------------------------------------------
def message_type_for(recent_notify_times: Sequence[datetime], now: datetime) -> str:
    """Return ``TEXT_AND_NOTIFY`` unless 3 notifying messages went to this pass in the last 24 h, else ``TEXT``.

    Google allows at most 3 push-notifying messages per pass per 24 h (google.md §3.5) and answers the 4th with
    QuotaExceededException; deciding before sending keeps the message and drops only the buzz.
    """
    since = now - NOTIFY_WINDOW
    recent = sum(1 for t in recent_notify_times if since < t <= now)
    return TEXT if recent >= NOTIFY_LIMIT else TEXT_AND_NOTIFY


def message(header: str, body: str, *, notify: bool, message_id: str | None = None,
            display_until: datetime | None = None, now: datetime | None = None) -> Json:
    """Return a ``Message`` (``messageType`` TEXT_AND_NOTIFY when *notify*, else TEXT)."""
    out: Json = {"header": header, "body": body, "messageType": TEXT_AND_NOTIFY if notify else TEXT}
    if message_id:
        out["id"] = _UNSAFE.sub("_", message_id)
    interval = _interval(now, display_until) if display_until else None
    if interval:
        out["displayInterval"] = interval
    return out


def payload_key(kind: Kind, what: Literal["class", "object"]) -> str:
    """The JWT payload array name, e.g. ``loyaltyObjects`` (DISCO ``Resources``)."""
    if kind not in ("loyalty", "offer"):
        raise ValueError(f"unknown pass kind {kind!r}")
    return f"{kind}{'Classes' if what == 'class' else 'Objects'}"


def campaign_message(program: Program, header: str, texts: Mapping[str, str], *, notify: bool,
                     message_id: str) -> Json:
    """A campaign's ``Message``: the body in the program's first locale, translated into its others (texts: locale →
    text, ``"*"`` for the rest)."""
    langs = _languages(program)
    values = {lang: texts.get(lang) or texts["*"] for lang in langs}
    out = message(header, values[langs[0]], notify=notify, message_id=message_id)
    localized = _localized(langs, values)
    if localized:
        out["localizedBody"] = localized
    cleaned: Json = _clean(out)
    return cleaned
