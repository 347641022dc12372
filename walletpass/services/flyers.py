"""Flyer QR codes of a program's enrolment page: SVG and PNG images, and a printable A6 PDF flyer.

:func:`prepare` reads what a code depends on and names it (the ETag: a hash of every input, so a client's
``If-None-Match`` is answered without drawing anything); :func:`render` draws it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

from walletpass import flyers
from walletpass.domain.programs import SUPPORTED_LOCALES
from walletpass.ports import PassBuilder, UnitOfWork
from walletpass.render import qr
from walletpass.services.programs import program_image_source
from walletpass.urls import PublicUrls

#: Bumped when the drawing changes, so that every ETag does.
DRAWING = 1


@dataclass(frozen=True, slots=True)
class FlyerCode:
    """A code to draw: its options, the URL it encodes, the flyer's content (pdf) and its ETag (unquoted)."""

    program_id: int
    options: qr.QrOptions
    url: str
    etag: str
    flyer: flyers.FlyerContent | None = None

    @property
    def filename(self) -> str:
        kind = "flyer" if self.options.format == "pdf" else "qr"
        src = f"-{self.options.src}" if self.options.src else ""
        return f"program-{self.program_id}-{kind}{src}.{qr.FORMATS[self.options.format][1]}"


def prepare(uow: UnitOfWork, builder: PassBuilder, urls: PublicUrls, program_id: int,
            args: Mapping[str, str]) -> FlyerCode:
    """Check the query (*args*) and read the program (NotFound for an unknown one) and, for a flyer, its logo."""
    options = qr.parse_options(args)
    url = urls.join(program_id, options.src)
    with uow:
        program = uow.programs.get(program_id)
    inputs: dict[str, object] = {"drawing": DRAWING, "versions": _versions(), "options": repr(options), "url": url}
    content = None
    if options.format == "pdf":
        locale = program.locales[0] if program.locales and program.locales[0] in SUPPORTED_LOCALES else "en"
        logo, _ = program_image_source(uow, builder, program_id, "logo")
        content = flyers.FlyerContent(
            name=program.text(locale, "name", program.name), url=url, locale=locale,
            background_color=program.background_color, foreground_color=program.foreground_color, logo=logo,
            ec=options.ec)
        inputs.update(name=content.name, locale=locale, colors=[content.background_color, content.foreground_color],
                      logo=hashlib.sha256(logo).hexdigest())
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    return FlyerCode(program_id, options, url, digest[:32], content)


@cache
def _versions() -> list[str]:
    """The drawing libraries' versions: an upgrade may change the bytes, so it changes the ETags."""
    return [version("segno"), version("fpdf2")]


def render(code: FlyerCode, font: Path) -> bytes:
    """The image (svg, png) or the flyer (pdf) of *code*."""
    if code.flyer is not None:
        return flyers.render(code.flyer, font)
    return qr.image(code.url, code.options)
