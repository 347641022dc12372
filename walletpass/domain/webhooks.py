"""Webhooks: what a subscription is, which URLs it may call, what an event says, and when a failed delivery is
tried again. PURE (the signing is HMAC over bytes; DNS and HTTP are the sender's: walletpass.webhooks).

Delivery rules (documented in README "Webhooks"):

- at least once: a delivery is done only when the receiver answered 2xx; the event id (``webhook-id`` header and
  ``id`` of the body) is the same on every try, for the receiver to dedupe;
- per member in order: a later event of a member is not sent to a webhook before an earlier one to the same
  webhook was delivered or parked (events without a member, ``campaign.finished``, have no order);
- retried with exponential backoff and jitter (:func:`next_try`) for :data:`RETRY_WINDOW` after the event, on no
  answer (timeout, connection refused or reset), 408, 425, 429 (its ``Retry-After`` honoured), 5xx;
- parked at once on any other answer: a 3xx (redirects are not followed), or a 4xx, which is the receiver's final
  word on this event (retrying it would hold up every later event of the member for a day); also on a URL that
  resolves to an address webhooks may not call. Parked deliveries stay visible in the deliveries list.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any
from urllib.parse import urlsplit

from walletpass.errors import InvalidInput

#: The event types a webhook may subscribe to ("*": all of them, also those added later).
EVENT_TYPES = ("member.enrolled", "pass.installed", "pass.removed", "points.changed", "tier.changed",
               "coupon.issued", "coupon.redeemed", "campaign.finished")
ALL = "*"

#: How long a delivery is tried before it is parked.
RETRY_WINDOW = timedelta(hours=24)
#: Backoff: FIRST_RETRY after the first failure, doubling up to MAX_RETRY_DELAY between tries.
FIRST_RETRY, MAX_RETRY_DELAY = timedelta(seconds=5), timedelta(hours=1)
#: Answers a later try may fix (besides no answer at all, status 0).
RETRY_STATUSES = frozenset({408, 425, 429})

PENDING, DELIVERED, PARKED = "pending", "delivered", "parked"
STATES = (PENDING, DELIVERED, PARKED)

#: What a body's ``data`` holds per event type: ids and the changed values only, no personal data.
DATA_FIELDS: dict[str, tuple[str, ...]] = {
    "member.enrolled": ("program_id", "member_id", "points", "tier"),
    "pass.installed": ("program_id", "member_id", "pass_id", "coupon_id", "wallet"),
    "pass.removed": ("program_id", "member_id", "pass_id", "coupon_id", "wallet"),
    "points.changed": ("program_id", "member_id", "transaction_id", "points", "balance"),
    "tier.changed": ("program_id", "member_id", "tier", "previous_tier"),
    "coupon.issued": ("program_id", "member_id", "offer_id", "coupon_id", "code"),
    "coupon.redeemed": ("program_id", "member_id", "offer_id", "coupon_id", "code"),
    "campaign.finished": ("program_id", "campaign_id", "total"),
}
#: The columns an event is stored with (each event type uses some: DATA_FIELDS).
EVENT_COLUMNS = ("program_id", "member_id", "pass_id", "coupon_id", "offer_id", "campaign_id", "transaction_id",
                 "points", "balance", "total", "tier", "previous_tier", "code", "wallet")

#: Host names of cloud metadata services: never called, whatever the settings.
METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                            "instance-data.ec2.internal"})
#: Addresses never called: link-local (169.254.169.254 is the cloud metadata service), unspecified, multicast.
_ALWAYS_REFUSED = (ip_network("169.254.0.0/16"), ip_network("fe80::/10"), ip_network("fd00:ec2::/32"),
                   ip_network("0.0.0.0/8"), ip_network("224.0.0.0/4"), ip_network("ff00::/8"), ip_network("::/128"))
MAX_URL = 2000


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    url: str
    events: tuple[str, ...]
    secret: str
    created_at: datetime

    def wants(self, event_type: str) -> bool:
        return ALL in self.events or event_type in self.events


@dataclass(frozen=True, slots=True)
class Event:
    """An event to deliver: its type, when, and its values (keys of EVENT_COLUMNS)."""

    type: str
    at: datetime
    values: Mapping[str, Any]

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}")
        unknown = set(self.values) - set(EVENT_COLUMNS)
        if unknown:
            raise ValueError(f"unknown event values {sorted(unknown)}")


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event on its way to one webhook, and how its tries went."""

    id: int
    webhook_id: int
    event_id: str
    type: str
    created_at: datetime
    values: Mapping[str, Any]
    state: str = PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


# -- subscriptions --------------------------------------------------------------------------------------------


