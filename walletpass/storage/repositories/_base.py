"""What every repository shares: the session, inserts that turn a broken unique key into Conflict, id lookups."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from walletpass.errors import Conflict, NotFound
from walletpass.storage.tables import MAX_ID

R = TypeVar("R")


def constraint_of(exc: IntegrityError) -> str:
    """The first line of the database's message: which constraint a write broke."""
    text = str(exc.orig).splitlines()[0] if exc.orig is not None else "integrity error"
    return text[:200]


def dialect_insert(dialect: str) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def is_id(ident: object) -> bool:
    """Whether *ident* can be a row id (a path segment may carry any integer, e.g. 10**30)."""
    return isinstance(ident, int) and not isinstance(ident, bool) and 0 < ident <= MAX_ID


class SessionRepository:
    """A repository over the unit of work's session (the unit of work commits; repositories never do)."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def _add(self, row: R) -> R:
        """Insert *row* now; a unique or foreign key it breaks (e.g. a concurrent insert committed first) is a
        Conflict, never a bare driver error. The transaction is then spoilt: the unit of work rolls back."""
        self._s.add(row)
        try:
            self._s.flush()
        except IntegrityError as exc:
            raise Conflict("conflicts with existing data: " + constraint_of(exc)) from exc
        return row

    def _add_unless_taken(self, row: Any) -> bool:
        """Insert *row* in a savepoint; False (nothing written, the transaction still usable) when a unique key
        of it is taken — also by a concurrent transaction that committed while this one waited on the index."""
        try:
            with self._s.begin_nested():
                self._s.add(row)
        except IntegrityError:
            return False
        return True

    def _row(self, cls: type[R], ident: int, what: str, *, for_update: bool = False) -> R:
        if not is_id(ident):
            raise NotFound(f"{what} {ident!r} not found")
        # Session.get: the mapper's cached primary-key load (or the identity map), not a SELECT built per call.
        row = self._s.get(cls, ident, with_for_update=True if for_update else None)
        if row is None:
            raise NotFound(f"{what} {ident} not found")
        return row
