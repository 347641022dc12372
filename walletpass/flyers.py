"""Printable A6 flyers (105 × 148 mm, PDF by fpdf2): a program's name and logo on its colours, the QR code of its
enrolment page, and a call to action in the program's first locale.

Text is set in one font that holds Latin and CJK glyphs (``WALLETPASS_FLYER_FONT``; by default Debian's
fonts-wqy-microhei), embedded as a subset (cut once per process and set of characters: see :func:`_subset`). The same inputs give the same bytes (fixed creation date), so the ETag
of a flyer can be computed from its inputs before it is drawn.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import re
import shutil
import tempfile
import threading
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont, TTLibError
from fpdf import FPDF
from PIL import Image

from walletpass.errors import ConfigurationError, Conflict
from walletpass.render import qr

PAGE = (105.0, 148.0)  # A6, mm
#: The call to action per locale: a headline and a line under it.
CALL_TO_ACTION = {
    "en": ("Scan to join", "and add your member card to Apple Wallet or Google Wallet"),
    "zh-Hant": ("掃描加入會員", "將會員卡加入 Apple 錢包或 Google 錢包"),
    "zh-Hans": ("扫码加入会员", "将会员卡添加到 Apple 钱包或 Google 钱包"),
}
#: Characters every flyer's font subset holds: printable ASCII (URLs, Latin names) and every call to action.
_ALWAYS = frozenset(chr(c) for c in range(0x20, 0x7F)) | frozenset("".join(a + b for a, b in CALL_TO_ACTION.values()))
#: Unicode categories with nothing to draw: control, format, surrogate, private use, unassigned.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_MAX_SUBSETS = 64
_SUBSETS: dict[tuple[str, int, int, frozenset[str]], Path] = {}
_LOCK = threading.Lock()
_FOLDER: Path | None = None
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # the creation date written in every flyer: same inputs, same bytes
_RGB = re.compile(r"rgb\((\d+), (\d+), (\d+)\)")


@dataclass(frozen=True, slots=True)
class FlyerContent:
    """What a flyer shows: texts in one locale, colours as ``rgb(r, g, b)``, the logo's bytes (PNG or JPEG)."""

    name: str
    url: str
    locale: str
    background_color: str
    foreground_color: str
    logo: bytes | None = None
    ec: str = qr.DEFAULT_ERROR


def _rgb(color: str) -> tuple[int, int, int]:
    m = _RGB.fullmatch(color)
    return (int(m[1]), int(m[2]), int(m[3])) if m else (0, 0, 0)


def _subset(font: Path, chars: frozenset[str]) -> Path:
    """A copy of *font* cut down to *chars*, printable ASCII and the calls to action, made once per process and
    set of characters (a program's flyers share one) in a temporary folder: reading a 30,000-glyph CJK font takes
    fpdf2 and fontTools ~0.5 s, its subset a few ms."""
    stat = font.stat()  # OSError when missing: the caller's ConfigurationError
    wanted = frozenset(c for c in chars if not c.isascii()) | _ALWAYS
    key = (str(font), stat.st_mtime_ns, stat.st_size, wanted)
    with _LOCK:
        made = _SUBSETS.get(key)
    if made is not None and made.exists():
        return made
    tt = TTFont(str(font), fontNumber=0, lazy=True)
    options = subset.Options()
    options.layout_features, options.name_IDs, options.notdef_outline = [], ["*"], True
    options.drop_tables = [*options.drop_tables, "FFTM"]  # FontForge's timestamps: fontTools would warn of them
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(ord(c) for c in wanted))
    subsetter.subset(tt)
    out = _folder() / f"{hashlib.sha256(repr(key).encode()).hexdigest()[:24]}{font.suffix.replace('.ttc', '.ttf')}"
    tt.save(str(out))
    with _LOCK:
        while len(_SUBSETS) >= _MAX_SUBSETS:
            _SUBSETS.pop(next(iter(_SUBSETS))).unlink(missing_ok=True)
        _SUBSETS[key] = out
    return out


def _folder() -> Path:
    global _FOLDER
    with _LOCK:
        if _FOLDER is None or not _FOLDER.exists():
            _FOLDER = Path(tempfile.mkdtemp(prefix="walletpass-flyer-fonts-"))
            atexit.register(shutil.rmtree, _FOLDER, True)
        return _FOLDER


def _missing(pdf: FPDF, text: str) -> str:
    """The characters of *text* the flyer font has no glyph for, in text order."""
    cmap = getattr(pdf.fonts.get("flyer"), "cmap", None) or {}
    return "".join(dict.fromkeys(c for c in text if not c.isspace() and ord(c) not in cmap))


def printable(name: str, limit: int = 60) -> str:
    """*name* as a flyer prints it: without control, format, private-use and unassigned characters (they have
    no glyph to show), cut to *limit* characters with an ellipsis."""
    shown = "".join(c for c in name if unicodedata.category(c) not in _INVISIBLE).strip()
    return shown if len(shown) <= limit else shown[:limit - 1].rstrip() + "…"


def render(content: FlyerContent, font: Path) -> bytes:
    """The flyer's PDF. ConfigurationError (503) when the font file is missing or unreadable or lacks a glyph of
    the call to action; Conflict (409) when it lacks one of the program's name."""
    pdf = FPDF(orientation="P", unit="mm", format=PAGE)
    pdf.set_auto_page_break(False)
    pdf.set_margin(0)
    pdf.set_creation_date(_EPOCH)
    name = printable(content.name)
    pdf.set_title(name)
    pdf.set_creator("walletpass")
    pdf.add_page()
    headline, line = CALL_TO_ACTION.get(content.locale, CALL_TO_ACTION["en"])
    try:
        pdf.add_font("flyer", "", str(_subset(font, frozenset(name + content.url))))
    except (OSError, RuntimeError, ValueError, TTLibError) as exc:
        raise ConfigurationError(f"the flyer font {font} cannot be read ({exc.__class__.__name__}): install "
                                 "Debian's fonts-wqy-microhei, or set WALLETPASS_FLYER_FONT to a .ttf/.ttc font "
                                 "with CJK glyphs") from exc
    # Never boxes ("tofu"): our own texts missing are the font's fault (503), the program's name is the program's.
    missing = _missing(pdf, headline + line + content.url)
    if missing:
        raise ConfigurationError(f"the flyer font {font} has no glyph for {missing[:12]!r} of the {content.locale} "
                                 "call to action: set WALLETPASS_FLYER_FONT to a font that covers it (Debian's "
                                 "fonts-wqy-microhei covers Latin and Chinese)")
    missing = _missing(pdf, name)
    if missing:
        raise Conflict(f"the program's name has characters the flyer font ({font.name}) cannot draw: "
                       f"{missing[:12]!r}; rename the program, or ask the operator for a font that has them "
                       "(WALLETPASS_FLYER_FONT)")
    width, _ = PAGE
    fg = _rgb(content.foreground_color)

    # The header band in the program's colours (its logo is drawn for them), with the logo and the name.
    pdf.set_fill_color(*_rgb(content.background_color))
    pdf.rect(0, 0, width, 42, style="F")
    y = 7.0
    if content.logo:
        with Image.open(io.BytesIO(content.logo)) as img:
            logo = img.convert("RGBA")
        box_w, box_h = 60.0, 16.0
        ratio = min(box_w / logo.width, box_h / logo.height)
        w, h = logo.width * ratio, logo.height * ratio
        pdf.image(logo, x=(width - w) / 2, y=y + (box_h - h) / 2, w=w, h=h)
        y += box_h + 3
    pdf.set_text_color(*fg)
    size = (15 if content.logo else 20) * (1.0 if len(name) <= 24 else 0.7)  # a long name: smaller, 2–3 lines
    pdf.set_font("flyer", size=size)
    pdf.set_xy(6, y)
    pdf.multi_cell(width - 12, size * 0.45, name, align="C")

    # The QR code: 62 mm wide with its 4-module quiet zone, drawn as rectangles (sharp at any print resolution).
    code = qr.make(content.url, content.ec)
    side = 62.0
    modules = code.symbol_size(scale=1, border=4)[0]
    unit = side / modules
    x0, y0 = (width - side) / 2, 47.0
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x0, y0, side, side, style="F")
    pdf.set_fill_color(0, 0, 0)
    for row, cells in enumerate(code.matrix_iter(scale=1, border=4)):
        col, run = 0, 0
        for col, dark in enumerate(cells):
            if dark:
                run += 1
            elif run:
                pdf.rect(x0 + (col - run) * unit, y0 + row * unit, run * unit, unit, style="F")
                run = 0
        if run:
            pdf.rect(x0 + (col + 1 - run) * unit, y0 + row * unit, run * unit, unit, style="F")

    pdf.set_text_color(20, 20, 20)
    pdf.set_font("flyer", size=17)
    pdf.set_xy(6, 113)
    pdf.multi_cell(width - 12, 8, headline, align="C")
    pdf.set_font("flyer", size=9.5)
    pdf.set_x(10)
    pdf.multi_cell(width - 20, 5, line, align="C")
    pdf.set_text_color(110, 110, 110)
    pdf.set_font("flyer", size=7)
    pdf.set_xy(6, 138)
    pdf.multi_cell(width - 12, 4, content.url, align="C")
    return bytes(pdf.output())
