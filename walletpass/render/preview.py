"""A picture of a pass's front for its web page, drawn from the pass itself — pure (Pillow on values, no I/O).

It reads what Wallet reads: the rendered ``pass.json`` (colours — the member's tier's, when the tier has its
own —, ``logoText``, the style's header / primary / secondary / auxiliary fields, the first barcode) and one
locale's pass.strings table, so the picture shows exactly the texts, numbers and barcode message the pass shows
in that language. Fonts come from a :class:`FontBook` (walletpass.fonts finds them on the system: a CJK font
when there is one, so names such as 林美 are drawn).

The layout follows Wallet's store card and coupon: logo and logo text with the header field on the right, the
primary field large, secondary and auxiliary fields in rows, the barcode on a white plate with its alternate text.
Drawn at twice the CSS size (:data:`WIDTH` × the height the fields need) for sharp pictures on phones.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import segno
from PIL import Image, ImageDraw, ImageFont

from walletpass.domain.contrast import RGB, parse_rgb

WIDTH = 560
_PAD = 28
_STYLES = ("storeCard", "coupon", "generic", "eventTicket", "boardingPass")

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


class FontBook(Protocol):
    """Fonts by size and weight; *cjk*: the text has Chinese, Japanese or Korean characters."""

    def font(self, size: int, *, bold: bool = False, cjk: bool = False) -> Font: ...


@dataclass(frozen=True, slots=True)
class PreviewText:
    """What the picture says besides the pass: the state of a coupon that can no longer be used (localized),
    e.g. "Redeemed" — drawn across the barcode, which is dimmed."""

    banner: str | None = None


def has_cjk(text: str) -> bool:
    """Whether *text* has a character of the CJK blocks (a Latin font has no glyph for it)."""
    return any(ord(c) >= 0x2E80 for c in text)


def _fmt_number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


_ZH_MONTHS = "{y}年{m}月{d}日"


def _fmt_date(value: str, locale: str) -> str:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return value
    if locale.startswith("zh"):
        return _ZH_MONTHS.format(y=when.year, m=when.month, d=when.day)
    return f"{when:%b} {when.day}, {when.year}"


def field_text(field: Mapping[str, Any], strings: Mapping[str, str], locale: str) -> tuple[str, str]:
    """(label, value) of a pass.json field as Wallet shows it in *locale*: keys looked up in *strings*, numbers
    with digit grouping, dates in the locale's medium style."""
    label = str(field.get("label", ""))
    label = strings.get(label, label)
    raw = field.get("value", "")
    if "dateStyle" in field and isinstance(raw, str):
        return label, _fmt_date(raw, locale)
    if isinstance(raw, str):
        return label, strings.get(raw, raw)
    return label, _fmt_number(raw)


class _Canvas:
    def __init__(self, fonts: FontBook, height: int, bg: RGB) -> None:
        self.fonts = fonts
        # RGB, square corners: the page rounds them (CSS border-radius); an alpha channel costs encoding time
        self.image = Image.new("RGB", (WIDTH, height), bg)
        self.draw = ImageDraw.Draw(self.image)

    def font(self, text: str, size: int, bold: bool = False) -> Font:
        return self.fonts.font(size, bold=bold, cjk=has_cjk(text))

    def fit(self, text: str, size: int, width: int, bold: bool = False) -> tuple[str, Font]:
        """*text* shrunk (down to 70 %) then cut with an ellipsis to fit *width* pixels."""
        font = self.font(text, size, bold)
        for smaller in (size, int(size * 0.85), int(size * 0.7)):
            font = self.font(text, smaller, bold)
            if self.draw.textlength(text, font=font) <= width:
                return text, font
        while text and self.draw.textlength(text + "…", font=font) > width:
            text = text[:-1]
        return text + "…", font

    def text(self, xy: tuple[int, int], text: str, size: int, color: RGB, width: int, *, bold: bool = False,
             anchor: str = "la") -> None:
        shown, font = self.fit(text, size, width, bold)
        self.draw.text(xy, shown, font=font, fill=color, anchor=anchor)


