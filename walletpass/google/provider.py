"""Google Wallet as a wallet provider: a changed pass is a PATCH of its object at Google (when Google holds it),
a changed design an update of the class (google.md §2–§3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from walletpass.domain.jobs import JobKind
from walletpass.domain.passes import PassesChanged
from walletpass.errors import NotFound
from walletpass.ports import UnitOfWork

#: Passes whose Google object exists (inserted by REST, or saved by the user): changes are patched there.
SYNCED_STATES = ("inserted", "saved")


class GoogleWallet:
    """The Google wallet provider."""

    name = "google"

    def on_passes_changed(self, uow: UnitOfWork, change: PassesChanged) -> None:
        """A sync job for each changed pass whose object is at Google (coalesced with a pending one)."""
        uow.outbox.enqueue_changes(JobKind.GOOGLE_SYNC, change, held_by_wallet=(self.name, SYNCED_STATES))

    def on_program_changed(self, uow: UnitOfWork, program_id: int, at: datetime) -> None:
        """The program's class, and its offers' classes (they carry its name, colour and logo), are updated."""
        uow.outbox.enqueue(JobKind.GOOGLE_CLASS_SYNC, {"program_id": program_id}, at)
        for offer in uow.offers.of_program(program_id):
            uow.outbox.enqueue(JobKind.GOOGLE_CLASS_SYNC, {"offer_id": offer.id}, at)

    def save_link(self, pass_id: int) -> str:
        raise NotFound("not wired yet")

    def handle_callback(self, body: bytes, headers: Mapping[str, str]) -> str:
        raise NotFound("not wired yet")
