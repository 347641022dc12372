"""What each wallet provider knows about its copies of our passes (Google: the object id, saved/removed, the
version it was last sent) and of our classes, its notification records, and its callback nonces."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from walletpass.domain.wallets import WalletObject
from walletpass.storage.repositories._base import SessionRepository
from walletpass.storage.tables import GoogleCallbackNonceRow, GoogleMessageRow, OfferRow, PassRow, ProgramRow

GOOGLE = "google"


def held_by(provider: str, states: Sequence[str]) -> ColumnElement[bool]:
    """A WHERE clause over ``passes``: the wallet *provider* holds the pass in one of *states*."""
    if provider != GOOGLE:
        raise ValueError(f"unknown wallet provider {provider!r}")
    return PassRow.google_state.in_(list(states))


def _check(provider: str) -> None:
    if provider != GOOGLE:
        raise ValueError(f"unknown wallet provider {provider!r}")


class WalletRepository(SessionRepository):
    # -- objects (per pass) --------------------------------------------------------------------------------
    def object(self, pass_id: int, provider: str = GOOGLE) -> WalletObject:
        _check(provider)
        row = self._row(PassRow, pass_id, "pass")
        return WalletObject(row.id, provider, row.google_object_id, row.google_state, row.google_synced_tag)

    def object_by_id(self, object_id: str, provider: str = GOOGLE) -> WalletObject | None:
        _check(provider)
        row = self._s.scalars(select(PassRow).where(PassRow.google_object_id == object_id)).first()
        if row is None:
            return None
        return WalletObject(row.id, provider, row.google_object_id, row.google_state, row.google_synced_tag)

    def set_object_id(self, pass_id: int, object_id: str, provider: str = GOOGLE) -> None:
        _check(provider)
        self._row(PassRow, pass_id, "pass").google_object_id = object_id

    def set_state(self, pass_id: int, state: str, provider: str = GOOGLE) -> None:
        _check(provider)
        self._row(PassRow, pass_id, "pass").google_state = state

    def set_synced(self, pass_id: int, tag: int, *, state: str | None = None, only_if_unset: bool = False,
                   provider: str = GOOGLE) -> None:
        """The wallet has (or may show, at the oldest) version *tag* of the pass."""
        _check(provider)
        row = self._row(PassRow, pass_id, "pass")
        if only_if_unset and row.google_synced_tag is not None:
            return
        row.google_synced_tag = tag
        if state is not None:
            row.google_state = state

    # -- classes (per program or offer) -------------------------------------------------------------------
    def class_version(self, *, program_id: int | None = None, offer_id: int | None = None,
                      provider: str = GOOGLE) -> int | None:
        """The version (fingerprint) of the class known to be at the wallet; None when none is known."""
        _check(provider)
        if offer_id is not None:
            return self._row(OfferRow, offer_id, "offer").google_class_version
        return self._row(ProgramRow, program_id or 0, "program").google_class_version

    def set_class_version(self, version: int, *, program_id: int | None = None, offer_id: int | None = None,
                          provider: str = GOOGLE) -> None:
        _check(provider)
        if offer_id is not None:
            self._row(OfferRow, offer_id, "offer").google_class_version = version
        else:
            self._row(ProgramRow, program_id or 0, "program").google_class_version = version

    # -- notifications (Google: 3 per pass per 24 h, google.md §3.5) --------------------------------------
    def reserve_notification(self, pass_id: int, kind: str, wanted: bool, now: datetime, *, limit: int,
                             window: timedelta) -> tuple[int, bool]:
        """Decide and record whether a message/update to *pass_id* may notify: (record id, notify).

        Notifying messages and notifying updates share one cap per pass (google.md §3.5). The pass row is
        locked first, so two senders cannot both take the last slot; the caller commits, then sends, and
        :meth:`forget_notification` the record if nothing was sent.
        """
        self._row(PassRow, pass_id, "pass", for_update=True)
        notify = wanted
        if wanted:
            recent = self._s.scalar(select(func.count()).where(
                GoogleMessageRow.pass_id == pass_id, GoogleMessageRow.notify.is_(True),
                GoogleMessageRow.sent_at > now - window)) or 0
            notify = recent < limit
        row = self._add(GoogleMessageRow(pass_id=pass_id, notify=notify, sent_at=now, kind=kind))
        return row.id, notify

    def forget_notification(self, record_id: int) -> None:
        self._s.execute(delete(GoogleMessageRow).where(GoogleMessageRow.id == record_id))

    def set_notification(self, record_id: int, notify: bool) -> None:
        self._s.execute(update(GoogleMessageRow).where(GoogleMessageRow.id == record_id).values(notify=notify))

    # -- callback nonces ----------------------------------------------------------------------------------
    def claim_nonce(self, nonce: str, now: datetime, expires_at: datetime | None = None) -> bool:
        """True the first time *nonce* is seen (the caller commits); False for a replay.

        ``INSERT … ON CONFLICT DO NOTHING``: two deliveries of one callback at the same moment cannot both
        insert; the second waits for the first's commit (PostgreSQL) or the write lock (SQLite) and is a replay.
        """
        values = {"nonce": nonce, "received_at": now, "expires_at": expires_at}
        if self._s.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = (insert(GoogleCallbackNonceRow).values(**values).on_conflict_do_nothing(index_elements=["nonce"])
                .returning(GoogleCallbackNonceRow.nonce))
        return self._s.execute(stmt).first() is not None

    def prune_nonces(self, now: datetime) -> int:
        """Forget nonces whose message has expired (a replay fails verification anyway); return how many."""
        result = self._s.execute(delete(GoogleCallbackNonceRow).where(GoogleCallbackNonceRow.expires_at < now))
        return int(getattr(result, "rowcount", 0) or 0)
