"""ADAPTER: POST signed webhook messages (Standard Webhooks) with one pooled httpx client per process.

Signing: ``webhook-id`` (the event id, the same on every try), ``webhook-timestamp`` (seconds since the epoch, the
wall clock of this try: receivers compare it with theirs to refuse replays) and ``webhook-signature:
v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` under the secret's key, by the ``standardwebhooks`` package.

SSRF: the host is resolved at each try and every address checked (domain.webhooks.address_allowed); the request
then goes to the checked address itself (the URL's name kept in ``Host`` and, for https, in SNI and certificate
checks), so a name cannot resolve to a public address for the check and to 169.254.169.254 for the connection.
Redirects are not followed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks.webhooks import Webhook as Signer

from walletpass.domain.webhooks import Delivery, Outcome, Webhook, address_allowed, parse_retry_after

#: Bytes of a receiver's answer kept for the error text of a failed try.
ERROR_BODY = 200
Resolver = Callable[..., list[Any]]


class WebhookSender:
    """Delivers one message per :meth:`send`; thread-safe (httpx's pool is); :meth:`close` at shutdown."""

    def __init__(self, *, timeout: float = 5.0, allow_private: bool = False,
                 wall: Callable[[], float] = time.time, resolve: Resolver = socket.getaddrinfo) -> None:
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)), follow_redirects=False, trust_env=False,
            headers={"User-Agent": "walletpass-webhooks/1"},
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))
        self._timeout = timeout
        self._allow_private = allow_private
        self._wall = wall
        self._resolve = resolve
        self._signers: dict[str, Signer] = {}

    def close(self) -> None:
        self._client.close()

    def headers(self, webhook: Webhook, delivery: Delivery, body: bytes) -> dict[str, str]:
        """The Standard Webhooks headers of one try of *delivery*."""
        signer = self._signers.get(webhook.secret)
        if signer is None:
            signer = self._signers[webhook.secret] = Signer(webhook.secret)
        now = int(self._wall())
        signature = signer.sign(delivery.event_id, datetime.fromtimestamp(now, UTC), body)
        return {"content-type": "application/json", "webhook-id": delivery.event_id,
                "webhook-timestamp": str(now), "webhook-signature": signature}

    def send(self, webhook: Webhook, delivery: Delivery, body: bytes) -> Outcome:
        parts = urlsplit(webhook.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            address = self._checked_address(host, port)
        except _Refused as exc:
            return Outcome(0, str(exc), allowed=False)
        except OSError as exc:
            return Outcome(0, f"cannot resolve {host}: {exc}")
        netloc = (f"[{address}]" if isinstance(address, IPv6Address) else str(address)) + f":{port}"
        url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        headers = {**self.headers(webhook, delivery, body), "host": parts.netloc.rpartition("@")[2]}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        try:
            with self._client.stream("POST", url, content=body, headers=headers, extensions=extensions) as resp:
                head = b""
                if not 200 <= resp.status_code < 300:
                    for chunk in resp.iter_bytes():
                        head += chunk
                        if len(head) >= ERROR_BODY:
                            break
                now = datetime.fromtimestamp(self._wall(), UTC)
                retry_after = parse_retry_after(resp.headers.get("retry-after"), now)
                error = "" if 200 <= resp.status_code < 300 else (
                    f"HTTP {resp.status_code}: {head[:ERROR_BODY].decode('utf-8', 'replace')}".strip())
                return Outcome(resp.status_code, error, retry_after)
        except httpx.TimeoutException as exc:
            return Outcome(0, f"no answer within {self._timeout:g} s ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return Outcome(0, f"connection failed: {type(exc).__name__}: {exc}"[:500])

    def _checked_address(self, host: str, port: int) -> IPv4Address | IPv6Address:
        """The first address *host* resolves to, if every one of them may be called; else :class:`_Refused`."""
        try:
            addresses = [ip_address(host)]
        except ValueError:
            infos = self._resolve(host, port, type=socket.SOCK_STREAM)
            addresses = [ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not addresses:
            raise OSError("no address")
        for address in addresses:
            if not address_allowed(address, allow_private=self._allow_private):
                raise _Refused(f"{host} resolves to {address}, an address webhooks may not call "
                               "(private, loopback, link-local or metadata)")
        return addresses[0]


class _Refused(Exception):
    pass
