"""What a wallet provider knows about its copy of a pass, and a program's stored image. PURE values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WalletObject:
    """A wallet's copy of a pass: its id there, its state (Google: ``inserted`` by REST, ``saved`` / ``deleted``
    by the user; None: nothing known) and the oldest version of the pass that copy may show (``synced_tag``)."""

    pass_id: int
    provider: str
    object_id: str | None
    state: str | None
    synced_tag: int | None
    #: Samsung: the cc2 of the ADDED event and the base URL of Samsung's API for the card (None elsewhere)
    region: str | None = None
    callback_url: str | None = None


@dataclass(frozen=True, slots=True)
class ProgramImage:
    data: bytes
    content_type: str
    sha256: str
