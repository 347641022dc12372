"""JSON Schemas of the marketer API request bodies (also published in /api/v1/openapi.json).

The server validates bodies with these very schemas (``api.validation``, Python ``re``), and clients read them
from the OpenAPI document, where a ``pattern`` is an ECMA-262 regular expression. Every pattern here is written to
mean the same in both dialects, which differ in three places that matter:

- ``$`` — Python's also matches before a final newline (``"a@b.c\\n"`` matched ``^…$``), ECMA's only at the end.
  Patterns end with the lookahead ``(?![\\s\\S])`` ("no character follows"), which both read alike.
- ``\\s`` — Python's follows ``str.isspace`` (with ``\\x1c``-``\\x1f`` and ``\\x85``), ECMA's has ``\\ufeff`` instead.
  White space is spelled out as :data:`WHITE_SPACE`, exactly what ``str.isspace``/``str.strip`` treat as such.
- ``\\d`` and ``.`` — Python's ``\\d`` takes every Unicode digit and ``.`` stops only at ``\\n``. Neither is used.

``tests/api/test_openapi_contract.py`` reads every pattern of the published document with an ECMA-262 engine and
with the server's validator, and checks that they agree. A ``x-detail`` keyword (ignored by validators) is the
message the server gives when its sibling ``pattern``/``oneOf`` fails; ``x-field`` names the field for a failure
of the whole object.
"""

from __future__ import annotations

from typing import Any

from walletpass.domain.campaigns import MAX_HOLDOUT, MAX_VARIANTS, MAX_WEIGHT
from walletpass.domain.members import MAX_POINTS, MAX_SOURCE
from walletpass.domain.programs import (
    BARCODE_CHOICES,
    MAX_BENEFITS,
    MAX_STORES,
    MEMBER_CARD_STYLES,
    PASS_LOCATIONS,
    SUPPORTED_LOCALES,
)
from walletpass.domain.webhooks import EVENT_TYPES as WEBHOOK_EVENTS
from walletpass.services.api_keys import SCOPES

#: The characters ``str.isspace`` (hence ``str.strip``) treats as white space, as a regex character-class body.
WHITE_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def whole(body: str) -> str:
    """A pattern that *body* must match in full: ``^`` and a ``$`` that both dialects read as the very end."""
    return rf"^(?:{body})(?![\s\S])"


#: Any text without NUL: PostgreSQL text cannot hold it (``api.validation`` refuses it in every string).
TEXT = whole(r"[^\x00]*")
#: Text with at least one character that is not white space (and no NUL): names, titles, reasons.
NON_BLANK = whole(rf"[^\x00]*[^\x00{WHITE_SPACE}][^\x00]*")
_BYTE = r"(?:[01]?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])"  # 0–255 in 1–3 digits, leading zeros allowed (as parse_color)
#: ``rgb(r, g, b)`` (0–255, spaces around the numbers) or ``#rgb`` / ``#rrggbb``: what parse_color takes.
COLOR = whole(rf"rgb\( *{_BYTE} *, *{_BYTE} *, *{_BYTE} *\)|#(?:[0-9a-fA-F]{{3}}){{1,2}}")
_EMAIL_PART = rf"[^@.\x00{WHITE_SPACE}]+"
#: ``local@domain.tld``: no white space, one ``@``, dot-separated non-empty domain labels (linear to match).
EMAIL = whole(rf"[^@\x00{WHITE_SPACE}]+@{_EMAIL_PART}(?:\.{_EMAIL_PART})+")
_YEAR = r"(?:19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"  # 1970–9998 (parse_instant)
#: RFC 3339 date-time (``format: date-time``) as parse_instant takes it: upper-case ``T`` and ``Z``, seconds
#: 00–59 (no leap second), a zone, a year from 1970 to 9998. ``format`` adds that the day exists in its month.
INSTANT = whole(rf"{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
                r"(?:\.[0-9]+)?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")
