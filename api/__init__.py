"""The Flask shell: parse → call a service → serialize. ``create_app`` is the factory."""

from __future__ import annotations

import logging
import os

from flask import Flask, Response
from flask.sessions import SessionInterface
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


class _NoSessions(SessionInterface):
    """No cookie sessions: API calls carry a key, devices a pass token, pages an unguessable link.

    Flask would otherwise build a signing serializer and look for a session cookie on every request
    (a measurable share of a 304 to a device).
    """

    def open_session(self, app: Flask, request: object) -> None:
        return None  # Flask substitutes a NullSession, which refuses writes

    def save_session(self, app: Flask, session: object, response: object) -> None:
        return None
