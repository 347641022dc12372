"""A real Google Wallet stand-in: an HTTP/1.1 keep-alive server (stdlib ``http.server``) on 127.0.0.1 in a thread.

(werkzeug's dev server closes every connection; Google keeps them open, and the client's connection reuse is
part of what we test, so the server is ``ThreadingHTTPServer`` with werkzeug only for URL routing.)

Routes:

- ``POST /token`` — OAuth 2 JWT-bearer grant: the assertion must be RS256-signed by the dev service-account key
  (checked with PyJWT against the public key of the key file), ``aud`` = this token URL, ``scope`` present.
- ``/walletobjects/v1/{loyaltyClass,loyaltyObject,offerClass,offerObject}`` — insert (POST), get (GET),
  patch (PATCH), update (PUT), addMessage (POST ``…/{id}/addMessage``). Bearer token required. Every body is
  validated against Google's own discovery document (:mod:`walletpass.google.schema`, Google-lenient mode:
  deprecated fields allowed, unknown fields/types/enums rejected, "Required." enforced except on PATCH) plus the
  cross-field rules; a violation gets **400** in Google's error shape. Duplicate insert → 409, unknown id → 404,
  object whose class is missing → 404.
- Notification quota: "Both message and update notifications are limited to 3 per pass within a 24-hour
  period" (google.md §3.5). Notifying messages (``TEXT_AND_NOTIFY``) and notifying updates (PATCH/PUT with
  ``notifyPreference: NOTIFY_ON_UPDATE``) count together; a 4th of either within 24 h gets **429**
  ``RESOURCE_EXHAUSTED`` with reason ``quotaExceeded`` ("QuotaExceededException", google.md §3.3/§3.5; Google does
  not document the status, 429 is what gRPC's RESOURCE_EXHAUSTED maps to; for updates Google documents only the
  limit, so refusing is this fake's stricter reading: a client over the cap fails loudly here).
- ``linkedObjectIds`` (google.md §2.2, DISCO): every id must be an object already inserted (else 404); "Once
  linked, the linked objects cannot be unlinked" — a PATCH/PUT adds to the stored list and never removes; past
  :attr:`FakeGoogle.link_limit` (Google's limit is unpublished; None here: no limit) new links are "ignored
  silently".
- Message ids are not unique: DISCO ``Message.id`` — "ID values could possibly duplicate across multiple messages
  in the same class/instance" — so a repeated addMessage adds the message again, as Google would.
- ``GET /gp/m/issuer/keys`` — callback root keys (set with :meth:`FakeGoogle.set_callback_keys`), fetches counted.
- :meth:`FakeGoogle.save_link`: what Google does when a user saves a link — the classes and objects its JWT
  carries are created (a skinny link's must exist already).
- :meth:`FakeGoogle.lose_next_answer`: the request is carried out, then the connection closes with no answer
  (a timeout or a reset after Google acted: the client cannot tell whether it did).

Usage::

    with FakeGoogle(pki.certs_dir / "google-service-account.json") as google:
        settings = Settings.for_tests(tmp, google_api_url=google.url, google_token_url=google.token_url)
        google.fail_next(429, times=2)       # next 2 API requests answer 429
        google.requests                      # [Recorded(method, path, body, status, at, client_port), ...]
        google.tokens_issued, google.store, google.notify_count(object_id)
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule

from walletpass.google import schema

SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
RESOURCES = {"loyaltyClass": "LoyaltyClass", "loyaltyObject": "LoyaltyObject",
             "offerClass": "OfferClass", "offerObject": "OfferObject"}
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
#: The status of an answer that is never sent (lose_next_answer).
LOST = 0
REASONS = {400: "invalid", 401: "authError", 404: "notFound", 409: "duplicate", 429: "rateLimitExceeded",
           500: "backendError", 503: "backendError"}


@dataclass
class Response:
    body: bytes
    status_code: int = 200
    headers: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.headers = {"Content-Type": "application/json; charset=UTF-8", **(self.headers or {})}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    body: Any
    status: int
    at: float          # time.monotonic() when the request arrived
    client_port: int   # distinct ports = distinct TCP connections


class GoogleError(Exception):
    def __init__(self, status: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason or REASONS.get(status, "error")

    def response(self) -> Response:
        doc = {"error": {"code": self.status, "message": self.message, "status": STATUS_NAMES.get(self.status, "UNKNOWN"),
                         "errors": [{"message": self.message, "domain": "global", "reason": self.reason}]}}
        return Response(json.dumps(doc).encode(), self.status)


class FakeGoogle:
    """Token endpoint + walletobjects v1 + callback keys, validating like Google (see module docstring)."""

    def __init__(self, key_file: Path, *, clock: Callable[[], float] = time.time) -> None:
        info = json.loads(Path(key_file).read_text())
        private = serialization.load_pem_private_key(info["private_key"].encode(), None)
        self._public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.client_email = info["client_email"]
        self.clock = clock
        self.store: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.tokens_issued = 0
        self.token_errors: list[str] = []
        self.keys_fetches = 0
        self._keys_doc: bytes = b'{"keys": []}'
        self._tokens: set[str] = set()
        self._failures: list[tuple[int, str | None, float | None]] = []
        self._lose = 0
        self.link_limit: int | None = None
        self._notifies: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._map = Map([
            Rule("/token", endpoint="token", methods=["POST"]),
            Rule("/gp/m/issuer/keys", endpoint="keys", methods=["GET"]),
            Rule("/walletobjects/v1/<resource>", endpoint="collection", methods=["POST"]),
            Rule("/walletobjects/v1/<resource>/<rid>", endpoint="item", methods=["GET", "PATCH", "PUT"]),
            Rule("/walletobjects/v1/<resource>/<rid>/addMessage", endpoint="add_message", methods=["POST"]),
        ])
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length
            disable_nagle_algorithm = True  # headers and body go in two writes: avoid the 40 ms delayed-ACK stall

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                response = fake._handle(self.command, self.path, dict(self.headers), data, self.client_address[1])
                if response.status_code == LOST:  # carried out; the answer never arrives
                    self.close_connection = True
                    return
                self.send_response(response.status_code)
                for name, value in (response.headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.token_url = self.url + "/token"
        self.keys_url = self.url + "/gp/m/issuer/keys"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    # -- control --------------------------------------------------------------------------------
    def __enter__(self) -> FakeGoogle:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail_next(self, status: int, times: int = 1, *, reason: str | None = None,
                  retry_after: float | None = None) -> None:
        """Answer the next *times* API requests with *status* (Google's error shape)."""
        with self._lock:
            self._failures.extend([(status, reason, retry_after)] * times)

    def lose_next_answer(self, times: int = 1) -> None:
        """Carry out the next *times* API requests, then close their connection without answering."""
        with self._lock:
            self._lose += times

    def save_link(self, url: str) -> list[str]:
        """Save a "pay.google.com/gp/v/save/<jwt>" link as Google does: the JWT (signed by the service account)
        is checked, its classes and objects with more than an id are inserted unless they exist, and every
        object it names must then exist. Return the object ids saved."""
        claims = pyjwt.decode(url.rsplit("/", 1)[1], self._public_pem, algorithms=["RS256"], audience="google")
        saved = []
        with self._lock:
            for name, resources in claims["payload"].items():
                resource = name[0].lower() + name[1:].replace("Classes", "Class").replace("Objects", "Object")
                for body in resources:
                    if set(body) - {"id", "classId"} and (resource, body["id"]) not in self.store:
                        self._insert(resource, body)
                    self._get(resource, body["id"])
                    if resource.endswith("Object"):
                        saved.append(body["id"])
        return saved

    def revoke_tokens(self) -> None:
        """Forget every issued access token (the next API call with one gets 401)."""
        with self._lock:
            self._tokens.clear()

    def set_callback_keys(self, doc: dict[str, Any]) -> None:
        self._keys_doc = json.dumps(doc).encode()

    def notify_count(self, object_id: str) -> int:
        return len(self._notifies.get(object_id, []))

    def api_requests(self, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/walletobjects/")
                and (method is None or r.method == method)]

    # -- HTTP -----------------------------------------------------------------------------------
    def _handle(self, method: str, target: str, headers: dict[str, str], data: bytes, port: int) -> Response:
        arrived = time.monotonic()
        path = urlsplit(target).path
        body: Any = None
        try:
            endpoint, args = self._map.bind("127.0.0.1").match(path, method)
            if endpoint == "token":
                response = self._token(data)
            elif endpoint == "keys":
                self.keys_fetches += 1
                response = Response(self._keys_doc)
            else:
                self._check_bearer(headers)
                body = self._json(method, data)
                response = self._api(endpoint, method, args, body)
        except GoogleError as exc:
            response = exc.response()
        except HTTPException as exc:  # routing: 404 / 405
            response = GoogleError(exc.code or 500, f"{type(exc).__name__}: {exc.description}").response()
        with self._lock:
            if self._lose and path.startswith("/walletobjects/"):
                self._lose -= 1
                response = Response(b"", LOST)
            self.requests.append(Recorded(method, path, body, response.status_code, arrived, port))
        return response

    def _token(self, data: bytes) -> Response:
        form = {k: v[0] for k, v in parse_qs(data.decode("utf-8", "replace")).items()}
        try:
            if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                raise ValueError(f"unsupported grant_type {form.get('grant_type')!r}")
            claims = pyjwt.decode(form.get("assertion", ""), self._public_pem, algorithms=["RS256"],
                                  audience=self.token_url, options={"require": ["iss", "aud", "iat", "exp"]})
            if claims["iss"] != self.client_email:
                raise ValueError("iss is not the service account")
            if SCOPE not in str(claims.get("scope", "")).split():
                raise ValueError("scope missing")
        except (ValueError, pyjwt.PyJWTError) as exc:
            self.token_errors.append(str(exc))
            return Response(json.dumps({"error": "invalid_grant", "error_description": str(exc)}).encode(), 400)
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
            self.tokens_issued += 1
        return Response(json.dumps({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}).encode())

    def _check_bearer(self, headers: dict[str, str]) -> None:
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._tokens:
            raise GoogleError(401, "Request had invalid authentication credentials.")

    @staticmethod
    def _json(method: str, data: bytes) -> Any:
        if method in ("GET", "DELETE") or not data:
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise GoogleError(400, f"Invalid JSON payload received. {exc}") from None

    # -- walletobjects --------------------------------------------------------------------------
    def _api(self, endpoint: str, method: str, args: dict[str, str], body: Any) -> Response:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure:
            status, reason, retry_after = failure
            response = GoogleError(status, f"Scripted failure {status}", reason).response()
            if retry_after is not None:
                response.headers["Retry-After"] = str(retry_after)  # type: ignore[index]
            return response
        resource = args["resource"]
        if resource not in RESOURCES:
            raise GoogleError(404, f"Unknown resource {resource}")
        with self._lock:
            if endpoint == "collection":
                return _ok(self._insert(resource, body))
            if endpoint == "add_message":
                return _ok({"resource": self._add_message(resource, args["rid"], body)})
            if method == "GET":
                return _ok(self._get(resource, args["rid"]))
            return _ok(self._update(resource, args["rid"], body, partial=(method == "PATCH")))

    def _validate(self, name: str, body: Any, *, partial: bool = False) -> None:
        problems = schema.errors(name, body, partial=partial)
        if not problems and isinstance(body, dict):
            problems = schema.lint(name, body)
        if problems:
            raise GoogleError(400, f"Request contains an invalid argument. {problems[0]}")

    def _get(self, resource: str, rid: str) -> dict[str, Any]:
        try:
            return self.store[(resource, rid)]
        except KeyError:
            what = "Wallet Object Class" if resource.endswith("Class") else "Wallet Object"
            raise GoogleError(404, f"{what} {rid} not found.") from None

    def _insert(self, resource: str, body: Any) -> dict[str, Any]:
        self._validate(RESOURCES[resource], body)
        rid = body["id"]
        if (resource, rid) in self.store:
            what = "Wallet Object Class" if resource.endswith("Class") else "Wallet Object"
            raise GoogleError(409, f"{what} {rid} already exists.")
        if resource.endswith("Object"):
            class_resource = resource.replace("Object", "Class")
            if (class_resource, body["classId"]) not in self.store:
                raise GoogleError(404, f"Wallet Object Class {body['classId']} not found.")
        stored = {k: v for k, v in body.items() if k != "notifyPreference"}
        if "linkedObjectIds" in stored:
            stored["linkedObjectIds"] = self._links([], stored["linkedObjectIds"])
        if stored.get("reviewStatus") == "UNDER_REVIEW":
            stored["reviewStatus"] = "APPROVED"  # "The platform will automatically set this field to approved"
        self.store[(resource, rid)] = stored
        return stored

    def _update(self, resource: str, rid: str, body: Any, *, partial: bool) -> dict[str, Any]:
        self._validate(RESOURCES[resource], body, partial=partial)
        current = self._get(resource, rid)
        if "id" in body and body["id"] != rid:
            raise GoogleError(400, f"Request contains an invalid argument. id {body['id']} differs from {rid}")
        if body.get("notifyPreference") == "NOTIFY_ON_UPDATE":
            self._count_notification(rid)
        changes = {k: v for k, v in body.items() if k != "notifyPreference"}
        if "linkedObjectIds" in changes or current.get("linkedObjectIds"):  # links stay whatever the body says
            changes["linkedObjectIds"] = self._links(current.get("linkedObjectIds", []),
                                                     changes.get("linkedObjectIds", []))
        new = {**current, **changes} if partial else {**changes, "id": rid}  # patch: arrays replaced wholesale
        if new.get("reviewStatus") == "UNDER_REVIEW":
            new["reviewStatus"] = "APPROVED"
        self.store[(resource, rid)] = new
        return new

    def _add_message(self, resource: str, rid: str, body: Any) -> dict[str, Any]:
        self._validate("AddMessageRequest", body)
        current = self._get(resource, rid)
        msg = (body or {}).get("message")
        if not isinstance(msg, dict):
            raise GoogleError(400, "Request contains an invalid argument. message is required")
        if msg.get("messageType") == "TEXT_AND_NOTIFY":
            self._count_notification(rid)
        messages = [*current.get("messages", []), msg][-10:]
        self.store[(resource, rid)] = {**current, "messages": messages}
        return self.store[(resource, rid)]


    def _links(self, have: list[str], wanted: list[str]) -> list[str]:
        """The links an object has after a write asking for *wanted*: added, never removed, capped silently."""
        links = list(have)
        for oid in wanted:
            if not any((r, oid) in self.store for r in RESOURCES if r.endswith("Object")):
                raise GoogleError(404, f"Wallet Object {oid} not found.")
            if oid not in links and (self.link_limit is None or len(links) < self.link_limit):
                links.append(oid)
        return links

    def _count_notification(self, rid: str) -> None:
        now = self.clock()
        recent = [t for t in self._notifies.get(rid, []) if t > now - 86400]
        if len(recent) >= 3:
            raise GoogleError(429, f"QuotaExceededException: more than 3 notifications in 24 hours "
                                   f"for object {rid}", "quotaExceeded")
        self._notifies[rid] = recent + [now]


def _ok(doc: dict[str, Any]) -> Response:
    return Response(json.dumps(doc).encode())