#: A phone number as normalize_phone takes it: an optional ``+``, then 6–15 digits with separators between them.
PHONE = whole(r"\+?[ (]*[0-9](?:[ .()/-]*[0-9]){5,14}")
#: A birthday ``YYYY-MM-DD`` (``format: date``), years 1900–2099; the day is checked against its month and today.
BIRTHDAY = whole(r"(?:19[0-9]{2}|20[0-9]{2})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])")
_PCT = r"%[0-9A-Fa-f]{2}"
#: An http(s) URL of RFC 3986's ASCII characters (an internationalised name goes in its punycode form): a host (a
#: name, an IPv4 address or a bracketed IPv6 one), an optional port, path and query, no user:password, no fragment.
URL = whole(rf"[Hh][Tt][Tt][Pp][Ss]?://(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|{_PCT})+)(?::[0-9]*)?"
            rf"(?:[/?](?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|{_PCT})*)?")
#: An https URL (URL without plain http): what Wallet opens from a pass's featured action.
HTTPS_URL = URL.replace("[Ss]?://", "[Ss]://", 1)
#: The keys a program's ``texts[locale]`` may translate (``tier.<name>``: a tier of the program).
PROGRAM_TEXT_KEY = whole(r"organization_name|name|points_label|terms|description|how_to_earn|coupon_description|"
                         r"how_to_redeem|tier\.[^\x00]+")

_INTEGER_NOTE = "a JSON integer literal: 10.0 or 1e1 is refused (422), though JSON Schema counts it as an integer"


def _integer(minimum: int, maximum: int, **more: Any) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, "description": _INTEGER_NOTE, **more}


def _text(max_length: int, *, min_length: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", "maxLength": max_length, "pattern": TEXT,
                           "x-detail": "must not contain the NUL character (\\u0000)"}
    if min_length:
        out["minLength"] = min_length
    return out


def _non_blank(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": NON_BLANK,
            "x-detail": "must not be blank (white space alone)"}


_color = {"type": "string", "maxLength": 32, "pattern": COLOR,
          "description": "rgb(r, g, b) with each of r, g, b 0–255, or #rgb / #rrggbb",
          "x-detail": "{value} is not a colour: use 'rgb(r, g, b)' with each of r, g, b 0–255, or '#rrggbb'"}
_locale = {"type": "string", "enum": list(SUPPORTED_LOCALES)}
_tier_name = _non_blank(64)

TIER = {
    "type": "object", "additionalProperties": False, "required": ["name", "min_points"],
    "description": "names and min_points are unique within a program (422 otherwise)",
    "properties": {
        "name": _tier_name,
        "min_points": _integer(0, MAX_POINTS),
        "background_color": _color, "foreground_color": _color, "label_color": _color,
    },
}

