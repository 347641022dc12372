"""Everything held about a member (``GET /members/{id}/export``), and what erasing a member keeps. PURE.

Erasing (``DELETE /members/{id}``), decided once:

- The member row stays (its ledger and its passes point at it), with its name replaced by :data:`ERASED_NAME` and
  email, phone, birthday and external_id cleared; ``erased_at`` is set. The member's routes then answer 404, and a
  second DELETE answers 204 again and changes nothing (a client retrying a DELETE that timed out gets a success).
- The member's passes (the member card and the coupons' passes) are **voided** and get a new version: Apple devices
  are pushed and fetch a pass with ``voided: true``; Google objects are PATCHed with ``state: EXPIRED`` (member
  card) or ``INACTIVE`` (coupons). Issued coupons are voided. The signed copies of the passes' older versions,
  which showed the name, are deleted.
- The ledger is kept (balances and amounts are the program's accounting), its reasons replaced by
  :data:`ERASED_REASON`: a till may type anything there, a name too.
- Apple device registrations are kept, so the phones that hold the card can fetch it voided: they hold no
  personal data (a device id and a push token), and go when the phone removes the pass (it unregisters).
- Idempotency-Key answers that showed the member (their enrolment's) are deleted.
- Funnel events and campaign deliveries hold no personal data: they stay, and keep the program's stats right.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from walletpass.domain.devices import Registration
from walletpass.domain.members import LedgerEntry, Member
from walletpass.domain.offers import Coupon
from walletpass.domain.passes import Pass
from walletpass.domain.wallets import WalletObject

#: What an erased member's name becomes (the voided pass shows it).
ERASED_NAME = "Former member"
#: What the reasons of an erased member's ledger entries become.
ERASED_REASON = "erased"


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A device a pass of the member is on: its registration, and a short prefix of its id (no push token)."""

    registration: Registration
    device_prefix: str


@dataclass(frozen=True, slots=True)
class EventRecord:
    pass_id: int | None
    kind: str
    source: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A campaign that reached a pass of the member."""

    campaign_id: int
    pass_id: int
    state: str
    delivered_at: datetime | None
    outcome: str | None


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """Everything held about a member."""

    member: Member
    passes: tuple[Pass, ...]
    wallet_objects: tuple[WalletObject, ...]
    devices: tuple[DeviceRecord, ...]
    ledger: tuple[LedgerEntry, ...]
    coupons: tuple[Coupon, ...]
    events: tuple[EventRecord, ...]
    deliveries: tuple[DeliveryRecord, ...]
