"""Verify Google Wallet save/delete callbacks (``ECv2SigningOnly``, google.md §4).

:class:`CallbackVerifier` is pure given its root keys: it takes the raw body and ``now`` and returns a
:class:`CallbackEvent` or raises. The root keys come from an injected ``fetch_keys()`` callable (production:
:class:`HttpKeyFetcher` for ``settings.google_callback_keys_url``; tests: a local HTTP server) and are cached
until the earliest ``keyExpiration`` among them.

Errors (never anything that would become a 500):

- :class:`walletpass.errors.MalformedRequest` (400): not JSON, missing keys, wrong types, bad base64.
- :class:`CallbackRejected` (a :class:`walletpass.errors.Unauthorized`, 401): unknown ``protocolVersion``, no
  root key verifies the intermediate key, intermediate key expired, bad message signature, message expired,
  or the message is for another issuer.
- :class:`walletpass.errors.GoogleApiError` (a RemoteError): the root keys could not be fetched or read.

Nonce de-duplication (deliveries are retried) is the caller's: it has the database.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from walletpass.errors import GoogleApiError, MalformedRequest, Unauthorized

SENDER_ID = "GooglePayPasses"
PROTOCOL = "ECv2SigningOnly"
EVENT_TYPES = ("save", "del")
#: Keys without keyExpiration are re-fetched after this long.
DEFAULT_KEY_TTL_MS = 3_600_000
#: An answer without usable keys is asked again after this long.
EMPTY_KEYS_RETRY_MS = 60_000
#: Epoch milliseconds of 9999-12-31T23:59:59.999Z, the last instant a datetime holds.
MAX_MILLIS = 253_402_300_799_999


class CallbackRejected(Unauthorized):
    """The callback is well-formed but not authentic or no longer valid (401; the sender should not retry)."""

    code = "callback_rejected"
    title = "Google callback rejected"


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """One verified save (``"save"``) or removal (``"del"``) of a pass; dedupe on ``nonce``."""

    class_id: str
    object_id: str
    event_type: str
    nonce: str
    exp: datetime


@dataclass(frozen=True, slots=True)
class RootKey:
    """One of Google's root signing keys; ``expires_ms`` is epoch milliseconds or None."""

    key: ec.EllipticCurvePublicKey
    expires_ms: int | None


def lv(text: str) -> bytes:
    """Length-prefixed UTF-8: 4-byte little-endian length, then the bytes (Google's signed-string format)."""
    data = text.encode("utf-8")
    return len(data).to_bytes(4, "little") + data


def _ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)


def _malformed(detail: str) -> MalformedRequest:
    return MalformedRequest("body", f"Google callback: {detail}")