_hhmm: dict[str, Any] = {"type": "string", "pattern": whole(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"),
                         "x-detail": "{value} is not a time HH:MM (00:00–23:59)"}

#: A program's choices among Apple's 2024–2026 pass keys (walletpass.domain.programs.PassOptions): the defaults
#: add none of them, so the passes of a program that sets none stay as they were.
PASS_OPTIONS: dict[str, Any] = {
    "member_card_style": {"enum": list(MEMBER_CARD_STYLES),
                          "description": "storeCard (default), or posterGeneric: iOS 27's poster member card "
                                         "(full-bleed art, header and primary fields, one footer field), which also "
                                         "carries the storeCard that iPhones before iOS 27 show"},
    "footer_background_color": {**_color, "type": ["string", "null"],
                                "description": "iOS 18 footerBackgroundColor of member cards (poster styles); "
                                               "rgb(r, g, b) or #rrggbb; null: none (default)"},
    "use_automatic_colors": {"type": "boolean", "description": "iOS 18 useAutomaticColors on member cards: Wallet "
                             "picks the text colours from the poster art (default false)"},
    "benefits_url": {"type": ["string", "null"], "maxLength": 2000, "pattern": HTTPS_URL,
                     "x-detail": "{value} is not an https:// URL with a host, in ASCII",
                     "description": "an https page of the membership's benefits, featured on the member card "
                                    "(featuredActions, type membershipBenefits; iOS 27); null: none (default)"},
    "barcode_format": {"enum": list(BARCODE_CHOICES),
                       "description": "qr (default), or a 1-D code for tills, drawn from iOS 27 before the QR code "
                                      "that older iOS shows: ean13 (the 12-digit member number and its check "
                                      "digit), code39, codabar, itf (interleaved 2 of 5). On member cards (the "
                                      "member number) and on coupons (the code) whenever the value can be drawn "
                                      "so (a coupon code has letters: code39 only); else QR alone"},
    "coupon_relevant_dates": {"type": "boolean", "description": "coupons carry their offer's validity window as "
                              "relevantDates (iOS 18) and its start as relevantDate (older iOS); default false"},
    "coupon_sharing_prohibited": {"type": "boolean", "description": "coupons are redeemed once: hide their Share "
                                  "button (sharingProhibited); default false"},
}

BENEFIT = {
    "type": "object", "additionalProperties": False, "required": ["header"],
    "description": "a program benefit: a Google Wallet value-added module (header ≤ 60, body ≤ 50 characters, "
                   "Google's limits) and a field on the back of the Apple pass",
    "properties": {"header": _non_blank(60), "body": _text(50),
                   "uri": {"type": "string", "maxLength": 2000, "pattern": URL,
                           "description": "where the module leads (http/https); default: the program's join page",
                           "x-detail": "{value} is not an http(s) URL"}},
}

STORE = {
    "type": "object", "additionalProperties": False, "required": ["name", "latitude", "longitude"],
    "properties": {
        "name": {**_non_blank(200), "description": "shown on the lock screen near the store (Apple relevantText)"},
        "latitude": {"type": "number", "minimum": -90, "maximum": 90, "description": "degrees, −90 to 90"},
        "longitude": {"type": "number", "minimum": -180, "maximum": 180, "description": "degrees, −180 to 180"},
        "address": _text(500),
    },
}

STORES = {
    "type": "object", "additionalProperties": False, "required": ["stores"],
    "properties": {"stores": {
        "type": "array", "maxItems": MAX_STORES, "items": STORE,
        "description": f"replaces the program's stores (at most {MAX_STORES}); the passes carry the first "
                       f"{PASS_LOCATIONS} in this order: Apple locations (≤ 10, relevant near them) and Google "
                       "merchantLocations (≤ 10, geofenced notifications) — put the busiest stores first"}},
}

PROGRAM = {
    "type": "object", "additionalProperties": False, "required": ["name", "organization_name"],
    "properties": {
        "benefits": {"type": "array", "maxItems": MAX_BENEFITS, "items": BENEFIT,
                     "description": f"at most {MAX_BENEFITS} program benefits (Google value-added modules, Apple back "
                                    "fields), in display order"},
        "name": _non_blank(200),
        "organization_name": _non_blank(200),
        "tiers": {"type": "array", "maxItems": 20, "items": TIER},
        "points_label": _non_blank(64),
        "locales": {"type": "array", "minItems": 1, "maxItems": len(SUPPORTED_LOCALES), "uniqueItems": True,
                    "items": _locale, "description": "default [\"en\"]"},
        "background_color": _color, "foreground_color": _color, "label_color": _color,
        "terms": _text(5000),
        "time_zone": {**_text(64, min_length=1), "description": "IANA time zone of the program's day, e.g. "
                      "Asia/Taipei (default UTC): campaigns' schedules and quiet hours (422 for an unknown zone)"},
        "quiet_hours": {"oneOf": [{"type": "null"}, {
            "type": "object", "additionalProperties": False, "required": ["start", "end"],
            "properties": {"start": _hhmm, "end": _hhmm}}],
            "description": "no campaign starts between start and end of the program's day (default 21:00–09:00; "
                           "null: none)"},
        "description": {**_text(200), "description": "the member card's description (VoiceOver, lock screen); "
                        "default: the program's name"},
        "how_to_earn": _text(2000), "how_to_redeem": _text(2000),
        "coupon_description": {**_text(200), "description": "a coupon's description; default: its offer's title"},
        **PASS_OPTIONS,
        "texts": {"type": "object", "maxProperties": len(SUPPORTED_LOCALES), "propertyNames": _locale,
                  "description": "locale → translations; each locale must be one of the program's locales, "
                                 "and a tier.<name> key must name one of its tiers (422 otherwise)",
                  "additionalProperties": {
                      "type": "object", "maxProperties": 64, "additionalProperties": _text(2000),
                      "propertyNames": {"type": "string", "pattern": PROGRAM_TEXT_KEY,
                                        "x-detail": "unknown text key; translatable keys are organization_name, "
                                                    "name, points_label, terms, description, how_to_earn, coupon_description, how_to_redeem, tier.<tier name>"}}},
    },
}

_email = {"type": "string", "maxLength": 320, "pattern": EMAIL,
          "x-detail": "{value} does not match an email address: name@domain.tld, without white space"}

_phone = {"type": "string", "maxLength": 32, "pattern": PHONE,
          "description": "an optional + and 6 to 15 digits; spaces, dashes, dots and brackets are dropped when stored",
          "x-detail": "{value} is not a phone number: an optional + and 6 to 15 digits"}
#: A ``src``: walletpass.domain.members.parse_source's rule.
SOURCE = whole(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_SOURCE - 1}}}")
_source = {"type": "string", "maxLength": MAX_SOURCE, "pattern": SOURCE,
           "x-detail": f"{{value}} is not a source: 1–{MAX_SOURCE} characters of A–Z, a–z, 0–9, '.', '_', '-', "
                       "starting with a letter or digit (e.g. flyer-a)"}

