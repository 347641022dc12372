"""API keys: created once (the key is shown once), stored as a keyed hash, checked in constant time.

A key is ``wp_<prefix>_<secret>``: the prefix finds its row, and the row holds ``hmac-sha256$…``, an HMAC of
the key under a key derived from the instance secret (``walletpass.ids.ApiKeyHasher``). So every process of an
instance (``serve`` workers, the CLI, on every machine) must share that secret, and changing it invalidates every
key. A wrong key costs one indexed read and one HMAC, never a slow hash. Rows from before that form hold passlib's
PBKDF2 hash; they still verify (slowly) and are rewritten to the HMAC form on their first successful use.

A key may be bound to programs (``programs``): it then sees only their resources (see ``ensure_visible``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from passlib.hash import pbkdf2_sha256

from walletpass.domain.api_keys import ApiKey
from walletpass.errors import ConfigurationError, Forbidden, InvalidInput, NotFound, Unauthorized, WalletpassError
from walletpass.ids import API_KEY_HMAC, ApiKeyHasher, api_key_prefix, new_api_key, same
from walletpass.ports import Clock, SystemClock, UnitOfWork

SCOPES = ("admin", "programs", "members", "points", "offers", "campaigns", "stats", "webhooks", "pos")

#: What a point-of-sale (till) key can do with the ``pos`` scope and nothing else: look a member up (by barcode,
#: external_id, email, phone) and read them, add and list their transactions, look a coupon up by its code and
#: redeem it. The routes that allow it say so (``require_key(..., "pos")``).
POS = "pos"

#: What a program-bound key's check needs to know of a resource: the name its 404 uses ("member 7 not found",
#: as the repositories say for one that does not exist).
RESOURCES = ("program", "member", "offer", "coupon", "coupon issue", "campaign", "transaction", "member import")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Principal:
    api_key_id: int
    name: str
    scopes: tuple[str, ...]
    #: The programs this key may touch; None: every program (and creating programs).
    programs: tuple[int, ...] | None = None

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def create_api_key(uow: UnitOfWork, clock: Clock, hasher: ApiKeyHasher, name: str,
                   scopes: Sequence[str] = ("admin",), *, programs: Sequence[int] | None = None) -> str:
    """Create a key and return it; only its hash is stored, so this is the one time it is seen.

    *hasher*: the instance's (``Services.api_keys.hasher``). *programs*: ids of existing programs the key is
    limited to; None for every program.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("name", "give the key a name of 1–100 characters")
    for s in scopes:
        if s not in SCOPES:
            raise InvalidInput("scope", f"unknown scope {s!r}; use some of {list(SCOPES)}")
    bound = None if programs is None else sorted(set(programs))
    if bound is not None and not bound:
        raise InvalidInput("program", "give at least one program id, or none for a key of every program")
    key, prefix = new_api_key()
    with uow:
        for program_id in bound or ():
            try:
                uow.programs.get(program_id)
            except NotFound:
                raise InvalidInput("program", f"there is no program {program_id}; give the id of an existing "
                                   "program") from None
        uow.api_keys.add(name=name, prefix=prefix, key_hash=hasher.hash(key), scopes=scopes, programs=bound,
                         now=clock.now())
        uow.commit()
    return key


#: How often a process looks whether a key was revoked (one indexed read of the revocations counter, at most once
#: per this many seconds): a revoked key is refused by every process within this time, by the one that revoked
#: it at once.
RECHECK_SECONDS = 1.0
#: last_used_at is written when a key is used and the stored time is older than this: a write per key every few
#: minutes at most, never one per request.
LAST_USED_PRECISION = timedelta(minutes=5)


