"""Apple devices registered for a pass's updates (apple.md §3): the device and its push token, and each
registration's delivery record (which version was pushed to it, which it fetched)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Device:
    id: int
    device_library_identifier: str
    push_token: str


@dataclass(frozen=True, slots=True)
class Registration:
    id: int
    device_id: int
    pass_id: int
    created_at: datetime
    last_pushed_at: datetime | None = None
    pushed_tag: int | None = None
    last_fetched_at: datetime | None = None
    fetched_tag: int | None = None


@dataclass(frozen=True, slots=True)
class PushTarget:
    """One registration to push: its device's token, and the version of the pass it stands for."""

    registration_id: int
    pass_id: int
    topic: str  # the pass type id: the APNs topic and the certificate's UID
    token: str
    tag: int
    pushed_tag: int | None = None


@dataclass(frozen=True, slots=True)
class PassForDevice:
    """What a device's fetch needs: the token to check, the version, and whether a registration is behind."""

    id: int
    authentication_token: str
    updated_at: datetime
    update_tag: int
    lagging: bool