def parse_events(raw: list[str]) -> tuple[str, ...]:
    """The event types of a subscription: known ones or "*", each once."""
    if not raw:
        raise InvalidInput("events", f"give at least one event type: {', '.join(EVENT_TYPES)}, or \"*\"")
    for i, name in enumerate(raw):
        if name != ALL and name not in EVENT_TYPES:
            raise InvalidInput(f"events[{i}]", f"unknown event type {name!r}; use {', '.join(EVENT_TYPES)} or \"*\"")
    events = tuple(dict.fromkeys(raw))
    return (ALL,) if ALL in events else events


def address_allowed(address: IPv4Address | IPv6Address, *, allow_private: bool) -> bool:
    """Whether a webhook may call *address*: a public one; with *allow_private* also loopback and private ones,
    never link-local (the cloud metadata service), unspecified or multicast ones."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in net for net in _ALWAYS_REFUSED):
        return False
    if address.is_global:
        return True
    return allow_private and (address.is_private or address.is_loopback)


def check_url(url: str, *, allow_private: bool) -> str:
    """A webhook URL: http(s), a host, no credentials; an IP literal or a name that needs no DNS (localhost,
    metadata names) must be one webhooks may call. Names are checked again at each delivery, once resolved."""
    if len(url) > MAX_URL:
        raise InvalidInput("url", f"must be at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        raise InvalidInput("url", f"is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput("url", "must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("url", "must not hold a user name or password: the signature authenticates us")
    if parts.fragment:
        raise InvalidInput("url", "must not have a #fragment")
    refused = f"{host} is not an address webhooks may call (a private, loopback, link-local or metadata address)"
    name = host.rstrip(".").lower()
    if name in METADATA_HOSTS:
        raise InvalidInput("url", refused)
    if name == "localhost" or name.endswith(".localhost"):
        if not allow_private:
            raise InvalidInput("url", refused)
        return url
    try:
        address = ip_address(host)
    except ValueError:
        return url  # a name: checked when it is resolved, at each delivery (DNS may change)
    if not address_allowed(address, allow_private=allow_private):
        raise InvalidInput("url", refused)
    return url


# -- the message --------------------------------------------------------------------------------------------------


def body(delivery: Delivery) -> bytes:
    """The JSON body of a delivery: ``{id, type, created_at, data}``, the same bytes on every try."""
    values = delivery.values
    data = {k: values.get(k) for k in DATA_FIELDS[delivery.type] if values.get(k) is not None
            or k in ("tier", "previous_tier")}
    message = {"id": delivery.event_id, "type": delivery.type,
               "created_at": delivery.created_at.isoformat().replace("+00:00", "Z"), "data": data}
    return json.dumps(message, separators=(",", ":"), sort_keys=False).encode()


# -- retries -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one try of a delivery got: an HTTP status (0: no answer), ``Retry-After`` seconds, an error text."""

    status: int
    error: str = ""
    retry_after: float | None = None
    #: False: the URL may not be called (its name resolved to a refused address): parked, never retried
    allowed: bool = True

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.allowed and (self.status == 0 or self.status >= 500 or self.status in RETRY_STATUSES)


def next_try(attempts: int, created_at: datetime, now: datetime, outcome: Outcome,
             rng: random.Random | None = None) -> datetime | None:
    """When to try a delivery again after its *attempts*-th try failed with *outcome*; None: park it.

    Exponential backoff (FIRST_RETRY doubling, at most MAX_RETRY_DELAY) with full jitter over its upper half, or
    the receiver's ``Retry-After`` when it asks for longer; never past created_at + RETRY_WINDOW.
    """
    if outcome.ok or not outcome.retryable:
        return None
    deadline = created_at + RETRY_WINDOW
    base = min(FIRST_RETRY * (2 ** max(0, attempts - 1)), MAX_RETRY_DELAY)
    delay = base * (0.5 + 0.5 * (rng or random).random())
    if outcome.retry_after is not None:
        delay = max(delay, timedelta(seconds=min(outcome.retry_after, 2 * RETRY_WINDOW.total_seconds())))
    at = now + delay
    return None if at > deadline else at


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(min(int(value), 10**7))
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


SECRET_PREFIX = "whsec_"


def parse_secret(raw: str) -> str:
    """A signing secret as Standard Webhooks writes it: ``whsec_`` and the base64 of 24–64 random bytes."""
    import base64
    import binascii

    detail = "must be whsec_ followed by the base64 of 24 to 64 random bytes (leave it out to get one made)"
    if not raw.startswith(SECRET_PREFIX):
        raise InvalidInput("secret", detail)
    try:
        key = base64.b64decode(raw[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("secret", detail) from None
    if not 24 <= len(key) <= 64:
        raise InvalidInput("secret", detail)
    return raw
