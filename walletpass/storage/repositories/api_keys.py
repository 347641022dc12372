"""API keys: only a prefix (for lookup) and a hash of each key are stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update

from walletpass.domain.api_keys import ApiKey
from walletpass.storage.repositories._base import SessionRepository
from walletpass.storage.tables import ApiKeyRow


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
