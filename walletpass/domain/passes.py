"""The pass record shared by Apple and Google: serial, tokens and the update tag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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


def next_last_modified(previous: datetime | None, now: datetime) -> datetime:
    """The Last-Modified time for a change at *now*: whole seconds, strictly after *previous*.

    HTTP dates have one-second resolution; two changes in the same second would otherwise share a
    Last-Modified and the second would be answered 304 to a device that fetched the first.
    """
    candidate = now.replace(microsecond=0)
    if previous is not None and candidate <= previous:
        from datetime import timedelta

        candidate = previous.replace(microsecond=0) + timedelta(seconds=1)
    return candidate
