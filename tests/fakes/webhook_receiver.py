"""A webhook receiver on loopback, as a CRM would run one: it checks each message's Standard Webhooks signature
by hand (HMAC-SHA256 of "id.timestamp.body", as the spec says — not with the library the sender uses), records
what it got, and answers as the test scripts it: 2xx, a status, too slowly (a timeout), or not at all (stopped)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: An answer: (status, seconds to wait first, extra headers).
Answer = tuple[int, float, dict[str, str]]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    #: what it was answered (0: answered too late, after the sender's timeout)
    status: int

    @property
    def message(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


def signature_ok(secret: str, headers: dict[str, str], body: bytes, *, tolerance: float = 300.0) -> bool:
    """Standard Webhooks verification, from the spec: v1 HMAC-SHA256 of ``id.timestamp.body``, key = the base64
    after ``whsec_``; a timestamp within *tolerance* seconds of now."""
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
        if abs(time.time() - int(ts)) > tolerance:
            return False
        mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
        expected = "v1," + base64.b64encode(mac).decode()
        return any(hmac.compare_digest(expected, sig) for sig in headers["webhook-signature"].split())
    except (KeyError, ValueError):
        return False


class WebhookReceiver:
    """``with WebhookReceiver() as r:`` … ``r.url``; ``r.script`` answers each request (default 204)."""

    def __init__(self, port: int = 0) -> None:
        self.secret: str | None = None
        self.received: list[Received] = []
        self.script: Callable[[dict[str, Any]], Answer] = lambda message: (204, 0.0, {})
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/walletpass"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    message = json.loads(body)
                except ValueError:
                    message = {}
                status, delay, extra = receiver.script(message)
                ok = receiver.secret is not None and signature_ok(receiver.secret, headers, body)
                with receiver._lock:  # recorded on arrival (a slow answer's sender may have gone already)
                    receiver.received.append(Received(headers, body, ok, status if not delay else 0))
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Go down: connections are refused until :meth:`start` (same port)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = None

    def accepted(self) -> list[dict[str, Any]]:
        """Messages answered 2xx, in the order they came."""
        with self._lock:
            return [r.message for r in self.received if 200 <= r.status < 300]

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
