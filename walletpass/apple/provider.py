"""Apple Wallet (and the Android apps that speak its protocol): a changed pass is a push to every device
registered for it (apple.md §4); the device then asks which passes changed and fetches them (apple.md §3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from walletpass.domain.campaigns import CampaignMessage
from walletpass.domain.jobs import JobKind
from walletpass.domain.passes import PassesChanged
from walletpass.errors import NotFound
from walletpass.ports import UnitOfWork
from walletpass.urls import PublicUrls


class AppleWallet:
    """The Apple wallet provider."""

    name = "apple"

    def __init__(self, uow: Callable[[], UnitOfWork], urls: PublicUrls) -> None:
        self._uow, self._urls = uow, urls

    def on_passes_changed(self, uow: UnitOfWork, change: PassesChanged) -> None:
        """One push job per pass (coalesced with a pending one): every registered device gets a push."""
        uow.outbox.enqueue_changes(JobKind.APPLE_PUSH, change)

    def on_program_changed(self, uow: UnitOfWork, program_id: int, at: datetime) -> None:
        """Nothing kept per program: each pass carries the whole design."""

    def on_message(self, uow: UnitOfWork, message: CampaignMessage) -> None:
        """Nothing more: the pass's news field shows the message, and its change pushed every device."""

    def on_coupons_issued(self, uow: UnitOfWork, offer_id: int, member_ids: Sequence[int], at: datetime) -> None:
        """Nothing: an Apple pass cannot show another beside it; the coupon is added from its own link."""

    def save_link(self, pass_id: int) -> str:
        """The signed ``.pkpass`` download, behind the pass's unguessable token."""
        with self._uow() as uow:
            return self._urls.pkpass(uow.passes.get(pass_id).public_token)

    def handle_callback(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Apple's devices call the web service (/v1), not a callback."""
        raise NotFound("Apple Wallet sends no callbacks; devices use the web service")
