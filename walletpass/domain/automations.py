"""Automations: a program's standing rules that reach each member at most once per period. PURE.

- **birthday**: a daily run (at 00:00 of the program's time zone) gives each member whose birthday is that day
  the rule's offer and/or message, once a year each (the period is the year). A member born on 29 February
  celebrates on 28 February in common years.
- **welcome**: on enrolment, once per member (the period is the enrolment itself).
- **win_back**: the daily run gives each member with no transaction (no points ledger entry) for ``days`` days
  the rule's offer and/or message, once per lapse (the period is the member's last activity — their last
  transaction, else their enrolment — so a member who comes back and lapses again is won back again).

Each rule may carry a segment (``{"tier": ["Gold"]}``): it then reaches only the members in it. "At most once
per member and period" is a unique key in the database (program, rule, member, period), written in the same
transaction as the coupon, so two workers running the same day at the same instant cannot both fire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from walletpass.domain.campaigns import Message

BIRTHDAY, WELCOME, WIN_BACK = "birthday", "welcome", "win_back"
RULES = (BIRTHDAY, WELCOME, WIN_BACK)
#: The rules the daily run carries out (welcome fires in the enrolment's transaction).
DAILY = (BIRTHDAY, WIN_BACK)
#: The period of a welcome: a member is enrolled once.
WELCOME_PERIOD = "enrolment"
#: Days without a transaction before a member is won back.
MIN_DAYS, MAX_DAYS = 1, 730
#: Days a late daily run still catches up (a worker down for a few days): older days are skipped, not fired late.
CATCH_UP_DAYS = 7
#: How long a welcome message waits (batching the enrolments of those minutes into one campaign), so that the
#: new member has had time to add the card to a wallet and the message reaches the lock screen.
WELCOME_MESSAGE_DELAY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Automation:
    """One rule of a program: what it gives (an offer's coupon, a message, or both) and to whom (a segment)."""

    rule: str
    enabled: bool = True
    offer_id: int | None = None
    message: Message | None = None
    #: the segment's JSON (an object of conditions, or a list of them); {} is everyone
    segment: Mapping[str, Any] | Sequence[Mapping[str, Any]] = field(default_factory=dict)
    #: win_back: days without a transaction
    days: int | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Fired:
    """How often a rule fired (members reached) and when it last did."""

    count: int = 0
    last_at: datetime | None = None


def local_day(now: datetime, zone: str) -> date:
    """The day *now* falls on in the program's time *zone*."""
    return now.astimezone(ZoneInfo(zone)).date()


def midnight(day: date, zone: str) -> datetime:
    """The instant (aware, UTC) *day* begins in *zone*: 00:00 there (where a clock change skips midnight, the
    instant the offset before the change gives it)."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def stale(day: date, today: date) -> bool:
    """Whether the daily run of *day* comes too late to fire (more than CATCH_UP_DAYS before *today*)."""
    return day < today - timedelta(days=CATCH_UP_DAYS)


def next_day(done: date, today: date) -> date:
    """The day whose run follows that of *done*: the next one, or the oldest one still caught up."""
    return max(done + timedelta(days=1), today - timedelta(days=CATCH_UP_DAYS))


def birthdays_on(day: date) -> tuple[tuple[int, int], ...]:
    """The (month, day) birthdays celebrated on *day*: its own, and on 28 February of a common year also 29
    February's (those members have no day of their own that year)."""
    if day.month == 2 and day.day == 28 and not _leap(day.year):
        return ((2, 28), (2, 29))
    return ((day.month, day.day),)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def birthday_period(day: date) -> str:
    """A birthday fires once a year: the period is the year of the day it is celebrated on."""
    return f"{day.year:04d}"


def win_back_period(last_activity: datetime) -> str:
    """A win-back fires once per lapse: the period is the member's last activity (UTC, to the second)."""
    return last_activity.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
