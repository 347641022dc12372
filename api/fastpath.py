"""A WSGI fast path in front of Flask for the two calls devices make most (apple.md §3, list and latest pass).

Every device that gets a push asks which of its passes changed (``GET /v1/devices/<d>/registrations/<type>``,
200 or 204) and fetches the new version (``GET /v1/passes/<type>/<serial>``: a 200 with the signed pass), and
every device checks its passes now and then (the same with ``If-Modified-Since``: a 304 when it holds the current
version; a 401 for a wrong token). For these answers Flask's request context, routing, response object and hooks
cost more CPU than the work itself (an indexed read or two), so they are answered here, with the same service
calls (``walletpass.services.apple_ws``) and the same bytes as the routes in :mod:`api.apple` — status line,
headers in the same order, body (tests/api/test_device_fastpath.py sends every request both ways and compares).
A 200 is answered here when the version is signed and stored already (``pass_files``: a campaign worker signed
it ahead, or an earlier fetch did); its fetch is recorded in a batch (DeviceReads.record_fetch_soon).

Everything else goes to Flask unchanged: other methods (HEAD, POST, DELETE) and paths, paths or query strings
with anything a valid identifier or tag does not hold (Flask answers 400 or 404), a pass that must be signed
first (200: signed, once, by the route), and every error but the 401 (a 400, or a 503 when the database is down,
which Flask logs). gunicorn's access log (and its redaction) sees these requests as any other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from api.apple import http_date, not_modified_since
from api.problems import UNAUTHORIZED_HEADERS, error_json
from walletpass.bootstrap import Services
from walletpass.errors import Unauthorized
from walletpass.services import apple_ws

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_ID = "[A-Za-z0-9._-]{1,128}"
_LIST = re.compile(rf"/v1/devices/({_ID})/registrations/({_ID})\Z")
_PASS = re.compile(rf"/v1/passes/({_ID})/([A-Za-z0-9._-]{{1,64}})\Z")
_SINCE = re.compile(r"passesUpdatedSince=([0-9]{0,19})\Z")

#: What api._security_headers adds to every response.
_NOSNIFF = ("X-Content-Type-Options", "nosniff")
#: Werkzeug's answers for these statuses: a 204 keeps Flask's default Content-Type; a 304 loses its entity
#: headers (Last-Modified, Content-Type) and keeps Cache-Control and the ETag.
_NO_CONTENT = ("204 NO CONTENT", [("Content-Type", "text/html; charset=utf-8"), _NOSNIFF], b"")
_WWW_AUTHENTICATE = next(iter(UNAUTHORIZED_HEADERS.items()))
_PKPASS = ("Content-Type", "application/vnd.apple.pkpass")

Answer = tuple[str, list[tuple[str, str]], bytes]


class DeviceFastPath:
    """WSGI middleware: answers the devices' list and not-modified calls itself, hands the rest to *fallback*
    (the Flask app's ``wsgi_app``)."""

    def __init__(self, fallback: WsgiApp, services: Services) -> None:
        self.fallback = fallback
        self._services = services
        self._key: str | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "GET":
            path: str = environ.get("PATH_INFO", "")
            answer: Answer | None = None
            if path.startswith("/v1/passes/"):
                answer = self._latest(path, environ)
            elif path.startswith("/v1/devices/"):
                answer = self._updated(path, environ)
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                return [body] if body else []
        return self.fallback(environ, start_response)

    def _updated(self, path: str, environ: dict[str, Any]) -> Answer | None:
        match = _LIST.match(path)
        query: str = environ.get("QUERY_STRING", "")
        since = _SINCE.match(query) if query else None
        if match is None or (query and since is None):
            return None  # anything else in the query (another key, %-escapes, repeats): as Flask parses it
        try:
            result = apple_ws.updated_serials(self._services.device_reads, match[1], match[2],
                                              since[1] if since else None)
        except Exception:  # a 400 or a 503 is Flask's to answer and log; so is anything unexpected
            return None
        if result is None:
            return _NO_CONTENT
        # flask.jsonify, not in debug mode: compact, and a newline after the document
        body = json.dumps({"serialNumbers": result.serial_numbers, "lastUpdated": result.last_updated},
                          separators=(",", ":")).encode() + b"\n"
        return "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))), _NOSNIFF], body

    def _latest(self, path: str, environ: dict[str, Any]) -> Answer | None:
        match = _PASS.match(path)
        if match is None:
            return None
        serial = match[2]
        s = self._services
        reads = s.device_reads
        try:
            token = apple_ws.parse_auth(environ.get("HTTP_AUTHORIZATION"))
            fetched = apple_ws.fetch(reads, match[1], serial, token)
            version = fetched.version
            if not_modified_since(environ.get("HTTP_IF_MODIFIED_SINCE"), version, http_date(version.last_modified)):
                apple_ws.record(reads, s.clock, fetched)
                return "304 NOT MODIFIED", [("Cache-Control", "no-cache"),
                                            ("ETag", f'"{serial}-{version.update_tag}"'), _NOSNIFF], b""
            fetched = apple_ws.stored_version(reads, fetched, self._build_key())
            stored = fetched.stored
            if stored is None or stored.data is None:
                return None  # not signed yet: the route signs it (once) and records the fetch
            # After a campaign's push every device fetches at once: their writes go out together (not one
            # transaction each, queueing for SQLite's write lock while the device waits).
            apple_ws.record(reads, s.clock, fetched, soon=True)
        except Unauthorized as exc:
            body = error_json(exc).encode()
            return "401 UNAUTHORIZED", [("Content-Type", "application/problem+json"),
                                        ("Content-Length", str(len(body))), _WWW_AUTHENTICATE, _NOSNIFF], body
        except Exception:  # as in _updated
            return None
        # The route's answer for stored bytes (SignedPasses.latest), header for header.
        return "200 OK", [("Last-Modified", http_date(stored.last_modified)), ("Cache-Control", "no-cache"),
                          ("ETag", f'"{serial}-{stored.update_tag}"'), _PKPASS,
                          ("Content-Length", str(len(stored.data))), _NOSNIFF], stored.data

    def _build_key(self) -> str:
        """What built the stored bytes this process may serve (PassBuilder.fingerprint: templates, certificates,
        web service URL); reading it loads the builder once (a failure, such as no certificate, goes to Flask,
        which reports it)."""
        key = self._key
        if key is None:
            key = self._key = self._services.pass_builder.fingerprint
        return key
