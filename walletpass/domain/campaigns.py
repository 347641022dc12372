"""Push campaigns: a message to a segment of a program's members, shown once on each lock screen. PURE.

A campaign is ``scheduled`` (to start at ``send_at``), ``sending`` (its deliveries written, chunk by chunk handed
to the wallets), ``done``, or ``cancelled`` (nothing is handed over after the cancel commits). The message goes
into the pass's news field, whose ``changeMessage`` is ``%@``: iOS shows the new text on the lock screen
(apple.md §2); Google gets it through ``addMessage`` (google.md §3.5).

A/B and holdout: a campaign may carry several message *variants* (with weights) instead of one message, and hold
out a percentage of its members (counted, never sent: the control group its stats compare with). Each member is
put in one of :data:`BUCKETS` buckets by :func:`bucket` — a hash of the campaign's id and the member's id, the
same in every process and on every run — and its :class:`Split` maps the bucket to the holdout or a variant.
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
#: Most message variants a campaign carries; the largest weight of one; the largest holdout, in per cent.
MAX_VARIANTS, MAX_WEIGHT, MAX_HOLDOUT = 5, 100, 50
#: Members are hashed into this many buckets (a holdout or a weight resolves to 0.01 %).
BUCKETS = 10_000
#: How long after its delivery a member's redemption or transaction counts for the campaign (its stats).
STATS_WINDOW = timedelta(days=7)
#: The longest a chunk's pushes wait for their passes to be signed ahead (a ``pass_sign`` job makes them due as
#: soon as their group is stored, usually within a second or two). Past it they go out anyway — fetches sign on a
#: miss — so a sign-ahead job that fails, or no worker free to run it, delays the message by this at most.
SIGN_AHEAD_HOLD = timedelta(seconds=30)
#: Passes per ``pass_sign`` job of a chunk: a chunk's signing is split so that every worker (each embedded worker
#: of `walletpass serve`, each Celery worker) takes a share.
SIGN_JOB = 250


@dataclass(frozen=True, slots=True)
class Message:
    """The text of a campaign, per locale (``texts[DEFAULT]`` for the others)."""

    texts: Mapping[str, str]

    def text(self, locale: str) -> str:
        return self.texts.get(locale) or self.texts[DEFAULT]


@dataclass(frozen=True, slots=True)
class Variant:
    """One of a campaign's messages, shown to the share *weight* / (sum of weights) of the members not held out."""

    name: str
    weight: int
    message: Message


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    program_id: int
    name: str
    #: the message every member reached is shown; None when the campaign has variants
    message: Message | None
    segment: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    state: str
    send_at: datetime
    created_at: datetime
    offer_id: int | None = None
    total: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: the messages members are split over (empty: one message for all)
    variants: tuple[Variant, ...] = ()
    #: per cent of the members held out (sent nothing)
    holdout: float = 0.0

    @property
    def finished(self) -> bool:
        return self.state in (DONE, CANCELLED)

    @property
    def uniform(self) -> bool:
        """Every member of the segment is shown the same message: no variants, nobody held out (so a whole-program
        campaign may go to Google as one message on the program's class)."""
        return not self.variants and self.holdout == 0

    @property
    def split(self) -> Split:
        return make_split([v.weight for v in self.variants] or [1], self.holdout)

    def message_of(self, variant: int | None) -> Message:
        """The message of *variant* (its index; None or any for a campaign without variants)."""
        if self.variants:
            return self.variants[variant if variant is not None and 0 <= variant < len(self.variants) else 0].message
        if self.message is None:  # pragma: no cover - a campaign has a message or variants (parse_content)
            raise ValueError(f"campaign {self.id} has neither a message nor variants")
        return self.message


@dataclass(frozen=True, slots=True)
class CampaignMessage:
    """What wallet providers are told when a chunk of a campaign was delivered to *pass_ids* (*first*: the
    campaign's first chunk)."""

    campaign: Campaign
    pass_ids: tuple[int, ...]
    first: bool = False


