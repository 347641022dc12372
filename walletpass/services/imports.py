"""Bulk import of members (through the job worker) and their export. The rules of a row are
:mod:`walletpass.domain.imports`.

An import is accepted in one transaction: the file is parsed (a file that cannot be imported at all is refused
before anything is written), its rows are staged (COPY on PostgreSQL) and a ``member_import`` job is queued. The
worker then imports the staged rows chunk by chunk; each chunk is one transaction that writes its members, their
member cards (serial, tokens; never signed: a pass is signed at its first download), the ledger entries of their
opening balances and their ``enrol`` events (source ``import``), set-based, counts the chunk in the import's
progress and deletes the chunk's staged rows. A worker killed mid-chunk leaves that chunk untouched, and the next
worker to claim the job carries on from the rows still staged: no row is imported twice, none half.

Chunks of one program are serialised by the program's row lock, so two imports of overlapping files running at
once match each other's rows instead of both creating them. Imported members get no welcome automation (they are
members already, not new sign-ups).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from walletpass.config import Settings
from walletpass.domain.imports import (
    DONE,
    MAX_REPORTED,
    ImportedRow,
    MemberImport,
    RowError,
    StagedRow,
    check_row,
    differences,
    format_of,
    keys_of,
    match_key,
    parse_upload,
)
from walletpass.domain.jobs import Job, JobKind, JobOutcome, JobResult
from walletpass.domain.members import Member
from walletpass.domain.passes import Pass
from walletpass.domain.programs import Program
from walletpass.errors import NotFound
from walletpass.ids import new_member_numbers, new_serials, new_token
from walletpass.ports import Clock, UnitOfWork
from walletpass.services.idempotency import Replayed, Retry, no_lock, once

log = logging.getLogger("walletpass.imports")

#: Rows per chunk (one transaction), and chunks per job run (then the job runs again under a new lease).
CHUNK, CHUNKS_PER_RUN = 2000, 10
#: Where imported members come from (members.source, the enrol events' source).
SOURCE = "import"
#: Tries at giving a chunk's new members numbers no other member has.
_NUMBER_TRIES = 5


def start_import(uow: UnitOfWork, clock: Clock, program_id: int, data: bytes, content_type: str | None, *,
                 retry: Retry | None = None) -> MemberImport | Replayed:
    """Accept a file of members for the program: parse and stage its rows, queue the job that imports them.
    InvalidInput (nothing written) for a file that cannot be imported at all; NotFound for no such program."""
    fmt = format_of(content_type)
    rows = parse_upload(data, fmt)
    now = clock.now()

    def work(u: UnitOfWork) -> MemberImport:
        u.programs.get(program_id)
        imp = u.imports.add(program_id=program_id, fmt=fmt, rows=rows, now=now)
        u.outbox.enqueue(JobKind.MEMBER_IMPORT, {"import_id": imp.id}, now)
        return imp

    return once(uow, now, retry, no_lock, work)


def import_progress(uow: UnitOfWork, import_id: int) -> MemberImport:
    with uow:
        return uow.imports.get(import_id)


def program_of_import(uow: UnitOfWork, import_id: int) -> int:
    """The program an import belongs to (NotFound for none): API keys limited to programs are checked by it."""
    with uow:
        return uow.imports.get(import_id).program_id


def run_import_jobs(jobs: Sequence[Job], *, uow: Callable[[], UnitOfWork], clock: Clock, settings: Settings,
                    max_chunks: int = CHUNKS_PER_RUN) -> list[JobResult]:
    """Import up to *max_chunks* chunks of each job's import: DONE once it is finished, else AGAIN (due now)."""
    results = []
    for job in jobs:
        finished = False
        for _ in range(max_chunks):
            finished = import_chunk(uow(), clock, settings, int(job.payload["import_id"]))
            if finished:
                break
        results.append(JobResult(job, JobOutcome.DONE) if finished else JobResult(job, JobOutcome.AGAIN,
                                                                                   at=clock.now()))
    return results


def import_chunk(uow: UnitOfWork, clock: Clock, settings: Settings, import_id: int) -> bool:
    """Import the next chunk of an import in one transaction; True once the import is done."""
    now = clock.now()
    with uow:
        try:
            program_id = uow.imports.get(import_id).program_id
            program = uow.programs.get(program_id, for_update=True)  # one program's chunks, one at a time
            imp = uow.imports.get(import_id, for_update=True)
        except NotFound:
            log.error("member import %s is gone; dropping its job", import_id)
            return True
        if imp.state == DONE:
            return True
        staged = uow.imports.staged(import_id, CHUNK)
        tally = _Tally()
        if staged:
            _write_chunk(uow, settings, program, staged, now, tally)
            uow.imports.drop_staged(import_id, staged[-1].row)
        finished = len(staged) < CHUNK
        uow.imports.advance(import_id, imported=tally.imported, unchanged=tally.unchanged,
                            skipped=len(tally.skipped), failed=len(tally.failed),
                            errors=sorted(tally.skipped + tally.failed, key=lambda e: e.row),
                            max_reported=MAX_REPORTED, finished=finished, now=now)
        uow.commit()
        return finished


