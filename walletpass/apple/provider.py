"""Apple Wallet (and the Android apps that speak its protocol): a changed pass is a push to every device
registered for it (apple.md §4); the device then asks which passes changed and fetches them (apple.md §3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from walletpass.domain.jobs import JobKind
from walletpass.domain.passes import PassesChanged
from walletpass.errors import NotFound
from walletpass.ports import UnitOfWork


class AppleWallet:
    """The Apple wallet provider. *pkpass_url* gives a pass's download link (by its public token)."""

    name = "apple"

    def __init__(self, pkpass_url: Callable[[int], str] | None = None) -> None:
        self._pkpass_url = pkpass_url

    def on_passes_changed(self, uow: UnitOfWork, change: PassesChanged) -> None:
        """One push job per pass (coalesced with a pending one): every registered device gets a push."""
        uow.outbox.enqueue_changes(JobKind.APPLE_PUSH, change)

    def on_program_changed(self, uow: UnitOfWork, program_id: int, at: datetime) -> None:
        """Nothing kept per program: each pass carries the whole design."""

    def save_link(self, pass_id: int) -> str:
        if self._pkpass_url is None:
            raise NotFound("no download link configured for Apple passes")
        return self._pkpass_url(pass_id)

    def handle_callback(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Apple's devices call the web service (/v1), not a callback."""
        raise NotFound("Apple Wallet sends no callbacks; devices use the web service")
