"""The change → push pipeline end to end (SQLite and PostgreSQL): the web service, the outbox, the worker and our
APNs client against the fake APNs. Nothing is lost, nothing is counted twice, leases are respected."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests import helpers as story
from tests.builders import make_member, make_program
from tests.helpers import Device, auth_token_of, pass_json, points_field
from walletpass.bootstrap import Services, bootstrap
from walletpass.domain.jobs import FAILING_ATTEMPTS
from walletpass.jobs.lease import LeaseKeeper
from walletpass.jobs.worker import Worker
from walletpass.ports import FixedClock
from walletpass.push.policy import GOOGLE_MAX_ATTEMPTS as MAX_ATTEMPTS
from walletpass.services.points import add_transaction
from walletpass.storage.outbox import Outbox

pytestmark = pytest.mark.usefixtures("apns")  # settings point at the APNs stand-in


@dataclass
class Box:
    services: Services
    client: object
    clock: FixedClock


@pytest.fixture
def box(settings) -> Iterator[Box]:  # type: ignore[no-untyped-def]
    """Services on a clock the test moves (backoffs and leases pass without waiting), with their app client."""
    from api import create_app

    clock = FixedClock(datetime.now(UTC))
    svc = bootstrap(settings, clock=clock)
    yield Box(svc, create_app(services=svc).test_client(), clock)
    svc.close()


def bump(services: Services, member: dict, points: int = 1) -> None:
    add_transaction(services.uow(), services.clock, services.settings, member["id"], points, "bump")


def scalar(services: Services, sql: str) -> object:
    with services.engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def metric(client, name: str) -> float:  # type: ignore[no-untyped-def]
    body = client.get("/metrics").get_data(as_text=True)
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", body, re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def registered(box: Box, *, passes: int = 1) -> tuple[list[dict], Device]:
    """Members with one pass each, and one phone registered for all of them."""
    pid = make_program(box.services)
    members = [make_member(box.services, pid) for _ in range(passes)]
    phone = Device(box.client, box.services.settings.member_pass_type_id)
    for m in members:
        assert phone.register(m["serial_number"], auth_token_of(box.client, m)).status_code == 201
    return members, phone


# -- issue 3.3: an undelivered push is kept until it is delivered or the device is gone ------------------------
def test_a_push_is_never_dropped_however_long_apns_refuses(box, apns) -> None:  # type: ignore[no-untyped-def]
    (m,), phone = registered(box)
    refusals = MAX_ATTEMPTS + 2                        # hours of 403s: more tries than any give-up limit
    apns.script(phone.token, [403] * refusals)
    bump(box.services, m)
    worker = Worker(box.services)
    for _ in range(refusals):
        assert worker.run_once() == 1
        box.clock.advance(minutes=16)                  # past the 403 park window
    assert len(apns.requests_for(phone.token)) == refusals
    assert scalar(box.services, "SELECT attempts FROM outbox") == refusals      # kept, not dropped
    assert metric(box.client, "walletpass_outbox_failing_jobs") == 1
    assert metric(box.client, "walletpass_outbox_oldest_job_seconds") >= refusals * 16 * 60
    worker_check = box.client.get("/healthz").json["checks"]["worker"]
    assert worker_check["failing_jobs"] == 1 and worker_check["status"] == "degraded"
    assert f"{FAILING_ATTEMPTS} times" in worker_check["detail"]

    assert worker.run_once() == 1                      # the certificate works again: delivered, and done
    assert apns.requests_for(phone.token)[-1].status == 200
    assert scalar(box.services, "SELECT count(*) FROM outbox") == 0
    assert scalar(box.services, "SELECT count(*) FROM registrations WHERE pushed_tag = "
                                "(SELECT update_tag FROM passes)") == 1
    assert metric(box.client, "walletpass_outbox_failing_jobs") == 0


def test_a_configuration_error_is_retried_not_dropped(box, apns) -> None:  # type: ignore[no-untyped-def]
    (m,), phone = registered(box)
    apns.script(phone.token, [(400, "DeviceTokenNotForTopic")])
    bump(box.services, m)
    worker = Worker(box.services)
    assert worker.run_once() == 1
    assert "400 DeviceTokenNotForTopic" in scalar(box.services, "SELECT last_error FROM outbox")
    box.clock.advance(hours=2)                         # the backoff never exceeds an hour
    assert worker.run_once() == 1
    assert [r.status for r in apns.requests_for(phone.token)] == [400, 200]
    assert scalar(box.services, "SELECT count(*) FROM outbox") == 0


# -- issue 3.6: one device push is one count ---------------------------------------------------------------
def test_two_jobs_of_one_pass_in_a_batch_count_each_push_once(box, apns) -> None:  # type: ignore[no-untyped-def]
    (m,), slow = registered(box)
    fine = Device(box.client, box.services.settings.member_pass_type_id)
    assert fine.register(m["serial_number"], auth_token_of(box.client, m)).status_code == 201
    apns.script(slow.token, [500, 500, 500])           # fails the whole first batch: its job waits out a backoff
    bump(box.services, m)
    worker = Worker(box.services)
    assert worker.run_once() == 1
    bump(box.services, m)                              # a second job for the same pass
    box.clock.advance(hours=2)                         # both due: one batch holds two jobs of one pass
    assert worker.run_once() == 2
    assert [r.status for r in apns.requests_for(slow.token)] == [500, 500, 500, 200]
    assert [r.status for r in apns.requests_for(fine.token)] == [200, 200]
    # One outcome per device push of a batch: fine twice, slow once (and once "retry": its first batch's answer).
    assert metric(box.client, 'walletpass_pushes_total{outcome="ok"}') == 3
    assert metric(box.client, 'walletpass_pushes_total{outcome="retry"}') == 1


# -- issue 3.4: a claim whose lease ran out cannot touch the claim that replaced it ---------------------------
def test_a_worker_whose_lease_ran_out_cannot_complete_or_release_the_new_claim(box, apns) -> None:  # type: ignore[no-untyped-def]
    (m,), _ = registered(box)
    bump(box.services, m)
    outbox = Outbox(box.services.engine)
    late = outbox.claim("worker-a", box.clock.now(), lease_seconds=60)
    box.clock.advance(seconds=61)
    current = outbox.claim("worker-b", box.clock.now(), lease_seconds=60)
    assert [j.id for j in late] == [j.id for j in current] and late[0].locked_by != current[0].locked_by

    assert outbox.extend(late, box.clock.now()) == []   # the lease is gone: nothing to renew
    outbox.reschedule(late[0], box.clock.now(), error="late worker")
    outbox.complete(late)
    with box.services.engine.connect() as conn:
        row = conn.execute(text("SELECT locked_by, attempts, last_error FROM outbox")).one()
    assert (row.locked_by, row.attempts, row.last_error) == (current[0].locked_by, 2, None)
    outbox.complete(current)
    assert scalar(box.services, "SELECT count(*) FROM outbox") == 0


def test_a_batch_that_outlasts_its_lease_keeps_it(box, apns) -> None:  # type: ignore[no-untyped-def]
    (m,), _ = registered(box)
    bump(box.services, m)
    outbox = Outbox(box.services.engine)
    lease = 0.3
    jobs = outbox.claim("worker-a", box.clock.now(), lease_seconds=lease)
    with LeaseKeeper(outbox, jobs, lease, box.clock.now) as keeper:
        box.clock.advance(seconds=60)                  # the batch has run far past its lease...
        seen = keeper.renewals
        deadline = time.monotonic() + 30
        while keeper.renewals < seen + 2 and time.monotonic() < deadline:   # ...and a renewal came after that
            time.sleep(0.01)
        assert outbox.claim("worker-b", box.clock.now()) == []              # so no other worker takes its jobs
    box.clock.advance(seconds=1)                       # renewals stopped (the worker is gone): the jobs come back
    assert [j.id for j in outbox.claim("worker-b", box.clock.now())] == [j.id for j in jobs]


# -- issue 3.7: the device story's missing pieces ---------------------------------------------------------------
def test_a_new_push_token_gets_the_next_push(box, apns) -> None:  # type: ignore[no-untyped-def]
    (m,), phone = registered(box)
    old = phone.token
    phone.token = story.push_token()
    assert phone.register(m["serial_number"], auth_token_of(box.client, m)).status_code == 200
    bump(box.services, m)
    assert Worker(box.services).run_once() == 1
    assert [p.token for p in apns.pushes] == [phone.token] and not apns.requests_for(old)


def test_changes_within_the_coalescing_window_make_one_push_per_device(tmp_path, pki, db_url, apns) -> None:  # type: ignore[no-untyped-def]
    from api import create_app
    from walletpass.config import Settings

    settings = Settings.for_tests(tmp_path, database_url=db_url, certs_dir=pki.certs_dir, apns_url=apns.url,
                                  apns_ca_file=pki.tls_ca_file, push_coalesce_seconds=2.0)
    clock = FixedClock(datetime.now(UTC))
    svc = bootstrap(settings, clock=clock)
    try:
        box = Box(svc, create_app(services=svc).test_client(), clock)
        (m,), first = registered(box)
        second = Device(box.client, settings.member_pass_type_id)
        assert second.register(m["serial_number"], auth_token_of(box.client, m)).status_code == 201
        worker = Worker(svc)
        for _ in range(5):
            bump(svc, m)
            clock.advance(seconds=0.3)
            assert worker.run_once() == 0              # within the window: nothing is due yet
        clock.advance(seconds=2)
        assert worker.run_once() == 1
        assert sorted(p.token for p in apns.pushes) == sorted([first.token, second.token])
        assert scalar(svc, "SELECT count(*) FROM outbox") == 0
    finally:
        svc.close()


def test_a_change_of_many_passes_merges_into_pending_jobs_only(box) -> None:  # type: ignore[no-untyped-def]
    """A list of passes (a campaign chunk) coalesces pass by pass, set-based: an untried, unclaimed job absorbs the
    change (its reasons grow), a claimed job or one already tried is left alone and the pass gets a new job, a pass
    without a job gets one."""
    from walletpass.services.changes import passes_changed

    members, _ = registered(box, passes=4)
    with box.services.engine.connect() as conn:
        ids = {serial: pid for pid, serial in conn.execute(text("SELECT id, serial_number FROM passes"))}
    pending, claimed, tried, idle = (ids[m["serial_number"]] for m in members)
    for m in members[:3]:
        bump(box.services, m)
    with box.services.engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox WHERE pass_id = :p"), {"p": idle})
        conn.execute(text("UPDATE outbox SET attempts = 1 WHERE pass_id = :p"), {"p": tried})
        conn.execute(text("UPDATE outbox SET available_at = :late WHERE pass_id <> :p"),
                     {"late": box.clock.now() + timedelta(hours=1), "p": claimed})
    (job,) = Outbox(box.services.engine).claim("w", box.clock.now())
    assert job.pass_id == claimed
    with box.services.uow() as uow:
        passes_changed(uow, [pending, claimed, tried, idle], box.clock.now(), reason="news")
        uow.commit()
    with box.services.engine.connect() as conn:
        rows = conn.execute(text("SELECT pass_id, payload, attempts, locked_by FROM outbox ORDER BY id")).all()
    jobs: dict[int, list[tuple[list[str], int, bool]]] = {}
    for pass_id, payload, attempts, locked_by in rows:
        reasons = (payload if isinstance(payload, dict) else json.loads(payload))["reasons"]
        jobs.setdefault(pass_id, []).append((reasons, attempts, locked_by is not None))
    assert jobs == {
        pending: [(["points", "news"], 0, False)],
        claimed: [(["points"], 1, True), (["news"], 0, False)],
        tried: [(["points"], 1, False), (["news"], 0, False)],
        idle: [(["news"], 0, False)],
    }


def test_a_410_removes_the_device_with_all_its_registrations(box, apns) -> None:  # type: ignore[no-untyped-def]
    (a, b), phone = registered(box, passes=2)
    apns.script(phone.token, [410])
    bump(box.services, a)
    assert Worker(box.services).run_once() == 1
    assert scalar(box.services, "SELECT count(*) FROM registrations") == 0
    assert scalar(box.services, "SELECT count(*) FROM devices") == 0
    assert phone.list().status_code in (204, 404)
    bump(box.services, b)                              # the other pass changes: nobody is left to push to
    assert Worker(box.services).run_once() == 1
    assert len(apns.pushes) == 1


# -- issue 3.1 under load: writers and the worker at the same time ------------------------------------------------
def test_writers_and_a_running_worker_push_every_final_version(app, auth, services, apns) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    pid = make_program(services)
    members = [make_member(services, pid) for _ in range(50)]
    phones: dict[int, Device] = {}
    for m in members:
        phones[m["id"]] = Device(client, services.settings.member_pass_type_id)
        assert phones[m["id"]].register(m["serial_number"], auth_token_of(client, m)).status_code == 201
    last_change_began: dict[int, float] = {}
    errors: list[int] = []

    def write(chunk: list[dict]) -> None:
        c = app.test_client()
        for m in chunk:
            for pts in (3, 4):
                if pts == 4:
                    last_change_began[m["id"]] = time.monotonic()
                r = c.post(f"/api/v1/members/{m['id']}/transactions", json={"points": pts, "reason": "x"},
                           headers=auth)
                if r.status_code != 201:
                    errors.append(r.status_code)

    worker = Worker(services, idle_sleep=0.01)
    running = threading.Thread(target=worker.run_forever)
    running.start()
    try:
        writers = [threading.Thread(target=write, args=(members[i::8],)) for i in range(8)]
        for t in writers:
            t.start()
        for t in writers:
            t.join()
        deadline = time.monotonic() + 120
        while scalar(services, "SELECT count(*) FROM outbox") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
        running.join()
    assert not errors
    assert scalar(services, "SELECT count(*) FROM outbox") == 0
    assert scalar(services, "SELECT count(*) FROM registrations r JOIN passes p ON p.id = r.pass_id "
                            "WHERE r.pushed_tag = p.update_tag") == 50
    for m in members:
        phone = phones[m["id"]]
        pushes = [p for p in apns.requests_for(phone.token) if p.status == 200]
        assert 1 <= len(pushes) <= 2                   # one per change at most, and never none
        assert pushes[-1].at > last_change_began[m["id"]]   # the last push followed the final change
        r = phone.fetch(m["serial_number"], auth_token_of(client, m))
        assert points_field(pass_json(r.data)) == 7


# -- /healthz's worker lag is the wait of a due job; parked and backing-off jobs are not lag --------------------
def test_worker_lag_counts_due_jobs_only_and_parked_jobs_nowhere_but_their_gauge(box, apns) -> None:  # type: ignore[no-untyped-def]
    (m,), phone = registered(box)
    apns.script(phone.token, [(400, "DeviceTokenNotForTopic")])
    bump(box.services, m)
    worker = Worker(box.services)
    assert worker.run_once() == 1                      # refused: the job waits out its backoff
    box.clock.advance(seconds=0.5)
    check = box.client.get("/healthz").json["checks"]["worker"]
    assert check["outbox_backlog"] == 1 and check["lag_seconds"] == 0 and check["status"] == "ok"

    with box.services.uow() as u:                      # a job retrying cannot fix, kept for the operator
        u.outbox.enqueue("google_sync", {"reasons": ["x"]}, box.clock.now(), pass_id=None)
        u.commit()
    outbox = Outbox(box.services.engine)
    [google_job] = outbox.claim("worker-g", box.clock.now())   # the push job is still waiting out its backoff
    outbox.park(google_job, "400 invalid field")
    box.clock.advance(hours=2)                         # the push job is long due now, the parked one never
    check = box.client.get("/healthz").json["checks"]["worker"]
    assert check["outbox_backlog"] == 1 and check["failing_jobs"] == 0
    assert check["lag_seconds"] >= 3600 and check["status"] == "degraded" and "waited" in check["detail"]
    assert metric(box.client, "walletpass_outbox_backlog") == 1
    assert 'walletpass_outbox_parked{kind="google_sync"} 1.0' in box.client.get("/metrics").get_data(as_text=True)

    assert worker.run_once() == 1                      # delivered: only the parked job is left, and no lag
    check = box.client.get("/healthz").json["checks"]["worker"]
    assert check == {**check, "outbox_backlog": 0, "lag_seconds": 0, "failing_jobs": 0, "status": "ok"}
    assert metric(box.client, "walletpass_outbox_oldest_job_seconds") == 0


def test_a_late_worker_cannot_complete_or_reschedule_a_google_job_claimed_again(box) -> None:  # type: ignore[no-untyped-def]
    import random

    from walletpass.domain.jobs import JobOutcome
    from walletpass.google.provider import Synced, results_of

    with box.services.uow() as u:
        for reason in ("points", "tier", "name", "design"):
            u.outbox.enqueue("google_sync", {"reasons": [reason]}, box.clock.now())
        u.commit()
    outbox = Outbox(box.services.engine)
    late = outbox.claim("worker-a", box.clock.now(), lease_seconds=60)
    box.clock.advance(seconds=61)
    current = outbox.claim("worker-b", box.clock.now(), lease_seconds=60)
    assert len(late) == len(current) == 4

    results = ["done", "retry", "park", "released"]
    outbox.apply(results_of([Synced(j, JobOutcome(r), "400") for j, r in zip(late, results, strict=True)],
                            box.clock.now(), random.Random()))
    with box.services.engine.connect() as conn:
        rows = conn.execute(text("SELECT locked_by, attempts, last_error, available_at FROM outbox ORDER BY id")).all()
    assert [(r.locked_by, r.attempts, r.last_error) for r in rows] == [(j.locked_by, 2, None) for j in current]
    assert not any(str(r.available_at).startswith("9999") for r in rows)


def test_a_missing_certificate_fails_its_pushes_not_the_worker(settings, apns, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A pass type whose certificate file is gone: its jobs wait with the reason, the batch goes on; once the
    file is back the next attempt delivers."""
    import dataclasses
    import shutil

    from api import create_app

    cert = tmp_path / "member.pem"
    shutil.copy(settings.cert_path(settings.member_pass_type_id), cert)
    broken = dataclasses.replace(settings, member_cert_file=cert)
    clock = FixedClock(datetime.now(UTC))
    svc = bootstrap(broken, clock=clock)
    try:
        box = Box(svc, create_app(services=svc).test_client(), clock)
        (m,), phone = registered(box)
        cert.rename(tmp_path / "away.pem")
        bump(svc, m)
        worker = Worker(svc)
        assert worker.run_once() == 1                  # handled: no exception out of the batch
        assert not apns.requests_for(phone.token)
        assert "certificate file" in scalar(svc, "SELECT last_error FROM outbox")   # says what is wrong
        (tmp_path / "away.pem").rename(cert)
        clock.advance(hours=1)
        assert worker.run_once() == 1
        assert [r.status for r in apns.requests_for(phone.token)] == [200]
        assert scalar(svc, "SELECT count(*) FROM outbox") == 0
    finally:
        svc.close()
