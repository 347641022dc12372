"""Bulk imports of members: the import and its staged rows, the set-based writes of a chunk, and export pages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, literal, or_, select, update

from walletpass.domain.imports import DONE, QUEUED, RUNNING, ImportedRow, MemberImport, RowError, StagedRow
from walletpass.domain.members import Member
from walletpass.domain.passes import MEMBER_CARD, Pass
from walletpass.storage.repositories._base import SessionRepository, dialect_insert
from walletpass.storage.repositories.members import to_member
from walletpass.storage.repositories.passes import to_pass
from walletpass.storage.tables import (
    LedgerEntryRow,
    MemberImportRow,
    MemberImportStagedRow,
    MemberRow,
    PassEventRow,
    PassRow,
    UTCDateTime,
)

_STAGED = ("name", "email", "phone", "external_id", "points", "birthday", "tier", "problem")


def to_import(row: MemberImportRow) -> MemberImport:
    return MemberImport(id=row.id, program_id=row.program_id, format=row.format, state=row.state, total=row.total,
                        imported=row.imported, unchanged=row.unchanged, skipped=row.skipped, failed=row.failed,
                        errors=tuple(RowError(int(e["row"]), str(e["field"]), str(e["detail"])) for e in row.errors),
                        created_at=row.created_at, finished_at=row.finished_at)


class ImportRepository(SessionRepository):
    def add(self, *, program_id: int, fmt: str, rows: Sequence[StagedRow], now: datetime) -> MemberImport:
        """A queued import of *rows* (staged: COPY on PostgreSQL, one executemany INSERT on SQLite)."""
        imp = self._add(MemberImportRow(program_id=program_id, format=fmt, state=QUEUED, total=len(rows),
                                        imported=0, unchanged=0, skipped=0, failed=0, errors=[], created_at=now,
                                        updated_at=now))
        conn = self._s.connection()
        if conn.dialect.name == "postgresql":
            _copy_staged(conn, imp.id, rows)
        else:
            conn.execute(insert(MemberImportStagedRow), [
                {"import_id": imp.id, "row": r.row, **{k: getattr(r, k) for k in _STAGED}} for r in rows])
        return to_import(imp)

    def get(self, import_id: int, *, for_update: bool = False) -> MemberImport:
        return to_import(self._row(MemberImportRow, import_id, "member import", for_update=for_update))

    def staged(self, import_id: int, limit: int) -> list[StagedRow]:
        """The next *limit* rows of the import not imported yet, in file order."""
        rows = self._s.execute(select(MemberImportStagedRow.row, *(getattr(MemberImportStagedRow, k) for k in _STAGED))
                               .where(MemberImportStagedRow.import_id == import_id)
                               .order_by(MemberImportStagedRow.row).limit(limit)).all()
        return [StagedRow(r[0], **dict(zip(_STAGED, r[1:], strict=True))) for r in rows]

    def drop_staged(self, import_id: int, through_row: int) -> None:
        """The rows up to *through_row* are imported (or skipped): they wait no more."""
        self._s.execute(delete(MemberImportStagedRow).where(MemberImportStagedRow.import_id == import_id,
                                                            MemberImportStagedRow.row <= through_row))

    def advance(self, import_id: int, *, imported: int, unchanged: int, skipped: int, failed: int,
                errors: Sequence[RowError], max_reported: int, finished: bool, now: datetime) -> None:
        """Count a chunk's rows, keep its errors (up to *max_reported* in all); *finished*: the import is done."""
        row = self._row(MemberImportRow, import_id, "member import")
        row.imported += imported
        row.unchanged += unchanged
        row.skipped += skipped
        row.failed += failed
        room = max_reported - len(row.errors)
        if errors and room > 0:
            row.errors = [*row.errors, *(e.as_json() for e in errors[:room])]
        row.state = DONE if finished else RUNNING
        row.updated_at = now
        if finished:
            row.finished_at = now
        self._s.flush()

    # -- the members a chunk meets and writes ---------------------------------------------------------------
    def matching(self, program_id: int, external_ids: Iterable[str], emails: Iterable[str],
                 phones: Iterable[str]) -> list[Member]:
        """The program's members with one of *external_ids*, *emails* (lower case) or *phones*: one query, served
        by the indexes (program, external_id), (program, lower(email)) and (program, phone)."""
        ors = []
        for column, values in ((MemberRow.external_id, external_ids), (func.lower(MemberRow.email), emails),
                               (MemberRow.phone, phones)):
            listed = list(dict.fromkeys(values))
            if listed:
                ors.append(column.in_(listed))
        if not ors:
            return []
        rows = self._s.scalars(select(MemberRow).where(MemberRow.program_id == program_id, or_(*ors))
                               .order_by(MemberRow.id)).all()
        return [to_member(r) for r in rows]

    def insert_members(self, program_id: int, rows: Sequence[tuple[ImportedRow, str, str | None]], *,
                       source: str, now: datetime) -> dict[str, int]:
        """Insert a member for each (row, member number, tier); return member number → id of those inserted (a
        number or external_id already taken, also by a transaction that committed meanwhile, inserts nothing).

        PostgreSQL: COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT DO NOTHING … RETURNING
        (an executemany INSERT … RETURNING of 1,000-row VALUES lists took ~1 ms a row there, 10× the COPY way);
        SQLite: one executemany INSERT … ON CONFLICT DO NOTHING … RETURNING.
        """
        if not rows:
            return {}
        conn = self._s.connection()
        values = [{"program_id": program_id, "name": r.name, "email": r.email, "phone": r.phone,
                   "external_id": r.external_id, "member_number": number, "points": r.points, "tier": tier,
                   "version": 1, "source": source, "birthday": r.birthday, "created_at": now, "updated_at": now}
                  for r, number, tier in rows]
        if conn.dialect.name == "postgresql":
            columns = list(values[0])
            names = ", ".join(columns)
            conn.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS import_members ON COMMIT DELETE ROWS AS "
                                 f"SELECT {names} FROM members WITH NO DATA")
            conn.exec_driver_sql("TRUNCATE import_members")  # a rolled-back chunk leaves nothing: be sure
            _copy(conn, "import_members", columns, ([v[c] for c in columns] for v in values))
            result = conn.exec_driver_sql(f"INSERT INTO members ({names}) SELECT {names} FROM import_members "
                                          "ON CONFLICT DO NOTHING RETURNING id, member_number")
            return {number: ident for ident, number in result.all()}
        stmt = (dialect_insert(conn.dialect.name)(MemberRow).on_conflict_do_nothing()
                .returning(MemberRow.id, MemberRow.member_number))
        return {number: ident for ident, number in conn.execute(stmt, values).all()}

    def insert_cards(self, program_id: int, cards: Sequence[Mapping[str, Any]], *, pass_type_id: str, tag: int,
                     now: datetime) -> None:
        """Insert a member card for each of *cards* (member_id, serial_number, authentication_token,
        public_token), never signed (signed at the first download): COPY on PostgreSQL, executemany on SQLite."""
        if not cards:
            return
        values = [{**c, "pass_type_id": pass_type_id, "kind": MEMBER_CARD, "program_id": program_id,
                   "update_tag": tag, "voided": False, "created_at": now, "updated_at": now.replace(microsecond=0)}
                  for c in cards]
        _insert_many(self._s.connection(), PassRow, values)

    def insert_openings(self, program_id: int, balances: Mapping[int, int], member_ids: Sequence[int], *,
                        reason: str, source: str, now: datetime) -> None:
        """The ledger entry of each opening balance (member id → points > 0), and the ``enrol`` event of each
        of *member_ids*' member cards (one INSERT … SELECT)."""
        conn = self._s.connection()
        if balances:
            _insert_many(conn, LedgerEntryRow, [
                {"member_id": m, "points": p, "balance": p, "reason": reason, "api_key_id": None, "created_at": now}
                for m, p in balances.items()])
        if member_ids:
            stamp = UTCDateTime()
            cards = select(PassRow.program_id, PassRow.id, literal("enrol"), literal(source),
                           literal(now.date().isoformat()), literal(now, stamp)).where(
                PassRow.member_id.in_(list(member_ids)), PassRow.kind == MEMBER_CARD)
            conn.execute(insert(PassEventRow).from_select(["program_id", "pass_id", "kind", "source", "day", "at"],
                                                          cards))

    def numbers_taken(self, numbers: Sequence[str]) -> set[str]:
        if not numbers:
            return set()
        return set(self._s.scalars(select(MemberRow.member_number).where(MemberRow.member_number.in_(list(numbers)))))

    # -- export --------------------------------------------------------------------------------------------
    def export_page(self, program_id: int, after_id: int, limit: int) -> list[tuple[Member, Pass]]:
        """The program's members (not erased) after member id *after_id*, with their member cards, by id."""
        rows = self._s.execute(
            select(MemberRow, PassRow).join(PassRow, (PassRow.member_id == MemberRow.id)
                                            & (PassRow.kind == MEMBER_CARD))
            .where(MemberRow.program_id == program_id, MemberRow.id > after_id, MemberRow.erased_at.is_(None))
            .order_by(MemberRow.id).limit(limit)).all()
        return [(to_member(m), to_pass(p)) for m, p in rows]

    def set_running(self, import_id: int, now: datetime) -> None:
        self._s.execute(update(MemberImportRow).where(MemberImportRow.id == import_id, MemberImportRow.state == QUEUED)
                        .values(state=RUNNING, updated_at=now))


def _copy_staged(conn: Connection, import_id: int, rows: Sequence[StagedRow]) -> None:
    """Stage *rows* with COPY … FROM STDIN, in the session's transaction."""
    _copy(conn, "member_import_rows", ["import_id", "row", *_STAGED],
          ((import_id, r.row, r.name, r.email, r.phone, r.external_id, r.points, r.birthday, r.tier, r.problem)
           for r in rows))


def _copy(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """COPY *rows* into *table* (psycopg, PostgreSQL), in the connection's transaction."""
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert_many(conn: Connection, table: Any, values: Sequence[Mapping[str, Any]]) -> None:
    """Insert *values* into *table*: COPY on PostgreSQL, one executemany INSERT on SQLite."""
    if conn.dialect.name == "postgresql":
        columns = list(values[0])
        _copy(conn, table.__tablename__, columns, ([v[c] for c in columns] for v in values))
    else:
        conn.execute(insert(table), list(values))
