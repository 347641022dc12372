"""The signed .pkpass of each pass's latest version, and the claim of the one process signing it.

One row per pass. A claim is one INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING (SQLite 3.35+ and
PostgreSQL): two transactions claiming the same version meet on the primary key — PostgreSQL makes the second wait
for the first to commit and then re-checks the WHERE against the row the first wrote; SQLite's write lock
(``BEGIN IMMEDIATE``) runs them one after the other — so exactly one gets its token back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, or_, select, update

from walletpass.domain.passes import StoredPass
from walletpass.storage.repositories._base import SessionRepository, dialect_insert
from walletpass.storage.tables import Base, PassFileRow

_FILES = PassFileRow.__table__
_TABLE = Base.metadata.tables[PassFileRow.__tablename__]


class PassFileRepository(SessionRepository):
    def get(self, pass_id: int) -> StoredPass | None:
        row = self._s.execute(select(_FILES).where(_FILES.c.pass_id == pass_id)).first()
        if row is None:
            return None
        return StoredPass(row.pass_id, int(row.update_tag), row.build_key, row.last_modified, row.data,
                          row.claim_token, row.claimed_at)

    def signed(self, pass_ids: Sequence[int], build_key: str) -> dict[int, int]:
        """Pass id → the version whose signed bytes (made by *build_key*) are stored, for those of *pass_ids* that
        have any; one query, the bytes left unread."""
        if not pass_ids:
            return {}
        return {int(p): int(t) for p, t in self._s.execute(
            select(_FILES.c.pass_id, _FILES.c.update_tag).where(
                _FILES.c.pass_id.in_(list(pass_ids)), _FILES.c.build_key == build_key, _FILES.c.data.is_not(None)))}

    def claim_many(self, claims: Sequence[tuple[int, int, datetime, str]], *, build_key: str, now: datetime,
                   stale_before: datetime) -> set[int]:
        """:meth:`claim` for each (pass id, tag, last modified, token) of *claims* in one statement (a multi-row
        INSERT … ON CONFLICT DO UPDATE … RETURNING, rows in pass id order); return the pass ids this transaction
        got. No take-over: that is the single fetch's (:meth:`claim`)."""
        if not claims:
            return set()
        rows = [{"pass_id": p, "update_tag": tag, "build_key": build_key, "last_modified": modified, "data": None,
                 "claim_token": token, "claimed_at": now} for p, tag, modified, token in sorted(claims)]
        # Core on the session's connection: the ORM's bulk INSERT handling cost more than the statement itself.
        insert = dialect_insert(self._s.get_bind().dialect.name)(_TABLE).values(rows)
        mine, new = _FILES.c, insert.excluded
        unsigned = mine.data.is_(None)
        free = or_(mine.claim_token.is_(None), mine.claimed_at < stale_before)
        stmt = insert.on_conflict_do_update(
            index_elements=["pass_id"],
            set_={c: new[c] for c in ("update_tag", "build_key", "last_modified", "data", "claim_token",
                                      "claimed_at")},
            where=or_(mine.update_tag < new.update_tag,
                      and_(mine.update_tag == new.update_tag, ~unsigned, mine.build_key != new.build_key),
                      and_(mine.update_tag == new.update_tag, unsigned, free)),
        ).returning(mine.pass_id, mine.claim_token)
        wanted = {p: token for p, _, _, token in claims}
        return {int(p) for p, token in self._s.connection().execute(stmt) if wanted.get(int(p)) == token}

    def store_many(self, files: Mapping[int, tuple[str, bytes]]) -> None:
        """:meth:`store` for each pass id → (token, data) of *files*, in one executemany UPDATE."""
        if files:
            # On the session's connection, Core: an ORM UPDATE given a list would be a bulk update by primary key.
            self._s.connection().execute(update(_TABLE).where(_FILES.c.pass_id == bindparam("b_pass"),
                                                              _FILES.c.claim_token == bindparam("b_token"))
                                         .values(data=bindparam("b_data"), claim_token=None, claimed_at=None),
                                         [{"b_pass": p, "b_token": token, "b_data": data}
                                          for p, (token, data) in sorted(files.items())])

    def release_many(self, claims: Mapping[int, str]) -> None:
        """:meth:`release` for each pass id → token of *claims*."""
        if claims:
            self._s.connection().execute(delete(_TABLE).where(_FILES.c.pass_id == bindparam("b_pass"),
                                                              _FILES.c.claim_token == bindparam("b_token")),
                                         [{"b_pass": p, "b_token": t} for p, t in sorted(claims.items())])

    def claim(self, pass_id: int, *, tag: int, build_key: str, last_modified: datetime, token: str, now: datetime,
              stale_before: datetime, take_over: str | None = None) -> bool:
        """Claim the signing of version *tag* of the pass (built by *build_key*) for *token*; True if this
        transaction got it.

        It is got when no row is there, or the row holds an older version, or this version built otherwise
        (other templates or certificates), or this version unsigned and unclaimed, claimed before *stale_before*
        (its signer died), or claimed by *take_over* (a claim the caller saw stand still for a whole lease). A
        newer version, this version's bytes, or another live claim of it are left alone. The old bytes go: only
        the latest version is kept.
        """
        values = {"update_tag": tag, "build_key": build_key, "last_modified": last_modified, "data": None,
                  "claim_token": token, "claimed_at": now}
        mine = _FILES.c
        unsigned = mine.data.is_(None)
        free = or_(mine.claim_token.is_(None), mine.claimed_at < stale_before,
                   *([mine.claim_token == take_over] if take_over else []))
        insert = dialect_insert(self._s.get_bind().dialect.name)(PassFileRow).values(pass_id=pass_id, **values)
        stmt = insert.on_conflict_do_update(
            index_elements=["pass_id"], set_=values,
            where=or_(mine.update_tag < tag,
                      and_(mine.update_tag == tag, ~unsigned, mine.build_key != build_key),
                      and_(mine.update_tag == tag, unsigned, free)),
        ).returning(mine.claim_token)
        return self._s.execute(stmt).scalar() == token

    def store(self, pass_id: int, token: str, data: bytes) -> bool:
        """Keep the signed *data* of the version *token* claimed; False when the claim was taken over (by a newer
        version, or after its lease) and nothing was kept."""
        done = self._s.execute(update(PassFileRow).where(PassFileRow.pass_id == pass_id,
                                                         PassFileRow.claim_token == token)
                               .values(data=data, claim_token=None, claimed_at=None)
                               .execution_options(synchronize_session=False))
        return bool(done.rowcount)  # type: ignore[attr-defined]

    def release(self, pass_id: int, token: str) -> None:
        """Give up the claim *token* (signing failed): the next fetch claims the version again."""
        self._s.execute(delete(PassFileRow).where(PassFileRow.pass_id == pass_id, PassFileRow.claim_token == token)
                        .execution_options(synchronize_session=False))
