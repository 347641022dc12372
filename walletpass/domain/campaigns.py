"""Push campaigns: a message to a segment of a program's members, shown once on each lock screen. PURE.

A campaign is ``scheduled`` (to start at ``send_at``), ``sending`` (its deliveries written, chunk by chunk handed
to the wallets), ``done``, or ``cancelled`` (nothing is handed over after the cancel commits). The message goes
into the pass's news field, whose ``changeMessage`` is ``%@``: iOS shows the new text on the lock screen
(apple.md §2); Google gets it through ``addMessage`` (google.md §3.5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from walletpass.errors import Conflict, InvalidInput

SCHEDULED, SENDING, DONE, CANCELLED = "scheduled", "sending", "done", "cancelled"
STATES = (SCHEDULED, SENDING, DONE, CANCELLED)
#: The key of a message's text for every locale it has no translation for.
DEFAULT = "*"
#: Longest message, in characters (a lock-screen line; Google's message body takes 2,000).
MAX_MESSAGE = 500
#: Passes per chunk: a chunk is one transaction (news set, versions bumped, jobs written, deliveries marked).
CHUNK = 1000
#: The longest a chunk's pushes wait for their passes to be signed ahead (a ``pass_sign`` job makes them due as
#: soon as their group is stored, usually within a second or two). Past it they go out anyway — fetches sign on a
#: miss — so a sign-ahead job that fails, or no worker free to run it, delays the message by this at most.
SIGN_AHEAD_HOLD = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Message:
    """The text of a campaign, per locale (``texts[DEFAULT]`` for the others)."""

    texts: Mapping[str, str]

    def text(self, locale: str) -> str:
        return self.texts.get(locale) or self.texts[DEFAULT]


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    program_id: int
    name: str
    message: Message
    segment: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    state: str
    send_at: datetime
    created_at: datetime
    offer_id: int | None = None
    total: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.state in (DONE, CANCELLED)


@dataclass(frozen=True, slots=True)
class CampaignMessage:
    """What wallet providers are told when a chunk of a campaign was delivered to *pass_ids* (*first*: the
    campaign's first chunk)."""

    campaign: Campaign
    pass_ids: tuple[int, ...]
    first: bool = False


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a campaign got: passes it reaches, handed to the wallets (sent), skipped, failed."""

    total: int
    sent: int
    skipped: int
    failed: int
    pending: int


def parse_message(raw: object, locales: Sequence[str], field: str = "message") -> Message:
    """A message from the API: a string (every locale), or ``{locale: text}`` for the program's locales (the first
    locale's text, or the first given, is the default)."""
    if isinstance(raw, str):
        return Message({DEFAULT: _text(raw, field)})
    if not isinstance(raw, Mapping) or not raw:
        raise InvalidInput(field, "send the text, or {locale: text} for the program's locales")
    texts = {}
    for locale, text in raw.items():
        if locale not in locales:
            raise InvalidInput(f"{field}.{locale}", f"{locale!r} is not one of the program's locales {list(locales)}")
        texts[str(locale)] = _text(text, f"{field}.{locale}")
    default = next((texts[loc] for loc in locales if loc in texts), next(iter(texts.values())))
    return Message({**texts, DEFAULT: default})


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, "must not be empty")
    text = value.strip()
    if len(text) > MAX_MESSAGE:
        raise InvalidInput(field, f"at most {MAX_MESSAGE} characters (this one has {len(text)})")
    return text


def check_cancel(campaign: Campaign) -> None:
    if campaign.finished:
        raise Conflict(f"campaign {campaign.id} is already {campaign.state}")


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Hours of the program's day when no campaign starts (default 21:00–09:00); *start* > *end* spans midnight."""

    start: time = time(21, 0)
    end: time = time(9, 0)

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def start_time(wanted: datetime, zone: str, quiet: QuietHours | None) -> datetime:
    """When a campaign asked for *wanted* starts: then, or — inside the program's quiet hours (its time *zone*) —
    when they end."""
    if quiet is None:
        return wanted
    tz = ZoneInfo(zone)
    local = wanted.astimezone(tz)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return wanted
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(wanted.tzinfo)


def estimated_seconds(passes: int, rate: float) -> float:
    """How long handing *passes* to the wallets takes at *rate* passes per second."""
    return round(passes / rate, 1) if rate > 0 else 0.0
