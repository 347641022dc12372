"""Loyalty programs: design (colours, tiers, texts in several locales) and its rules."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from walletpass.errors import InvalidInput

SUPPORTED_LOCALES = ("en", "zh-Hant", "zh-Hans")

#: The texts a program writes on its passes besides its name, organization name, points label and terms (which
#: have columns of their own): ``description`` (the member card's description, read by VoiceOver and shown on the
#: lock screen), ``how_to_earn`` (member card, back), ``coupon_description`` (a coupon's description),
#: ``how_to_redeem`` (coupon, back). A program without one leaves it off its passes.
PASS_TEXTS = ("description", "how_to_earn", "coupon_description", "how_to_redeem")
#: The key of ``Program.texts`` that holds the program's own (untranslated) ``PASS_TEXTS``: stored in the
#: texts JSON beside the translations, as no locale is ever named "*".
OWN_TEXTS = "*"

_RGB = re.compile(r"^rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$")
_HEX = re.compile(r"^#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def parse_color(value: object, field_name: str = "color") -> str:
    """Return *value* as Apple's ``rgb(r, g, b)``; accepts ``rgb(...)`` or ``#rrggbb``/``#rgb``."""
    if not isinstance(value, str):
        raise InvalidInput(field_name, "must be a string like 'rgb(23, 187, 82)' or '#17bb52'")
    text = value.strip()
    m = _RGB.match(text)
    if m:
        parts = [int(g) for g in m.groups()]
        if any(p > 255 for p in parts):
            raise InvalidInput(field_name, f"{value!r}: each of r, g, b must be 0–255")
        return "rgb({}, {}, {})".format(*parts)
    m = _HEX.match(text)
    if m:
        h = m.group(1)
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        return f"rgb({int(h[0:2], 16)}, {int(h[2:4], 16)}, {int(h[4:6], 16)})"
    raise InvalidInput(field_name, f"{value!r} is not a colour; use 'rgb(r, g, b)' or '#rrggbb'")


def color_to_hex(rgb: str) -> str:
    """``rgb(1, 2, 3)`` → ``#010203`` (Google's ``hexBackgroundColor``)."""
    m = _RGB.match(rgb)
    if not m:
        raise InvalidInput("color", f"{rgb!r} is not rgb(r, g, b)")
    return "#" + "".join(f"{int(g):02x}" for g in m.groups())


#: ``member_card_style``: the classic store card, or iOS 27's poster (which carries the store card as its fallback).
MEMBER_CARD_STYLES = ("storeCard", "posterGeneric")
#: ``barcode_format`` → Apple's iOS 27 1-D format (None: QR alone). A 1-D code comes first, the QR after it.
BARCODE_CHOICES: Mapping[str, str | None] = {
    "qr": None, "ean13": "PKBarcodeFormatEAN13", "code39": "PKBarcodeFormatCode39",
    "codabar": "PKBarcodeFormatCodabar", "itf": "PKBarcodeFormatI2of5",
}