#: What a wallet reported of a delivery it was handed (``campaign_deliveries.outcome``; None: nothing more than
#: the hand-over). NOTIFIED: shown with a notification; SILENT: shown without one (Google's 3 notifications a
#: day per pass were used up: ``TEXT``, google.md §3.5); FAILED: the wallet could not show it (a permanent error).
NOTIFIED, SILENT, FAILED = "notified", "silent", "failed"
OUTCOMES = (NOTIFIED, SILENT, FAILED)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a campaign got: passes it reaches (total) = handed to the wallets (sent) + skipped (cancelled) +
    pending + held out (the holdout of an A/B campaign: counted, never sent).

    Of ``sent``: ``failed`` — a wallet could not show the message (Google: its addMessage failed for good, after
    retries; a whole-program campaign's one class message failing fails every pass Google holds);
    ``skipped_notification`` — shown without a notification (Google: the pass had its 3 notifications of the
    day). Apple reports neither: a campaign's change is in the pass web service once its chunk commits, and the
    APNs push only prompts devices to fetch it; pushes are coalesced per pass (one push may carry several
    changes) and retried by their own jobs, so a push failure belongs to no one campaign.
    """

    total: int
    sent: int
    skipped: int
    failed: int
    pending: int
    skipped_notification: int = 0
    held_out: int = 0


@dataclass(frozen=True, slots=True)
class GroupStats:
    """A group of a campaign's members (a variant, or the holdout): how many, how many were sent the message, and
    how many of those sent (or held out) redeemed the campaign's offer (None: it has none), made a transaction,
    or either, within STATS_WINDOW of their delivery (the holdout's: the campaign's start)."""

    members: int = 0
    sent: int = 0
    redeemed: int | None = None
    transacted: int = 0
    converted: int = 0


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


def parse_content(data: Mapping[str, Any], locales: Sequence[str]
                  ) -> tuple[Message | None, tuple[Variant, ...], float]:
    """A campaign's ``message`` or ``variants`` (exactly one of them) and ``holdout`` (per cent, default 0)."""
    if "message" in data and "variants" in data:
        raise InvalidInput("variants", "send either message or variants, not both")
    holdout = parse_holdout(data.get("holdout", 0))
    if "variants" in data:
        return None, parse_variants(data["variants"], locales), holdout
    if "message" not in data:
        raise InvalidInput("message", "is required (or variants: several messages members are split over)")
    return parse_message(data["message"], locales), (), holdout


def parse_variants(raw: object, locales: Sequence[str], field: str = "variants") -> tuple[Variant, ...]:
    """2 to MAX_VARIANTS of ``{message, name?, weight?}``: names unique (default A, B, …), weights 1–MAX_WEIGHT
    (default 1)."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not 2 <= len(raw) <= MAX_VARIANTS:
        raise InvalidInput(field, f"send 2 to {MAX_VARIANTS} variants, each {{message, name, weight}}")
    variants: list[Variant] = []
    for i, item in enumerate(raw):
        at = f"{field}[{i}]"
        if not isinstance(item, Mapping) or "message" not in item:
            raise InvalidInput(f"{at}.message", "is required")
        unknown = sorted(set(item) - {"message", "name", "weight"})
        if unknown:
            raise InvalidInput(f"{at}.{unknown[0]}", "unknown field; allowed fields are: message, name, weight")
        weight = item.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= MAX_WEIGHT:
            raise InvalidInput(f"{at}.weight", f"must be a whole number from 1 to {MAX_WEIGHT}")
        name = item.get("name", chr(ord("A") + i))
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
            raise InvalidInput(f"{at}.name", "must be 1–100 characters, not blank")
        if name.strip() in {v.name for v in variants}:
            raise InvalidInput(f"{at}.name", f"{name.strip()!r} names another variant too")
        variants.append(Variant(name.strip(), weight, parse_message(item["message"], locales, f"{at}.message")))
    return tuple(variants)


def parse_holdout(raw: object, field: str = "holdout") -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= MAX_HOLDOUT:
        raise InvalidInput(field, f"must be a percentage from 0 to {MAX_HOLDOUT}")
    return float(raw)


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


# -- pace -----------------------------------------------------------------------------------------------------------
#: CPU seconds the web tier and the job workers spend per pass a campaign changes, apart from its one signature:
#: the device's list and fetch answered (from the stored bytes: api.fastpath), the chunk, the push and the fetch
#: records. From bench/campaign.py (BENCHMARKS.md "campaign-postgresql", 2026-12-03 21:01): `walletpass serve`
#: spent 3.4 ms of CPU per pass (the workers signed); a host's own figure differs, and chunk_delay corrects for it.
FETCH_CPU_SECONDS = 0.0035
#: How long the devices a campaign pushed should wait for their passes at most (the backlog the pace allows).
FETCH_WAIT = 10.0
#: Pushes older than this that are not fetched are not waited for (a device that is off, or gone, fetches later).
BACKLOG_WINDOW = timedelta(seconds=60)
#: Fetches counted for the web tier's present rate: those of the last FETCH_SPAN.
FETCH_SPAN = timedelta(seconds=10)
#: Devices wait and nothing was fetched lately: look again this much later. Also the longest single deferral.
PROBE_SECONDS, MAX_DEFER_SECONDS = 2.0, 30.0


def default_rate(signatures_per_second: float, cores: int, fetch_cpu_seconds: float = FETCH_CPU_SECONDS) -> float:
    """Passes per second a campaign is handed to the wallets at when ``WALLETPASS_CAMPAIGN_RATE`` is unset: what
    *cores* serve when each pass costs one signature (at *signatures_per_second*, measured at start) and
    *fetch_cpu_seconds* of the rest — the whole web path, not the signature alone (that ran 5–10× ahead of the
    fetches). The dry run's estimate uses it; :func:`chunk_delay` holds chunks back when the web tier is slower."""
    per_pass = fetch_cpu_seconds + (1.0 / signatures_per_second if signatures_per_second > 0 else 0.0)
    return round(max(1.0, max(1, cores) / per_pass), 1) if per_pass > 0 else 1.0


@dataclass(frozen=True, slots=True)
class Backlog:
    """What a campaign's earlier chunks left for the web tier (read when the next chunk comes due)."""

    #: registrations of passes it changed within BACKLOG_WINDOW whose device has not fetched the new version
    waiting: int
    #: of those changed within BACKLOG_WINDOW, registrations fetched within the last *span* seconds
    fetched: int
    #: seconds the fetches were counted over (FETCH_SPAN, or less at the start of a campaign)
    span: float


def chunk_delay(backlog: Backlog, chunk: int, *, max_wait: float = FETCH_WAIT) -> float:
    """Seconds to hold a chunk of *chunk* passes back (0: deliver it now) so that the devices waiting for their
    passes, and this chunk's, are served within *max_wait* seconds at the rate the web tier has been serving them
    (or, for a web tier slower than a chunk per *max_wait*, until half a chunk is left waiting): a feedback pace,
    which follows the web tier whatever it costs per pass on this machine."""
    if backlog.waiting <= 0:
        return 0.0
    rate = backlog.fetched / backlog.span if backlog.span > 0 else 0.0
    if rate <= 0:
        return PROBE_SECONDS  # devices wait and none was served lately (signing ahead, pushes on their way)
    # At least half a chunk may still be waiting when the next goes: its signing ahead overlaps their fetches (a
    # web tier that serves less than a chunk in *max_wait* would otherwise idle between chunks).
    excess = backlog.waiting + chunk - max(rate * max_wait, 1.5 * chunk)
    if excess <= 0:
        return 0.0
    return round(min(MAX_DEFER_SECONDS, max(0.1, excess / rate)), 2)


# -- A/B assignment -----------------------------------------------------------------------------------------------
#: The hash's modulus: the prime 2**31 − 1. Ids are 32-bit, so every product below stays under 2**63 and the hash
#: is plain integer arithmetic that SQLite and PostgreSQL compute exactly as Python does (storage builds the same
#: expression in SQL; tests compare the two).
HASH_PRIME = 2_147_483_647
#: (member multiplier, campaign multiplier, final multiplier, final addend): large odd numbers below HASH_PRIME.
HASH_CONSTANTS = (1_103_515_245, 1_597_334_677, 747_796_405, 743_852_807)


def bucket(campaign_id: int, member_id: int) -> int:
    """The member's bucket in the campaign (0 ≤ bucket < BUCKETS): an affine mix of the two ids, squared (so that
    two campaigns split the same members independently, not as shifted copies of each other), mixed again."""
    a, b, c, d = HASH_CONSTANTS
    x = (member_id * a + campaign_id * b) % HASH_PRIME
    x = (x * x + campaign_id) % HASH_PRIME
    return ((x * c + d) % HASH_PRIME) % BUCKETS


@dataclass(frozen=True, slots=True)
class Split:
    """How buckets map to a campaign's groups: those below ``holdout_below`` are held out; the others go to the
    variant whose bound is the first above them (``bounds[-1] == BUCKETS``)."""

    holdout_below: int
    bounds: tuple[int, ...]

    def variant(self, bucket_: int) -> int | None:
        """The variant (index) of a member in *bucket_*, or None when it is held out."""
        if bucket_ < self.holdout_below:
            return None
        return next(i for i, bound in enumerate(self.bounds) if bucket_ < bound)


def make_split(weights: Sequence[int], holdout: float) -> Split:
    """The split of *weights* after holding out *holdout* per cent, in whole buckets."""
    below = round(holdout * BUCKETS / 100)
    total, acc, bounds = sum(weights), 0, []
    for weight in weights:
        acc += weight
        bounds.append(below + (BUCKETS - below) * acc // total)
    return Split(below, tuple(bounds))
