"""What each wallet provider knows about its copies of our passes (Google: the object id, saved/removed, the
version it was last sent) and of our classes, its notification records, and its callback nonces."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from walletpass.domain.wallets import WalletObject
from walletpass.storage.repositories._base import SessionRepository, dialect_insert
from walletpass.storage.tables import (
    GoogleCallbackNonceRow,
    GoogleMessageRow,
    PassRow,
    WalletClassRow,
    WalletObjectRow,
)

GOOGLE = "google"


def held_by(provider: str, states: Sequence[str]) -> ColumnElement[bool]:
    """A WHERE clause over ``passes``: the wallet *provider* holds the pass in one of *states*."""
    return exists().where(WalletObjectRow.pass_id == PassRow.id, WalletObjectRow.provider == provider,
                          WalletObjectRow.state.in_(list(states)))


_OBJECTS = WalletObjectRow.__table__


def _object(row: Any, pass_id: int, provider: str) -> WalletObject:
    if row is None:
        return WalletObject(pass_id, provider, None, None, None)
    return WalletObject(row.pass_id, row.provider, row.object_id, row.state, row.synced_tag, row.region,
                        row.callback_url)


class WalletRepository(SessionRepository):
    # -- objects (per pass) --------------------------------------------------------------------------------
    def object(self, pass_id: int, provider: str = GOOGLE) -> WalletObject:
        """What *provider* holds of the pass (all None when nothing is known; the caller has the pass)."""
        row = self._s.execute(select(_OBJECTS).where(_OBJECTS.c.pass_id == pass_id,
                                                     _OBJECTS.c.provider == provider)).first()
        return _object(row, pass_id, provider)

    def object_by_id(self, object_id: str, provider: str = GOOGLE) -> WalletObject | None:
        row = self._s.execute(select(_OBJECTS).where(_OBJECTS.c.provider == provider,
                                                     _OBJECTS.c.object_id == object_id)).first()
        return None if row is None else _object(row, row.pass_id, provider)

    def _put(self, pass_id: int, provider: str, values: dict[str, Any]) -> None:
        """Insert or update the provider's row of the pass in one statement (two writers may race on it)."""
        insert = dialect_insert(self._s.get_bind().dialect.name)
        stmt = insert(WalletObjectRow).values(pass_id=pass_id, provider=provider, **values)
        self._s.execute(stmt.on_conflict_do_update(index_elements=["pass_id", "provider"], set_=values))

    def set_object_id(self, pass_id: int, object_id: str, provider: str = GOOGLE) -> None:
        self._put(pass_id, provider, {"object_id": object_id})

    def barcode_key(self, pass_id: int, new_key: str, provider: str = GOOGLE) -> tuple[str, bool]:
        """(the TOTP key of the pass's object, whether it is *new_key*, just stored): an object keeps its first
        key (two writers racing: the first one's wins)."""
        row = self._s.execute(select(_OBJECTS.c.barcode_key).where(_OBJECTS.c.pass_id == pass_id,
                                                                   _OBJECTS.c.provider == provider)).first()
        if row is not None and row.barcode_key:
            return row.barcode_key, False
        insert = dialect_insert(self._s.get_bind().dialect.name)
        stmt = insert(WalletObjectRow).values(pass_id=pass_id, provider=provider, barcode_key=new_key)
        self._s.execute(stmt.on_conflict_do_update(index_elements=["pass_id", "provider"],
                                                   set_={"barcode_key": new_key},
                                                   where=WalletObjectRow.barcode_key.is_(None)))
        key = self._s.execute(select(_OBJECTS.c.barcode_key).where(_OBJECTS.c.pass_id == pass_id,
                                                                   _OBJECTS.c.provider == provider)).scalar_one()
        return str(key), key == new_key

    def set_state(self, pass_id: int, state: str, provider: str = GOOGLE) -> None:
        self._put(pass_id, provider, {"state": state})

    def set_endpoint(self, pass_id: int, region: str, callback_url: str | None, provider: str = GOOGLE) -> None:
        """Where the wallet's API serves the pass (Samsung: the cc2 and callback of its ADDED event)."""
        values: dict[str, Any] = {"region": region}
        if callback_url:
            values["callback_url"] = callback_url
        self._put(pass_id, provider, values)

    def set_synced(self, pass_id: int, tag: int, *, state: str | None = None, only_if_unset: bool = False,
                   provider: str = GOOGLE) -> None:
        """The wallet has (or may show, at the oldest) version *tag* of the pass."""
        if only_if_unset and self.object(pass_id, provider).synced_tag is not None:
            return
        self._put(pass_id, provider, {"synced_tag": tag} if state is None else {"synced_tag": tag, "state": state})

    # -- classes (per program or offer) -------------------------------------------------------------------
    def class_version(self, *, program_id: int | None = None, offer_id: int | None = None,
                      provider: str = GOOGLE) -> int | None:
        """The version (fingerprint) of the class known to be at the wallet; None when none is known."""
        kind, owner = ("offer", offer_id) if offer_id is not None else ("program", program_id)
        return self._s.scalar(select(WalletClassRow.version).where(
            WalletClassRow.provider == provider, WalletClassRow.owner_kind == kind, WalletClassRow.owner_id == owner))

    def set_class_version(self, version: int, *, program_id: int | None = None, offer_id: int | None = None,
                          provider: str = GOOGLE) -> None:
        kind, owner = ("offer", offer_id) if offer_id is not None else ("program", program_id)
        insert = dialect_insert(self._s.get_bind().dialect.name)
        stmt = insert(WalletClassRow).values(provider=provider, owner_kind=kind, owner_id=owner, version=version)
        self._s.execute(stmt.on_conflict_do_update(index_elements=["provider", "owner_kind", "owner_id"],
                                                   set_={"version": version}))

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
        insert = dialect_insert(self._s.get_bind().dialect.name)
        stmt = (insert(GoogleCallbackNonceRow).values(**values).on_conflict_do_nothing(index_elements=["nonce"])
                .returning(GoogleCallbackNonceRow.nonce))
        return self._s.execute(stmt).first() is not None

    def prune_nonces(self, now: datetime) -> int:
        """Forget nonces whose message has expired (a replay fails verification anyway); return how many."""
        result = self._s.execute(delete(GoogleCallbackNonceRow).where(GoogleCallbackNonceRow.expires_at < now))
        return int(getattr(result, "rowcount", 0) or 0)
