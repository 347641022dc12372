"""What every public page's frame (templates/public/base.html) needs: its language, the switch, the program's
name in that language, its logo and its colours."""

from __future__ import annotations

from typing import Any

from flask import Response, request, url_for

from api.context import services
from api.public import bp
from api.public.i18n import LOCALES, NATIVE_NAMES, negotiate, texts
from walletpass.domain.contrast import parse_rgb, readable_on
from walletpass.domain.programs import Program
from walletpass.services.programs import get_program


def page_locale(program: Program) -> str:
    """The visitor's language for *program*'s pages (see api.public.i18n.negotiate)."""
    return negotiate(request.accept_languages, program.locales, request.args.get("lang"))


def program_text(program: Program, locale: str, key: str, default: str) -> str:
    """The program's own text *key* (``name``, ``terms`` …) in *locale*, else *default*."""
    return program.texts.get(locale, {}).get(key) or default


def frame(program: Program, locale: str) -> dict[str, Any]:
    """The template context of the frame: ``locale``, ``t`` (the pages' texts), ``languages`` (code, name and the
    link that switches to it: this URL with ``lang`` replaced), ``program_name``, ``logo_url``, ``theme_url``."""
    offered = [loc for loc in program.locales if loc in LOCALES] or ["en"]
    languages = []
    for code in offered:
        values: dict[str, Any] = {**request.args.to_dict(), **(request.view_args or {}), "lang": code}
        languages.append((code, NATIVE_NAMES[code], url_for(request.endpoint or "", **values)))
    s = services()
    return {
        "locale": locale,
        "t": texts(locale),
        "languages": languages,
        "program_name": program_text(program, locale, "name", program.name),
        "logo_url": s.urls.program_image(program.id, "logo"),
        "theme_url": url_for("public.program_theme", program_id=program.id, v=program.version),
    }


def theme_css(program: Program) -> str:
    """The program's colours as custom properties, text colours made readable: the brand's own foreground and
    label colours where they reach WCAG AA (4.5:1) on its background, else black or white (domain.contrast)."""
    bg = parse_rgb(program.background_color)
    fg = readable_on(bg, program.foreground_color)
    label = readable_on(bg, program.label_color)
    return f":root{{--brand-bg:{_rgb(bg)};--brand-fg:{_rgb(fg)};--brand-label:{_rgb(label)}}}\n"


def _rgb(color: tuple[int, int, int]) -> str:
    return "rgb({}, {}, {})".format(*color)


@bp.get("/assets/programs/<int:program_id>/theme.css")
def program_theme(program_id: int) -> Response:
    """The program's colours as the custom properties pages.css reads (a stylesheet: the pages' CSP allows no
    inline style). Versioned by ``?v=`` (the program's version), so it may be cached for a day."""
    program = get_program(services().read_uow(), program_id)
    css = theme_css(program)
    resp = Response(css, mimetype="text/css")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp
