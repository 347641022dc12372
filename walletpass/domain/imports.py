"""Bulk import and export of members: the file formats, the check of each row, and what a re-run does. PURE.

Formats: CSV (``text/csv``, UTF-8, a header row naming the columns) or NDJSON (``application/x-ndjson``, one JSON
object per line). Columns / fields: ``name`` (required), ``email``, ``phone``, ``external_id``, ``points`` (the
opening balance), ``birthday`` (``YYYY-MM-DD``), ``tier`` (a tier of the program: overrides the tier the points
give). The columns an export adds (``member_number``, ``serial_number``, ``page``, ``pkpass``, ``google_save``) are
accepted and ignored, so an export imports again as it is. Any other column is refused (422, nothing written).

What a row does, decided once and applied to every row:

- **Known members are never changed.** A row is matched to a member of the program by ``external_id``; a row
  without one, by ``email`` (case-insensitively), else by ``phone``. A matched row whose name, email, phone and
  birthday equal the member's is ``unchanged``; one that differs is ``skipped`` (field ``external_id`` /
  ``email`` / ``phone``: the member exists with other data: change them with PATCH /members/{id}). ``points`` and
  ``tier`` are opening values, used when the member is created, and not compared (the member may have earned
  points since). So re-running a file changes nothing.
- A row with none of external_id, email and phone is skipped: nothing would tell its re-run from a new member.
- A later row of the file matching an earlier one is matched to it the same way.
- A row that breaks a rule (a bad phone, a birthday in the future, an unknown tier, …) is skipped, with its row
  number (CSV: the spreadsheet's, the header being row 1; NDJSON: the line), the field and what is wrong.

Spreadsheets run a cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) as a formula
(CSV injection): the export writes such a cell with a ``'`` before it, and the import takes that ``'`` off again,
so a phone number ``+886…`` makes the round trip.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from walletpass.domain.members import MAX_POINTS, Member, normalize_email, normalize_phone, parse_birthday
from walletpass.errors import InvalidInput, MalformedRequest, PayloadTooLarge, UnsupportedMediaType

#: The columns an import reads, in the order an export writes them.
COLUMNS = ("name", "email", "phone", "external_id", "points", "birthday", "tier")
#: The columns an export adds: accepted by an import and ignored.
EXPORT_ONLY = ("member_number", "serial_number", "page", "pkpass", "google_save")
#: The header of an export.
EXPORT_COLUMNS = COLUMNS + EXPORT_ONLY
#: Content types of an import's body → format.
FORMATS = {"text/csv": "csv", "application/x-ndjson": "ndjson"}
#: The largest file and the most rows an import takes (413 beyond).
MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_IMPORT_ROWS = 500_000
#: Skipped rows reported one by one in an import's progress (all are counted).
MAX_REPORTED = 1000
#: States of an import.
QUEUED, RUNNING, DONE = "queued", "running", "done"

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_EMAIL = re.compile(r"[^@\s\x00]+@[^@.\s\x00]+(?:\.[^@.\s\x00]+)+")
_LIMITS = {"name": 200, "email": 320, "external_id": 200, "tier": 64}


@dataclass(frozen=True, slots=True)
class StagedRow:
    """A row of an import's file as the file had it (text), before its check; ``problem`` when unreadable."""

    row: int
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    points: str | None = None
    birthday: str | None = None
    tier: str | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class ImportedRow:
    """A row that passed its check: the member it describes, normalised as enrolment stores it."""

    row: int
    name: str
    email: str | None
    phone: str | None
    external_id: str | None
    points: int
    birthday: date | None
    tier: str | None  # an override: None means the tier the points give


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row was skipped (or failed): its number, the field, what is wrong."""

    row: int
    field: str
    detail: str

    def as_json(self) -> dict[str, object]:
        return {"row": self.row, "field": self.field, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class MemberImport:
    """A bulk import and its progress."""

    id: int
    program_id: int
    format: str
    state: str
    total: int
    imported: int
    unchanged: int
    skipped: int
    failed: int
    errors: tuple[RowError, ...]
    created_at: datetime
    finished_at: datetime | None = None


# -- parsing the file -----------------------------------------------------------------------------------------
def format_of(content_type: str | None) -> str:
    """The import format of a request's Content-Type (charset utf-8 or none); InvalidInput otherwise."""
    media, _, params = (content_type or "").partition(";")
    fmt = FORMATS.get(media.strip().lower())
    charset = params.strip().lower().removeprefix("charset=").strip('"') if "charset" in params.lower() else "utf-8"
    if fmt is None or charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("Content-Type", f"{content_type or 'no content type'!r} is not accepted: send "
                                                   "text/csv or application/x-ndjson, in UTF-8")
    return fmt


