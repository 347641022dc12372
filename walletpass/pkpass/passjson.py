"""pass.json: serialise, and check everything Wallet would refuse *before* signing (apple.md §2, §5.6).

Every rule raises :class:`~walletpass.errors.InvalidPass` (or :class:`~walletpass.errors.DuplicateFieldKey`)
whose ``field`` is the JSON path of the offending key and whose detail says what to change. Nothing is
dropped or merely warned about: a pass that would not open in Wallet is never signed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeGuard
from urllib.parse import urlsplit

from walletpass.errors import DuplicateFieldKey, InvalidPass
from walletpass.hosts import is_loopback
from walletpass.render.barcodes import NEW_BARCODE_FORMATS as NEW_BARCODE_FORMATS
from walletpass.render.barcodes import barcode_content_problem as barcode_content_problem
from walletpass.render.barcodes import ean13_check_digit as ean13_check_digit

STYLES = ("boardingPass", "coupon", "eventTicket", "generic", "storeCard")
#: iOS 27's poster style for loyalty cards; it comes *beside* one of these styles, which older iOS shows.
POSTER_STYLE = "posterGeneric"
POSTER_FALLBACKS = ("generic", "storeCard")
#: The poster's groups: the usual ones plus one footer field (apple.md, 2024–2026 additions).
POSTER_GROUPS = (*("headerFields", "primaryFields", "secondaryFields", "auxiliaryFields", "backFields",
                  "additionalInfoFields"), "footerFields")
MAX_FEATURED_ACTIONS = 2
FIELD_GROUPS = ("headerFields", "primaryFields", "secondaryFields", "auxiliaryFields", "backFields",
                "additionalInfoFields")
BARCODE_FORMATS = ("PKBarcodeFormatQR", "PKBarcodeFormatPDF417", "PKBarcodeFormatAztec", "PKBarcodeFormatCode128")
_SQUARE_BARCODES = ("PKBarcodeFormatQR", "PKBarcodeFormatAztec")
TRANSIT_TYPES = ("PKTransitTypeAir", "PKTransitTypeBoat", "PKTransitTypeBus", "PKTransitTypeGeneric",
                 "PKTransitTypeTrain")
COLOR_KEYS = ("backgroundColor", "foregroundColor", "labelColor", "footerBackgroundColor")
FLAG_KEYS = ("voided", "sharingProhibited", "suppressStripShine", "suppressHeaderDarkening", "useAutomaticColors")
#: Misspellings Wallet would silently ignore → the key it reads.
_MISSPELT = {"useAutomaticColor": "useAutomaticColors"}
REQUIRED_STRINGS = ("passTypeIdentifier", "serialNumber", "teamIdentifier", "organizationName", "description")
MIN_TOKEN_LENGTH = 16
MAX_LOCATIONS = 10
MAX_BEACONS = 10
REQUIRED_IMAGES = ("icon.png", "icon@2x.png")

_RGB = re.compile(r"^rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$")
_W3C_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
#: Front-of-pass limits (apple.md §2.2): group → (default, boardingPass).
_GROUP_LIMITS = {"headerFields": (3, 3), "primaryFields": (1, 2), "secondaryFields": (4, 4),
                 "auxiliaryFields": (4, 5)}
_DATE_HINT = "use an ISO 8601 date and time with a zone, e.g. '2026-05-01T18:00:00+08:00' or '…Z'"


class Certified(Protocol):
    """What validation needs from the signer: the ids in its certificate (PassSigner has them)."""

    pass_type_identifier: str
    team_identifier: str


# One encoder for every pass: json.dumps with options builds a new JSONEncoder on each call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def dump(pass_json: Mapping[str, Any]) -> bytes:
    """Serialise *pass_json*: UTF-8 without BOM, keys sorted, compact — the same dict gives the same bytes."""
    return _ENCODER.encode(pass_json).encode()


def _is_map(v: object) -> TypeGuard[Mapping[str, Any]]:
    # type() first: isinstance against the Mapping ABC is slow, and this runs for every field of every pass.
    return type(v) is dict or isinstance(v, Mapping)


def _fail(field: str, detail: str) -> InvalidPass:
    return InvalidPass(field, detail)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_date(value: object, field: str) -> None:
    """Raise unless *value* is a W3C timestamp with hours, minutes and a zone (apple.md §2.1)."""
    if not isinstance(value, str) or not _W3C_DATE.match(value):
        raise _fail(field, f"{value!r} is not a date Wallet accepts; {_DATE_HINT}")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(field, f"{value!r} is not a real date; {_DATE_HINT}") from None


def check_color(value: object, field: str) -> None:
    """Raise unless *value* is ``rgb(r, g, b)`` with each part 0–255."""
    m = _RGB.match(value) if isinstance(value, str) else None
    if not m or any(int(p) > 255 for p in m.groups()):
        raise _fail(field, f"{value!r} is not a colour Wallet accepts; write 'rgb(r, g, b)' with r, g, b "
                           "from 0 to 255, e.g. 'rgb(23, 187, 82)'")


def _check_required(p: Mapping[str, Any]) -> None:
    if "formatVersion" not in p:
        raise _fail("formatVersion", "missing; set formatVersion to 1")
    if p["formatVersion"] != 1 or isinstance(p["formatVersion"], bool):
        raise _fail("formatVersion", f"is {p['formatVersion']!r}; it must be the number 1")
    for key in REQUIRED_STRINGS:
        value = p.get(key)
        if value is None:
            raise _fail(key, f"missing; every pass needs {key}")
        if not isinstance(value, str) or not value.strip():
            raise _fail(key, f"must be a non-empty string, got {value!r}")


def _check_style(p: Mapping[str, Any]) -> str:
    present = [s for s in STYLES if s in p]
    if len(present) != 1:
        found = ", ".join(present) or "none"
        if POSTER_STYLE in p and not present:
            raise _fail(POSTER_STYLE, f"a {POSTER_STYLE} pass needs a {' or '.join(POSTER_FALLBACKS)} style beside "
                                      "it: devices before iOS 27 show that one (and no pass at all without it)")
        raise _fail("style", f"a pass needs exactly one style key of {', '.join(STYLES)}; found {found}")
    style = present[0]
    if not _is_map(p[style]):
        raise _fail(style, "must be an object of field groups (headerFields, primaryFields, …)")
    if POSTER_STYLE in p:
        if style not in POSTER_FALLBACKS:
            raise _fail(POSTER_STYLE, f"its fallback for devices before iOS 27 must be {' or '.join(POSTER_FALLBACKS)},"
                                      f" not {style}")
        if not _is_map(p[POSTER_STYLE]):
            raise _fail(POSTER_STYLE, "must be an object of field groups (headerFields, primaryFields, footerFields, …)")
    if style == "boardingPass" and p[style].get("transitType") not in TRANSIT_TYPES:
        raise _fail("boardingPass.transitType", f"required; use one of {', '.join(TRANSIT_TYPES)}")
    return style


def _check_field(f: object, path: str, seen: set[str]) -> None:
    if not _is_map(f):
        raise _fail(path, "each field must be an object with key and value")
    key = f.get("key")
    if not isinstance(key, str) or not key:
        raise _fail(f"{path}.key", "every field needs a non-empty string key")
    if key in seen:
        raise DuplicateFieldKey(key)
    seen.add(key)
    value = f.get("value")
    if not isinstance(value, str) and not _is_number(value):
        raise _fail(f"{path}.value", f"field {key!r} needs a string, number or date value, got {value!r}")
    if isinstance(value, str) and not value.strip():
        raise _fail(f"{path}.value", f"field {key!r} has an empty value; leave the field out when there is "
                                     "nothing to show")
    if "dateStyle" in f or "timeStyle" in f:
        check_date(value, f"{path}.value")
    for text_key in ("label", "attributedValue"):
        if text_key in f and not isinstance(f[text_key], str):
            raise _fail(f"{path}.{text_key}", f"must be a string, got {f[text_key]!r}")
    if "changeMessage" in f and not isinstance(f["changeMessage"], str):
        raise _fail(f"{path}.changeMessage", f"must be a string, got {f['changeMessage']!r}")


def _check_fields(p: Mapping[str, Any], style: str, square_barcode: bool,
                  strings: Mapping[str, Mapping[str, str]] | None) -> None:
    groups = p[style]
    seen: set[str] = set()
    _check_groups(groups, style, FIELD_GROUPS, seen, strings)
    if POSTER_STYLE in p:  # keys unique across the whole pass, the poster's fields included (apple.md §2.3)
        _check_groups(p[POSTER_STYLE], POSTER_STYLE, POSTER_GROUPS, seen, strings)
    if square_barcode and style in ("coupon", "storeCard", "generic"):
        n = len(groups.get("secondaryFields", [])) + len(groups.get("auxiliaryFields", []))
        if n > 4:
            raise _fail(f"{style}.auxiliaryFields", f"{n} secondary + auxiliary fields; with a square barcode "
                                                    f"a {style} shows at most 4 together — move some to backFields")


def _check_groups(groups: Mapping[str, Any], style: str, allowed: tuple[str, ...], seen: set[str],
                  strings: Mapping[str, Mapping[str, str]] | None) -> None:
    for name, fields in groups.items():
        if name == "transitType" and style == "boardingPass":
            continue
        if name not in allowed:
            raise _fail(f"{style}.{name}", f"unknown field group; use {', '.join(allowed)}")
        if not isinstance(fields, list):
            raise _fail(f"{style}.{name}", "must be a list of fields")
        limit = _GROUP_LIMITS.get(name)
        if limit is not None:
            most = limit[1] if style == "boardingPass" else limit[0]
            if len(fields) > most:
                raise _fail(f"{style}.{name}", f"has {len(fields)} fields; {style} shows at most {most}")
        if name == "footerFields" and len(fields) > 1:
            raise _fail(f"{style}.{name}", f"has {len(fields)} fields; a poster shows one footer field")
        for i, f in enumerate(fields):
            _check_field(f, f"{style}.{name}[{i}]", seen)
            if "changeMessage" in f:
                _check_change_message(f["changeMessage"], f"{style}.{name}[{i}].changeMessage", strings)


def _check_change_message(msg: str, path: str, strings: Mapping[str, Mapping[str, str]] | None) -> None:
    """A changeMessage must contain %@ itself, or be a pass.strings key whose every text contains %@.

    Without *strings* a message lacking %@ may still be a key, so only the keyed texts can be checked then.
    """
    if "%@" in msg or strings is None:
        return
    texts = [(locale, table[msg]) for locale, table in sorted((strings or {}).items()) if msg in table]
    if not texts:
        raise _fail(path, f"{msg!r} has no %@; write a message containing %@ (the new value), or a "
                          "pass.strings key whose texts contain %@")
    for locale, text in texts:
        if "%@" not in text:
            raise _fail(path, f"{locale}.lproj/pass.strings gives {msg!r} = {text!r}; the text must contain %@")


def _check_barcode(path: str, b: object, formats: tuple[str, ...]) -> None:
    if not _is_map(b):
        raise _fail(path, "must be an object with format, message and messageEncoding")
    fmt = b.get("format")
    if fmt not in formats:
        raise _fail(f"{path}.format", f"{fmt!r} is not supported; use one of {', '.join(formats)}")
    msg, enc = b.get("message"), b.get("messageEncoding")
    if not isinstance(msg, str) or not msg:
        raise _fail(f"{path}.message", "required: the text the barcode encodes")
    if not isinstance(enc, str) or not enc:
        raise _fail(f"{path}.messageEncoding", "required: an IANA charset name such as 'iso-8859-1'")
    try:
        msg.encode(enc)
    except LookupError:
        raise _fail(f"{path}.messageEncoding", f"unknown charset {enc!r}; use 'iso-8859-1' or 'utf-8'") from None
    except UnicodeEncodeError:
        raise _fail(f"{path}.message", f"{msg!r} cannot be encoded as {enc}; use messageEncoding 'utf-8' "
                                       "or an ASCII message") from None
    if fmt in NEW_BARCODE_FORMATS:
        problem = barcode_content_problem(str(fmt), msg)
        if problem:
            raise _fail(f"{path}.message", problem)
    if "altText" in b and not isinstance(b["altText"], str):
        raise _fail(f"{path}.altText", "must be a string")


def _check_barcodes(p: Mapping[str, Any]) -> bool:
    """Check ``barcodes`` (and the deprecated ``barcode``); return True when one older iOS shows is square.

    The iOS 27 1-D formats are accepted in ``barcodes`` only beside a format older iOS draws (else those devices
    show no barcode); the deprecated ``barcode`` (read before iOS 9) takes the old formats only.
    """
    shown: list[object] = []
    if "barcodes" in p:
        if not isinstance(p["barcodes"], list) or not p["barcodes"]:
            raise _fail("barcodes", "must be a non-empty list of barcode objects; or leave barcodes out")
        entries = p["barcodes"]
        has_old = any(_is_map(b) and b.get("format") in BARCODE_FORMATS for b in entries)
        for i, b in enumerate(entries):
            if _is_map(b) and b.get("format") in NEW_BARCODE_FORMATS and not has_old:
                raise _fail(f"barcodes[{i}].format", f"{b.get('format')!r} shows only on iOS 27 and later; also "
                                                     f"list one older iOS shows — use one of "
                                                     f"{', '.join(BARCODE_FORMATS)} (e.g. a QR code after it)")
            _check_barcode(f"barcodes[{i}]", b, BARCODE_FORMATS + NEW_BARCODE_FORMATS)
        shown += [b for b in entries if b.get("format") in BARCODE_FORMATS]
    if "barcode" in p:
        _check_barcode("barcode", p["barcode"], BARCODE_FORMATS)
        shown.append(p["barcode"])
    return any(_is_map(b) and b.get("format") in _SQUARE_BARCODES for b in shown[:1])


def _check_web_service(p: Mapping[str, Any]) -> None:
    url, token = p.get("webServiceURL"), p.get("authenticationToken")
    if url is None and token is None:
        return
    if url is None:
        raise _fail("webServiceURL", "authenticationToken is set but webServiceURL is not; set both or neither")
    if token is None:
        raise _fail("authenticationToken", "webServiceURL is set but authenticationToken is not; set both or neither")
    if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
        raise _fail("authenticationToken", f"must be a string of at least {MIN_TOKEN_LENGTH} characters")
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
    except ValueError:  # a bracketed host that is no IPv6 address: refused below, not a crash of the doctor
        parts = None
    host = (parts.hostname or "") if parts else ""
    if parts is None or parts.scheme not in ("https", "http") or not host:
        raise _fail("webServiceURL", f"{url!r} is not an https URL; use e.g. 'https://passes.example.com/'")
    if parts.scheme == "http" and not is_loopback(host):
        raise _fail("webServiceURL", f"{url!r} uses http; Wallet needs https (http only for a loopback host "
                                     "while testing)")


def _check_relevance(p: Mapping[str, Any]) -> None:
    for key, most in (("locations", MAX_LOCATIONS), ("beacons", MAX_BEACONS)):
        items = p.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise _fail(key, "must be a list")
        if len(items) > most:
            raise _fail(key, f"has {len(items)} entries; Wallet uses at most {most} — keep the {most} most useful")
        for i, item in enumerate(items):
            if not _is_map(item):
                raise _fail(f"{key}[{i}]", "must be an object")
            needed = ("latitude", "longitude") if key == "locations" else ()
            for k in needed:
                if not _is_number(item.get(k)):
                    raise _fail(f"{key}[{i}].{k}", "required: a number in degrees")
            if key == "beacons" and not isinstance(item.get("proximityUUID"), str):
                raise _fail(f"{key}[{i}].proximityUUID", "required: the beacon's UUID string")
    for key in ("expirationDate", "relevantDate"):
        if key in p:
            check_date(p[key], key)
    dates = p.get("relevantDates")
    if dates is not None:
        if not isinstance(dates, list) or not dates:
            raise _fail("relevantDates", "must be a non-empty list of {date} or {startDate, endDate} objects; "
                                         "or leave relevantDates out")
        for i, entry in enumerate(dates):
            _check_relevant_date(entry, f"relevantDates[{i}]")


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _check_relevant_date(entry: object, path: str) -> None:
    """One entry of ``relevantDates`` (iOS 18, apple.md §2.1): ``{date}`` or ``{startDate, endDate}``."""
    if not _is_map(entry):
        raise _fail(path, "must be an object {date} or {startDate, endDate}")
    keys = set(entry)
    if keys not in ({"date"}, {"startDate", "endDate"}):
        raise _fail(path, f"has the keys {', '.join(sorted(keys)) or 'none'}; give either date, or startDate "
                          "and endDate")
    for k in sorted(keys):
        check_date(entry[k], f"{path}.{k}")
    if "startDate" in keys and _instant(entry["startDate"]) > _instant(entry["endDate"]):
        raise _fail(f"{path}.endDate", f"{entry['endDate']!r} is before startDate {entry['startDate']!r}; the "
                                       "window must end after it starts")


def _check_featured_actions(p: Mapping[str, Any]) -> None:
    """``featuredActions`` (iOS 27): up to two ``{identifier, type, url}`` with distinct identifiers."""
    actions = p.get("featuredActions")
    if actions is None:
        return
    if not isinstance(actions, list) or not actions:
        raise _fail("featuredActions", "must be a non-empty list of {identifier, type, url}; or leave it out")
    if len(actions) > MAX_FEATURED_ACTIONS:
        raise _fail("featuredActions", f"has {len(actions)} actions; Wallet features at most "
                                       f"{MAX_FEATURED_ACTIONS}")
    ids: set[str] = set()
    for i, a in enumerate(actions):
        path = f"featuredActions[{i}]"
        if not _is_map(a):
            raise _fail(path, "must be an object {identifier, type, url}")
        for k in ("identifier", "type"):
            if not isinstance(a.get(k), str) or not a[k].strip():
                raise _fail(f"{path}.{k}", "required: a non-empty string (e.g. type 'membershipBenefits')")
        if a["identifier"] in ids:
            raise _fail(f"{path}.identifier", f"{a['identifier']!r} is used by another action; identifiers "
                                              "must be unique")
        ids.add(a["identifier"])
        url = a.get("url")
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
        except ValueError:  # e.g. a bracketed host that is no IPv6 address
            parts = None
        if parts is None or parts.scheme != "https" or not parts.hostname:
            raise _fail(f"{path}.url", f"{url!r} is not an https URL; use e.g. 'https://example.com/benefits'")
        extra = set(a) - {"identifier", "type", "url"}
        if extra:
            raise _fail(f"{path}.{sorted(extra)[0]}", "unknown key; an action has identifier, type and url")


def _check_flags(p: Mapping[str, Any]) -> None:
    for key in FLAG_KEYS:
        if key in p and not isinstance(p[key], bool):
            raise _fail(key, f"must be true or false, got {p[key]!r}")
    for key, meant in _MISSPELT.items():
        if key in p:
            raise _fail(key, f"Wallet ignores {key}; the key is {meant}")
    for key in COLOR_KEYS:
        if key in p:
            check_color(p[key], key)


def check_certificate_match(p: Mapping[str, Any], signer: Certified) -> None:
    """Raise unless the pass's ids are the ones in the signing certificate (apple.md §1.4, §5.6 #1)."""
    if p.get("passTypeIdentifier") != signer.pass_type_identifier:
        raise _fail("passTypeIdentifier", f"{p.get('passTypeIdentifier')!r} does not match the signing "
                                          f"certificate's UID {signer.pass_type_identifier!r}; sign with the "
                                          "certificate of this pass type")
    if p.get("teamIdentifier") != signer.team_identifier:
        raise _fail("teamIdentifier", f"{p.get('teamIdentifier')!r} does not match the signing certificate's "
                                      f"OU {signer.team_identifier!r}; set WALLETPASS_TEAM_ID to the "
                                      "certificate's team")


