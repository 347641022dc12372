"""Google's walletobjects v1 discovery document as JSON Schema (google.md §5.2) — one converter for all users.

The discovery document ships inside google-api-python-client (``discovery_cache/documents/walletobjects.v1.json``),
so validation needs no network. Discovery has no ``required`` and no ``additionalProperties``; the recipe is:

- every schema becomes ``{"type": "object", "properties": …, "additionalProperties": false}``;
- properties whose description starts with ``"Required."`` are required (dropped for PATCH bodies);
- ``int64``/``uint64`` strings accept a decimal string or an integer (proto3 JSON accepts both);
- ``strict=True`` also drops what we must never *send*: deprecated fields, deprecated enum aliases
  (``qrCode``, ``active`` …) and platform-set read-only fields (``hasUsers``, ``classReference`` …).
  Google itself still accepts the deprecated ones, so the fake server validates with ``strict=False``.

Cross-field rules that discovery cannot express live in :func:`lint` (google.md §5.2 "hand-code").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache, lru_cache
from typing import Any

from jsonschema import Draft202012Validator

#: Platform-set fields: Google fills them in answers; they are not ours to send (google.md §2.2).
READ_ONLY_FIELDS = frozenset({"hasUsers", "hasLinkedDevice", "classReference", "review"})

#: Our resource kinds → discovery schema names.
RESOURCE_SCHEMAS = {
    ("loyalty", "class"): "LoyaltyClass",
    ("loyalty", "object"): "LoyaltyObject",
    ("offer", "class"): "OfferClass",
    ("offer", "object"): "OfferObject",
}

_ID = re.compile(r"^\d+\.[A-Za-z0-9._-]+$")
_MODULE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_HEX = re.compile(r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


@lru_cache(maxsize=1)
def discovery_document() -> dict[str, Any]:
    """Return the bundled walletobjects v1 discovery document (parsed once)."""
    from googleapiclient.discovery_cache import get_static_doc

    text = get_static_doc("walletobjects", "v1")
    if text is None:  # pragma: no cover - only with google-api-python-client < 2.110
        raise RuntimeError("google-api-python-client >= 2.110 is needed for the walletobjects discovery document")
    doc: dict[str, Any] = json.loads(text)
    return doc


def _convert_property(prop: Mapping[str, Any], strict: bool) -> dict[str, Any]:
    if "$ref" in prop:
        return {"$ref": f"#/$defs/{prop['$ref']}"}
    kind = prop.get("type")
    if kind == "array":
        return {"type": "array", "items": _convert_property(prop["items"], strict)}
    if kind == "string":
        if "enum" in prop:
            values = prop["enum"]
            if strict:
                flags = prop.get("enumDeprecated", [False] * len(values))
                values = [v for v, old in zip(values, flags, strict=False) if not old]
            return {"type": "string", "enum": list(values)}
        if prop.get("format") in {"int64", "uint64"}:
            return {"type": ["string", "integer"], "pattern": r"^-?\d+$"}
        return {"type": "string"}
    if kind == "object":  # map-typed properties (additionalProperties in discovery)
        out: dict[str, Any] = {"type": "object"}
        if "additionalProperties" in prop:
            out["additionalProperties"] = _convert_property(prop["additionalProperties"], strict)
        return out
    if kind in {"integer", "number", "boolean"}:
        return {"type": kind}
    return {}


def _convert_schema(schema: Mapping[str, Any], *, strict: bool, partial: bool) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, prop in schema.get("properties", {}).items():
        if strict and (prop.get("deprecated") or name in READ_ONLY_FIELDS):
            continue
        props[name] = _convert_property(prop, strict)
        if prop.get("description", "").startswith("Required"):
            required.append(name)
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required and not partial:
        out["required"] = sorted(required)
    return out


@cache
def _defs(strict: bool, partial: bool) -> dict[str, Any]:
    schemas = discovery_document()["schemas"]
    return {name: _convert_schema(s, strict=strict, partial=partial) for name, s in schemas.items()}


def json_schema(name: str, *, strict: bool = False, partial: bool = False) -> dict[str, Any]:
    """Return a Draft 2020-12 JSON Schema for discovery schema *name* (e.g. ``"LoyaltyObject"``).

    *partial* drops every ``required`` list (PATCH bodies); *strict* drops deprecated and read-only parts.
    """
    defs = _defs(strict, partial)
    if name not in defs:
        raise KeyError(f"no schema {name!r} in walletobjects v1")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": defs, "$ref": f"#/$defs/{name}"}


@cache
def validator(name: str, *, strict: bool = False, partial: bool = False) -> Draft202012Validator:
    """Return a cached validator for discovery schema *name*."""
    return Draft202012Validator(json_schema(name, strict=strict, partial=partial))


def errors(name: str, body: Any, *, strict: bool = False, partial: bool = False) -> list[str]:
    """Return readable schema violations of *body* against *name* (empty = valid), best first."""
    found = sorted(validator(name, strict=strict, partial=partial).iter_errors(body), key=lambda e: list(e.path))
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in found]


def lint(name: str, body: Mapping[str, Any]) -> list[str]:
    """Return violations of the cross-field rules that discovery cannot express (google.md §5.2)."""
    return list(_lint(name, body))


def _lint(name: str, body: Mapping[str, Any]) -> Iterator[str]:
    for key in ("id", "classId"):
        if key in body and not _ID.match(str(body[key])):
            yield f"{key}: {body[key]!r} is not <numeric issuer id>.<[A-Za-z0-9._-]+>"
    if "id" in body and "classId" in body and str(body["id"]).split(".")[0] != str(body["classId"]).split(".")[0]:
        yield "classId: issuer prefix differs from the object's"
    color = body.get("hexBackgroundColor")
    if color is not None and not _HEX.match(str(color)):
        yield f"hexBackgroundColor: {color!r} is not #rgb or #rrggbb"
    for i, module in enumerate(body.get("textModulesData", ())):
        if "id" in module and not _MODULE_ID.match(str(module["id"])):
            yield f"textModulesData.{i}.id: {module['id']!r} may only hold [A-Za-z0-9_-]"
    for path, image in _images(body):
        if ("sourceUri" in image) == ("privateImageId" in image):
            yield f"{path}: exactly one of sourceUri and privateImageId"
        uri = image.get("sourceUri", {}).get("uri", "")
        if "sourceUri" in image and "://" not in uri:
            yield f"{path}.sourceUri.uri: {uri!r} has no scheme"
    for key in ("loyaltyPoints", "secondaryLoyaltyPoints"):
        if key in body:
            balance = body[key].get("balance")
            if not isinstance(balance, Mapping) or len(balance) != 1:
                yield f"{key}.balance: required, with exactly one of string/int/double/money"
    barcode = body.get("barcode")
    if isinstance(barcode, Mapping) and barcode.get("type") == "TEXT_ONLY" and "alternateText" in barcode:
        yield "barcode.alternateText: not allowed with TEXT_ONLY"
    for key, cap in (("messages", 10), ("merchantLocations", 10), ("valueAddedModuleData", 15)):
        if len(body.get(key, ())) > cap:
            yield f"{key}: at most {cap} entries"
    for i, where in enumerate(body.get("merchantLocations", ())):  # DISCO MerchantLocation: "will be rejected"
        for axis, most in (("latitude", 90.0), ("longitude", 180.0)):
            value = where.get(axis)
            if not isinstance(value, int | float) or not -most <= value <= most:
                yield f"merchantLocations.{i}.{axis}: {value!r} is not within ±{most:g}"
    for i, module in enumerate(body.get("valueAddedModuleData", ())):  # DISCO: "Required fields are header and uri"
        for key in ("header", "uri"):
            if not module.get(key):
                yield f"valueAddedModuleData.{i}.{key}: required"
    for i, linked in enumerate(body.get("linkedObjectIds", ())):
        if not _ID.match(str(linked)):
            yield f"linkedObjectIds.{i}: {linked!r} is not <numeric issuer id>.<[A-Za-z0-9._-]+>"
    yield from _lint_rotating(body.get("rotatingBarcode"))


#: RotatingBarcode.type values DISCO marks "Supported for Rotating Barcodes".
ROTATING_TYPES = frozenset({"QR_CODE", "PDF_417"})
_HEX_KEY = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")


def _lint_rotating(rotating: Any) -> Iterator[str]:
    if not isinstance(rotating, Mapping):
        return
    if rotating.get("type") not in ROTATING_TYPES:
        yield f"rotatingBarcode.type: {rotating.get('type')!r} is not supported for rotating barcodes"
    totp = rotating.get("totpDetails")
    if not isinstance(totp, Mapping):
        return
    parameters = totp.get("parameters") or []
    for i, p in enumerate(parameters):
        if not _HEX_KEY.match(str(p.get("key", ""))):
            yield f"rotatingBarcode.totpDetails.parameters.{i}.key: not a Base16 string"
    used = {int(n) for n in re.findall(r"\{totp_value_(\d+)\}", str(rotating.get("valuePattern", "")))}
    if used and max(used) >= len(parameters):
        yield "rotatingBarcode.valuePattern: a {totp_value_n} without its totpDetails.parameters[n]"


def _images(body: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key in ("programLogo", "wideProgramLogo", "heroImage", "titleImage", "wideTitleImage"):
        if isinstance(body.get(key), Mapping):
            yield key, body[key]
    for i, module in enumerate(body.get("imageModulesData", ())):
        if isinstance(module.get("mainImage"), Mapping):
            yield f"imageModulesData.{i}.mainImage", module["mainImage"]
