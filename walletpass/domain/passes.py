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
