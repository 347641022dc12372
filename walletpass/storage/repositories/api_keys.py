"""API keys: only a prefix (for lookup) and a hash of each key are stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update

from walletpass.domain.api_keys import ApiKey
from walletpass.storage.repositories._base import SessionRepository, dialect_insert, is_id
from walletpass.storage.tables import ApiKeyRow, CounterRow

#: The counter that moves on every revocation: processes that cache verified keys read it to drop them at once.
REVOCATIONS = "api_key_revocations"


def to_api_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(id=row.id, name=row.name, prefix=row.prefix, key_hash=row.key_hash, scopes=tuple(row.scopes),
                  programs=None if row.programs is None else tuple(row.programs), created_at=row.created_at,
                  last_used_at=row.last_used_at, revoked_at=row.revoked_at)


class ApiKeyRepository(SessionRepository):
    def add(self, *, name: str, prefix: str, key_hash: str, scopes: Sequence[str],
            programs: Sequence[int] | None = None, now: datetime) -> ApiKey:
        return to_api_key(self._add(ApiKeyRow(name=name, prefix=prefix, key_hash=key_hash, scopes=list(scopes),
                                              programs=None if programs is None else list(programs),
                                              created_at=now)))

    def replace_hash(self, key_id: int, old: str, new: str) -> bool:
        """Store *new* as the key's hash if it still is *old* (nobody changed it meanwhile); True if stored."""
        result = self._s.execute(update(ApiKeyRow).where(ApiKeyRow.id == key_id, ApiKeyRow.key_hash == old)
                                 .values(key_hash=new))
        return bool(getattr(result, "rowcount", 0))

    def by_prefix(self, prefix: str) -> ApiKey | None:
        row = self._s.scalars(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix)).first()
        return None if row is None else to_api_key(row)

    def exist(self) -> bool:
        return bool(self._s.scalar(select(func.count()).select_from(ApiKeyRow)))

    def get(self, key_id: int) -> ApiKey | None:
        row = self._s.get(ApiKeyRow, key_id) if is_id(key_id) else None
        return None if row is None else to_api_key(row)

    def revoke(self, key_id: int, now: datetime) -> bool:
        """Revoke the key (once: a revoked key keeps its first revocation time) and move the revocations counter;
        True if it was revoked now."""
        result = self._s.execute(update(ApiKeyRow).where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
                                 .values(revoked_at=now))
        if not getattr(result, "rowcount", 0):
            return False
        insert = dialect_insert(self._s.get_bind().dialect.name)
        self._s.execute(insert(CounterRow).values(name=REVOCATIONS, value=1).on_conflict_do_update(
            index_elements=[CounterRow.name], set_={"value": CounterRow.value + 1}))
        return True

    def revocations(self) -> int:
        """How many revocations there have been (a key's cache is stale when this moved)."""
        return int(self._s.scalar(select(CounterRow.value).where(CounterRow.name == REVOCATIONS)) or 0)

    def mark_used(self, key_id: int, now: datetime, *, unless_after: datetime) -> None:
        """Record that the key was used at *now*, unless that was recorded after *unless_after* already (one write
        per key every few minutes, not one per request)."""
        self._s.execute(update(ApiKeyRow).where(
            ApiKeyRow.id == key_id,
            (ApiKeyRow.last_used_at.is_(None)) | (ApiKeyRow.last_used_at < unless_after)).values(last_used_at=now))
