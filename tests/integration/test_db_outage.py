"""PostgreSQL connections killed under load (issue 9, D8): every answer is a success or a 503 problem with
Retry-After, never a 500, and the pools recover by themselves: once the kills stop, every request succeeds."""

from __future__ import annotations

import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from api import create_app
from tests.builders import make_member, make_program
from tests.helpers import Device, auth_token_of, local
from tests.pki import TestPki
from walletpass.bootstrap import bootstrap
from walletpass.config import Settings
from walletpass.storage.db import make_engine
from walletpass.storage.device_reads import DeviceReads

ON_POSTGRES = pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)

MEMBERS = 4
THREADS = 6
KILLS = 10           # every session of the database killed this many times, 0.1 s apart, while the threads run
MAX_ROUNDS = 100     # per thread; a round runs every request once


def _terminate_all(url: str) -> int:
    """What an operator's failover (or a DBA's pg_terminate_backend) does: drop every other session of this DB."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all())
    finally:
        engine.dispose()


def _requests(app, auth, services) -> list[Callable[[], object]]:  # type: ignore[no-untyped-def]
    """One of each kind: marketer reads and writes (ORM units of work), device reads (raw pooled connections),
    the pass page (read-only unit of work)."""
    client = app.test_client()
    program = make_program(services)
    ptid = services.settings.member_pass_type_id
    calls: list[Callable[[], object]] = []
    for _ in range(MEMBERS):
        member = make_member(services, program)
        token, serial = auth_token_of(client, member), member["serial_number"]
        phone = Device(client, ptid)
        assert phone.register(serial, token).status_code == 201
        since = client.get(f"/v1/passes/{ptid}/{serial}",
                           headers={"Authorization": f"ApplePass {token}"}).headers["Last-Modified"]
        mid, page = member["id"], local(member["links"]["page"])
        calls += [
            lambda mid=mid: client.get(f"/api/v1/members/{mid}", headers=auth),
            lambda mid=mid: client.post(f"/api/v1/members/{mid}/transactions", json={"points": 1, "reason": "x"},
                                        headers=auth),
            lambda phone=phone: phone.list(),
            lambda phone=phone, serial=serial, token=token, since=since: phone.fetch(serial, token, since),
            lambda page=page: client.get(page),
        ]
    return calls


def _check(r) -> int:  # type: ignore[no-untyped-def]
    if r.status_code == 503:
        assert r.mimetype == "application/problem+json", r.data
        assert 1 <= int(r.headers["Retry-After"]) <= 5
        assert "database" in r.json["detail"]
    else:
        assert r.status_code in (200, 201, 204, 304), (r.status_code, r.data[:300])
    return int(r.status_code)


@ON_POSTGRES
def test_killed_connections_answer_503_with_retry_after_and_the_pools_recover(db_url, services, auth) -> None:  # type: ignore[no-untyped-def]
    app = create_app(services=services)
    calls = _requests(app, auth, services)
    stop = threading.Event()
    killed: list[int] = []

    def killer() -> None:
        try:
            for _ in range(KILLS):
                if stop.wait(0.1):
                    return
                killed.append(_terminate_all(db_url))
        finally:
            stop.set()

    def worker(i: int) -> list[int]:
        statuses = []
        for n in range(MAX_ROUNDS):
            if n and stop.is_set():
                break
            for k in range(len(calls)):
                statuses.append(_check(calls[(i * 7 + n + k) % len(calls)]()))
        return statuses

    kill_thread = threading.Thread(target=killer)
    kill_thread.start()
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            statuses = Counter(s for batch in pool.map(worker, range(THREADS)) for s in batch)
    finally:
        stop.set()
        kill_thread.join()

    assert sum(killed) > 0, "no connection was killed: the test tested nothing"
    assert set(statuses) <= {200, 201, 204, 304, 503}, statuses
    # The kills are over: the next request of every kind succeeds, without a retry by the client.
    after = Counter(_check(call()) for call in calls)
    assert 503 not in after, after


@ON_POSTGRES
def test_device_reads_survive_every_kept_connection_being_killed(db_url, services) -> None:  # type: ignore[no-untyped-def]
    """The reads keep their connections between calls, so after a kill every one they keep is dead: the read
    that meets one must not fail, nor may the next read be handed another dead one."""
    member = make_member(services, make_program(services))
    ptid, serial = services.settings.member_pass_type_id, member["serial_number"]
    engine = make_engine(db_url, autocommit_reads=True)
    reads = DeviceReads(engine, writer=services.engine)
    barrier = threading.Barrier(4)

    def read_at_once(_: int) -> bool:
        barrier.wait()  # four threads reading at the same time: several connections kept, as under load
        return all(reads.pass_for_device(ptid, serial) is not None for _ in range(20))

    try:
        with ThreadPoolExecutor(4) as pool:
            assert all(pool.map(read_at_once, range(4)))
            assert _terminate_all(db_url) >= 2

            assert reads.pass_for_device(ptid, serial) is not None  # no error: every stale connection was retired
            assert reads.device_passes_since("no-such-device", ptid, 0) == []
            assert all(pool.map(read_at_once, range(4)))
    finally:
        reads.close()


def test_an_unreachable_database_is_503_with_retry_after_on_every_kind_of_route(tmp_path, pki: TestPki,
                                                                                 caplog) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as s:  # a port nothing listens on: PostgreSQL down, or not yet back after a failover
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings.for_tests(tmp_path, database_url=f"postgresql://postgres@127.0.0.1:{port}/walletpass",
                                  certs_dir=pki.certs_dir)
    services = bootstrap(settings)
    client = create_app(services=services).test_client()
    ptid = settings.member_pass_type_id
    caplog.set_level(logging.WARNING, logger="walletpass.api")
    try:
        for method, path, headers in (
            ("GET", "/api/v1/members/1", {"Authorization": "Bearer wp_0123456789ab_" + "x" * 43}),
            ("POST", "/api/v1/programs", {"Authorization": "Bearer wp_0123456789ab_" + "y" * 43}),
            ("GET", f"/v1/devices/d1/registrations/{ptid}", {}),
            ("GET", f"/v1/passes/{ptid}/SERIAL", {"Authorization": "ApplePass " + "t" * 32}),
            ("GET", "/p/" + "k" * 32, {}),
        ):
            r = client.open(path, method=method, headers=headers)
            assert r.status_code == 503 and r.mimetype == "application/problem+json", (path, r.data)
            assert r.json["type"].endswith("/database_unavailable") and "try again" in r.json["detail"]
            assert 1 <= int(r.headers["Retry-After"]) <= 5
            assert "127.0.0.1" not in r.get_data(as_text=True)  # the driver's message is for the log only
    finally:
        services.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "walletpass.api"]
    assert len(warnings) == 5 and all("database unavailable" in w and "OperationalError" in w for w in warnings)