def _fields(style: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    return [f for f in style.get(name, []) if isinstance(f, Mapping)]


def _row(c: _Canvas, y: int, fields: Sequence[Mapping[str, Any]], strings: Mapping[str, str], locale: str,
         colors: tuple[RGB, RGB], *, label_size: int = 20, value_size: int = 32) -> int:
    """A row of fields spread over the width (the last one right-aligned, as Wallet does); return the next y."""
    if not fields:
        return y
    fg, label_color = colors
    value_size = value_size if len(fields) < 3 else value_size * 3 // 4
    inner = WIDTH - 2 * _PAD
    cell = inner // len(fields)
    for i, f in enumerate(fields):
        label, value = field_text(f, strings, locale)
        right = len(fields) > 1 and i == len(fields) - 1
        x, anchor = (WIDTH - _PAD, "ra") if right else (_PAD + i * cell, "la")
        c.text((x, y), label.upper() if label.isascii() else label, label_size, label_color, cell - 12, anchor=anchor)
        c.text((x, y + label_size + 8), value, value_size, fg, cell - 12, anchor=anchor)
    return y + label_size + 8 + value_size + 28


def _logo(c: _Canvas, logo: bytes | None, y: int) -> int:
    """Paste the logo at the top left within 160×56 (Apple's logo slot: 160×50 pt); return the x where the logo text starts."""
    if not logo:
        return _PAD
    try:
        with Image.open(io.BytesIO(logo)) as src:
            img = src.convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError):
        return _PAD
    img.thumbnail((160, 56), Image.Resampling.BILINEAR)
    c.image.paste(img, (_PAD, y + (56 - img.height) // 2), img)
    return _PAD + img.width + 16


def _qr(message: str, size: int) -> Image.Image:
    """The QR code of *message* with its quiet zone (4 modules), scaled to about *size* pixels."""
    qr = segno.make(message, error="m", boost_error=False, micro=False)  # Wallet draws a full QR code
    data = bytes(0 if dark else 255 for row in qr.matrix_iter(border=4) for dark in row)
    n = int(qr.symbol_size(border=4)[0])
    img = Image.frombytes("L", (n, n), data)
    scale = max(1, size // n)
    return img.resize((n * scale, n * scale), Image.Resampling.NEAREST)


def _barcode(c: _Canvas, barcode: Mapping[str, Any] | None, y: int, text: PreviewText) -> int:
    if not barcode:
        return y
    message = str(barcode.get("message", ""))
    alt = str(barcode.get("altText", "") or "")
    qr = _qr(message, 250)
    plate_w = qr.width + 16
    plate_h = qr.height + 8 + (34 if alt else 0)
    x0 = (WIDTH - plate_w) // 2
    c.draw.rounded_rectangle((x0, y, x0 + plate_w, y + plate_h), 16, fill=(255, 255, 255, 255))
    c.image.paste(qr, (x0 + 8, y + 8))
    if alt:
        c.text((WIDTH // 2, y + qr.height - 4), alt, 22, (29, 29, 31), plate_w - 24, anchor="ma")
    if text.banner:
        veil = Image.new("RGB", (plate_w, plate_h), (255, 255, 255))
        mask = Image.new("L", (plate_w, plate_h), 0)
        ImageDraw.Draw(mask).rounded_rectangle((0, 0, plate_w - 1, plate_h - 1), 16, fill=170)
        c.image.paste(veil, (x0, y), mask)
        band_y = y + plate_h // 2 - 30
        c.draw.rectangle((0, band_y, WIDTH, band_y + 60), fill=(29, 29, 31, 235))
        c.text((WIDTH // 2, band_y + 30), text.banner, 30, (255, 255, 255), WIDTH - 2 * _PAD, bold=True,
               anchor="mm")
    return y + plate_h + _PAD


def render_preview(pass_json: Mapping[str, Any], strings: Mapping[str, str], locale: str, fonts: FontBook, *,
                   logo: bytes | None = None, text: PreviewText = PreviewText()) -> bytes:
    """PNG bytes of the front of *pass_json* as shown in *locale* (*strings*: that locale's pass.strings)."""
    style: Mapping[str, Any] = next((pass_json[s] for s in _STYLES if s in pass_json), {})
    bg = parse_rgb(str(pass_json.get("backgroundColor", "rgb(60, 65, 76)")))
    fg = parse_rgb(str(pass_json.get("foregroundColor", "rgb(255, 255, 255)")))
    label = parse_rgb(str(pass_json.get("labelColor", "rgb(200, 200, 200)")))
    barcodes = pass_json.get("barcodes") or []
    # the picture draws a QR code: the QR entry (after an iOS 27 1-D code for tills, when the program has one)
    barcode = next((b for b in barcodes if b.get("format") == "PKBarcodeFormatQR"), barcodes[0] if barcodes else None)
    rows = [_fields(style, "secondaryFields"), _fields(style, "auxiliaryFields")]
    height = 112 + 136 + sum(84 for r in rows if r) + (300 if barcode else 0) + _PAD
    c = _Canvas(fonts, height, bg)

    # header: logo, logo text, header fields on the right
    x = _logo(c, logo, _PAD)
    header = _fields(style, "headerFields")[:1]
    header_w = 0
    if header:
        h_label, h_value = field_text(header[0], strings, locale)
        h_label = h_label.upper() if h_label.isascii() else h_label
        header_w = min(200, int(max(c.draw.textlength(h_label, font=c.font(h_label, 18)),
                                    c.draw.textlength(h_value, font=c.font(h_value, 28)))) + 2)
        c.text((WIDTH - _PAD, _PAD + 2), h_label, 18, label, header_w,
               anchor="ra")
        c.text((WIDTH - _PAD, _PAD + 26), h_value, 28, fg, header_w, anchor="ra")
    logo_text = str(pass_json.get("logoText", ""))
    logo_text = strings.get(logo_text, logo_text)
    if logo_text:
        c.text((x, _PAD + 28), logo_text, 30, fg, WIDTH - _PAD - x - header_w - 16, bold=True, anchor="lm")
    y = 112

    # primary field: large
    for f in _fields(style, "primaryFields")[:1]:
        p_label, p_value = field_text(f, strings, locale)
        c.text((_PAD, y), p_label.upper() if p_label.isascii() else p_label, 22, label, WIDTH - 2 * _PAD)
        c.text((_PAD, y + 32), p_value, 76, fg, WIDTH - 2 * _PAD, bold=True)
    y += 136
    for r in rows:
        y = _row(c, y, r, strings, locale, (fg, label))
    _barcode(c, barcode, y, text)

    out = io.BytesIO()
    c.image.save(out, format="PNG", compress_level=1)  # zlib time dominates; level 6 saves ~15 %
    return out.getvalue()
