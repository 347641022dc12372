"""Members and their points: the ledger rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from walletpass.errors import Conflict, InvalidInput, NotFound

#: Largest balance or single transaction we accept (fits a 32-bit int: Google's balance.int is int32).
MAX_POINTS = 1_000_000_000

#: Longest ``src`` (the members.source and pass_events.source columns are 64 wide).
MAX_SOURCE = 64
# \Z, not $: "$" also matches before a final newline.
_SOURCE = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_SOURCE - 1}}}\Z")


def parse_source(value: object, field: str = "src") -> str:
    """A ``src`` (where a member came from: ``flyer-a``, ``instagram``): a short slug of 1–64 letters, digits, '.',
    '_' or '-', starting with a letter or digit. The one rule for the flyer QR code, the enrolment page and the
    funnel, so every value a QR code carries is one the enrolment keeps and the stats count."""
    if not isinstance(value, str) or not _SOURCE.match(value):
        raise InvalidInput(field, f"must be 1–{MAX_SOURCE} characters of A–Z, a–z, 0–9, '.', '_', '-', starting "
                                  "with a letter or digit (e.g. flyer-a)")
    return value


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    program_id: int
    name: str
    member_number: str
    points: int = 0
    tier: str | None = None
    email: str | None = None
    external_id: str | None = None
    created_at: datetime | None = None
    #: the ``src`` the member enrolled from (a flyer, ``api``, ``demo``)
    source: str | None = None
    version: int = 1
    updated_at: datetime | None = None
    birthday: date | None = None
    #: normalised by :func:`normalize_phone`: ``+`` and digits, or digits alone
    phone: str | None = None
    #: when they accepted the program's terms (the enrolment page), and the SHA-256 of the text they were shown
    consented_at: datetime | None = None
    consent_terms_sha256: str | None = None
    #: when the member was erased (personal data gone, passes voided); None: not erased
    erased_at: datetime | None = None


def not_erased(member: Member) -> Member:
    """*member*, unless erased: an erased member is gone for every route of the API but DELETE (404)."""
    if member.erased_at is not None:
        raise NotFound(f"member {member.id} was erased")
    return member


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """A points transaction: the source of truth of a balance (the balance after it is kept with it)."""

    id: int
    member_id: int
    points: int
    balance: int
    reason: str
    created_at: datetime
    api_key_id: int | None = None


def apply_points(balance: int, delta: int) -> int:
    """Return the new balance after *delta*; a spend beyond the balance is a Conflict (409)."""
    if isinstance(delta, bool) or not isinstance(delta, int):
        raise InvalidInput("points", "must be an integer")
    if delta == 0:
        raise InvalidInput("points", "must not be 0")
    if abs(delta) > MAX_POINTS:
        raise InvalidInput("points", f"must be between -{MAX_POINTS} and {MAX_POINTS}")
    new = balance + delta
    if new < 0:
        raise Conflict(f"insufficient points: balance is {balance}, cannot spend {-delta}")
    if new > MAX_POINTS:
        raise InvalidInput("points", f"balance would exceed {MAX_POINTS}")
    return new


#: Separators people type inside a phone number; they are dropped when it is stored.
_PHONE_SEPARATORS = str.maketrans("", "", " -.()/\u00a0")


def normalize_phone(value: str, field: str = "phone") -> str:
    """A phone number as stored and looked up: an optional leading ``+`` then 6–15 digits (E.164's length), the
    separators people type (spaces, dashes, dots, brackets, slashes) dropped: ``+886 912-345-678`` →
    ``+886912345678``."""
    compact = value.strip().translate(_PHONE_SEPARATORS)
    digits = compact.removeprefix("+")
    if not (digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 15):
        raise InvalidInput(field, f"{value!r} is not a phone number: an optional + and 6 to 15 digits")
    return compact


def normalize_email(value: str) -> str:
    """An email address as stored and looked up: surrounding space removed, the domain in lower case (the local
    part is the mailbox owner's: kept as typed, compared case-insensitively by lookups)."""
    local, _, domain = value.strip().rpartition("@")
    return f"{local}@{domain.lower()}"


def parse_birthday(value: str, today: date, field: str = "birthday") -> date:
    """A birthday ``YYYY-MM-DD``: a real day, not after *today*, from 1900 on."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, f"{value!r} is not a date YYYY-MM-DD") from None
    if len(value) != 10 or day.year < 1900:
        raise InvalidInput(field, f"{value!r} is not a birthday YYYY-MM-DD from 1900 on")
    if day > today:
        raise InvalidInput(field, f"{value} is in the future")
    return day