_birthday: dict[str, Any] = {
    "type": "string", "format": "date", "pattern": BIRTHDAY,
    "description": "YYYY-MM-DD, a real day of 1900–2099 not after today (422 otherwise): birthday campaigns",
    "x-detail": "{value} is not a birthday YYYY-MM-DD"}

MEMBER: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["name"],
    "properties": {
        "name": _non_blank(200),
        "email": _email,
        "phone": _phone,
        "external_id": _text(200, min_length=1),
        "points": _integer(0, MAX_POINTS),
        "birthday": _birthday,
        "source": {**_source, "description": "where the member came from (a flyer's src, a campaign); default "
                                             "api. Counted in the program's stats"},
    },
}

TRANSACTION = {
    "type": "object", "additionalProperties": False, "required": ["points", "reason"],
    "properties": {
        "points": _integer(-MAX_POINTS, MAX_POINTS, **{"not": {"const": 0}}),
        "reason": _non_blank(200),
    },
}

#: PATCH /programs/{id}: the fields POST takes, each optional; each one given replaces the program's.
PROGRAM_PATCH = {**PROGRAM, "required": [], "minProperties": 1}

#: PATCH /members/{id}: null clears email or external_id.
MEMBER_PATCH = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {
        "name": MEMBER["properties"]["name"],
        "email": {**_email, "type": ["string", "null"]},
        "phone": {**_phone, "type": ["string", "null"]},
        "external_id": {**_text(200, min_length=1), "type": ["string", "null"]},
        "birthday": {**_birthday, "type": ["string", "null"]},
    },
}

_instant: dict[str, Any] = {"type": "string", "format": "date-time", "maxLength": 64, "pattern": INSTANT,
            "description": "RFC 3339 date and time with its zone, e.g. 2026-12-31T23:59:00+08:00; year 1970–9998",
            "x-detail": "{value} is not an RFC 3339 date and time with its zone, e.g. '2026-12-31T23:59:00+08:00' "
                        "(upper-case T and Z, seconds 00–59, year 1970–9998)"}
_offer_texts = {
    "title": _non_blank(200),
    "description": _text(2000),
    "discount": _text(64),
    "terms": _text(5000),
}

OFFER = {
    "type": "object", "additionalProperties": False, "required": ["title"],
    "properties": {
        **_offer_texts,
        "rotating_barcode": {"type": "boolean", "description": "Google Wallet shows the coupon's code with a "
                             "rotating TOTP value (RFC 6238, SHA-1, 30 s, 8 digits; a key per coupon kept by the "
                             "server), so a screenshot of it stops working; Apple passes keep the plain code"},
        "valid_from": _instant,
        "valid_until": {**_instant, "description": _instant["description"] + "; later than valid_from and not "
                                                                              "already past (422 otherwise)"},
        "texts": {"type": "object", "maxProperties": len(SUPPORTED_LOCALES), "propertyNames": _locale,
                  "description": "locale → translations; each locale must be one of the program's locales "
                                 "(422 otherwise)",
                  "additionalProperties": {"type": "object", "additionalProperties": False,
                                           "properties": _offer_texts}},
    },
}