def _field(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _malformed(f"{where}{key} is missing or has the wrong type")
    return value


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed(f"{what} is not valid base64") from None


def _json_object(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: '[[[[…' nested too deeply
        raise _malformed(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise _malformed(f"{what} is not a JSON object")
    return value


def _millis(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    # isascii: str.isdigit() also accepts '²', which int() refuses; the length cap keeps int() cheap.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_MILLIS:
        return value
    raise _malformed(f"{where}{key} must be epoch milliseconds")


def _utf8(text: str, what: str) -> str:
    """*text*, which will be signed-over as UTF-8: JSON can spell a lone surrogate that has no UTF-8 form."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _malformed(f"{what} is not valid Unicode") from None
    return text


def _ec_key(der: bytes, what: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CallbackRejected(f"{what} is not an EC P-256 public key")
    return key


def _verifies(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def parse_root_keys(raw: bytes | str) -> list[RootKey]:
    """Read ``{"keys": [{keyValue, protocolVersion, keyExpiration}]}``; keep ECv2SigningOnly keys only."""
    try:
        doc = json.loads(raw)
        keys = []
        for item in doc["keys"]:
            if item.get("protocolVersion") != PROTOCOL:
                continue
            der = base64.b64decode(item["keyValue"], validate=True)
            exp = item.get("keyExpiration")
            keys.append(RootKey(_ec_key(der, "root key"), int(exp) if exp is not None else None))
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, CallbackRejected) as exc:
        raise GoogleApiError(f"Google callback root keys are unreadable: {exc}", reason="bad_keys") from exc
    return keys


@dataclass(frozen=True, slots=True)
class _Parsed:
    protocol: str
    signature: bytes
    signed_message: str
    message: dict[str, Any]
    signed_key: str
    key_value: bytes
    key_expiration_ms: int
    key_signatures: tuple[bytes, ...]


def _parse(body: bytes | str) -> _Parsed:
    doc = _json_object(body, "body")
    protocol = _field(doc, "protocolVersion", str, "")
    signature = _b64(_field(doc, "signature", str, ""), "signature")
    signed_message = _utf8(_field(doc, "signedMessage", str, ""), "signedMessage")
    inter = _field(doc, "intermediateSigningKey", dict, "")
    signed_key = _utf8(_field(inter, "signedKey", str, "intermediateSigningKey."), "intermediateSigningKey.signedKey")
    sigs = _field(inter, "signatures", list, "intermediateSigningKey.")
    if not sigs or not all(isinstance(s, str) for s in sigs):
        raise _malformed("intermediateSigningKey.signatures must be a non-empty list of strings")
    key_doc = _json_object(signed_key, "signedKey")
    key_value = _b64(_field(key_doc, "keyValue", str, "signedKey."), "signedKey.keyValue")
    message = _json_object(signed_message, "signedMessage")
    for key in ("classId", "objectId", "eventType", "nonce"):
        _field(message, key, str, "signedMessage.")
    _millis(message, "expTimeMillis", "signedMessage.")
    return _Parsed(protocol, signature, signed_message, message, signed_key, key_value,
                   _millis(key_doc, "keyExpiration", "signedKey."),
                   tuple(_b64(s, "intermediateSigningKey.signatures") for s in sigs))


class CallbackVerifier:
    """Verify callback bodies for issuer *issuer_id* with root keys from *fetch_keys* (cached).

    Args:
        issuer_id: our numeric issuer id (the recipient id in the signed data).
        fetch_keys: returns the raw keys document (``{"keys": [...]}``); called again only after the earliest
            ``keyExpiration`` of the cached keys has passed.
        sender_id: ``"GooglePayPasses"`` (google.md §4 notes a doc variant with ``"GoogleWalletPasses"``).
    """

    def __init__(self, issuer_id: str, fetch_keys: Callable[[], bytes | str], *, sender_id: str = SENDER_ID) -> None:
        self.issuer_id = issuer_id
        self._fetch = fetch_keys
        self._sender = sender_id
        self._keys: list[RootKey] = []
        self._valid_until_ms = -1
        self._lock = threading.Lock()

    def root_keys(self, now: datetime) -> list[RootKey]:
        """Return the unexpired root keys, fetching them when the cache ran out."""
        now_ms = _ms(now)
        with self._lock:
            if now_ms >= self._valid_until_ms:
                keys = [k for k in parse_root_keys(self._fetch()) if k.expires_ms is None or k.expires_ms > now_ms]
                expiries = [k.expires_ms for k in keys if k.expires_ms is not None]
                self._keys = keys
                if not keys:  # nothing usable: ask again soon rather than failing every callback for an hour
                    self._valid_until_ms = now_ms + EMPTY_KEYS_RETRY_MS
                else:
                    self._valid_until_ms = min(expiries, default=now_ms + DEFAULT_KEY_TTL_MS)
            keys = self._keys
        if not keys:
            raise GoogleApiError("Google published no usable ECv2SigningOnly callback key", reason="no_keys")
        return keys

    def verify(self, body: bytes | str, now: datetime) -> CallbackEvent:
        """Check *body* (the raw request body) as of *now* and return its event (google.md §4 steps 1–6)."""
        p = _parse(body)
        if p.protocol != PROTOCOL:
            raise CallbackRejected(f"unsupported protocolVersion {p.protocol!r}; expected {PROTOCOL}")
        signed_key_data = lv(self._sender) + lv(PROTOCOL) + lv(p.signed_key)
        roots = self.root_keys(now)
        if not any(_verifies(r.key, s, signed_key_data) for r in roots for s in p.key_signatures):
            raise CallbackRejected("no Google root key verifies the intermediate signing key")
        now_ms = _ms(now)
        if p.key_expiration_ms < now_ms:
            raise CallbackRejected("the intermediate signing key has expired")
        intermediate = _ec_key(p.key_value, "signedKey.keyValue")
        message_data = lv(self._sender) + lv(self.issuer_id) + lv(PROTOCOL) + lv(p.signed_message)
        if not _verifies(intermediate, p.signature, message_data):
            raise CallbackRejected("the message signature does not verify")
        m = p.message
        exp_ms = _millis(m, "expTimeMillis", "signedMessage.")
        if exp_ms < now_ms:
            raise CallbackRejected("the callback message has expired")
        prefix = self.issuer_id + "."
        if not (m["classId"].startswith(prefix) and m["objectId"].startswith(prefix)):
            raise CallbackRejected("the callback is for another issuer")
        if m["eventType"] not in EVENT_TYPES:
            raise _malformed(f"unknown eventType {m['eventType']!r}")
        return CallbackEvent(m["classId"], m["objectId"], m["eventType"], m["nonce"],
                             datetime.fromtimestamp(exp_ms / 1000, UTC))


class HttpKeyFetcher:
    """Fetch Google's callback root keys over HTTPS (ADAPTER); the verifier caches the result."""

    def __init__(self, url: str, *, timeout: float = 10.0, session: requests.Session | None = None) -> None:
        self.url = url
        self._timeout = timeout
        self._session = session or requests.Session()

    def __call__(self) -> bytes:
        try:
            resp = self._session.get(self.url, timeout=self._timeout)
        except requests.RequestException as exc:
            raise GoogleApiError(f"cannot fetch Google callback keys from {self.url}: {exc}",
                                 reason="unreachable") from exc
        if resp.status_code != 200:
            raise GoogleApiError(f"Google callback keys: {self.url} answered {resp.status_code}",
                                 status=resp.status_code, reason="bad_keys")
        return resp.content
