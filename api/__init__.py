"""The Flask shell: parse → call a service → serialize. ``create_app`` is the factory."""

from __future__ import annotations

import logging
import os

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.routing import IntegerConverter

from walletpass.bootstrap import Services, bootstrap
from walletpass.config import Settings
from walletpass.instance import load_secret_key


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Flask:
    """Build the app for *settings* (default: from ``WALLETPASS_*`` environment variables)."""
    if services is None:
        settings = settings or Settings.from_env(os.environ)
        services = bootstrap(settings)
    settings = services.settings
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.update(
        SECRET_KEY=settings.secret_key or load_secret_key(settings.instance_path),
        MAX_CONTENT_LENGTH=max(settings.max_body_bytes, settings.max_image_bytes),
        JSON_SORT_KEYS=False,
        # The one cookie: the enrolment form's CSRF token (Flask-WTF keeps it in a signed session cookie), sent
        # back to /join/ only (see _NoSessions), never readable by script nor sent by another site's form post.
        SESSION_COOKIE_NAME="walletpass_form",
        SESSION_COOKIE_PATH=FORM_PATH,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https:"),
        WTF_CSRF_TIME_LIMIT=4 * 3600,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # No 308 from "/v1/passes/T//S" to "/v1/passes/T/S": an empty segment names nothing (a problem+json 404),
    # and the redirect would point a device or a till at another resource than the one it asked for.
    app.url_map.merge_slashes = False
    app.url_map.converters["int"] = AsciiIntegerConverter  # before any blueprint adds a rule
    app.session_interface = _NoSessions()
    app.after_request(_security_headers)
    app.extensions["walletpass"] = services

    from api import ops, problems
    from api.admin import bp as admin_bp
    from api.apple import bp as apple_bp
    from api.public import bp as public_bp

    problems.init_app(app)
    from api.public import join

    join.init_app(app)
    ops.init_app(app)
    app.register_blueprint(admin_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(apple_bp)
    from api.fastpath import DeviceFastPath

    # The devices' list and not-modified calls skip Flask (same answers, a fraction of the CPU); the rest reaches it.
    app.wsgi_app = DeviceFastPath(app.wsgi_app, services)  # type: ignore[method-assign]
    return app


#: Headers of every HTML page. The public pages' URLs are capability tokens (a pass page, its pkpass and Google
#: links), so no Referer may carry them to another site; the pages run no script and load only their own
#: stylesheet and images, so the policy allows nothing else, and no other site may frame them (clickjacking).
HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _security_headers(response: Response) -> Response:
    """nosniff on every response; the page headers on HTML that has a body.

    Cheap on Apple's /v1 hot path (one header, two attribute checks): its empty 200/201/204/304 answers are
    ``text/html`` by Flask's default, but with no body there is nothing to render.
    """
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.response and response.mimetype == "text/html":
        response.headers.update(HTML_HEADERS)
    return response


class AsciiIntegerConverter(IntegerConverter):
    """``<int:…>`` for ASCII digits only.

    Werkzeug's converter matches ``\\d+``, which in Python's ``re`` is every Unicode decimal digit, and ``int()``
    reads them all: ``/api/v1/coupons/١/redeem`` (Arabic-Indic one) redeemed coupon 1. An id is written in
    ASCII digits; any other spelling names nothing (404).
    """

    regex = "[0-9]+"


#: Where the one cookie session lives: the enrolment form (its CSRF token).
FORM_PATH = "/join/"


class _NoSessions(SecureCookieSessionInterface):
    """No cookie sessions, but the enrolment form's: API calls carry a key, devices a pass token, pages an
    unguessable link.

    Flask would otherwise build a signing serializer and look for a session cookie on every request (a measurable
    share of a 304 to a device). Under ``/join/`` a signed cookie session holds the form's CSRF token.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(FORM_PATH):
            return None  # Flask substitutes a NullSession, which refuses writes and is never saved
        return super().open_session(app, request)