@dataclass
class _Tally:
    imported: int = 0
    unchanged: int = 0

    def __post_init__(self) -> None:
        self.skipped: list[RowError] = []
        self.failed: list[RowError] = []


_Known = dict[tuple[str, str], Member | ImportedRow]


def _write_chunk(uow: UnitOfWork, settings: Settings, program: Program, staged: Sequence[StagedRow],
                 now: datetime, tally: _Tally) -> None:
    tiers = [t.name for t in program.tiers]
    checked = [check_row(s, tiers, now.date()) for s in staged]
    tally.skipped += [c for c in checked if isinstance(c, RowError)]
    known: _Known = {}
    pending = _unmatched(uow, program.id, [c for c in checked if isinstance(c, ImportedRow)], known, tally)
    created: list[tuple[ImportedRow, int]] = []
    for _ in range(_NUMBER_TRIES):
        if not pending:
            break
        numbers = new_member_numbers(len(pending))
        inserted = uow.imports.insert_members(program.id, [
            (r, n, r.tier or _tier_name(program, r.points)) for r, n in zip(pending, numbers, strict=True)],
            source=SOURCE, now=now)
        created += [(r, inserted[n]) for r, n in zip(pending, numbers, strict=True) if n in inserted]
        missed = [r for r, n in zip(pending, numbers, strict=True) if n not in inserted]
        # A member number already taken, or a member enrolled with the row's external_id meanwhile: match again.
        pending = _unmatched(uow, program.id, missed, {}, tally) if missed else []
    tally.failed += [RowError(r.row, "row", "no free member number was found; run the import again") for r in pending]
    if created:
        serials = new_serials(len(created))
        uow.imports.insert_cards(program.id, [
            {"member_id": member_id, "serial_number": serial, "authentication_token": new_token(24),
             "public_token": new_token(24)} for (_, member_id), serial in zip(created, serials, strict=True)],
            pass_type_id=settings.member_pass_type_id, tag=uow.passes.next_tag(), now=now)
        uow.imports.insert_openings(program.id, {m: r.points for r, m in created if r.points},
                                    [m for _, m in created], reason="initial balance", source=SOURCE, now=now)
    tally.imported += len(created)


def _unmatched(uow: UnitOfWork, program_id: int, rows: Sequence[ImportedRow], known: _Known,
               tally: _Tally) -> list[ImportedRow]:
    """The *rows* that match no member of the program nor an earlier row (*known*, filled as rows are seen);
    the others are counted unchanged or skipped."""
    keys = [match_key(r) for r in rows]
    for m in uow.imports.matching(program_id, [v for k, v in keys if k == "external_id"],
                                  [v for k, v in keys if k == "email"], [v for k, v in keys if k == "phone"]):
        for key in keys_of(m):
            known.setdefault(key, m)
    fresh = []
    for row, key in zip(rows, keys, strict=True):
        hit = known.get(key)
        if hit is None:
            for k in _row_keys(row):
                known.setdefault(k, row)
            fresh.append(row)
            continue
        diff = differences(hit, row)
        if not diff:
            tally.unchanged += 1
        elif isinstance(hit, ImportedRow):
            tally.skipped.append(RowError(row.row, key[0], f"row {hit.row} has this {key[0]} with another "
                                                           f"{', '.join(diff)}"))
        else:
            tally.skipped.append(RowError(row.row, key[0], f"member {hit.id} has this {key[0]} with another "
                                                           f"{', '.join(diff)}: change them with PATCH "
                                                           f"/api/v1/members/{hit.id}"))
    return fresh


def _row_keys(row: ImportedRow) -> list[tuple[str, str]]:
    out = [("external_id", row.external_id)] if row.external_id is not None else []
    if row.email is not None:
        out.append(("email", row.email.lower()))
    if row.phone is not None:
        out.append(("phone", row.phone))
    return out


def _tier_name(program: Program, points: int) -> str | None:
    tier = program.tier_for(points)
    return tier.name if tier else None


# -- export ---------------------------------------------------------------------------------------------------
def export_members(read_uow: Callable[[], UnitOfWork], program_id: int, *,
                   page: int = 1000) -> Iterator[list[tuple[Member, Pass]]]:
    """The program's members (not erased) with their member cards, a page at a time, each page read in its own
    short transaction (by member id, so a member enrolled meanwhile is listed once or not at all): a large
    export is streamed, never held in memory or in one long transaction. NotFound (before the first page) for no
    such program."""
    with read_uow() as u:
        u.programs.get(program_id)
    return _pages(read_uow, program_id, page)


def _pages(read_uow: Callable[[], UnitOfWork], program_id: int, page: int) -> Iterator[list[tuple[Member, Pass]]]:
    after = 0
    while True:
        with read_uow() as u:
            rows = u.imports.export_page(program_id, after, page)
        if rows:
            yield rows
        if len(rows) < page:
            return
        after = rows[-1][0].id
