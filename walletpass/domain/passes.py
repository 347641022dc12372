"""Passes and the rule of a pass change, shared by every wallet: serial, tokens, the update tag, Last-Modified.

PURE. "A pass changed" is decided here (:func:`new_versions`) and returned as a value (:class:`PassesChanged`);
storage persists the new versions, and each wallet provider records what it must tell the wallets that hold the
pass (an APNs push, a Google object PATCH, …) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

MEMBER_CARD, COUPON = "member", "coupon"


@dataclass(frozen=True, slots=True)
class PassRef:
    """What every rendered pass needs from storage.

    ``update_tag`` is a per-database monotonic sequence bumped on every change (apple.md §3 list);
    ``updated_at`` is the Last-Modified time (whole seconds, UTC).
    """

    serial_number: str
    pass_type_id: str
    authentication_token: str
    kind: str
    update_tag: int
    updated_at: datetime
    voided: bool = False


@dataclass(frozen=True, slots=True)
class Pass:
    """A pass as stored: one member card of a member, or the pass of one coupon.

    ``public_token`` reaches the pass page and its links (unguessable); ``authentication_token`` is what Apple's
    devices send back (apple.md §3).
    """

    id: int
    serial_number: str
    pass_type_id: str
    kind: str
    program_id: int
    authentication_token: str
    public_token: str
    update_tag: int
    updated_at: datetime
    member_id: int | None = None
    coupon_id: int | None = None
    voided: bool = False
    created_at: datetime | None = None
    #: the campaign whose message the pass shows (its news field), if any
    news_campaign_id: int | None = None

    @property
    def ref(self) -> PassRef:
        return PassRef(self.serial_number, self.pass_type_id, self.authentication_token, self.kind, self.update_tag,
                       self.updated_at, self.voided)


@dataclass(frozen=True, slots=True)
class News:
    """The campaign message a pass shows in its news field: shown by its own key (``news.<campaign>``), so every
    campaign changes the field's value and iOS shows the text on the lock screen (``changeMessage: "%@"``)."""

    campaign_id: int
    #: locale → text, and ``"*"`` → the text for every other locale
    texts: Mapping[str, str]
    #: the campaign's variant the pass was assigned (None: the campaign has one message)
    variant: int | None = None
    #: the public token of the member's coupon of the campaign's offer, if it has one: the field links to it
    coupon_token: str | None = None

    @property
    def key(self) -> str:
        """The strings key of the text: one per campaign, and per variant of an A/B campaign."""
        return f"news.{self.campaign_id}" if self.variant is None else f"news.{self.campaign_id}.{self.variant}"

    @property
    def link_key(self) -> str | None:
        """The key of the field's ``attributedValue`` (the text and the link that adds the coupon), if any."""
        return f"{self.key}.offer" if self.coupon_token else None

    def text(self, locale: str) -> str:
        return self.texts.get(locale) or self.texts["*"]


def next_last_modified(previous: datetime | None, now: datetime) -> datetime:
    """The Last-Modified time for a change at *now*: whole seconds, strictly after *previous*.

    HTTP dates have one-second resolution; two changes in the same second would otherwise share a
    Last-Modified and the second would be answered 304 to a device that fetched the first.
    """
    candidate = now.replace(microsecond=0)
    if previous is not None and candidate <= previous:
        candidate = previous.replace(microsecond=0) + timedelta(seconds=1)
    return candidate


def new_versions(last_modified: Mapping[int, datetime], now: datetime) -> dict[int, datetime]:
    """The new Last-Modified of each changed pass (pass id → its current Last-Modified, read once the tag
    counter is held): a change that committed while this one waited has a smaller tag and must keep an earlier
    Last-Modified too."""
    return {pass_id: next_last_modified(previous, now) for pass_id, previous in last_modified.items()}


@dataclass(frozen=True, slots=True)
class PassSelection:
    """Which passes: the ones listed, or every pass of a program (set-based: 100,000 passes are one statement)."""

    pass_ids: tuple[int, ...] = ()
    program_id: int | None = None

    def __post_init__(self) -> None:
        if self.program_id is not None and self.pass_ids:
            raise ValueError("a selection is either pass ids or a program, not both")

    @property
    def empty(self) -> bool:
        return not self.pass_ids and self.program_id is None


@dataclass(frozen=True, slots=True)
class PassesChanged:
    """What happened: the *selection*'s passes have version *tag* since *at*, because of *reason* (``points``,
    ``tier``, ``name``, ``design``, ``redeemed``, …). Every wallet that holds them must be told; a change
    recorded within *coalesce_seconds* of another may be delivered with it."""

    selection: PassSelection
    tag: int
    at: datetime
    reason: str
    coalesce_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class StoredPass:
    """The signed ``.pkpass`` kept for a pass (one row per pass: its latest version), or the claim of the one
    process signing it now (``data`` None, ``claim_token`` set)."""

    pass_id: int
    update_tag: int
    #: what built it (templates, certificates, web service URL: ``PassBuilder.fingerprint``)
    build_key: str
    last_modified: datetime
    data: bytes | None = None
    claim_token: str | None = None
    claimed_at: datetime | None = None

    def serves(self, tag: int, build_key: str) -> bool:
        """Whether these bytes answer a fetch of version *tag* made by *build_key* (a newer version stored since
        the fetch read its pass serves it too: every fetch wants the latest)."""
        return self.data is not None and self.update_tag >= tag and self.build_key == build_key
