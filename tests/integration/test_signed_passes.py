"""Each pass version is signed at most once (issue 10 item 6a): the signed bytes are kept per pass and update tag
and served to every device, retry and link that asks for that version; a new version is signed again and replaces
them; concurrent fetches — threads, and two processes — make one signature. Signatures are counted by the real
counter of /metrics (walletpass_pass_signatures_total). SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import text

from tests.builders import make_member, make_program
from tests.helpers import (
    REPO_ROOT,
    Device,
    auth_token_of,
    local,
    pass_json,
    points_field,
    post,
    signatures,
    verify_with_openssl,
)
from walletpass.bootstrap import Services, bootstrap
from walletpass.config import Settings
from walletpass.domain.jobs import Job, JobKind, JobOutcome
from walletpass.errors import ConfigurationError
from walletpass.services.passes import SignedPasses

SIGNATURES = "walletpass_pass_signatures_total"


def _row(services: Services, pass_id: int) -> tuple[int, bytes | None, str | None] | None:
    with services.engine.connect() as conn:
        row = conn.execute(text("SELECT update_tag, data, claim_token FROM pass_files WHERE pass_id = :p"),
                           {"p": pass_id}).first()
    return None if row is None else (int(row[0]), None if row[1] is None else bytes(row[1]), row[2])


def _pass(services: Services, serial: str) -> tuple[int, int, datetime]:
    with services.engine.connect() as conn:
        pid, tag, at = conn.execute(text("SELECT id, update_tag, updated_at FROM passes WHERE serial_number = :s"),
                                    {"s": serial}).one()
    at = at if isinstance(at, datetime) else datetime.fromisoformat(at)
    return int(pid), int(tag), at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def test_a_version_is_signed_once_for_every_device_retry_and_link(client, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    serial, ptid = m["serial_number"], services.settings.member_pass_type_id
    before = signatures(services)
    link = client.get(local(m["links"]["pkpass"]))  # the public download link (the pass page's link too)
    assert link.status_code == 200 and signatures(services) == before + 1
    token = auth_token_of(client, m)
    phone, watch = Device(client, ptid), Device(client, ptid)  # an iPhone and its Watch fetch separately
    assert phone.register(serial, token).status_code == 201 and watch.register(serial, token).status_code == 201
    fetched = [phone.fetch(serial, token), watch.fetch(serial, token), phone.fetch(serial, token)]  # and a retry
    fetched.append(client.get(local(m["links"]["pkpass"])))
    assert all(r.status_code == 200 for r in fetched)
    assert {r.data for r in fetched} == {link.data}                       # the same bytes to everyone
    assert signatures(services) == before + 1                             # signed once
    verify_with_openssl(link.data, services.settings.wwdr_path, tmp_path)
    pass_id, tag, updated_at = _pass(services, serial)
    assert _row(services, pass_id) == (tag, link.data, None)
    # Last-Modified and ETag as before: the pass's version, the same on every answer; 304 when not modified
    assert {r.headers["ETag"] for r in fetched[:3]} == {f'"{serial}-{tag}"'}
    assert {r.headers["Last-Modified"] for r in fetched} == {format_datetime(updated_at, usegmt=True)}
    assert phone.fetch(serial, token, fetched[0].headers["Last-Modified"]).status_code == 304


def test_a_new_version_is_signed_again_and_replaces_the_old_bytes(client, services, auth, tmp_path) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    serial, ptid = m["serial_number"], services.settings.member_pass_type_id
    token = auth_token_of(client, m)
    phone = Device(client, ptid)
    assert phone.register(serial, token).status_code == 201
    old = phone.fetch(serial, token)
    pass_id, old_tag, _ = _pass(services, serial)
    before = signatures(services)
    r = post(client, f"/api/v1/members/{m['id']}/transactions", auth, {"points": 120, "reason": "latte"})
    assert r.status_code == 201, r.json
    new, again = phone.fetch(serial, token), phone.fetch(serial, token)
    assert signatures(services) == before + 1 and new.data == again.data != old.data
    assert points_field(pass_json(new.data)) == 120 and points_field(pass_json(old.data)) == 0
    _, tag, updated_at = _pass(services, serial)
    assert tag > old_tag and new.headers["ETag"] == f'"{serial}-{tag}"' != old.headers["ETag"]
    assert new.headers["Last-Modified"] == format_datetime(updated_at, usegmt=True)
    assert _row(services, pass_id) == (tag, new.data, None)               # the latest version only
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pass_files")).scalar_one() == 1
    verify_with_openssl(new.data, services.settings.wwdr_path, tmp_path)


def test_concurrent_fetches_of_a_new_version_sign_it_once(client, services) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    pass_id, _, _ = _pass(services, m["serial_number"])
    before = signatures(services)
    start = threading.Barrier(8)
    got: list[bytes] = []
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            start.wait()
            got.append(services.signed_passes.latest(pass_id).data)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 8 and len(set(got)) == 1
    assert signatures(services) == before + 1


_FETCHER = """
import hashlib, json, sys, threading, time
from pathlib import Path
from walletpass.bootstrap import bootstrap
from walletpass.config import Settings
tmp, url, certs, pass_id, go = sys.argv[1:]
svc = bootstrap(Settings.for_tests(Path(tmp), database_url=url, certs_dir=Path(certs)))
svc.pass_builder  # certificates and templates loaded before the start
got = []
def fetch():
    while not Path(go).exists():
        time.sleep(0.001)
    got.append(hashlib.sha256(svc.signed_passes.latest(int(pass_id)).data).hexdigest())
