"""Races of the change → push pipeline on PostgreSQL, each interleaving forced with a second real connection.

A helper connection holds a row lock that the requests under test need; the test waits until PostgreSQL shows
them waiting on it (``pg_stat_activity``), then lets go. No sleeps decide the order, so each test fails the same
way every time on the code it guards against.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text

from tests.builders import make_member, make_program
from tests.helpers import Device, auth_token_of
from walletpass.jobs.worker import Worker
from walletpass.services.changes import passes_changed

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
              pytest.mark.usefixtures("apns")]  # settings point at the APNs stand-in


@contextmanager
def holder(services) -> Iterator[Connection]:  # type: ignore[no-untyped-def]
    """A second connection, in a transaction, to hold locks with; rolled back at the end."""
    engine = create_engine(services.engine.url)
    try:
        with engine.connect() as conn:
            conn.begin()
            yield conn
            conn.rollback()
    finally:
        engine.dispose()


def wait_for_lock_waiters(services, n: int) -> None:  # type: ignore[no-untyped-def]
    """Block until *n* sessions of this database wait on a lock (the interleaving is then in place)."""
    deadline = time.monotonic() + 30
    with services.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar_one()
            conn.rollback()
            if waiting >= n:
                return
            time.sleep(0.01)
    raise AssertionError(f"{n} request(s) never reached the lock")


def in_threads(*calls: Callable[[], Any]) -> tuple[list[threading.Thread], list[Any]]:
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    return threads, results


def join(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(60)
        assert not t.is_alive()


def one(services, sql: str, **params: Any) -> Any:  # type: ignore[no-untyped-def]
    with services.engine.connect() as conn:
        return conn.execute(text(sql), params).one()


# -- issue 3.1: a worker's claim never takes the job an uncommitted change merges into ---------------------
def test_a_claim_between_a_change_and_its_commit_loses_no_push(client, services, apns) -> None:  # type: ignore[no-untyped-def]
    from walletpass.services.points import add_transaction

    m = make_member(services, make_program(services))
    phone = Device(client, services.settings.member_pass_type_id)
    assert phone.register(m["serial_number"], auth_token_of(client, m)).status_code == 201
    add_transaction(services.uow(), services.clock, services.settings, m["id"], 1, "first")   # job J, untried
    worker = Worker(services)

    uow = services.uow()
    with uow:                                        # a second change, not yet committed
        rows = uow.passes.of_member(m["id"])
        passes_changed(uow, [r.id for r in rows], services.clock.now(), reason="points")
        # The worker claims now. J is the pending job this change merged into: it must stay unclaimed, or
        # the worker would push the old version and this change would commit with no job of its own.
        worker.run_once()
        uow.commit()
    while worker.run_once():
        pass
    reg = one(services, "SELECT r.pushed_tag, p.update_tag FROM registrations r JOIN passes p ON p.id = r.pass_id")
    assert reg.pushed_tag == reg.update_tag
    assert one(services, "SELECT count(*) AS n FROM outbox").n == 0


def test_a_change_never_merges_into_a_job_being_claimed(client, services, apns) -> None:  # type: ignore[no-untyped-def]
    from walletpass.services.points import add_transaction

    m = make_member(services, make_program(services))
    add_transaction(services.uow(), services.clock, services.settings, m["id"], 1, "first")
    job_id = one(services, "SELECT id FROM outbox").id
    with holder(services) as claimer:                # a claim in progress: the job row is locked by it
        claimer.execute(text("SELECT id FROM outbox WHERE id = :id FOR UPDATE"), {"id": job_id})
        add_transaction(services.uow(), services.clock, services.settings, m["id"], 1, "second")
    with services.engine.connect() as conn:
        jobs = conn.execute(text("SELECT id FROM outbox ORDER BY id")).scalars().all()
    assert jobs[0] == job_id and len(jobs) == 2       # the change got a job of its own (did not wait either)


# -- issue 3.2: Last-Modified follows the tag order across commits --------------------------------------
def test_last_modified_is_computed_after_the_tag_lock(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    uow = services.uow()
    with uow:
        rows = uow.passes.of_member(m["id"])         # read before another change commits
        before = rows[0].updated_at
        # Another change of the same pass commits in between (it holds the tag counter until it commits).
        assert client.post(f"/api/v1/members/{m['id']}/transactions", json={"points": 5, "reason": "x"},
                           headers=auth).status_code == 201
        other = one(services, "SELECT update_tag, updated_at FROM passes WHERE id = :id", id=rows[0].id)
        passes_changed(uow, [r.id for r in rows], before - timedelta(hours=1), reason="program")
        uow.commit()
    mine = one(services, "SELECT update_tag, updated_at FROM passes WHERE id = :id", id=rows[0].id)
    assert mine.update_tag > other.update_tag
    assert mine.updated_at > other.updated_at        # later tag, later Last-Modified: never equal or earlier


# -- issue 3.5: concurrent inserts of one unique row are answers, not 500s ------------------------------
@pytest.mark.parametrize("device_exists", [False, True])
def test_concurrent_registrations_of_one_device(app, services, device_exists) -> None:  # type: ignore[no-untyped-def]
    ptid = services.settings.member_pass_type_id
    m = make_member(services, make_program(services))
    token = auth_token_of(app.test_client(), m)
    phone = Device(app.test_client(), ptid)
    if device_exists:                                # the same device, already registered for another pass
        other = make_member(services, make_program(services))
        assert phone.register(other["serial_number"], auth_token_of(app.test_client(), other)).status_code == 201
    pass_id = one(services, "SELECT id FROM passes WHERE serial_number = :s", s=m["serial_number"]).id

    def register() -> int:
        return _same(phone, app).register(m["serial_number"], token).status_code

    with holder(services) as h:
        # Both requests get as far as inserting the registration (its foreign key waits for this lock), so
        # both have read "not registered yet" before either commits.
        h.execute(text("SELECT id FROM passes WHERE id = :id FOR UPDATE"), {"id": pass_id})
        threads, statuses = in_threads(register, register)
        wait_for_lock_waiters(services, 2)
    join(threads)
    assert sorted(statuses) == [200, 201]
    assert one(services, "SELECT count(*) AS n FROM registrations WHERE pass_id = :p", p=pass_id).n == 1
    assert one(services, "SELECT count(*) AS n FROM devices").n == 1
    assert one(services, "SELECT count(*) AS n FROM pass_events WHERE kind = 'apple_install' AND pass_id = :p",
               p=pass_id).n == 1


def _same(phone: Device, app) -> Device:  # type: ignore[no-untyped-def]
    """The same device (id and push token) talking through its own test client (one per thread)."""
    twin = Device(app.test_client(), phone.ptid)
    twin.id, twin.token = phone.id, phone.token
    return twin


def test_one_idempotency_key_on_two_members_at_once(app, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    a, b = make_member(services, pid), make_member(services, pid)

    def post(member: dict) -> tuple[int, dict]:
        r = app.test_client().post(f"/api/v1/members/{member['id']}/transactions",
                                   json={"points": 10, "reason": "till 1"},
                                   headers={**auth, "Idempotency-Key": "till1-0042"})
        return r.status_code, r.json

    with holder(services) as h:
        # Both pass the idempotency check (no row yet), then wait for the tag counter held here.
        h.execute(text("SELECT value FROM counters WHERE name = 'pass_tag' FOR UPDATE"))
        threads, answers = in_threads(lambda: post(a), lambda: post(b))
        wait_for_lock_waiters(services, 2)
    join(threads)
    assert sorted(s for s, _ in answers) == [201, 422]
    refused = next(body for s, body in answers if s == 422)
    assert "different request" in refused["detail"]
    assert one(services, "SELECT count(*) AS n FROM ledger_entries").n == 1
    assert one(services, "SELECT count(*) AS n FROM idempotency_keys").n == 1