class ApiKeyVerifier:
    """Verify bearer keys against their rows; a verified key is remembered for ``ttl`` seconds (keyed by its
    HMAC, never the key itself), so changes take effect within that time; revocations within ``recheck`` seconds
    (the process reads the revocations counter that often and forgets every key when it moved)."""

    def __init__(self, instance_secret: str, *, read_uow: Callable[[], UnitOfWork],
                 uow: Callable[[], UnitOfWork], ttl: float = 30.0, recheck: float = RECHECK_SECONDS,
                 clock: Clock | None = None) -> None:
        if not instance_secret:
            raise ConfigurationError("the instance secret is empty (WALLETPASS_SECRET_KEY, else "
                                     "<instance>/secret_key): API keys cannot be checked")
        self.hasher = ApiKeyHasher(instance_secret)
        self._read_uow = read_uow
        self._uow = uow
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        self._warned: set[int] = set()
        self._recheck = recheck
        self._clock = clock or SystemClock()
        self._revocations: int | None = None
        self._checked_at = float("-inf")

    def forget(self) -> None:
        """Drop every remembered key (this process revoked one: it is refused from the next request on)."""
        with self._lock:
            self._cache.clear()
            self._checked_at = float("-inf")

    def _check_revocations(self) -> None:
        """Forget every remembered key when a key was revoked (by any process) since the last look."""
        now = time.monotonic()
        if now - self._checked_at < self._recheck:
            return
        with self._read_uow() as uow:
            seen = uow.api_keys.revocations()
        with self._lock:
            if self._revocations is not None and seen != self._revocations:
                self._cache.clear()
            self._revocations, self._checked_at = seen, now

    def verify(self, key: str) -> Principal:
        """The principal of *key*; Unauthorized when it is malformed, unknown, wrong or revoked."""
        prefix = api_key_prefix(key)
        if prefix is None:
            raise Unauthorized("invalid API key")
        digest = self.hasher.hash(key)
        self._check_revocations()
        with self._lock:
            hit = self._cache.get(digest)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        with self._read_uow() as uow:
            row = uow.api_keys.by_prefix(prefix)
            if row is None:
                raise Unauthorized("invalid API key")
            key_id, stored, revoked = row.id, row.key_hash, row.revoked_at is not None
            principal = Principal(row.id, row.name, row.scopes, row.programs)
            last_used = row.last_used_at
        if stored.startswith(API_KEY_HMAC):
            ok = same(digest, stored)
            if not ok:
                self._warn_if_other_secret(key_id, stored)
        else:  # made before the HMAC form: passlib's PBKDF2 (slow, but only for such rows)
            ok = _legacy_verify(key, stored)
            if ok and not revoked:
                self._rehash(key_id, prefix, stored, digest)
        if not ok or revoked:
            raise Unauthorized("invalid API key")
        self._mark_used(key_id, last_used)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (time.monotonic() + self._ttl, principal)
        return principal

    def _mark_used(self, key_id: int, last_used: datetime | None) -> None:
        """Store when the key was used, if the stored time is older than LAST_USED_PRECISION (or unset)."""
        now = self._clock.now()
        if last_used is not None and last_used > now - LAST_USED_PRECISION:
            return
        try:
            with self._uow() as uow:
                uow.api_keys.mark_used(key_id, now, unless_after=now - LAST_USED_PRECISION)
                uow.commit()
        except WalletpassError as exc:  # the key is valid all the same; the next read tries again
            log.warning("API key %d: could not record its use (%s)", key_id, exc.detail)

    def _rehash(self, key_id: int, prefix: str, old: str, new: str) -> None:
        """Store the HMAC form of a key that just verified against its legacy hash (if nobody changed it)."""
        try:
            with self._uow() as uow:
                if uow.api_keys.replace_hash(key_id, old, new):
                    uow.commit()
        except WalletpassError as exc:  # the key is valid all the same; the next use tries again
            log.warning("API key %d: could not store its new hash (%s)", key_id, exc.detail)

    def _warn_if_other_secret(self, key_id: int, stored: str) -> None:
        """A hash made under another instance secret: say so once, as every use of the key will fail."""
        if ApiKeyHasher.id_of(stored) == self.hasher.id or key_id in self._warned:
            return
        self._warned.add(key_id)
        log.warning("API key %d was hashed under another instance secret (hasher %s, this process %s): every "
                    "process of the instance must share WALLETPASS_SECRET_KEY (or <instance>/secret_key); a "
                    "changed secret invalidates the keys made before", key_id, ApiKeyHasher.id_of(stored),
                    self.hasher.id)


def _legacy_verify(key: str, stored: str) -> bool:
    try:
        return bool(pbkdf2_sha256.verify(key, stored))
    except (ValueError, TypeError):  # not a hash passlib knows: nothing verifies against it
        return False


def revoke_api_key(uow: UnitOfWork, clock: Clock, ident: str) -> ApiKey:
    """Revoke the key with id or prefix *ident* (``12``, ``a1b2c3d4e5f6``, or ``wp_<prefix>_…``); the key as
    stored after it. Revoking a revoked key changes nothing; NotFound for an id or prefix no key has."""
    text = ident.strip()
    with uow:
        found = None
        if text.isascii() and text.isdigit() and len(text) <= 10:
            found = uow.api_keys.get(int(text))
        prefix = text.split("_")[1] if text.startswith("wp_") else text
        if found is None and len(prefix) == 12 and all(c in "0123456789abcdef" for c in prefix):
            found = uow.api_keys.by_prefix(prefix)
        if found is None:
            raise NotFound(f"no API key has the id or prefix {ident!r}; 'walletpass apikey list' shows them")
        uow.api_keys.revoke(found.id, clock.now())
        after = uow.api_keys.get(found.id)
        uow.commit()
    assert after is not None
    return after


def ensure_visible(principal: Principal, uow: Callable[[], UnitOfWork], resource: str, ident: int) -> None:
    """Raise NotFound unless *principal* may touch *resource* *ident* — the same 404 as for one that does not
    exist, so a key bound to programs learns nothing of the others. Reads the resource's program (one or two
    primary-key reads) only for a key bound to programs and a resource other than a program.
    """
    if principal.programs is None:
        return
    if resource not in RESOURCES:
        raise ValueError(f"unknown resource {resource!r}; one of {RESOURCES}")
    program_id = ident if resource == "program" else _program_of(uow, resource, ident)
    if program_id not in principal.programs:
        raise NotFound(f"{resource} {ident} not found")


def ensure_unbound(principal: Principal) -> None:
    """Raise Forbidden when *principal* is bound to programs (for what concerns every program, e.g. creating one)."""
    if principal.programs is not None:
        raise Forbidden(f"this API key is limited to programs {list(principal.programs)}; this needs a key for "
                        "every program")


def _program_of(uow: Callable[[], UnitOfWork], resource: str, ident: int) -> int:
    """The program a member, offer, coupon or coupon issue belongs to (never changes); NotFound as its read says."""
    with uow() as u:
        if resource == "member":
            return u.members.get(ident).program_id
        if resource == "transaction":
            return u.members.get(u.ledger.get(ident).member_id).program_id
        if resource == "offer":
            return u.offers.get(ident).program_id
        if resource == "campaign":
            return u.campaigns.get(ident).program_id
        if resource == "member import":
            return u.imports.get(ident).program_id
        offer_id = u.offers.coupon(ident).offer_id if resource == "coupon" else u.offers.issue(ident).offer_id
        return u.offers.get(offer_id).program_id
