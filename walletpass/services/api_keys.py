"""API keys: created once (the key is shown once), stored as a salted hash, checked in constant time."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from passlib.hash import pbkdf2_sha256

from walletpass.errors import InvalidInput, Unauthorized
from walletpass.ids import api_key_prefix, new_api_key, sha256_hex
from walletpass.ports import Clock, UnitOfWork

SCOPES = ("admin", "programs", "members", "points", "offers", "campaigns", "stats")


@dataclass(frozen=True, slots=True)
class Principal:
    api_key_id: int
    name: str
    scopes: tuple[str, ...]

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def create_api_key(uow: UnitOfWork, clock: Clock, name: str, scopes: Sequence[str] = ("admin",)) -> str:
    """Create a key and return it; only its hash is stored, so this is the one time it is seen."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("name", "give the key a name of 1–100 characters")
    for s in scopes:
        if s not in SCOPES:
            raise InvalidInput("scope", f"unknown scope {s!r}; use some of {list(SCOPES)}")
    key, prefix = new_api_key()
    with uow:
        uow.api_keys.add(name=name, prefix=prefix, key_hash=pbkdf2_sha256.hash(key), scopes=scopes, now=clock.now())
        uow.commit()
    return key


class ApiKeyVerifier:
    """Verify bearer keys. A PBKDF2 check costs milliseconds, so a verified key is remembered briefly
    (keyed by its SHA-256, never the key itself); revocation takes effect within ``ttl`` seconds."""

    def __init__(self, ttl: float = 30.0) -> None:
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def verify(self, uow: UnitOfWork, key: str) -> Principal:
        digest = sha256_hex(key)
        with self._lock:
            hit = self._cache.get(digest)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        prefix = api_key_prefix(key)
        with uow:
            row = uow.api_keys.by_prefix(prefix) if prefix else None
            found = (row.key_hash, row.revoked_at is None,
                     Principal(row.id, row.name, tuple(row.scopes))) if row else None
        # The slow hash check runs after the (read-only) transaction, holding nothing. Always one check, so
        # unknown prefixes cost the same as wrong secrets.
        ok = pbkdf2_sha256.verify(key, found[0] if found else _DUMMY_HASH)
        if found is None or not ok or not found[1]:
            raise Unauthorized("invalid API key")
        principal = found[2]
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (time.monotonic() + self._ttl, principal)
        return principal


_DUMMY_HASH = pbkdf2_sha256.hash("walletpass-dummy-key")