@dataclass(frozen=True, slots=True)
class PassOptions:
    """A program's choices among Apple's 2024–2026 pass keys; the defaults add none of them (apple.md, 2024–2026).

    ``member_card_style`` posterGeneric gives member cards iOS 27's poster beside the store card;
    ``footer_background_color`` and ``use_automatic_colors`` are iOS 18's poster colours (member cards);
    ``benefits_url`` becomes the card's featured "membership benefits" action; ``barcode_format`` puts a 1-D code
    for the till before the QR code; ``coupon_relevant_dates`` gives coupons their offer's validity window as
    ``relevantDates`` (and ``relevantDate`` for older iOS); ``coupon_sharing_prohibited`` hides coupons' Share
    button (a coupon is redeemed once).
    """

    member_card_style: str = "storeCard"
    footer_background_color: str | None = None
    use_automatic_colors: bool = False
    benefits_url: str | None = None
    barcode_format: str = "qr"
    coupon_relevant_dates: bool = False
    coupon_sharing_prohibited: bool = False

    def as_json(self) -> dict[str, Any]:
        """Every option by name (the API's view)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def stored(self) -> dict[str, Any] | None:
        """The options that differ from the defaults (what the program row keeps); None when none do."""
        default = PassOptions()
        out = {k: v for k, v in self.as_json().items() if getattr(default, k) != v}
        return out or None


PASS_OPTION_NAMES = tuple(f.name for f in fields(PassOptions))


def parse_https_url(value: object, field_name: str) -> str:
    """An absolute https URL of at most 2,000 characters (what Wallet opens from a pass)."""
    text = value.strip() if isinstance(value, str) else None
    try:
        parts = urlsplit(text) if text else None
    except ValueError:  # e.g. a bracketed host that is no IPv6 address
        parts = None
    if text is None or parts is None or parts.scheme != "https" or not parts.hostname or len(text) > 2000:
        raise InvalidInput(field_name, f"{value!r} is not an https URL; use e.g. 'https://example.com/benefits'")
    return text


def parse_pass_options(raw: Mapping[str, Any] | None) -> PassOptions:
    """PassOptions from API fields or a stored dict (missing: default); InvalidInput names a bad one."""
    raw = raw or {}
    unknown = sorted(set(raw) - set(PASS_OPTION_NAMES))
    if unknown:
        raise InvalidInput(unknown[0], f"unknown pass option; use {', '.join(PASS_OPTION_NAMES)}")
    opts = PassOptions()
    values: dict[str, Any] = {}
    style = raw.get("member_card_style", opts.member_card_style)
    if style not in MEMBER_CARD_STYLES:
        raise InvalidInput("member_card_style", f"{style!r} is not a style; use one of {', '.join(MEMBER_CARD_STYLES)}")
    values["member_card_style"] = style
    barcode = raw.get("barcode_format", opts.barcode_format)
    if barcode not in BARCODE_CHOICES:
        raise InvalidInput("barcode_format", f"{barcode!r} is not a barcode format; use one of "
                                             f"{', '.join(BARCODE_CHOICES)}")
    values["barcode_format"] = barcode
    color = raw.get("footer_background_color")
    values["footer_background_color"] = None if color is None else parse_color(color, "footer_background_color")
    url = raw.get("benefits_url")
    values["benefits_url"] = None if url is None else parse_https_url(url, "benefits_url")
    for flag in ("use_automatic_colors", "coupon_relevant_dates", "coupon_sharing_prohibited"):
        value = raw.get(flag, False)
        if not isinstance(value, bool):
            raise InvalidInput(flag, f"must be true or false, got {value!r}")
        values[flag] = value
    return PassOptions(**values)


@dataclass(frozen=True, slots=True)
class Tier:
    """A tier reached at ``min_points``; optional colours override the program's."""

    name: str
    min_points: int
    background_color: str | None = None
    foreground_color: str | None = None
    label_color: str | None = None


#: At most this many benefits a program shows (Google: value-added modules, "Maximum of fifteen"; ours: 10).
MAX_BENEFITS = 10
#: Google's ValueAddedModuleData limits: "Character limit is 60" (header) and 50 (body), longer ones truncated.
BENEFIT_HEADER_MAX, BENEFIT_BODY_MAX = 60, 50
#: At most this many stores a program keeps; the passes show the first :data:`PASS_LOCATIONS` of them.
MAX_STORES = 100
#: Google ``merchantLocations``: "a maximum of ten … Any additional … will be rejected"; Apple ``locations``: ≤ 10.
PASS_LOCATIONS = 10


@dataclass(frozen=True, slots=True)
class Benefit:
    """A program benefit: a Google value-added module (header, body, link) and an Apple back field."""

    header: str
    body: str = ""
    uri: str | None = None


@dataclass(frozen=True, slots=True)
class Store:
    """A store of a program, in degrees (WGS 84): passes become relevant near it."""

    name: str
    latitude: float
    longitude: float
    address: str | None = None


def check_store(store: Store, field_name: str = "store") -> Store:
    """*store* if its coordinates are in range (latitude −90…90, longitude −180…180, as Google and Apple take)."""
    if not -90.0 <= store.latitude <= 90.0:
        raise InvalidInput(f"{field_name}.latitude", f"{store.latitude} is not a latitude: use −90 to 90 degrees")
    if not -180.0 <= store.longitude <= 180.0:
        raise InvalidInput(f"{field_name}.longitude",
                           f"{store.longitude} is not a longitude: use −180 to 180 degrees")
    if not store.name.strip():
        raise InvalidInput(f"{field_name}.name", "must not be blank")
    return store


