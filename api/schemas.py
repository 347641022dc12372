"""JSON Schemas of the marketer API request bodies (also published in /api/v1/openapi.json)."""

from __future__ import annotations

from walletpass.domain.members import MAX_POINTS
from walletpass.domain.programs import SUPPORTED_LOCALES

_color = {"type": "string", "maxLength": 32, "description": "rgb(r, g, b) or #rrggbb"}
_text = {"type": "string", "maxLength": 2000}

TIER = {
    "type": "object", "additionalProperties": False, "required": ["name", "min_points"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 64},
        "min_points": {"type": "integer", "minimum": 0, "maximum": MAX_POINTS},
        "background_color": _color, "foreground_color": _color, "label_color": _color,
    },
}

PROGRAM = {
    "type": "object", "additionalProperties": False, "required": ["name", "organization_name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "organization_name": {"type": "string", "minLength": 1, "maxLength": 200},
        "tiers": {"type": "array", "maxItems": 20, "items": TIER},
        "points_label": {"type": "string", "minLength": 1, "maxLength": 64},
        "locales": {"type": "array", "minItems": 1, "maxItems": len(SUPPORTED_LOCALES), "uniqueItems": True,
                    "items": {"type": "string", "enum": list(SUPPORTED_LOCALES)}},
        "background_color": _color, "foreground_color": _color, "label_color": _color,
        "terms": {"type": "string", "maxLength": 5000},
        "description": {"type": "string", "maxLength": 200, "description": "the member card's description "
                        "(VoiceOver, lock screen); default: the program's name"},
        "how_to_earn": _text, "how_to_redeem": _text,
        "coupon_description": {"type": "string", "maxLength": 200, "description": "a coupon's description; "
                               "default: its offer's title"},
        "texts": {"type": "object", "maxProperties": len(SUPPORTED_LOCALES),
                  "additionalProperties": {"type": "object", "maxProperties": 64,
                                           "additionalProperties": _text}},
    },
}

MEMBER = {
    "type": "object", "additionalProperties": False, "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "email": {"type": "string", "maxLength": 320, "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"},
        "external_id": {"type": "string", "minLength": 1, "maxLength": 200},
        "points": {"type": "integer", "minimum": 0, "maximum": MAX_POINTS},
    },
}

TRANSACTION = {
    "type": "object", "additionalProperties": False, "required": ["points", "reason"],
    "properties": {
        "points": {"type": "integer", "minimum": -MAX_POINTS, "maximum": MAX_POINTS, "not": {"const": 0}},
        "reason": {"type": "string", "minLength": 1, "maxLength": 200},
    },
}

#: PATCH /programs/{id}: the fields POST takes, each optional; each one given replaces the program's.
PROGRAM_PATCH = {**PROGRAM, "required": [], "minProperties": 1}

#: PATCH /members/{id}: null clears email or external_id.
MEMBER_PATCH = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {
        "name": MEMBER["properties"]["name"],
        "email": {"type": ["string", "null"], "maxLength": 320, "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"},
        "external_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 200},
    },
}

_instant = {"type": "string", "maxLength": 64, "description": "ISO 8601 date and time with its zone, e.g. "
            "2026-12-31T23:59:00+08:00"}
_offer_texts = {
    "title": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": {"type": "string", "maxLength": 2000},
    "discount": {"type": "string", "maxLength": 64},
    "terms": {"type": "string", "maxLength": 5000},
}

OFFER = {
    "type": "object", "additionalProperties": False, "required": ["title"],
    "properties": {
        **_offer_texts,
        "valid_from": _instant, "valid_until": _instant,
        "texts": {"type": "object", "maxProperties": len(SUPPORTED_LOCALES),
                  "additionalProperties": {"type": "object", "additionalProperties": False,
                                           "properties": _offer_texts}},
    },
}

SEGMENT = {
    "type": "object", "additionalProperties": False,
    "description": "members in one of the tiers (when given) with at least min_points (when given); {}: everyone",
    "properties": {
        "tier": {"type": "array", "minItems": 1, "maxItems": 20, "items": TIER["properties"]["name"]},
        "min_points": {"type": "integer", "minimum": 0, "maximum": MAX_POINTS},
    },
}

COUPONS = {
    "type": "object", "additionalProperties": False,
    "description": "exactly one of member_id (one coupon, 201) or segment (one coupon per member of the segment, 202)",
    "properties": {
        "member_id": {"type": "integer", "minimum": 1},
        "segment": SEGMENT,
    },
}
