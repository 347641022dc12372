"""Push policy: what an APNs answer means and when to try again. PURE: no I/O, no clock, no global RNG.

The table follows apple.md §4 ("Responses"):

======================  ================  ==============================================================
APNs answer             kind              what the caller does
======================  ================  ==============================================================
200                     ``ok``            keep the registration
410 (Unregistered,      ``unregistered``  delete the device's registrations (the token is dead)
ExpiredToken), 400
BadDeviceToken
429, 500, 503, other    ``retry``         try again later with backoff + jitter (new connection for 503)
5xx, status 0
(transport / GOAWAY)
403                     ``forbidden``     stop: the certificate is wrong/revoked; report it in health
other 4xx (BadTopic,    ``error``         a configuration bug: alert, do not retry blindly
BadPriority, 404, …)
======================  ================  ==============================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    """Classification of one push attempt."""

    OK = "ok"
    UNREGISTERED = "unregistered"
    RETRY = "retry"
    FORBIDDEN = "forbidden"
    ERROR = "error"


#: 400 reasons that mean the token itself is bad: treated like 410 (VPK deletes the device, apple.md §4).
UNREGISTERED_400_REASONS = frozenset({"BadDeviceToken"})


def classify(status: int, reason: str = "") -> Outcome:
    """Return what an APNs *status* (0 = no HTTP answer) with *reason* means for the caller."""
    if status == 200:
        return Outcome.OK
    if status == 410 or (status == 400 and reason in UNREGISTERED_400_REASONS):
        return Outcome.UNREGISTERED
    if status == 0 or status == 429 or 500 <= status <= 599:
        return Outcome.RETRY
    if status == 403:
        return Outcome.FORBIDDEN
    return Outcome.ERROR


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """The final answer for one device token.

    ``status`` is the HTTP status, or 0 when no answer arrived (connection refused/reset, GOAWAY, timeout);
    ``reason`` is APNs' ``reason`` (or the transport error text when ``status`` is 0); ``apns_id`` is the
    ``apns-id`` APNs echoed; ``timestamp`` is the 410 body's timestamp (ms since the epoch), when given.
    """

    token: str
    status: int
    reason: str = ""
    apns_id: str | None = None
    timestamp: int | None = None

    @property
    def kind(self) -> Outcome:
        """The classification of this answer (see the module table)."""
        return classify(self.status, self.reason)

    @classmethod
    def transport_failure(cls, token: str, reason: str) -> PushOutcome:
        """An attempt that got no HTTP answer; always retryable."""
        return cls(token=token, status=0, reason=reason)


class RandomSource(Protocol):
    """What the backoff needs of an RNG: ``random.Random`` fits."""

    def random(self) -> float: ...


DEFAULT_BASE = 0.5   # seconds before the first retry (upper bound)
DEFAULT_CAP = 30.0   # never wait longer than this between two attempts


def backoff_delay(attempt: int, *, base: float = DEFAULT_BASE, cap: float = DEFAULT_CAP,
                  rng: RandomSource) -> float:
    """Return the seconds to wait after failed attempt number *attempt* (1-based).

    Exponential with "equal jitter": the ceiling ``min(cap, base * 2**(attempt-1))`` is split into a fixed
    half and a random half, so the delay lies in ``[ceiling/2, ceiling]``. Jitter spreads the retries of
    many tokens that failed together (one 503 on a shared connection) instead of re-sending them in step.
    """
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 62))
    half = ceiling / 2.0
    return half + half * rng.random()


def should_retry(outcome: PushOutcome, attempt: int, max_attempts: int) -> bool:
    """Return True if *outcome* of attempt number *attempt* deserves another try within *max_attempts*.

    Only ``retry`` outcomes are retried; 403 and other 4xx never are (retrying cannot fix a certificate or a
    configuration bug and would only hammer APNs).
    """
    return outcome.kind is Outcome.RETRY and attempt < max_attempts


def parse_error_body(body: bytes) -> tuple[str, int | None]:
    """Return ``(reason, timestamp)`` from an APNs error body ``{"reason": …[, "timestamp": …]}``.

    A body that is empty or not the documented JSON gives ``("", None)``; it never raises.
    """
    if not body:
        return "", None
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "", None
    if not isinstance(doc, dict):
        return "", None
    reason = doc.get("reason")
    timestamp = doc.get("timestamp")
    return (reason if isinstance(reason, str) else "",
            timestamp if isinstance(timestamp, int) and not isinstance(timestamp, bool) else None)


def short_token(token: str, keep: int = 8) -> str:
    """Return *token* shortened for logs: device tokens are personal data and are never logged in full."""
    return token[:min(keep, len(token) // 2)] + "…"


__all__ = [
    "DEFAULT_BASE",
    "DEFAULT_CAP",
    "Outcome",
    "PushOutcome",
    "RandomSource",
    "UNREGISTERED_400_REASONS",
    "backoff_delay",
    "classify",
    "parse_error_body",
    "short_token",
]
