"""Identifiers and secrets: serials, tokens, API keys, member numbers, coupon codes; constant-time compares."""

from __future__ import annotations

import hashlib
import hmac
import secrets

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a till
_HEX = frozenset("0123456789abcdef")
_TOKEN_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def new_token(nbytes: int = 24) -> str:
    """A URL-safe random token (``nbytes`` of entropy; 24 → 32 characters)."""
    return secrets.token_urlsafe(nbytes)


def is_token(text: str, max_length: int = 64) -> bool:
    """Whether *text* could be a :func:`new_token` (URL-safe base64, 1–*max_length* characters)."""
    return 0 < len(text) <= max_length and all(c in _TOKEN_ALPHABET for c in text)


def new_serial() -> str:
    """A pass serial number: 26 random base32 characters, unique per pass type."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(26))


def new_member_number() -> str:
    """A 12-digit member number shown on the card and in the barcode."""
    return "".join(secrets.choice("0123456789") for _ in range(12))


def new_serials(n: int) -> list[str]:
    """*n* serial numbers like :func:`new_serial`, from one read of the system's random source (a bulk import
    makes 100,000 at once: one ``secrets.choice`` per character took seconds). The alphabet has 32 characters, so
    a byte modulo 32 picks each with the same chance."""
    text = secrets.token_bytes(26 * n).translate(_SERIAL_TABLE).decode("ascii")
    return [text[i:i + 26] for i in range(0, 26 * n, 26)]


def new_member_numbers(n: int) -> list[str]:
    """*n* distinct member numbers like :func:`new_member_number` (bytes from 250 up are dropped so that each digit
    is as likely as the others)."""
    numbers: dict[str, None] = {}
    while len(numbers) < n:
        digits = secrets.token_bytes(13 * (n - len(numbers)) + 16).translate(_DIGIT_TABLE, _DIGIT_DROP).decode()
        for i in range(0, len(digits) - 11, 12):
            numbers[digits[i:i + 12]] = None
            if len(numbers) == n:
                break
    return list(numbers)


_SERIAL_TABLE = bytes(ord(_CODE_ALPHABET[b % 32]) for b in range(256))
_DIGIT_TABLE = bytes(ord(str(b % 10)) for b in range(256))
_DIGIT_DROP = bytes(range(250, 256))


def new_coupon_code() -> str:
    """A coupon code like ``K7QX-M2PA-9TRE`` (60 bits)."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"{raw[0:4]}-{raw[4:8]}-{raw[8:12]}"


def same(a: str | bytes, b: str | bytes) -> bool:
    """Compare two secrets in constant time."""
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return hmac.compare_digest(a, b)


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


#: How an API key's stored hash starts when it is a keyed SHA-256 (the form every key is stored in now).
API_KEY_HMAC = "hmac-sha256$"

_API_KEY_SECRET_LENGTH = 43  # secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """Return (key, prefix): ``wp_<prefix>_<secret>``; the prefix finds the row, the secret is hashed."""
    prefix = secrets.token_hex(6)
    return f"wp_{prefix}_{secrets.token_urlsafe(32)}", prefix


def api_key_prefix(key: str) -> str | None:
    """The lookup prefix of an API key, or None if it is not shaped like one of ours (then no row is read)."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "wp" or len(parts[1]) != 12 or len(parts[2]) != _API_KEY_SECRET_LENGTH:
        return None
    if not all(c in _HEX for c in parts[1]):  # what new_api_key makes; a NUL here would reach PostgreSQL → 500
        return None
    if not all(c in _TOKEN_ALPHABET for c in parts[2]):
        return None
    return parts[1]


class ApiKeyHasher:
    """Hashes API keys with HMAC-SHA-256 under a key derived from the instance secret.

    The stored form is ``hmac-sha256$<hasher id>$<hex HMAC of the whole key>``. API keys are 256-bit random
    secrets, so one keyed hash is as strong as a slow one and costs microseconds instead of milliseconds (slow
    hashes are for what people choose and type: passwords). The hasher id (8 hex digits, derived from the
    secret too) tells a hash made under another instance secret from a wrong key.
    """

    __slots__ = ("_key", "id", "_head")

    def __init__(self, instance_secret: str) -> None:
        if not instance_secret:
            raise ValueError("the instance secret is empty")
        # Its own purpose label: the same secret can key other things without the two ever meeting.
        self._key = hmac.new(instance_secret.encode(), b"walletpass/api-key-hash/v1", hashlib.sha256).digest()
        self.id = hmac.new(self._key, b"walletpass/api-key-hash/id", hashlib.sha256).hexdigest()[:8]
        self._head = f"{API_KEY_HMAC}{self.id}$"

    def hash(self, key: str) -> str:
        """The stored form of *key*."""
        return self._head + hmac.new(self._key, key.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    @staticmethod
    def id_of(stored: str) -> str | None:
        """The hasher id of a stored ``hmac-sha256$…`` hash (None for another form)."""
        if not stored.startswith(API_KEY_HMAC):
            return None
        return stored[len(API_KEY_HMAC):].split("$", 1)[0]


def new_webhook_secret() -> str:
    """A webhook signing secret as Standard Webhooks writes it: ``whsec_`` + base64 of 32 random bytes."""
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_event_id() -> str:
    """The id of a webhook event (``webhook-id``): ``evt_`` and 20 random URL-safe characters."""
    return "evt_" + secrets.token_urlsafe(15)
