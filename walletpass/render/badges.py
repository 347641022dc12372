"""The "Add to Apple Wallet", "Add to Google Wallet" and "Add to Samsung Wallet" badges as SVG, drawn here — pure.

No official artwork is in the repository: each badge is our own drawing after the makers' guidelines — Apple's
is a black badge with a white outline, a wallet glyph and the two-line wording ("Add to" / "Apple Wallet"); Google's
a dark (#1F1F1F) pill with a grey outline, a wallet glyph and one line (google.md §1.5); Samsung's (shown to
Samsung Internet only) a black pill with a blue wallet glyph and one line. Both are drawn 48 px
tall (Google's minimum: 48 dp; Apple's badge is larger than its minimum at that size) and the page keeps at least
8 px of clear space around each (Google: 8 dp). The wording follows the page's language.

The text is drawn with the reader's system font (the SVG is an ``<img>``: no web font), so its width is an estimate
from character classes, and ``textLength`` makes the text fill exactly that width whatever the font.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

HEIGHT = 48

#: wallet → locale → (small first line or "", main line): the badges' wording.
WORDING: dict[str, dict[str, tuple[str, str]]] = {
    "apple": {"en": ("Add to", "Apple Wallet"), "zh-Hant": ("加入", "Apple 錢包"), "zh-Hans": ("添加到", "Apple 钱包")},
    "google": {"en": ("", "Add to Google Wallet"), "zh-Hant": ("", "新增至 Google 錢包"),
               "zh-Hans": ("", "添加到 Google 钱包")},
    "samsung": {"en": ("", "Add to Samsung Wallet"), "zh-Hant": ("", "新增至 Samsung 錢包"),
                "zh-Hans": ("", "添加到 Samsung 钱包")},
}
WALLETS = tuple(WORDING)

_FONT = ('-apple-system, BlinkMacSystemFont, &quot;Helvetica Neue&quot;, Roboto, Arial, &quot;PingFang TC&quot;, '
         '&quot;Noto Sans CJK TC&quot;, &quot;Microsoft JhengHei&quot;, sans-serif')
_NARROW = set("iljtfI.,:;'!| ")
_WIDE = set("mwMW@")


def text_width(text: str, size: float) -> float:
    """An estimate of *text*'s width at *size* px in a sans-serif system font."""
    em = 0.0
    for ch in text:
        if ord(ch) >= 0x2E80:
            em += 1.0
        elif ch in _NARROW:
            em += 0.3
        elif ch in _WIDE:
            em += 0.85
        elif ch.isupper():
            em += 0.68
        else:
            em += 0.56
    return em * size


@dataclass(frozen=True, slots=True)
class Badge:
    """An SVG badge: its markup, its size in CSS pixels and its accessible name (the full wording)."""

    svg: str
    width: int
    height: int
    label: str


def accessible_name(wallet: str, locale: str) -> str:
    """The badge's wording on one line, e.g. "Add to Apple Wallet" (the link's accessible name)."""
    small, main = WORDING[wallet].get(locale) or WORDING[wallet]["en"]
    return f"{small} {main}" if small else main


def _apple_glyph(x: float, y: float) -> str:
    """A wallet: three cards standing in a pocket (white and greys on the black badge)."""
    return (f'<g transform="translate({x} {y})">'
            '<rect x="1" y="0" width="26" height="18" rx="3" fill="#d9d9d9"/>'
            '<rect x="1" y="4" width="26" height="18" rx="3" fill="#a6a6a6"/>'
            '<rect x="1" y="8" width="26" height="18" rx="3" fill="#737373"/>'
            '<path d="M0 15h28v9a4 4 0 0 1-4 4H4a4 4 0 0 1-4-4z" fill="#fff"/>'
            '</g>')


def _google_glyph(x: float, y: float) -> str:
    """A wallet: four coloured cards standing in a pocket (Google's four colours)."""
    return (f'<g transform="translate({x} {y})">'
            '<rect x="1" y="0" width="26" height="14" rx="3" fill="#4285f4"/>'
            '<rect x="1" y="4" width="26" height="14" rx="3" fill="#34a853"/>'
            '<rect x="1" y="8" width="26" height="14" rx="3" fill="#fbbc04"/>'
            '<rect x="1" y="12" width="26" height="14" rx="3" fill="#ea4335"/>'
            '<path d="M0 15h28v9a4 4 0 0 1-4 4H4a4 4 0 0 1-4-4z" fill="#e8eaed"/>'
            '</g>')


def _samsung_glyph(x: float, y: float) -> str:
    """A wallet: two blue cards standing in a pocket."""
    return (f'<g transform="translate({x} {y})">'
            '<rect x="1" y="2" width="26" height="16" rx="3" fill="#8fb4ff"/>'
            '<rect x="1" y="7" width="26" height="16" rx="3" fill="#1428a0"/>'
            '<path d="M0 15h28v9a4 4 0 0 1-4 4H4a4 4 0 0 1-4-4z" fill="#fff"/>'
            '</g>')


def _text(x: float, baseline: float, text: str, size: float, weight: int) -> tuple[str, float]:
    width = round(text_width(text, size), 1)
    return (f'<text x="{x}" y="{baseline}" font-size="{size}" font-weight="{weight}" textLength="{width}" '
            f'lengthAdjust="spacingAndGlyphs">{escape(text)}</text>'), width


def badge(wallet: str, locale: str) -> Badge:
    """The *wallet* badge ("apple", "google" or "samsung") worded for *locale* (English when the locale has no wording)."""
    small, main = WORDING[wallet].get(locale) or WORDING[wallet]["en"]
    h = HEIGHT
    if wallet == "apple":
        glyph = _apple_glyph(12, 10)
        line1, w1 = _text(48, 19, small, 10.5, 500)
        line2, w2 = _text(48, 37, main, 18, 600)
        width = int(48 + max(w1, w2) + 14)
        body = (f'<rect x="0.5" y="0.5" width="{width - 1}" height="{h - 1}" rx="8" fill="#000" stroke="#fff"/>'
                f'{glyph}<g fill="#fff" font-family="{_FONT}">{line1}{line2}</g>')
    elif wallet == "samsung":
        glyph = _samsung_glyph(16, 10)
        line, w = _text(54, 30, main, 16, 600)
        width = int(54 + w + 20)
        body = (f'<rect x="0.5" y="0.5" width="{width - 1}" height="{h - 1}" rx="{(h - 1) / 2}" fill="#000" '
                f'stroke="#1428a0"/>{glyph}<g fill="#fff" font-family="{_FONT}">{line}</g>')
    else:
        glyph = _google_glyph(16, 10)
        line, w = _text(54, 30, main, 16, 500)
        width = int(54 + w + 20)
        body = (f'<rect x="0.5" y="0.5" width="{width - 1}" height="{h - 1}" rx="{(h - 1) / 2}" fill="#1f1f1f" '
                f'stroke="#747775"/>{glyph}<g fill="#fff" font-family="{_FONT}">{line}</g>')
    label = accessible_name(wallet, locale)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}" '
           f'role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>{body}</svg>')
    return Badge(svg, width, h, label)