_strings = {"type": "array", "minItems": 1, "maxItems": 1000, "items": _text(200, min_length=1)}
_CONDITIONS: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "description": "conditions that must all hold ({}: everyone)",
    "properties": {
        "tier": {"type": "array", "minItems": 1, "maxItems": 20, "items": _tier_name,
                 "description": "tier names of the offer's program (422 otherwise)"},
        "min_points": _integer(0, MAX_POINTS), "max_points": _integer(0, MAX_POINTS),
        "enrolled_after": _instant, "enrolled_before": _instant,
        "source": {**_strings, "description": "the src the member enrolled from (a flyer, api, …)"},
        "has_coupon": {"oneOf": [{"type": "boolean"}, _integer(1, 2**31 - 1)],
                       "description": "an offer id: holds a coupon of it; true: any coupon; false: none"},
        "birthday_month": _integer(1, 12),
        "installed": {"enum": ["apple", "google", "any", "none"], "description": "where the member card is"},
        "external_ids": _strings,
        "member_ids": {"type": "array", "minItems": 1, "maxItems": 1000, "items": _integer(1, 2**31 - 1),
                       "description": "a list of members (ids of the program's members; others match nobody)"},
    },
}
SEGMENT: dict[str, Any] = {
    "description": "an object of conditions that must all hold, or a list of such objects of which any may hold; "
                   "min_points ≤ max_points and enrolled_after < enrolled_before (422 otherwise)",
    "oneOf": [_CONDITIONS, {"type": "array", "minItems": 1, "maxItems": 20, "items": _CONDITIONS}],
}

COUPONS = {
    "type": "object", "additionalProperties": False,
    "description": "exactly one of member_id (one coupon, 201) or segment (one coupon per member of the segment, 202)",
    "properties": {
        "member_id": {**_integer(1, 2**63 - 1), "description": "a member of the offer's program (422 otherwise); "
                                                               + _INTEGER_NOTE},
        "segment": SEGMENT,
    },
    "oneOf": [{"required": ["member_id"]}, {"required": ["segment"]}],
    "x-field": "member_id",
    "x-detail": "send either member_id (one coupon) or segment (one coupon per member of the segment), not both "
                "and not neither",
}


_message_text = {"type": "string", "minLength": 1, "maxLength": 500, "pattern": NON_BLANK,
                 "x-detail": "must not be blank (white space alone)"}
#: POST /campaigns
_message: dict[str, Any] = {
    "description": "the text (every locale), or {locale: text} for the program's locales (422 for a locale it "
                   "lacks); at most 500 characters",
    "oneOf": [_message_text, {"type": "object", "minProperties": 1, "maxProperties": len(SUPPORTED_LOCALES),
                              "propertyNames": _locale, "additionalProperties": _message_text}]}
CAMPAIGN: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["program_id"],
    "properties": {
        "program_id": _integer(1, 2**31 - 1),
        "name": _text(200),
        "message": {**_message, "description": _message["description"] + "; send message or variants (422 for "
                                                                          "both or neither)"},
        "variants": {
            "type": "array", "minItems": 2, "maxItems": MAX_VARIANTS,
            "description": "A/B test: messages the members are split over, in proportion to their weights, by a "
                           "hash of the campaign and member ids (the same member, the same variant); instead of "
                           "message. Names default to A, B, …, and must differ",
            "items": {"type": "object", "additionalProperties": False, "required": ["message"], "properties": {
                "message": _message, "name": _non_blank(100),
                "weight": _integer(1, MAX_WEIGHT, default=1)}}},
        "holdout": {"type": "number", "minimum": 0, "maximum": MAX_HOLDOUT, "default": 0,
                    "description": "per cent of the segment held out: sent nothing, their passes untouched, "
                                   "counted in the campaign's stats as the control group"},
        "segment": SEGMENT,
        "offer_id": _integer(1, 2**31 - 1),
        "send_at": {**_instant, "description": _instant["description"] + "; not in the past (422 otherwise); "
                                                                          "default now"},
        "ignore_quiet_hours": {"type": "boolean", "description": "start at send_at even inside the program's "
                                                                   "quiet hours (default false: moved to their end)"},
    },
}