@dataclass(frozen=True, slots=True)
class Program:
    """A loyalty program as designed by the marketer.

    ``texts`` maps a locale to translations of the program's own strings (``organization_name``, ``name``,
    ``points_label``, ``terms``, tier names as ``tier.<name>``, and the :data:`PASS_TEXTS`); under
    :data:`OWN_TEXTS` it holds the program's own text of each of the :data:`PASS_TEXTS` it has.
    """

    id: int
    name: str
    organization_name: str
    background_color: str = "rgb(60, 65, 76)"
    foreground_color: str = "rgb(255, 255, 255)"
    label_color: str = "rgb(200, 200, 200)"
    points_label: str = "Points"
    tiers: tuple[Tier, ...] = ()
    locales: tuple[str, ...] = ("en",)
    terms: str = ""
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    updated_at: datetime | None = None
    version: int = 1
    #: IANA time zone of the program's day; quiet hours as (start, end) "HH:MM" (None: none)
    time_zone: str = "UTC"
    quiet_hours: tuple[str, str] | None = ("21:00", "09:00")
    #: Apple's 2024–2026 keys the program's passes use (none by default)
    pass_options: PassOptions = PassOptions()
    benefits: tuple[Benefit, ...] = ()
    #: the program's stores in the operator's order (loaded with the program by its repository)
    stores: tuple[Store, ...] = ()

    @property
    def pass_stores(self) -> tuple[Store, ...]:
        """The stores the passes carry: the first :data:`PASS_LOCATIONS` in the operator's order.

        Apple and Google take 10 each and the phone (not the server) knows where its holder is, so "the nearest
        10" cannot be chosen here; the operator's order (put the busiest stores first) is the one reference that
        is the operator's to decide, and it is stable (a pass does not change when an unrelated store is added
        at the end)."""
        return self.stores[:PASS_LOCATIONS]

    def tier_for(self, points: int) -> Tier | None:
        """The highest tier whose threshold *points* reaches, or None."""
        best: Tier | None = None
        for tier in sorted(self.tiers, key=lambda t: t.min_points):
            if points >= tier.min_points:
                best = tier
        return best

    def colors_for(self, tier_name: str | None) -> tuple[str, str, str]:
        """(background, foreground, label) colours for a member of *tier_name*."""
        tier = next((t for t in self.tiers if t.name == tier_name), None)
        return (
            (tier and tier.background_color) or self.background_color,
            (tier and tier.foreground_color) or self.foreground_color,
            (tier and tier.label_color) or self.label_color,
        )

    def text(self, locale: str, key: str, default: str) -> str:
        """The *locale* translation of a program string, falling back to *default*."""
        return self.texts.get(locale, {}).get(key, default)

    @property
    def translations(self) -> Mapping[str, Mapping[str, str]]:
        """locale → translations: ``texts`` without the program's own texts."""
        return {loc: t for loc, t in self.texts.items() if loc != OWN_TEXTS}

    def own_text(self, key: str) -> str:
        """The program's own (untranslated) ``terms`` or one of its :data:`PASS_TEXTS`; "" when it has none."""
        if key == "terms":
            return self.terms
        return self.texts.get(OWN_TEXTS, {}).get(key, "")

    def text_in(self, locale: str, key: str) -> str:
        """``terms`` or one of the :data:`PASS_TEXTS` as shown in *locale*: its translation, else the program's
        own text; "" when neither exists."""
        return self.texts.get(locale, {}).get(key) or self.own_text(key)

    def has_text(self, key: str) -> bool:
        """Whether ``terms`` or one of the :data:`PASS_TEXTS` has a text in some locale (else the passes leave
        it out)."""
        return bool(self.own_text(key)) or any(t.get(key) for t in self.translations.values())


def validate_tiers(raw: Sequence[Tier]) -> tuple[Tier, ...]:
    """Tiers sorted by threshold; names unique, thresholds unique and ≥ 0."""
    names: set[str] = set()
    thresholds: set[int] = set()
    for i, t in enumerate(raw):
        if t.name in names:
            raise InvalidInput(f"tiers[{i}].name", f"tier {t.name!r} appears twice")
        if t.min_points in thresholds:
            raise InvalidInput(f"tiers[{i}].min_points", f"two tiers start at {t.min_points} points")
        if t.min_points < 0:
            raise InvalidInput(f"tiers[{i}].min_points", "must be 0 or more")
        names.add(t.name)
        thresholds.add(t.min_points)
    return tuple(sorted(raw, key=lambda t: t.min_points))


def parse_time_zone(value: object, field: str = "time_zone") -> str:
    """An IANA time zone name (``Asia/Taipei``)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str) or not value or len(value) > 64:
        raise InvalidInput(field, "must be an IANA time zone name such as 'Asia/Taipei'")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(field, f"{value!r} is not an IANA time zone name such as 'Asia/Taipei'") from None
    return value


def parse_quiet_hours(value: object, field: str = "quiet_hours") -> tuple[str, str] | None:
    """``{"start": "21:00", "end": "09:00"}`` (times of the program's day), or None for no quiet hours."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"start", "end"}:
        raise InvalidInput(field, 'send {"start": "HH:MM", "end": "HH:MM"}, or null for none')
    out = []
    for key in ("start", "end"):
        text = value[key]
        if not (isinstance(text, str) and re.fullmatch(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]", text)):
            raise InvalidInput(f"{field}.{key}", "must be a time HH:MM (00:00–23:59)")
        out.append(text)
    return out[0], out[1]
