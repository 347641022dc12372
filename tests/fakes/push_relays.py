"""The Android pkpass apps' push relays on loopback, as samsung-android.md §2 describes them — WalletPasses
(``POST /api/v1/push``), Pass2U (``POST /v2/registrations/{passTypeIdentifier}/push``, ``x-api-key``) and
PassWallet (``POST /v1/pushUpdate`` and ``/v1/pushUpdates``) — one HTTP server for all three. Each checks the
request as the relay would (method, path, JSON body fields and limits, the key), records what it accepted, and
answers as the test scripts it: 200, a status, or too slowly (a timeout)."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PASS2U_PATH = re.compile(r"/v2/registrations/([A-Za-z0-9._-]+)/push\Z")


@dataclass
class Push:
    """An accepted push: which relay, for which pass type, to which tokens."""

    relay: str
    pass_type_id: str
    tokens: list[str]
    headers: dict[str, str] = field(default_factory=dict)


class PushRelays:
    """``with PushRelays() as relays:`` … ``relays.base``; set ``walletpasses_key`` / ``pass2u_key`` to require
    them, ``fail`` to a status (or ``"timeout"``) to answer the next requests so."""

    def __init__(self, *, pass_type_ids: tuple[str, ...] = (), walletpasses_key: str | None = None,
                 pass2u_key: str = "pass2u-test-key") -> None:
        self.pass_type_ids = pass_type_ids
        self.walletpasses_key = walletpasses_key
        self.pass2u_key = pass2u_key
        self.pushes: list[Push] = []
        self.refused: list[tuple[str, int, str]] = []  # (path, status, why)
        self.fail: int | str | None = None
        self.fail_times = 0
        self._lock = threading.Lock()
        relays = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = relays._handle(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                if status == 0:  # a timeout: answer after the caller gave up
                    time.sleep(1.5)
                    status = 503
                payload = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> PushRelays:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def tokens(self, relay: str) -> list[str]:
        with self._lock:
            return [t for p in self.pushes if p.relay == relay for t in p.tokens]

    # -- the relays' checks ------------------------------------------------------------------------------------
    def _handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self.fail is not None and self.fail_times > 0:
                self.fail_times -= 1
                return (0, {}) if self.fail == "timeout" else (int(self.fail), {"error": "scripted"})
        if "application/json" not in headers.get("content-type", ""):
            return self._refuse(path, 400, "Content-Type must be application/json")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._refuse(path, 400, "the body is not JSON")
        if not isinstance(body, dict):
            return self._refuse(path, 400, "the body is not a JSON object")
        if path == "/api/v1/push":
            return self._walletpasses(path, headers, body)
        if (m := PASS2U_PATH.match(path)) is not None:
            return self._pass2u(path, m[1], headers, body)
        if path in ("/passwallet/v1/pushUpdate", "/passwallet/v1/pushUpdates"):
            return self._passwallet(path, body)
        return self._refuse(path, 404, "no such relay route")

    def _walletpasses(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.walletpasses_key is not None and headers.get("authorization") != self.walletpasses_key:
            return self._refuse(path, 401, "wrong API key (the raw key, no scheme)")
        ptid, tokens = body.get("passTypeIdentifier"), body.get("pushTokens")
        if not isinstance(ptid, str) or (self.pass_type_ids and ptid not in self.pass_type_ids):
            return self._refuse(path, 400, "passTypeIdentifier")
        if not _tokens(tokens):
            return self._refuse(path, 400, "pushTokens must be a non-empty array of strings")
        return self._accept(Push("walletpasses", ptid, list(tokens), headers), {})

    def _pass2u(self, path: str, ptid: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if headers.get("x-api-key") != self.pass2u_key:
            return self._refuse(path, 403, "x-api-key missing or wrong")
        if self.pass_type_ids and ptid not in self.pass_type_ids:
            return self._refuse(path, 400, "the pass type does not match the certificate")
        ids = body.get("registrationIds")
        if not _tokens(ids) or len(ids) > 1000:
            return self._refuse(path, 400, "registrationIds: 1 to 1,000 strings")
        return self._accept(Push("pass2u", ptid, list(ids), headers), {})

    def _passwallet(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        ptid = body.get("passTypeID")
        if not isinstance(ptid, str) or "passTypeIdentifier" in body:
            return self._refuse(path, 400, "passTypeID (not passTypeIdentifier) is required")
        if path.endswith("pushUpdate"):
            token = body.get("pushToken")
            if not isinstance(token, str) or not token:
                return self._refuse(path, 400, "pushToken")
            tokens = [token]
        else:
            tokens = body.get("pushTokens")
            if not _tokens(tokens):
                return self._refuse(path, 400, "pushTokens")
        return self._accept(Push("passwallet", ptid, list(tokens)), {"status": "OK"})

    def _accept(self, push: Push, answer: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.pushes.append(push)
        return 200, answer

    def _refuse(self, path: str, status: int, why: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.refused.append((path, status, why))
        return status, {"status": "ERROR", "error": why}


def _tokens(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(t, str) and t for t in value)
