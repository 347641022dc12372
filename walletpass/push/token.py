"""APNs token-based authentication: an ES256 provider token made from a ``.p8`` key, cached and refreshed.

apple.md §4: the token is a JWT with header ``{"alg": "ES256", "kid": <key id>}`` and claims ``{"iss": <team id>,
"iat": <seconds>}``, sent as ``authorization: bearer <jwt>`` on every request instead of a TLS client certificate.
APNs refuses a token older than an hour (403 ``ExpiredProviderToken``) and one replaced more often than every 20
minutes (429 ``TooManyProviderTokenUpdates``), so a token is kept and reused for ``refresh_seconds`` (20-60
minutes; 50 by default) and a 403 ``ExpiredProviderToken`` renews it at most once per 20 minutes.

Wallet passes: Apple documents only certificate authentication for pass updates; token authentication is reported
to work when the key belongs to the team that owns the pass type ids (apple.md §4, §6). ``walletpass doctor`` says
so when a key is configured.

ES256 is made with ``cryptography`` (PyJWT is a test tool here): ECDSA P-256 over SHA-256 of
``base64url(header) "." base64url(claims)``; a JWS carries the signature as the raw ``r || s`` (32 + 32 bytes), not
the DER that cryptography returns (RFC 7518 §3.4).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from walletpass.errors import ConfigurationError, CredentialError

#: APNs answers 429 TooManyProviderTokenUpdates to a token replaced sooner than this (apple.md §4).
MIN_REFRESH_SECONDS = 20 * 60
#: APNs answers 403 ExpiredProviderToken to a token whose iat is older than this.
MAX_AGE_SECONDS = 60 * 60
DEFAULT_REFRESH_SECONDS = 50 * 60
#: Apple's key ids and team ids: ten upper-case letters or digits.
APPLE_ID = re.compile(r"[A-Z0-9]{10}")
_ES256_HASH = hashes.SHA256()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def load_token_key(data: bytes, what: str = "APNs key") -> ec.EllipticCurvePrivateKey:
    """The P-256 private key of a ``.p8`` file (PKCS#8 PEM, as Apple's developer portal hands it out).

    Raises:
        CredentialError: not a PEM private key, or not an EC P-256 key (saying what to download instead).
    """
    try:
        key = serialization.load_pem_private_key(data, None)
    except TypeError as exc:
        raise CredentialError(f"the {what} is encrypted; Apple's .p8 keys are not: download the key again") from exc
    except ValueError as exc:
        raise CredentialError(f"the {what} is not a .p8 private key (PKCS#8 PEM, '-----BEGIN PRIVATE KEY-----'); "
                              "download the APNs authentication key from Certificates, Identifiers & Profiles "
                              "> Keys") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CredentialError(f"the {what} is not an EC P-256 key; APNs tokens need the .p8 key Apple issues "
                              "for APNs (ES256)")
    return key


def make_provider_token(key: ec.EllipticCurvePrivateKey, key_id: str, team_id: str, issued_at: int) -> str:
    """Return the ES256 provider token ``header.claims.signature`` for *key_id* and *team_id* at *issued_at*."""
    header = _b64url(json.dumps({"alg": "ES256", "kid": key_id}, separators=(",", ":")).encode())
    claims = _b64url(json.dumps({"iss": team_id, "iat": int(issued_at)}, separators=(",", ":")).encode())
    signing_input = f"{header}.{claims}".encode("ascii")
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(_ES256_HASH)))
    return f"{header}.{claims}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


class ProviderTokens:
    """The current provider token of one APNs key: made on first use, reused for *refresh_seconds*.

    One per key per process, shared by the clients of every pass type (each new token counts against APNs'
    "no more often than every 20 minutes"). Thread-safe.

    Args:
        key: the ``.p8`` key (see :func:`load_token_key`).
        key_id: its 10-character key id (``kid``).
        team_id: the team that owns the key (``iss``); the pass type ids must be this team's.
        refresh_seconds: age at which the next request gets a new token, 20-60 minutes.
        now: the clock (aware UTC datetimes).
    """

    def __init__(self, key: ec.EllipticCurvePrivateKey, key_id: str, team_id: str, *,
                 refresh_seconds: float = DEFAULT_REFRESH_SECONDS, now: Callable[[], datetime] = _utcnow) -> None:
        if not APPLE_ID.fullmatch(key_id):
            raise ConfigurationError(f"APNs key id {key_id!r} is not a 10-character key id such as 'ABC123DEFG' "
                                     "(WALLETPASS_APNS_KEY_ID)")
        if not APPLE_ID.fullmatch(team_id):
            raise ConfigurationError(f"team id {team_id!r} is not a 10-character Apple team id such as "
                                     "'A1B2C3D4E5' (WALLETPASS_APNS_TEAM_ID or WALLETPASS_TEAM_ID)")
        if not MIN_REFRESH_SECONDS <= refresh_seconds < MAX_AGE_SECONDS:
            raise ConfigurationError("the APNs token refresh interval must be from 20 minutes to under an hour "
                                     "(APNs refuses faster updates and older tokens)")
        self.key_id = key_id
        self.team_id = team_id
        self.refresh_seconds = refresh_seconds
        self._key = key
        self._now = now
        self._lock = threading.Lock()
        self._token: str | None = None
        self._issued_at = 0
        #: tokens made so far (for tests and logs)
        self.issued = 0

    @classmethod
    def from_file(cls, path: str | Path, key_id: str, team_id: str, **kwargs: object) -> ProviderTokens:
        """Read the ``.p8`` at *path*; CredentialError with a one-line detail when it cannot be used."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise CredentialError(f"cannot read the APNs key file {path} (WALLETPASS_APNS_KEY_FILE): "
                                  f"{exc.strerror or exc}") from exc
        return cls(load_token_key(data, f"APNs key file {path}"), key_id, team_id, **kwargs)  # type: ignore[arg-type]

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def current(self) -> str:
        """The token to send now: the cached one, or a new one once it is *refresh_seconds* old."""
        now = int(self._now().timestamp())
        with self._lock:
            if self._token is None or now - self._issued_at >= self.refresh_seconds:
                self._issue(now)
            assert self._token is not None
            return self._token

    def renew(self, refused: str) -> bool:
        """After APNs answered 403 ExpiredProviderToken to *refused*: make a new token unless that would be a
        second update within 20 minutes (429 TooManyProviderTokenUpdates). Return whether the token to send now
        differs from *refused* (then retrying makes sense)."""
        now = int(self._now().timestamp())
        with self._lock:
            if self._token == refused and now - self._issued_at >= MIN_REFRESH_SECONDS:
                self._issue(now)
            return self._token != refused

    def _issue(self, now: int) -> None:
        self._token = make_provider_token(self._key, self.key_id, self.team_id, now)
        self._issued_at = now
        self.issued += 1


__all__ = ["DEFAULT_REFRESH_SECONDS", "MAX_AGE_SECONDS", "MIN_REFRESH_SECONDS", "ProviderTokens",
           "load_token_key", "make_provider_token"]