def check_files(files: Collection[str]) -> None:
    """Raise unless the required images are among *files* (apple.md §2.9: no icon, no pass)."""
    for name in REQUIRED_IMAGES:
        if name not in files:
            raise _fail(name, f"missing; every pass needs {', '.join(REQUIRED_IMAGES)} (give the template or "
                              "program an icon image)")


def check_localizations(strings: Mapping[str, Mapping[str, str]]) -> None:
    """Raise unless every ``<locale>.lproj/pass.strings`` has the same keys (apple.md §2.10)."""
    tables = sorted(strings.items())
    if not tables:
        return
    first_locale, first = tables[0]
    keys = set(first)
    for locale, table in tables[1:]:
        other = set(table)
        if other != keys:
            missing = sorted(keys - other) or sorted(other - keys)
            where = locale if keys - other else first_locale
            raise _fail(f"{where}.lproj/pass.strings", f"lacks the keys {', '.join(missing)}; every "
                                                       "pass.strings must have the same keys")


def validate(pass_json: Mapping[str, Any], *, signer: Certified | None = None, files: Collection[str] | None = None,
             strings: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """Raise InvalidPass for the first problem that would stop Wallet opening the pass.

    *signer* checks the ids against its certificate, *files* checks the required images, *strings*
    (locale → pass.strings table) checks that every locale has the same keys.
    """
    if not _is_map(pass_json):
        raise _fail("pass.json", "must be a JSON object")
    _check_required(pass_json)
    style = _check_style(pass_json)
    square = _check_barcodes(pass_json)
    _check_fields(pass_json, style, square, strings)
    _check_flags(pass_json)
    _check_web_service(pass_json)
    _check_relevance(pass_json)
    _check_featured_actions(pass_json)
    if signer is not None:
        check_certificate_match(pass_json, signer)
    if files is not None:
        check_files(files)
    if strings is not None:
        check_localizations(strings)


def problems(pass_json: object, *, files: Collection[str] | None = None,
             strings: Mapping[str, Mapping[str, str]] | None = None) -> list[InvalidPass]:
    """Every rule of :func:`validate` that *pass_json* breaks, not only the first (``walletpass doctor``).

    Each group of rules runs on its own, so a bad colour does not hide a short authenticationToken. The field
    rules need a valid style; they are skipped (the style problem is reported) when there is none.
    """
    if not _is_map(pass_json):
        return [_fail("pass.json", "must be a JSON object")]
    p = pass_json
    found: list[InvalidPass] = []

    def run(check: Callable[[], object]) -> object:
        try:
            return check()
        except InvalidPass as exc:
            found.append(exc)
            return None

    run(lambda: _check_required(p))
    style = run(lambda: _check_style(p))
    square = run(lambda: _check_barcodes(p))
    if isinstance(style, str):
        run(lambda: _check_fields(p, style, bool(square), strings))
    run(lambda: _check_flags(p))
    run(lambda: _check_web_service(p))
    run(lambda: _check_relevance(p))
    run(lambda: _check_featured_actions(p))
    if files is not None:
        run(lambda: check_files(files))
    if strings is not None:
        run(lambda: check_localizations(strings))
    return found
