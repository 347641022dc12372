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