_AUTOMATION_RULE: dict[str, Any] = {
    "type": ["object", "null"], "additionalProperties": False,
    "description": "null or absent: off. Gives a coupon of offer_id and/or message (a campaign to the members it "
                   "reached, sent out of the program's quiet hours), at most once per member and period",
    "properties": {
        "enabled": {"type": "boolean", "description": "default true; false keeps the rule but pauses it"},
        "offer_id": {**_integer(1, 2**31 - 1), "description": "an offer of the program that has not ended (422 "
                                                            "otherwise): each member reached gets a coupon of it; "
                                                            + _INTEGER_NOTE},
        "message": CAMPAIGN["properties"]["message"],
        "segment": {**SEGMENT, "description": "only the members in this segment (default {}: everyone); "
                                              + SEGMENT["description"]},
    },
    "anyOf": [{"required": ["offer_id"]}, {"required": ["message"]}],
    "x-detail": "send offer_id (a coupon of it), message, or both",
}
#: PUT /programs/{id}/automations: the program's rules, each replaced (absent or null: off).
AUTOMATIONS: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "birthday": {**_AUTOMATION_RULE, "description": "a daily run at 00:00 of the program's time zone reaches "
                     "the members whose birthday is that day, once a year each (29 February: on 28 February in "
                     "common years). " + _AUTOMATION_RULE["description"]},
        "welcome": {**_AUTOMATION_RULE, "description": "reaches each member on enrolment, once (its message "
                    "waits 5 minutes, for the card to be added to a wallet). " + _AUTOMATION_RULE["description"]},
        "win_back": {**_AUTOMATION_RULE, "required": ["days"],
                     "description": "the daily run reaches the members with no transaction for days days (since "
                                    "their last one, else their enrolment), once per lapse. "
                                    + _AUTOMATION_RULE["description"],
                     "properties": {**_AUTOMATION_RULE["properties"], "days": _integer(1, 730)}},
    },
}


#: POST /webhooks
WEBHOOK: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["url", "events"],
    "properties": {
        "url": {"type": "string", "minLength": 1, "maxLength": 2000,
                "pattern": URL,
                "description": "http(s) URL the events are POSTed to; no user:password, no #fragment; its host must "
                               "be a public address (loopback and private ones only with "
                               "WALLETPASS_WEBHOOKS_ALLOW_PRIVATE=1; link-local and cloud metadata ones never)",
                "x-detail": "{value} is not an http:// or https:// URL with a host, in ASCII (no user:password, no "
                            "#fragment; an internationalised name in its xn-- form)"},
        "events": {"type": "array", "minItems": 1, "maxItems": len(WEBHOOK_EVENTS) + 1, "uniqueItems": True,
                   "items": {"enum": [*WEBHOOK_EVENTS, "*"]},
                   "description": "event types to receive; \"*\": every type, also those added later"},
        "secret": {"type": "string", "minLength": 38, "maxLength": 100,
                   "pattern": whole(r"whsec_[A-Za-z0-9+/]+={0,2}"),
                   "description": "the signing secret, whsec_ and the base64 of 24–64 random bytes; leave it out to "
                                  "get one made and shown once in the answer",
                   "x-detail": "must be whsec_ followed by the base64 of 24 to 64 random bytes"},
    },
}

#: POST /coupons/redeem: the code a till scanned from a coupon (its QR code, its text under it).
REDEEM: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["code"],
    "properties": {"code": {**_text(32, min_length=1), "description": "the coupon's code, as printed under its QR "
                                                                       "code"}},
}

#: POST /api-keys
API_KEY: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["name"],
    "properties": {
        "name": {**_non_blank(100), "description": "who or what uses the key, e.g. pos-taipei-1 (names may repeat)"},
        "scopes": {"type": "array", "minItems": 1, "maxItems": len(SCOPES), "uniqueItems": True,
                   "items": {"type": "string", "enum": list(SCOPES)}, "default": ["admin"],
                   "description": "what the key may do; pos: a till's lookups, member reads, transactions and "
                                  "redeems, nothing else"},
        "programs": {"type": ["array", "null"], "minItems": 1, "maxItems": 1000,
                     "items": _integer(1, 2**31 - 1),
                     "description": "ids of existing programs the key is limited to (422 for one that does not "
                                    "exist); absent or null: every program"},
    },
}
