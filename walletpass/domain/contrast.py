"""Colour contrast after WCAG 2.2 (success criterion 1.4.3, level AA) — pure.

Used twice: the public pages pick readable text colours on a program's brand colour (:func:`readable_on`), and
the marketer API warns when a program's own colours fail AA on its passes (:func:`program_warnings`): a pass's
values (foreground) and labels are small text, so they need 4.5:1 against the background.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from walletpass.domain.programs import Program

#: WCAG AA for normal-size text (1.4.3); large text (≥ 18pt, or 14pt bold) needs 3:1.
AA_NORMAL, AA_LARGE = 4.5, 3.0

_RGB = re.compile(r"^rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$")
_HEX = re.compile(r"^#([0-9a-fA-F]{6})$")

RGB = tuple[int, int, int]
BLACK: RGB = (0, 0, 0)
WHITE: RGB = (255, 255, 255)


def parse_rgb(color: str) -> RGB:
    """``rgb(r, g, b)`` (as programs store colours) or ``#rrggbb`` → (r, g, b)."""
    m = _RGB.match(color.strip())
    if m:
        parts = tuple(min(255, int(g)) for g in m.groups())
        return parts[0], parts[1], parts[2]
    m = _HEX.match(color.strip())
    if m:
        h = m.group(1)
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    raise ValueError(f"{color!r} is not rgb(r, g, b) or #rrggbb")


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(rgb: RGB) -> float:
    """WCAG relative luminance: 0 for black, 1 for white (sRGB channels linearised, weighted 0.2126/0.7152/0.0722)."""
    r, g, b = rgb
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(a: RGB | str, b: RGB | str) -> float:
    """(L1 + 0.05) / (L2 + 0.05), the lighter over the darker: from 1 (same colour) to 21 (black on white)."""
    la = relative_luminance(parse_rgb(a) if isinstance(a, str) else a)
    lb = relative_luminance(parse_rgb(b) if isinstance(b, str) else b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def readable_on(background: RGB | str, preferred: RGB | str | None = None, *, minimum: float = AA_NORMAL) -> RGB:
    """A text colour for *background*: *preferred* (the brand's own) when it reaches *minimum*, else black or
    white, whichever contrasts more (one of them always reaches 4.5:1)."""
    bg = parse_rgb(background) if isinstance(background, str) else background
    if preferred is not None:
        pref = parse_rgb(preferred) if isinstance(preferred, str) else preferred
        if contrast_ratio(pref, bg) >= minimum:
            return pref
    return BLACK if contrast_ratio(BLACK, bg) >= contrast_ratio(WHITE, bg) else WHITE


def css(rgb: RGB) -> str:
    """``#rrggbb``."""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


@dataclass(frozen=True, slots=True)
class ContrastWarning:
    """A pair of a program's colours that fails WCAG AA for normal text."""

    field: str
    against: str
    ratio: float
    required: float = AA_NORMAL

    @property
    def detail(self) -> str:
        return (f"{self.field} on {self.against} has a contrast of {self.ratio:.2f}:1; WCAG AA needs "
                f"{self.required:g}:1 for text this size — the pass will be hard to read. Darken or lighten one "
                "of them")


def program_warnings(program: Program) -> list[ContrastWarning]:
    """The program's (and each tier's) foreground and label colours that fail AA on their background."""
    out: list[ContrastWarning] = []
    scopes: list[tuple[str, str | None]] = [("", None)]
    scopes += [(f"tiers[{i}].", t.name) for i, t in enumerate(program.tiers)
               if t.background_color or t.foreground_color or t.label_color]  # else the program's, checked
    for prefix, tier in scopes:
        bg, fg, label = program.colors_for(tier)
        for name, color in (("foreground_color", fg), ("label_color", label)):
            ratio = contrast_ratio(color, bg)
            if ratio < AA_NORMAL:
                out.append(ContrastWarning(f"{prefix}{name}", f"{prefix}background_color", round(ratio, 2)))
    return out
