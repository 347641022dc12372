"""WalletpassError → application/problem+json (RFC 9457), one status table."""

from __future__ import annotations

import json
import logging
import random
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from walletpass import errors as e

log = logging.getLogger("walletpass.api")

#: Most specific class first.
STATUS: list[tuple[type[e.WalletpassError], int]] = [
    (e.PayloadTooLarge, 413),
    (e.UnsupportedMediaType, 415),
    (e.MalformedRequest, 400),
    (e.IdempotencyMismatch, 422),
    (e.InvalidInput, 422),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.Unauthorized, 401),
    (e.Forbidden, 403),
    (e.DatabaseUnavailable, 503),
    (e.CredentialError, 503),
    (e.ConfigurationError, 503),
    (e.RemoteError, 503),
    (e.WalletpassError, 400),
]


def status_for(exc: e.WalletpassError) -> int:
    return next(code for cls, code in STATUS if isinstance(exc, cls))


#: What a 401 adds to its problem document.
UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="walletpass"'}


def problem_json(status: int, title: str, detail: str, *, type_: str = "about:blank",
                 errors: list[dict[str, str]] | None = None) -> str:
    """The problem document (RFC 9457): plain strings and numbers, so the standard library writes what Flask's
    JSON provider would (key order kept, ASCII), with or without an app context (api.fastpath uses it)."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return json.dumps(body)


def problem(status: int, title: str, detail: str, *, type_: str = "about:blank",
            errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None) -> Response:
    return _response(status, problem_json(status, title, detail, type_=type_, errors=errors), headers)


def _response(status: int, document: str, headers: dict[str, str] | None) -> Response:
    resp = Response(document, status=status, mimetype="application/problem+json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def error_json(exc: e.WalletpassError) -> str:
    """The problem document of *exc*."""
    return problem_json(status_for(exc), exc.title, exc.detail, type_=f"https://walletpass.dev/problems/{exc.code}",
                        errors=[{"field": fe.field, "detail": fe.detail} for fe in exc.errors] or None)


def from_error(exc: e.WalletpassError) -> Response:
    status = status_for(exc)
    headers = UNAUTHORIZED_HEADERS if status == 401 else None
    if isinstance(exc, e.DatabaseUnavailable):
        log.warning("database unavailable, answered 503: %s", exc.reason)
        # A lost connection is back at once (the pools reconnect), a failover takes seconds; the jitter keeps
        # the tills and phones that met the same outage from all retrying in the same second.
        headers = {"Retry-After": str(random.randint(1, 5))}
    return _response(status, error_json(exc), headers)


def init_app(app: Flask) -> None:
    @app.errorhandler(e.WalletpassError)
    def _walletpass_error(exc: e.WalletpassError) -> Response:
        return from_error(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        detail = exc.description or exc.name
        if status == 413:
            detail = f"request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes"
        resp = problem(status, exc.name, detail)
        if status == 405 and exc.get_response().headers.get("Allow"):
            resp.headers["Allow"] = exc.get_response().headers["Allow"]
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem(500, "Internal Server Error", "an unexpected error occurred; it has been logged")
