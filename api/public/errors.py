"""What a person sees when a public link leads nowhere: a page in their language, not a JSON document.

A flyer's QR code for a program that is gone, a pass link with a character missing, a smart link from an old
e-mail — the visitor is a customer with a phone, so the public pages answer their 404 (and 410) as a short HTML
page, the same for every such link (it tells nothing about which part was wrong). A client that asks for JSON
(``Accept: application/json``) still gets the problem document, as everywhere else.
"""

from __future__ import annotations

from flask import Response, render_template, request
from werkzeug.exceptions import HTTPException

from api.problems import from_error, problem
from api.public import bp
from api.public.i18n import LOCALES, NATIVE_NAMES, negotiate, texts
from walletpass import errors as e

_JSON = ("application/problem+json", "application/json")
#: The links a person follows: a pass's page and its links, the smart link, the enrolment page.
_PAGES = ("/p/", "/a/", "/join/")


def _wants_html() -> bool:
    if request.method not in ("GET", "HEAD") or not request.path.startswith(_PAGES):
        return False  # the images, stylesheets and callbacks answer as the API does
    # a browser asks for text/html above */*; a script or an API client (no Accept, */*, JSON) gets the problem
    return request.accept_mimetypes.best_match([*_JSON, "text/html"]) == "text/html"


def not_found_page() -> Response:
    locale = negotiate(request.accept_languages, LOCALES, request.args.get("lang"))
    t = texts(locale)
    languages = [(code, NATIVE_NAMES[code], f"?lang={code}") for code in LOCALES]  # relative: one page for all
    html = render_template("public/not_found.html", locale=locale, t=t, languages=languages,
                           program_name=t["page.not_found.title"], logo_url=None, theme_url=None)
    resp = Response(html, status=404, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Vary"] = "Accept, Accept-Language"
    return resp


@bp.errorhandler(404)
def _http_not_found(exc: HTTPException) -> Response:
    return not_found_page() if _wants_html() else problem(404, exc.name, exc.description or exc.name)


@bp.errorhandler(e.NotFound)
def _not_found(exc: e.NotFound) -> Response:
    return not_found_page() if _wants_html() else from_error(exc)
