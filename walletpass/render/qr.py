"""Flyer QR codes (segno): the options a request may set, and the SVG and PNG images.

The code is a full QR code (never a Micro QR, which phone cameras do not read) with a white quiet zone, so it
scans on any paper; ``ec`` trades size for resistance to dirt and folds (Q, 25 % of the code restorable, is the
default for print).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

import segno

from walletpass.domain.members import parse_source
from walletpass.errors import InvalidInput

FORMATS: Mapping[str, tuple[str, str]] = {  # format → (Content-Type, file extension)
    "svg": ("image/svg+xml", "svg"), "png": ("image/png", "png"), "pdf": ("application/pdf", "pdf")}
ERROR_LEVELS = ("L", "M", "Q", "H")
DEFAULT_ERROR = "Q"
#: Module size: pixels (PNG) or SVG user units, and the quiet zone in modules (4 is the standard's).
SCALE = (1, 40, 10)  # min, max, default
BORDER = (0, 16, 4)
PARAMETERS = ("src", "format", "ec", "scale", "border")


@dataclass(frozen=True, slots=True)
class QrOptions:
    format: str = "svg"
    src: str | None = None
    ec: str = DEFAULT_ERROR
    scale: int = SCALE[2]
    border: int = BORDER[2]

    @property
    def content_type(self) -> str:
        return FORMATS[self.format][0]


def parse_options(args: Mapping[str, str]) -> QrOptions:
    """The options of a query string (``src``, ``format``, ``ec``, ``scale``, ``border``); unknown ones refused.
    ``scale`` and ``border`` size a bare image: the flyer (pdf) lays its code out itself."""
    for name in args:
        if name not in PARAMETERS:
            raise InvalidInput(name, f"unknown query parameter; use some of {', '.join(PARAMETERS)}")
    fmt = args.get("format", "svg")
    if fmt not in FORMATS:
        raise InvalidInput("format", f"must be one of {', '.join(FORMATS)}")
    src = parse_source(args["src"], "src") if "src" in args else None
    ec = args.get("ec", DEFAULT_ERROR).upper()
    if ec not in ERROR_LEVELS:
        raise InvalidInput("ec", "must be one of L (7 %), M (15 %), Q (25 %), H (30 %): how much of the code may "
                                 "be damaged and still read")
    if fmt == "pdf":
        for name in ("scale", "border"):
            if name in args:
                raise InvalidInput(name, "sizes the svg and png images only; the flyer lays its code out itself")
    scale = _bounded(args, "scale", SCALE)
    border = _bounded(args, "border", BORDER)
    return QrOptions(fmt, src, ec, scale, border)


def _bounded(args: Mapping[str, str], name: str, bounds: tuple[int, int, int]) -> int:
    low, high, default = bounds
    raw = args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and low <= int(raw) <= high):
        raise InvalidInput(name, f"must be an integer from {low} to {high}")
    return int(raw)


def make(url: str, ec: str) -> segno.QRCode:
    """The QR code of *url* at error-correction level *ec* (the smallest version that holds it)."""
    return segno.make_qr(url, error=ec.lower(), boost_error=False)


def image(url: str, options: QrOptions) -> bytes:
    """The SVG or PNG of *url*'s QR code: dark modules black on a white ground, the quiet zone included."""
    buf = io.BytesIO()
    code = make(url, options.ec)
    if options.format == "svg":
        code.save(buf, kind="svg", scale=options.scale, border=options.border, dark="#000", light="#fff",
                  xmldecl=True, svgclass=None, lineclass=None, title=url)
    elif options.format == "png":
        code.save(buf, kind="png", scale=options.scale, border=options.border, dark="#000", light="#fff")
    else:
        raise ValueError(f"no bare image of format {options.format!r}")
    return buf.getvalue()
