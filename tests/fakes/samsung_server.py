"""A Samsung Wallet stand-in (samsung-android.md §1.8): Samsung's side of "Add to Samsung Wallet" and its server
API, as an HTTP/1.1 server (stdlib ``http.server``) on 127.0.0.1 in a thread.

It checks with code of its own — PyJWT for the JWS, ``cryptography`` for the JWE, its own table of Samsung's
required attributes and limits — never with walletpass's, so a mistake in ours cannot pass here.

- :meth:`FakeSamsung.add` is what a phone does with an add link: parse it (host ``a.swallet.link``, path
  ``/atw/v3/{cardId}``, fragment ``Clip?cdata=…``, a known card id), verify the JWS (RS256 with the partner's
  public key; ``cty`` CARD, ``ver`` "3", the known ``partnerId`` and ``certificateId``, ``utc`` within 30 s),
  decrypt the JWE with Samsung's private key (``alg`` RSA1_5, ``enc`` A128GCM only), validate the card (type,
  subType, 1–6 data entries, ``refId`` ≤ 32, ms timestamps, required attributes and their length limits), then
  send Send Card State ``ADDED`` with ``cc2`` and a ``callback`` pointing here.
- :meth:`FakeSamsung.card_state` / :meth:`FakeSamsung.get_card_data`: Samsung's calls to the partner with an AUTH
  token signed by Samsung's key (or, with ``valid=False``, by another key), through *partner* — a function that
  makes the HTTP request to the partner's app (the tests pass one over Flask's test client).
- ``POST /{cc2}/wltex/cards/{cardId}/updates`` (and the older ``…/notification``): Update Notification. Requires
  ``Authorization`` (RS256 by the partner key, ``cty`` AUTH, ``ver`` "3", fresh ``utc``, ``API.method``/``API.path``
  equal to this request), ``x-smcs-partner-id`` equal to the token's ``partnerId``, ``x-request-id`` (≤ 36), the
  ``cc2`` of the card's ADDED event and a known ``refId``; then calls Get Card Data back and keeps the card.
  401 for a bad token, 400 for a bad body; :meth:`FakeSamsung.fail_next` injects 429/503….
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: (method, path with query, headers, body) → (status, body): an HTTP request to the partner's app.
Partner = Callable[[str, str, dict[str, str], bytes], tuple[int, bytes]]

REQUIRED = {
    "loyalty": ("title", "providerName", "appLinkLogo", "appLinkName", "appLinkData"),
    "coupon": ("title", "mainImg", "issueDate", "expiry", "editableYn", "deletableYn", "displayRedeemButtonYn",
               "notificationYn", "appLinkLogo", "appLinkName", "appLinkData"),
}
MAX_LEN = {"title": 32, "providerName": 32, "appLinkName": 32, "appLinkLogo": 256, "appLinkData": 256,
           "subtitle1": 32, "logoImage": 256, "logoImage.darkUrl": 256, "logoImage.lightUrl": 256, "mainImg": 256,
           "brandName": 32, "noticeDesc": 5000, "barcode.value": 4096, "bgColor": 7}
MILLIS = ("issueDate", "expiry", "redeemDate", "startDate", "endDate")
FLAGS = ("editableYn", "deletableYn", "displayRedeemButtonYn", "notificationYn", "redeemYn")


class Refused(Exception):
    """What Samsung would refuse, and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Held:
    """A card in the fake's wallet."""

    card_id: str
    ref_id: str
    card: dict[str, Any]
    cc2: str
    updates: int = 0


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class FakeSamsung:
    samsung_key: rsa.RSAPrivateKey
    partner_key: rsa.RSAPublicKey
    partner_id: str
    certificate_id: str
    card_ids: tuple[str, ...]
    partner: Partner | None = None
    partner_base: str = "/samsung"
    cc2: str = "us"
    clock: Callable[[], float] = time.time
    wallet: dict[str, Held] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    status, answer = fake._server_api(self.path, headers, body), b""
                except Refused as exc:
                    status, answer = exc.status, json.dumps({"resultMessage": str(exc)}).encode()
                fake.requests.append(Recorded("POST", self.path, headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._lock = threading.Lock()

    def __enter__(self) -> FakeSamsung:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail_next(self, status: int, times: int = 1) -> None:
        self._failures += [status] * times

    # -- the add link ---------------------------------------------------------------------------------------
    def open_link(self, link: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(card id, JWS header, card) of a Data Transmit Link, every part checked (Refused otherwise)."""
        parts = urlsplit(link)
        if parts.scheme != "https" or parts.hostname != "a.swallet.link":
            raise Refused(400, f"not an add link: {link[:60]}")
        segments = parts.path.split("/")
        if len(segments) != 4 or segments[1:3] != ["atw", "v3"]:
            raise Refused(400, f"path must be /atw/v3/{{cardId}}, got {parts.path}")
        card_id = segments[3]
        if card_id not in self.card_ids:
            raise Refused(400, f"unknown card id {card_id}")
        if not parts.fragment.startswith("Clip?"):
            raise Refused(400, "the fragment must start with Clip?")
        query = parse_qs(parts.fragment[5:], keep_blank_values=True)
        if set(query) != {"cdata"} or len(query["cdata"]) != 1:
            raise Refused(400, "the fragment must carry exactly one cdata")
        header, card = self.read_cdata(query["cdata"][0])
        return card_id, header, card

    def read_cdata(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            header = pyjwt.get_unverified_header(token)
        except pyjwt.InvalidTokenError as exc:
            raise Refused(400, f"cdata is no JWS (signature unchecked): {exc}") from None
        expected = {"alg": "RS256", "cty": "CARD", "ver": "3", "partnerId": self.partner_id,
                    "certificateId": self.certificate_id}
        for name, value in expected.items():
            if header.get(name) != value:
                raise Refused(400, f"cdata header {name} must be {value!r}, got {header.get(name)!r}")
        utc = header.get("utc")
        if not isinstance(utc, int) or not -5 <= self.clock() - utc / 1000 <= 30:
            raise Refused(400, f"cdata utc {utc!r} is not within 30 s of now")
        try:
            payload = pyjwt.api_jws.PyJWS().decode_complete(token, self.partner_key, algorithms=["RS256"])["payload"]
        except pyjwt.InvalidTokenError as exc:
            raise Refused(400, f"cdata signature: {exc}") from None
        card = json.loads(self._decrypt(payload.decode("ascii")))
        self.check_card(card)
        return header, card

    def _decrypt(self, jwe: str) -> bytes:
        parts = jwe.split(".")
        if len(parts) != 5:
            raise Refused(400, "the JWS payload must be a compact JWE (5 parts)")
        header = json.loads(_b64d(parts[0]))
        if header.get("alg") != "RSA1_5" or header.get("enc") != "A128GCM":
            raise Refused(400, f"JWE must be RSA1_5/A128GCM, got {header}")
        key = self.samsung_key.decrypt(_b64d(parts[1]), padding.PKCS1v15())
        iv, ciphertext, tag = _b64d(parts[2]), _b64d(parts[3]), _b64d(parts[4])
        if len(key) != 16 or len(iv) != 12 or len(tag) != 16:
            raise Refused(400, "A128GCM: 16-byte key, 12-byte IV, 16-byte tag")
        return AESGCM(key).decrypt(iv, ciphertext + tag, parts[0].encode("ascii"))

    @staticmethod
    def check_card(doc: dict[str, Any]) -> None:
        card = doc.get("card") or {}
        kind = card.get("type")
        if kind not in REQUIRED or card.get("subType") != "others":
            raise Refused(400, f"card type/subType {kind}/{card.get('subType')}")
        data = card.get("data") or []
        if not 1 <= len(data) <= 6:
            raise Refused(400, "1-6 data entries")
        for entry in data:
            if not 1 <= len(entry.get("refId") or "") <= 32:
                raise Refused(400, "refId: 1-32 characters")
            for ts in ("createdAt", "updatedAt"):
                if not isinstance(entry.get(ts), int) or entry[ts] < 10**12:
                    raise Refused(400, f"{ts}: epoch ms")
            attrs = entry.get("attributes") or {}
            missing = [a for a in REQUIRED[kind] if attrs.get(a) in (None, "")]
            if missing:
                raise Refused(400, f"missing {missing}")
            for name, value in attrs.items():
                if isinstance(value, dict | list):
                    raise Refused(400, f"{name}: attributes are flat values")
                if name in MAX_LEN and len(str(value)) > MAX_LEN[name]:
                    raise Refused(400, f"{name} longer than {MAX_LEN[name]}")
                if name in MILLIS and (not isinstance(value, int) or value < 10**12):
                    raise Refused(400, f"{name}: epoch ms")
                if name in FLAGS and value not in ("Y", "N"):
                    raise Refused(400, f"{name}: Y or N")

    def add(self, link: str) -> Held:
        """A user taps the link: the card is checked, kept, and ADDED sent to the partner."""
        card_id, _, card = self.open_link(link)
        ref_id = card["card"]["data"][0]["refId"]
        held = self.wallet[ref_id] = Held(card_id, ref_id, card, self.cc2)
        status, _ = self.card_state(card_id, ref_id, "ADDED")
        assert status == 200, status
        return held

    # -- Samsung's calls to the partner ----------------------------------------------------------------------
    def auth(self, method: str, path: str, *, valid: bool = True, utc: float | None = None) -> str:
        """Samsung's AUTH token for one call (with *valid* False: signed by a key that is not Samsung's)."""
        key = self.samsung_key if valid else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        header = {"typ": None, "cty": "AUTH", "ver": "3", "partnerId": self.partner_id,
                  "certificateId": self.certificate_id, "utc": int((utc or self.clock()) * 1000)}
        payload = json.dumps({"API": {"method": method, "path": path}}).encode()
        return pyjwt.api_jws.PyJWS().encode(payload, key, algorithm="RS256", headers=header)

    def _call(self, method: str, path: str, query: str, body: bytes, *, valid: bool,
              token: str | None = None) -> tuple[int, bytes]:
        assert self.partner is not None, "the fake needs the partner's app to call"
        headers = {"Authorization": "Bearer " + (token or self.auth(method, path, valid=valid)),
                   "x-request-id": "0123456789abcdef0123456789abcdef"}
        return self.partner(method, path + (f"?{query}" if query else ""), headers, body)

    def card_state(self, card_id: str, ref_id: str, event: str, *, valid: bool = True,
                   cc2: str | None = None) -> tuple[int, bytes]:
        body = json.dumps({"callback": self.url}).encode() if event == "ADDED" else b""
        return self._call("POST", f"{self.partner_base}/cards/{card_id}/{ref_id}",
                          f"cc2={cc2 or self.cc2}&event={event}", body, valid=valid)

    def get_card_data(self, card_id: str, ref_id: str, *, valid: bool = True) -> tuple[int, dict[str, Any] | None]:
        """Get Card Data; the card decrypted and checked (None for 204)."""
        status, body = self._call("GET", f"{self.partner_base}/cards/{card_id}/{ref_id}", "", b"", valid=valid)
        if status != 200:
            return status, None
        answer = json.loads(body)
        if "cdata" in answer:
            return status, self.read_cdata(answer["cdata"])[1]
        self.check_card(answer)
        return status, answer

    # -- Samsung's server API ---------------------------------------------------------------------------------
    def _server_api(self, target: str, headers: dict[str, str], body: bytes) -> int:
        path = urlsplit(target).path
        segments = path.split("/")
        # /{cc2}/wltex/cards/{cardId}/updates
        if len(segments) != 6 or segments[2:4] != ["wltex", "cards"] or segments[5] not in ("updates",
                                                                                           "notification"):
            raise Refused(404, f"no route {path}")
        cc2, card_id = segments[1], segments[4]
        self._check_auth(headers, "POST", path)
        if self._failures:
            raise Refused(self._failures.pop(0), "injected failure")
        try:
            doc = json.loads(body)
            entries = doc["card"]["data"]
            kind = doc["card"]["type"]
        except (ValueError, KeyError, TypeError):
            raise Refused(400, "body must be {card: {type, data: [{refId, state}]}}") from None
        if card_id not in self.card_ids or kind not in REQUIRED:
            raise Refused(400, f"unknown card {card_id} / type {kind}")
        for entry in entries:
            held = self.wallet.get(entry.get("refId"))
            if held is None or held.card_id != card_id:
                raise Refused(400, f"unknown refId {entry.get('refId')}")
            if cc2 != held.cc2:
                raise Refused(400, f"cc2 {cc2} is not the ADDED event's {held.cc2}")
            if not entry.get("state"):
                raise Refused(400, "state is required")
            status, card = self.get_card_data(card_id, held.ref_id)
            if status != 200 or card is None:
                raise Refused(500, f"Get Card Data answered {status}")
            with self._lock:
                held.card, held.updates = card, held.updates + 1
        return 200

    def _check_auth(self, headers: dict[str, str], method: str, path: str) -> None:
        for name in ("authorization", "x-smcs-partner-id", "x-request-id"):
            if not headers.get(name):
                raise Refused(401 if name == "authorization" else 400, f"{name} header missing")
        if len(headers["x-request-id"]) > 36 or len(headers["x-smcs-partner-id"]) > 32:
            raise Refused(400, "x-request-id / x-smcs-partner-id too long")
        token = headers["authorization"].removeprefix("Bearer ").strip()
        try:
            header = pyjwt.get_unverified_header(token)
            payload = json.loads(pyjwt.api_jws.PyJWS().decode_complete(token, self.partner_key,
                                                                       algorithms=["RS256"])["payload"])
        except (pyjwt.InvalidTokenError, ValueError) as exc:
            raise Refused(401, f"token: {exc}") from None
        if header.get("cty") != "AUTH" or header.get("ver") != "3" or header.get("partnerId") != self.partner_id \
                or header.get("certificateId") != self.certificate_id:
            raise Refused(401, f"token header {header}")
        if not isinstance(header.get("utc"), int) or abs(self.clock() - header["utc"] / 1000) > 300:
            raise Refused(401, "token utc not fresh")
        if payload.get("API") != {"method": method, "path": path}:
            raise Refused(401, f"token bound to {payload.get('API')}, not {method} {path}")
        if headers["x-smcs-partner-id"] != header["partnerId"]:
            raise Refused(401, "x-smcs-partner-id differs from the token's partnerId")
