"""Bulk import of members (CSV / NDJSON through the job worker) and their CSV export, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.builders import make_program
from tests.helpers import count, drain, local, verify_with_openssl
from walletpass.jobs.worker import Worker
from walletpass.services.imports import run_import_jobs
from walletpass.storage.outbox import Outbox

HEADER = ["name", "email", "phone", "external_id", "points", "birthday", "tier"]
#: (cells that break a rule, field the import names): every 100th row is one of these.
BAD = [({"phone": "12"}, "phone"), ({"birthday": "2999-01-01"}, "birthday"), ({"tier": "Platinum"}, "tier"),
       ({"name": "  "}, "name"), ({"points": "ten"}, "points"), ({"email": "not-an-email"}, "email"),
       ({"external_id": "", "email": "", "phone": ""}, "external_id")]


def rows(first: int, last: int, *, bad_every: int = 0) -> list[dict[str, str]]:
    out = []
    for i in range(first, last):
        row = {"name": f"Member {i}", "email": f"m{i}@Example.com", "phone": f"+886 9{i:08d}",
               "external_id": f"crm-{i}", "points": str(i % 3000 if i % 4 else 0),
               "birthday": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}", "tier": "Gold" if i % 7 == 0 else ""}
        if bad_every and i % bad_every == bad_every - 1:
            row.update(BAD[(i // bad_every) % len(BAD)][0])
        out.append(row)
    return out


def to_csv(data: list[dict[str, str]], header: list[str] = HEADER) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, header, extrasaction="ignore")
    w.writeheader()
    w.writerows(data)
    return buf.getvalue().encode()


def start(client, auth, program_id: int, body: bytes, content_type: str = "text/csv"):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/programs/{program_id}/members:import", data=body, headers=auth,
                       content_type=content_type)


def run(client, auth, services, program_id: int, body: bytes, content_type: str = "text/csv") -> dict:  # type: ignore[no-untyped-def]
    r = start(client, auth, program_id, body, content_type)
    assert r.status_code == 202, r.json
    assert r.json["state"] == "queued" and r.headers["Location"].endswith(f"/api/v1/imports/{r.json['id']}")
    drain(services)
    progress = client.get(r.headers["Location"], headers=auth)
    assert progress.status_code == 200
    assert progress.json["state"] == "done"
    return progress.json


def snapshot(services) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    return tuple(count(services, f"SELECT count(*) FROM {t}") for t in (
        "members", "passes", "ledger_entries", "pass_events", "member_import_rows", "outbox", "pass_files"))


def test_import_with_bad_rows_reports_each_and_writes_nothing_half(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    data = rows(0, 10_000, bad_every=100)
    bad = {i + 2: BAD[(i // 100) % len(BAD)][1] for i in range(10_000) if i % 100 == 99}  # row 1 is the header

    result = run(client, auth, services, pid, to_csv(data))

    assert (result["total"], result["imported"], result["unchanged"], result["skipped"], result["failed"]) == (
        10_000, 9_900, 0, 100, 0)
    assert {e["row"]: e["field"] for e in result["errors"]} == bad
    good = [r for i, r in enumerate(data) if i + 2 not in bad]
    with_points = sum(1 for r in good if int(r["points"]))
    # each row all or nothing: member + card + opening balance + enrol event, set-based
    assert snapshot(services) == (9_900, 9_900, with_points, 9_900, 0, 0, 0)
    assert count(services, "SELECT count(*) FROM pass_events WHERE kind = 'enrol' AND source = 'import'") == 9_900
    assert count(services, "SELECT count(*) FROM members WHERE source = 'import'") == 9_900
    assert count(services, "SELECT count(DISTINCT member_number) FROM members") == 9_900
    assert count(services, "SELECT count(*) FROM members m JOIN passes p ON p.member_id = m.id "
                           "WHERE p.kind = 'member'") == 9_900
    # values normalised as enrolment stores them; the tier column overrides the tier of the points
    with services.engine.connect() as conn:
        m = conn.execute(text("SELECT name, email, phone, points, tier, birthday FROM members "
                              "WHERE external_id = 'crm-7'")).one()
        assert (m.name, m.email, m.phone, m.points, m.tier) == ("Member 7", "m7@example.com", "+886900000007", 7,
                                                                 "Gold")
        assert str(m.birthday) == "1957-08-17"
        assert conn.execute(text("SELECT tier FROM members WHERE external_id = 'crm-2001'")).scalar_one() == "Gold"
        assert conn.execute(text("SELECT tier FROM members WHERE external_id = 'crm-601'")).scalar_one() == "Silver"
        bad_ids = [f"crm-{r - 2}" for r in bad]
        assert conn.execute(text("SELECT count(*) FROM members WHERE external_id IN ("
                                 + ",".join(f"'{x}'" for x in bad_ids) + ")")).scalar_one() == 0
        ledger = conn.execute(text("SELECT l.points, l.balance, l.reason FROM ledger_entries l JOIN members m "
                                   "ON m.id = l.member_id WHERE m.external_id = 'crm-7'")).one()
        assert tuple(ledger) == (7, 7, "initial balance")

    # The same file again changes nothing: every good row matches its member, unchanged.
    before = snapshot(services)
    again = run(client, auth, services, pid, to_csv(data))
    assert (again["imported"], again["unchanged"], again["skipped"]) == (0, 9_900, 100)
    assert snapshot(services) == before


def test_a_known_member_is_never_changed_and_rows_match_by_email_or_phone(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    first = [{"name": "Ann", "email": "ann@example.com", "external_id": "a"},
             {"name": "Bob", "email": "Bob@Example.com"},
             {"name": "Cy", "phone": "0912-345-678"}]
    assert run(client, auth, services, pid, to_csv(first))["imported"] == 3
    second = [{"name": "Ann B", "email": "ann@example.com", "external_id": "a"},  # other name: skipped
              {"name": "Bob", "email": "bob@example.COM"},                       # same (email case-insensitive)
              {"name": "Cy", "phone": "0912345678"},                              # same phone, normalised
              {"name": "Dee", "email": "ann@example.com", "external_id": "d"},    # new external_id: a new member
              {"name": "Eve", "email": "eve@example.com"},
              {"name": "Eve", "email": "EVE@example.com", "phone": "+886 1"}]     # bad phone: skipped first
    result = run(client, auth, services, pid, to_csv(second))
    assert (result["imported"], result["unchanged"], result["skipped"]) == (2, 2, 2)
    errors = {e["row"]: (e["field"], e["detail"]) for e in result["errors"]}
    assert errors[2][0] == "external_id" and "name" in errors[2][1] and "PATCH /api/v1/members/" in errors[2][1]
    assert errors[7][0] == "phone"
    assert count(services, "SELECT count(*) FROM members WHERE name = 'Ann'") == 1
    assert count(services, "SELECT count(*) FROM members WHERE name = 'Ann B'") == 0
    # a later row of the same file matching an earlier one
    dup = [{"name": "Fay", "external_id": "f"}, {"name": "Fay", "external_id": "f"}, {"name": "Fay 2", "external_id": "f"}]
    result = run(client, auth, services, pid, to_csv(dup))
    assert (result["imported"], result["unchanged"], result["skipped"]) == (1, 1, 1)
    assert result["errors"][0]["row"] == 4 and "row 2" in result["errors"][0]["detail"]


def test_two_concurrent_imports_of_overlapping_files_make_no_duplicates(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    a = start(client, auth, pid, to_csv(rows(0, 6_000)))
    b = start(client, auth, pid, to_csv(rows(4_000, 10_000)))
    assert a.status_code == b.status_code == 202
    errors: list[BaseException] = []

    def work() -> None:
        try:
            worker = Worker(services, batch=1)  # one job each: the two imports run side by side
            while worker.run_once():
                pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    drain(services)
    results = [client.get(f"/api/v1/imports/{r.json['id']}", headers=auth).json for r in (a, b)]
    assert all(r["state"] == "done" for r in results)
    assert sum(r["imported"] for r in results) == 10_000
    assert sum(r["unchanged"] for r in results) == 2_000
    assert count(services, "SELECT count(*) FROM members") == 10_000
    assert count(services, "SELECT count(DISTINCT external_id) FROM members") == 10_000
    assert count(services, "SELECT count(*) FROM passes") == 10_000


def test_a_worker_killed_mid_import_is_resumed_without_duplicates(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    r = start(client, auth, pid, to_csv(rows(0, 5_000)))
    outbox = Outbox(services.engine)
    # A worker claims the job, commits its first chunk, and dies before it settles the job.
    jobs = outbox.claim("doomed", datetime.now(UTC), lease_seconds=0.001)
    assert [j.kind for j in jobs] == ["member_import"]
    run_import_jobs(jobs, uow=services.uow, clock=services.clock, settings=services.settings, max_chunks=1)
    half = client.get(f"/api/v1/imports/{r.json['id']}", headers=auth).json
    assert half["state"] == "running" and half["imported"] == 2_000
    assert count(services, "SELECT count(*) FROM member_import_rows") == 3_000
    # Its lease ran out: another worker claims the job and carries on from the rows still staged.
    drain(services)
    done = client.get(f"/api/v1/imports/{r.json['id']}", headers=auth).json
    assert (done["state"], done["imported"], done["unchanged"]) == ("done", 5_000, 0)
    assert count(services, "SELECT count(*) FROM members") == 5_000
    assert count(services, "SELECT count(DISTINCT external_id) FROM members") == 5_000
    assert count(services, "SELECT count(*) FROM passes") == 5_000


def test_imported_passes_are_signed_at_first_download_and_verify(client, auth, services, pki, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    run(client, auth, services, pid, to_csv(rows(0, 30)))
    assert count(services, "SELECT count(*) FROM pass_files") == 0  # nothing signed by the import
    export = client.get(f"/api/v1/programs/{pid}/members:export", headers=auth)
    exported = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    for row in exported[:3]:
        r = client.get(local(row["pkpass"]))
        assert r.status_code == 200 and r.mimetype == "application/vnd.apple.pkpass"
        verify_with_openssl(r.data, pki.certs_dir / "wwdr-ca.pem", tmp_path)
    assert count(services, "SELECT count(*) FROM pass_files WHERE data IS NOT NULL") == 3


def test_export_round_trips(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    data = rows(0, 2_500)
    data[3]["name"] = "=HYPERLINK(\"http://evil\")"
    data[4]["name"] = "@SUM(A1)"
    run(client, auth, services, pid, to_csv(data))
    r = client.get(f"/api/v1/programs/{pid}/members:export", headers=auth)
    assert r.status_code == 200 and r.mimetype == "text/csv" and r.is_streamed
    body = r.get_data(as_text=True)
    exported = list(csv.DictReader(io.StringIO(body)))
    assert list(exported[0]) == HEADER + ["member_number", "serial_number", "page", "pkpass", "google_save"]
    assert len(exported) == 2_500
    by_id = {e["external_id"]: e for e in exported}
    # CSV injection: a formula-like cell is written behind a quote (phones too: +886…)
    assert by_id["crm-3"]["name"] == "'=HYPERLINK(\"http://evil\")" and by_id["crm-4"]["name"] == "'@SUM(A1)"
    assert by_id["crm-10"]["phone"] == "'+886900000010" and by_id["crm-10"]["email"] == "m10@example.com"
    assert by_id["crm-10"]["points"] == "10" and by_id["crm-10"]["birthday"] == "1960-02-10"
    assert by_id["crm-10"]["pkpass"].startswith("http") and by_id["crm-10"]["serial_number"]

    # The export imports again as it is: into its own program nothing changes, into another the same members.
    assert run(client, auth, services, pid, body.encode())["unchanged"] == 2_500
    other = make_program(services, name="Other")
    assert run(client, auth, services, other, body.encode())["imported"] == 2_500
    again = list(csv.DictReader(io.StringIO(client.get(f"/api/v1/programs/{other}/members:export",
                                                        headers=auth).get_data(as_text=True))))
    profile = ("name", "email", "phone", "external_id", "points", "birthday", "tier")
    assert sorted(tuple(e[k] for k in profile) for e in again) == sorted(tuple(e[k] for k in profile)
                                                                        for e in exported)


def test_ndjson_import(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    lines = [{"name": "Ann", "external_id": "a", "points": 600, "birthday": None},
             {"name": "Bob", "email": "bob@example.com", "points": "12"},
             "not an object", {"name": "Cy", "external_id": "c", "points": 1.5}]
    body = "\n".join(json.dumps(x) for x in lines).encode() + b"\n{broken\n"
    result = run(client, auth, services, pid, body, "application/x-ndjson")
    assert (result["total"], result["imported"], result["skipped"]) == (5, 2, 3)
    assert [(e["row"], e["field"]) for e in result["errors"]] == [(3, "row"), (4, "points"), (5, "row")]
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT tier FROM members WHERE external_id = 'a'")).scalar_one() == "Silver"


@pytest.mark.parametrize(("body", "content_type", "status", "field"), [
    (b"name,email\nAnn,a@b.co\n", "application/json", 415, "Content-Type"),
    (b"name,email\nAnn,a@b.co\n", "text/csv; charset=latin-1", 415, "Content-Type"),
    (b"email,phone\na@b.co,0912345678\n", "text/csv", 422, "header"),
    (b"name,email,shoe_size\nAnn,a@b.co,42\n", "text/csv", 422, "header"),
    (b"name,name\nAnn,Ann\n", "text/csv", 422, "header"),
    (b"name,email\n", "text/csv", 422, "file"),
    (b"name\n\xff\xfe\n", "text/csv", 400, "file"),
    (b'name\n"unterminated\n', "text/csv", 422, "file"),
    (b'{"name": "Ann", "shoe_size": 42}\n', "application/x-ndjson", 422, "file"),
    (b"name\n" + b"a\n" * 500_001, "text/csv", 413, "file"),
])
def test_bad_files_are_refused_with_nothing_written(client, auth, services, body: bytes, content_type: str,  # type: ignore[no-untyped-def]
                                                    status: int, field: str) -> None:
    pid = make_program(services)
    r = start(client, auth, pid, body, content_type)
    assert r.status_code == status, r.json
    assert r.mimetype == "application/problem+json" and r.json["errors"][0]["field"] == field
    assert count(services, "SELECT count(*) FROM member_imports") == 0
    assert count(services, "SELECT count(*) FROM outbox") == 0


def test_an_oversized_upload_is_413_before_it_is_read(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    r = client.post(f"/api/v1/programs/{pid}/members:import", data=b"name\n" + b"x" * (50 * 1024 * 1024),
                    headers=auth, content_type="text/csv")
    assert r.status_code == 413 and r.mimetype == "application/problem+json"
    assert count(services, "SELECT count(*) FROM member_imports") == 0


def test_unknown_program_and_import_are_404(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    assert start(client, auth, 999, b"name,external_id\nAnn,a\n").status_code == 404
    assert client.get("/api/v1/imports/999", headers=auth).status_code == 404
    assert client.get("/api/v1/programs/999/members:export", headers=auth).status_code == 404
    assert count(services, "SELECT count(*) FROM member_imports") == 0


def test_an_idempotency_key_replays_the_first_answer(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    body = to_csv(rows(0, 10))
    headers = {**auth, "Idempotency-Key": "import-1"}
    first = client.post(f"/api/v1/programs/{pid}/members:import", data=body, headers=headers, content_type="text/csv")
    second = client.post(f"/api/v1/programs/{pid}/members:import", data=body, headers=headers, content_type="text/csv")
    assert first.status_code == second.status_code == 202 and first.json["id"] == second.json["id"]
    assert count(services, "SELECT count(*) FROM member_imports") == 1
