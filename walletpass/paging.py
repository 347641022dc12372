"""Cursor pages of every list in the API: keyset on the row id, oldest first, with opaque, signed cursors.

A page holds the rows whose id is greater than the cursor's, in id order, so a client that follows the ``next``
links sees every row that existed when it started exactly once, whatever is inserted meanwhile (an insert gets a
larger id; a row committed late with a smaller id than one already seen is the one case it may miss, and it did not
exist when the client started). A cursor is the last id of the page, bound to the list and its filters (its
*scope*) and signed with a key derived from the instance secret: a cursor that was altered, or that comes from
another list or other filters, is refused (InvalidInput on ``cursor``), never read as another position.

Pure: no I/O; ``api.paging`` reads the query, ``Services.cursors`` holds the instance's :class:`Cursors`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from walletpass.errors import InvalidInput

#: Rows per page when the client gives no ``limit``, and the most it may ask for.
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
_MAC_BYTES = 12
_ID_BYTES = 8


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What one page asks for: rows with id > *after_id*, at most *limit* of them."""

    after_id: int = 0
    limit: int = DEFAULT_LIMIT

    @property
    def fetch(self) -> PageRequest:
        """The same page with one row more: a repository asked for it tells whether a next page exists."""
        return PageRequest(self.after_id, self.limit + 1)


class Cursors:
    """Encode and check cursors under a key derived from the instance secret (its own purpose label)."""

    __slots__ = ("_key",)

    def __init__(self, instance_secret: str) -> None:
        if not instance_secret:
            raise ValueError("the instance secret is empty")
        self._key = hmac.new(instance_secret.encode(), b"walletpass/list-cursor/v1", hashlib.sha256).digest()

    def _mac(self, scope: str, raw_id: bytes) -> bytes:
        return hmac.new(self._key, scope.encode("utf-8", "surrogatepass") + b"\n" + raw_id,
                        hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, scope: str, after_id: int) -> str:
        """The cursor of the page after the row *after_id* of the list *scope* (URL-safe, 27 characters)."""
        raw_id = after_id.to_bytes(_ID_BYTES, "big")
        return base64.urlsafe_b64encode(raw_id + self._mac(scope, raw_id)).decode().rstrip("=")

    def decode(self, scope: str, cursor: str) -> int:
        """The id a cursor of *scope* stands for; InvalidInput when it is not one this instance gave for *scope*."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)) if cursor.isascii() else b""
        except (binascii.Error, ValueError):
            raw = b""
        raw_id, mac = raw[:_ID_BYTES], raw[_ID_BYTES:]
        if len(raw) != _ID_BYTES + _MAC_BYTES or not hmac.compare_digest(mac, self._mac(scope, raw_id)):
            raise InvalidInput("cursor", "not a cursor of this list and these filters: use the next link of the "
                                         "previous page as it is, or leave cursor out for the first page")
        return int.from_bytes(raw_id, "big")


def check_limit(limit: int) -> int:
    """*limit* if it is 1–MAX_LIMIT, else InvalidInput."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("limit", f"must be 1–{MAX_LIMIT}")
    return limit


@dataclass(frozen=True, slots=True)
class MemberFilter:
    """Which members a list holds: all conditions given must hold (exact matches; *email* case-insensitive,
    *phone* as normalised). *programs*: the programs the caller may see (None: every program)."""

    programs: tuple[int, ...] | None = None
    program_id: int | None = None
    barcode: str | None = None
    external_id: str | None = None
    email: str | None = None
    phone: str | None = None
    tier: str | None = None
    min_points: int | None = None
    max_points: int | None = None
    source: str | None = None
    enrolled_after: datetime | None = None
    enrolled_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class CouponFilter:
    """Which coupons a list holds (*state* as stored: an issued coupon of an ended offer is listed as issued until
    the expiry sweep marks it). *programs*: the programs the caller may see (None: every program)."""

    programs: tuple[int, ...] | None = None
    offer_id: int | None = None
    member_id: int | None = None
    code: str | None = None
    state: str | None = None