def parse_upload(data: bytes, fmt: str) -> list[StagedRow]:
    """The rows of an import's file; InvalidInput for a file that cannot be imported at all (nothing is written):
    not UTF-8, no name column, an unknown column, no rows, too many rows."""
    if len(data) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge("file", f"the file is larger than {MAX_IMPORT_BYTES} bytes: split it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedRequest("file", f"the file is not UTF-8 (byte {exc.start})") from None
    if "\x00" in text:
        raise InvalidInput("file", "the file contains the NUL character")
    rows: list[StagedRow] = []
    for row in _csv_rows(text) if fmt == "csv" else _ndjson_rows(text):
        if len(rows) == MAX_IMPORT_ROWS:
            raise PayloadTooLarge("file", f"the file has more than {MAX_IMPORT_ROWS} rows: split it")
        rows.append(row)
    if not rows:
        raise InvalidInput("file", "the file has no rows to import")
    return rows


def _check_columns(names: Sequence[str], field: str, where: str = "") -> None:
    unknown = [n for n in names if n not in COLUMNS and n not in EXPORT_ONLY]
    if unknown:
        raise InvalidInput(field, f"{where}unknown column(s) {', '.join(map(repr, unknown))}: the columns are "
                                  f"{', '.join(COLUMNS)} (and an export's {', '.join(EXPORT_ONLY)}, ignored)")


def _csv_rows(text: str) -> Iterator[StagedRow]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        names = [h.strip().lower() for h in header]
        _check_columns(names, "header")
        if "name" not in names:
            raise InvalidInput("header", "the header has no name column: the first row names the columns, e.g. "
                                         "name,email,phone,external_id,points,birthday,tier")
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidInput("header", f"column(s) named twice: {', '.join(twice)}")
        wanted = [(i, n) for i, n in enumerate(names) if n in COLUMNS]
        number = 1
        for cells in reader:
            number += 1
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # a blank line
            if len(cells) != len(names):
                yield StagedRow(number, problem=f"row: has {len(cells)} cells, the header {len(names)}")
                continue
            yield StagedRow(number, **{n: unescape_cell(cells[i]) for i, n in wanted})
    except csv.Error as exc:
        raise InvalidInput("file", f"not a CSV file: {exc} (near line {reader.line_num})") from None


def _ndjson_rows(text: str) -> Iterator[StagedRow]:
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield StagedRow(number, problem=f"row: not a JSON object ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            yield StagedRow(number, problem="row: not a JSON object")
            continue
        _check_columns(list(obj), "file", f"line {number}: ")
        values: dict[str, str | None] = {}
        bad = None
        for key in COLUMNS:
            value = obj.get(key)
            if value is None or isinstance(value, str):
                values[key] = value
            elif key == "points" and isinstance(value, int) and not isinstance(value, bool):
                values[key] = str(value)
            else:
                bad = f"{key}: must be {'an integer' if key == 'points' else 'a string'} or null"
                break
        yield StagedRow(number, problem=bad) if bad else StagedRow(number, **values)


# -- the check of a row ---------------------------------------------------------------------------------------
def check_row(staged: StagedRow, tiers: Sequence[str], today: date) -> ImportedRow | RowError:
    """The member a row describes, or why it is skipped (the first problem found)."""
    if staged.problem:
        field, _, detail = staged.problem.partition(": ")
        return RowError(staged.row, field, detail)
    try:
        return _checked(staged, tiers, today)
    except InvalidInput as exc:
        return RowError(staged.row, exc.field, exc.errors[0].detail if exc.errors else exc.detail)


def _text(value: str | None, field: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > _LIMITS[field]:
        raise InvalidInput(field, f"longer than {_LIMITS[field]} characters")
    return value


def _checked(s: StagedRow, tiers: Sequence[str], today: date) -> ImportedRow:
    name = _text(s.name, "name")
    if name is None:
        raise InvalidInput("name", "must not be blank")
    email = _text(s.email, "email")
    if email is not None:
        if not _EMAIL.fullmatch(email):
            raise InvalidInput("email", f"{email!r} is not an email address: name@domain.tld, without white space")
        email = normalize_email(email)
    phone = normalize_phone(s.phone) if s.phone is not None and s.phone.strip() else None
    external_id = _text(s.external_id, "external_id")
    if external_id is None and email is None and phone is None:
        raise InvalidInput("external_id", "give external_id, email or phone: an import tells a row it ran before "
                                          "from a new member by them")
    points = 0
    raw = (s.points or "").strip()
    if raw:
        if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_POINTS:
            raise InvalidInput("points", f"{raw!r} is not a whole number of points from 0 to {MAX_POINTS}")
        points = int(raw)
    day = (s.birthday or "").strip()
    birthday = parse_birthday(day, today) if day else None
    tier = _text(s.tier, "tier")
    if tier is not None and tier not in tiers:
        known = ", ".join(tiers) or "none"
        raise InvalidInput("tier", f"{tier!r} is not a tier of the program (its tiers: {known})")
    return ImportedRow(s.row, name, email, phone, external_id, points, birthday, tier)


def differences(member: Member | ImportedRow, row: ImportedRow) -> list[str]:
    """The fields of *row* that differ from the *member* (or earlier row) it matched; points and tier are opening
    values, not compared."""
    out = []
    if member.name != row.name:
        out.append("name")
    if (member.email or "").lower() != (row.email or "").lower():
        out.append("email")
    if member.phone != row.phone:
        out.append("phone")
    if member.birthday != row.birthday:
        out.append("birthday")
    return out


def match_key(row: ImportedRow) -> tuple[str, str]:
    """What a row is matched by: ("external_id", id), else ("email", lower-cased), else ("phone", number)."""
    if row.external_id is not None:
        return "external_id", row.external_id
    if row.email is not None:
        return "email", row.email.lower()
    assert row.phone is not None  # check_row refuses a row with none of the three
    return "phone", row.phone


def keys_of(member: Member) -> list[tuple[str, str]]:
    """Every key a member can be matched by (see :func:`match_key`)."""
    out = []
    if member.external_id is not None:
        out.append(("external_id", member.external_id))
    if member.email is not None:
        out.append(("email", member.email.lower()))
    if member.phone is not None:
        out.append(("phone", member.phone))
    return out


# -- CSV injection --------------------------------------------------------------------------------------------
def escape_cell(value: str) -> str:
    """A cell as an export writes it: one a spreadsheet would run as a formula gets a ``'`` before it."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def unescape_cell(value: str) -> str:
    """A cell as an import reads it: the ``'`` an export put before a formula-like cell is taken off."""
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


def export_line(values: Mapping[str, object]) -> list[str]:
    """The cells of one exported member, in :data:`EXPORT_COLUMNS` order, formula-like cells escaped."""
    return [escape_cell("" if values.get(c) is None else str(values[c])) for c in EXPORT_COLUMNS]