threads = [threading.Thread(target=fetch) for _ in range(4)]
for t in threads:
    t.start()
print("ready", flush=True)
for t in threads:
    t.join()
print(json.dumps({"signatures": svc.registry.get_sample_value("walletpass_pass_signatures_total") or 0,
                  "digests": sorted(set(got)), "fetches": len(got)}))
svc.close()
"""


def test_two_processes_fetching_a_new_version_sign_it_once(services, settings, pki, tmp_path) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    pass_id, _, _ = _pass(services, m["serial_number"])
    go = tmp_path / "go"
    args = [sys.executable, "-c", _FETCHER, str(tmp_path), settings.database_url, str(pki.certs_dir), str(pass_id),
            str(go)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT) for _ in range(2)]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        go.touch()
        results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [r["fetches"] for r in results] == [4, 4]
    assert sum(r["signatures"] for r in results) == 1                     # across both processes
    data = _row(services, pass_id)
    assert data is not None and data[1] is not None
    assert {d for r in results for d in r["digests"]} == {hashlib.sha256(data[1]).hexdigest()}


def test_a_claim_whose_signer_died_is_taken_over(services) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    pass_id, tag, at = _pass(services, m["serial_number"])
    key = services.pass_builder.fingerprint
    with services.engine.begin() as conn:  # a process claimed this version and died before storing it
        conn.execute(text("INSERT INTO pass_files (pass_id, update_tag, build_key, last_modified, claim_token, "
                          "claimed_at) VALUES (:p, :t, :k, :at, 'dead-signer', :now)"),
                     {"p": pass_id, "t": tag, "k": key, "at": at.replace(tzinfo=None),
                      "now": datetime.now(UTC).replace(tzinfo=None)})
    before = signatures(services)
    # its claim stands still for a whole claim period (here 0.2 s of waiting): the waiter takes it over and signs
    waiter = SignedPasses(read_uow=services.read_uow, uow=services.uow, builder=services.pass_builder,
                          clock=services.clock, claim_seconds=0.2)
    built = waiter.latest(pass_id)
    assert signatures(services) == before + 1 and _row(services, pass_id) == (tag, built.data, None)
    with services.engine.begin() as conn:  # a claim older than the claim period (by its time) is taken at once
        conn.execute(text("UPDATE pass_files SET data = NULL, claim_token = 'older', claimed_at = :old"),
                     {"old": (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None)})
    services.signed_passes.latest(pass_id)
    assert signatures(services) == before + 2 and _row(services, pass_id)[2] is None  # type: ignore[index]


def test_bytes_of_another_build_are_signed_again_and_a_failed_signature_keeps_no_claim(services) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    pass_id, tag, _ = _pass(services, m["serial_number"])
    services.signed_passes.latest(pass_id)
    before = signatures(services)
    with services.engine.begin() as conn:  # signed by another deployment (other templates or certificates)
        conn.execute(text("UPDATE pass_files SET build_key = 'another-build'"))
    again = services.signed_passes.latest(pass_id)
    assert signatures(services) == before + 1 and _row(services, pass_id) == (tag, again.data, None)
    assert services.signed_passes.latest(pass_id).data == again.data and signatures(services) == before + 1
    with services.engine.begin() as conn:  # a new version that cannot be signed: no certificate for its type
        conn.execute(text("UPDATE passes SET pass_type_id = 'pass.com.example.unknown', update_tag = :t"),
                     {"t": tag + 1})
    with pytest.raises(ConfigurationError):
        services.signed_passes.latest(pass_id)
    assert _row(services, pass_id) is None  # the claim was given up: the next fetch tries again at once


def test_migration_0009_adds_and_removes_pass_files(empty_engine) -> None:  # type: ignore[no-untyped-def]
    from walletpass.storage.db import downgrade, upgrade

    upgrade(empty_engine, "0008")
    upgrade(empty_engine)
    now = datetime(2026, 12, 4).isoformat(sep=" ")
    with empty_engine.begin() as conn:
        conn.execute(text("INSERT INTO programs (id, name, organization_name, background_color, foreground_color, "
                          "label_color, points_label, tiers, locales, texts, terms, member_template, coupon_template, "
                          "version, time_zone, created_at, updated_at) VALUES (1, 'P', 'O', '', '', '', '', '[]', "
                          "'[]', '{}', '', 'm', 'c', 1, 'UTC', :now, :now)"), {"now": now})
        conn.execute(text("INSERT INTO passes (id, serial_number, pass_type_id, kind, program_id, "
                          "authentication_token, public_token, update_tag, voided, created_at, updated_at) VALUES "
                          "(1, 'S1', 'pass.x', 'member', 1, 't', 'p1', 9, false, :now, :now)"), {"now": now})
        conn.execute(text("INSERT INTO pass_files (pass_id, update_tag, build_key, last_modified, data) VALUES "
                          "(1, 9, 'k', :now, :data)"), {"now": now, "data": b"PK\x03\x04"})
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT data FROM pass_files")).scalar_one() == b"PK\x03\x04"
    downgrade(empty_engine, "0008")
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM passes")).scalar_one() == 1  # nothing cascaded
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pass_files")).scalar_one() == 0


def test_the_signature_counter_is_on_metrics(client, services) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    client.get(local(m["links"]["pkpass"]))
    body = client.get("/metrics").get_data(as_text=True)
    assert f"{SIGNATURES} 1.0" in body, body[:2000]




def test_sign_ahead_signs_what_devices_will_fetch_once_and_frees_the_held_jobs(client, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    fetched, unsignable, alone = (make_member(services, pid) for _ in range(3))
    for m in (fetched, unsignable):
        assert Device(client, services.settings.member_pass_type_id).register(
            m["serial_number"], auth_token_of(client, m)).status_code == 201
    ids = [_pass(services, m["serial_number"])[0] for m in (fetched, unsignable, alone)]
    now = datetime.now(UTC)
    hold_until = now + timedelta(seconds=30)
    with services.engine.begin() as conn:  # new versions, one of a type nobody can sign; their pushes held
        conn.execute(text("UPDATE passes SET update_tag = update_tag + 1"))
        conn.execute(text("UPDATE passes SET pass_type_id = 'pass.com.example.unknown' WHERE id = :p"),
                     {"p": ids[1]})
        conn.execute(text("DELETE FROM outbox"))
        for pass_id in ids:
            conn.execute(text("INSERT INTO outbox (kind, pass_id, payload, attempts, created_at, available_at) "
                              "VALUES ('pass_changed', :p, '{}', 0, :now, :until)"),
                         {"p": pass_id, "now": now.replace(tzinfo=None), "until": hold_until.replace(tzinfo=None)})
    before = signatures(services)
    assert services.signed_passes.sign_ahead(ids, hold_until=hold_until) == 1  # the unsignable one is logged
    assert signatures(services) == before + 1
    row = _row(services, ids[0])
    assert row is not None and row[0] == _pass(services, fetched["serial_number"])[1] and row[2] is None
    assert _row(services, ids[1]) is None and _row(services, ids[2]) is None  # no claim left; nobody to fetch
    with services.engine.connect() as conn:  # every held job of the group is due now
        assert conn.execute(text("SELECT count(*) FROM outbox WHERE available_at < :until"),
                            {"until": hold_until.replace(tzinfo=None)}).scalar_one() == 3
    assert services.signed_passes.sign_ahead(ids, hold_until=hold_until) == 0  # a job run twice signs nothing
    assert signatures(services) == before + 1


def test_a_worker_without_certificates_drops_its_sign_ahead_jobs(tmp_path, db_url) -> None:  # type: ignore[no-untyped-def]
    svc = bootstrap(Settings.for_tests(tmp_path, database_url=db_url))  # an empty certs folder
    try:
        job = Job(1, JobKind.PASS_SIGN, None, {"pass_ids": [1], "hold_until": datetime.now(UTC).isoformat()}, 1,
                  datetime.now(UTC))
        results = svc.job_handlers[JobKind.PASS_SIGN]([job])
    finally:
        svc.close()
    # never retried (a retry cannot find the certificates either): the held pushes go out when their hold ends
    assert [r.outcome for r in results] == [JobOutcome.SKIPPED] and "certificate" in results[0].error
