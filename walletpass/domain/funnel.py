"""The install funnel of a program: visits → enrolments → wallet installs → first transaction, and uninstalls.

Events are recorded as they happen (``pass_events``, in the transaction of each change) and counted here by source
or by day of the program's time zone. What each kind counts:

- ``visit``: a view of the enrolment page ``/join/{id}`` (bots excluded), with its ``src``;
- ``enrol``: a member enrolled (page or API), with the member's source;
- ``apple_install``: the first device registration of a member card (a second device, or a re-install, is none);
- ``google_save``: the first save callback of a member card's Google object;
- ``first_transaction``: the member's first points transaction (POST /members/{id}/transactions);
- ``uninstall``: each removal: a device unregistering the card, a Google delete callback, or Samsung's DELETED;
- ``samsung_add``: the first ADDED card state Samsung Wallet sends for a member card.

Install, save, first transaction and uninstall carry the source of the member whose card it is (written on the
event when it is recorded), so counting by source never joins the members table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from walletpass.errors import InvalidInput

#: event kind → the funnel's name for its count, in funnel order.
KINDS: Mapping[str, str] = {
    "visit": "visits", "enrol": "enrolments", "apple_install": "apple_installs", "google_save": "google_saves",
    "first_transaction": "first_transactions", "uninstall": "uninstalls", "samsung_add": "samsung_adds",
}
#: Kinds recorded once per member card at most (a unique index holds it; a repeat records nothing).
ONCE_PER_PASS = ("apple_install", "google_save", "first_transaction", "samsung_add")
#: Longest range of one answer, in days (from and to included), and the default one (ending today).
MAX_DAYS = 366
DEFAULT_DAYS = 30
GROUPINGS = ("source", "day")


@dataclass(frozen=True, slots=True)
class FunnelCounts:
    visits: int = 0
    enrolments: int = 0
    apple_installs: int = 0
    google_saves: int = 0
    first_transactions: int = 0
    uninstalls: int = 0
    samsung_adds: int = 0

    def rates(self) -> dict[str, float | None]:
        """Conversion between the steps (None where the step before counted nothing). Counts of one window, not
        of a cohort: an enrolment in the window may follow a visit before it."""
        return {
            "visit_to_enrolment": _ratio(self.enrolments, self.visits),
            "enrolment_to_wallet": _ratio(self.apple_installs + self.google_saves + self.samsung_adds,
                                          self.enrolments),
            "enrolment_to_first_transaction": _ratio(self.first_transactions, self.enrolments),
        }

    def __add__(self, other: FunnelCounts) -> FunnelCounts:
        return FunnelCounts(*(a + b for a, b in zip(_values(self), _values(other), strict=True)))


def _values(c: FunnelCounts) -> tuple[int, ...]:
    return (c.visits, c.enrolments, c.apple_installs, c.google_saves, c.first_transactions, c.uninstalls,
            c.samsung_adds)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True, slots=True)
class FunnelRow:
    """One source (``None``: events without one) or one day (ISO date) and its counts."""

    key: str | None
    counts: FunnelCounts


@dataclass(frozen=True, slots=True)
class Funnel:
    program_id: int
    start: date
    end: date
    by: str
    time_zone: str
    totals: FunnelCounts
    rows: tuple[FunnelRow, ...]


#: The days a range may name (far from date.min and date.max, so that no window arithmetic overflows).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)


def parse_day(value: str, field: str) -> date:
    """An ISO date ``YYYY-MM-DD`` from :data:`FIRST_DAY` to :data:`LAST_DAY`."""
    what = f"must be a date YYYY-MM-DD from {FIRST_DAY} to {LAST_DAY}"
    if not (len(value) == 10 and value.isascii()):
        raise InvalidInput(field, what)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, what) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(field, what)
    return day


def parse_range(since: str | None, until: str | None, today: date) -> tuple[date, date]:
    """(first, last) day, both included: *until* defaults to today, *since* to :data:`DEFAULT_DAYS` days ending
    at *until*; at most :data:`MAX_DAYS` days."""
    end = parse_day(until, "to") if until is not None else today
    start = parse_day(since, "from") if since is not None else end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise InvalidInput("from", "must not be after to")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput("to", f"a range spans at most {MAX_DAYS} days (from and to included)")
    return start, end


def parse_grouping(value: str | None) -> str:
    if value is None:
        return "source"
    if value not in GROUPINGS:
        raise InvalidInput("by", f"must be one of {', '.join(GROUPINGS)}")
    return value


def utc_window(start: date, end: date, zone: str) -> tuple[datetime, datetime]:
    """The instants [from, to) in UTC that the days *start*..*end* of time zone *zone* cover."""
    tz = ZoneInfo(zone)
    first = datetime.combine(start, time(), tz).astimezone(UTC)
    after = datetime.combine(end + timedelta(days=1), time(), tz).astimezone(UTC)
    return first, after


def utc_offsets(zone: str, first: datetime, after: datetime) -> list[tuple[datetime, int]]:
    """The UTC offset of *zone* (seconds) through [first, after): ``[(since, offset), …]``, the first since
    *first*, one more at each change (daylight saving: a few a year), found to the second."""
    tz = ZoneInfo(zone)

    def offset(at: datetime) -> int:
        delta = at.astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    changes = [(first, offset(first))]
    step, at = timedelta(hours=6), first
    while at < after:
        nxt = min(at + step, after)
        if offset(nxt) != changes[-1][1]:
            lo, hi = at, nxt  # the change lies in (lo, hi]: bisect to the second
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if offset(mid) == changes[-1][1]:
                    lo = mid
                else:
                    hi = mid
            if hi < after:
                changes.append((hi.replace(microsecond=0), offset(hi)))
        at = nxt
    return changes


def build(program_id: int, start: date, end: date, by: str, zone: str,
          counted: Iterable[tuple[str | None, str, int]]) -> Funnel:
    """The funnel from ``(key, kind, count)`` rows (key: the source, or the ISO day); by day every day of the range
    has a row, zeros included."""
    table: dict[str | None, dict[str, int]] = {}
    for key, kind, n in counted:
        name = KINDS.get(kind)
        if name is not None:
            row = table.setdefault(key, {})
            row[name] = row.get(name, 0) + n
    if by == "day":
        keys: list[str | None] = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    else:
        keys = sorted(table, key=lambda k: (k is None, k or ""))
    rows = tuple(FunnelRow(k, FunnelCounts(**table.get(k, {}))) for k in keys)
    totals = FunnelCounts()
    for r in rows:
        totals = totals + r.counts
    return Funnel(program_id, start, end, by, zone, totals, rows)
