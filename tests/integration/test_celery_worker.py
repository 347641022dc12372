"""Broker mode: `walletpass worker` as real Celery worker processes on Redis, kicked by the web process.

Each test gets its own queue, so parallel xdist workers (and other tests) never take each other's kicks.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.builders import make_member, make_program
from tests.fakes.apns_server import FakeApns
from tests.helpers import REPO_ROOT, BlackHole, Device, auth_token_of, run_cli, wait_until, worker_env
from tests.pki import TestPki
from tests.workers import Web, WorkerProcess
from walletpass.bootstrap import bootstrap
from walletpass.config import Settings

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pushed(apns: FakeApns, token: str) -> int:
    return sum(1 for p in apns.pushes if p.token == token and p.status == 200)


def test_a_kick_through_redis_pushes_before_any_sweep(tmp_path: Path, pki: TestPki, db_url: str, apns: FakeApns,
                                                      redis_url: str, queue: str) -> None:
    web = Web(tmp_path, pki, db_url, apns, broker_url=redis_url, queue=queue)
    metrics_port = _free_port()
    worker = WorkerProcess(web, pki, apns, redis_url, sweep=600,
                           args=("--metrics-port", str(metrics_port)))
    try:
        worker.wait_ready()
        time.sleep(0.3)                    # past the worker's first sweep: from now on only a kick can deliver
        member = web.members[0]
        phone = web.phones[member["id"]]
        started = time.monotonic()
        assert web.add_points(member) == 201
        assert wait_until(lambda: _pushed(apns, phone.token) == 1, timeout=15), worker.text()
        assert time.monotonic() - started < 15       # the sweep is 600 s: the kick went through Redis
        assert web.svc.kicker is not None and web.svc.kicker.sent >= 1 and web.svc.kicker.failed == 0
        assert wait_until(lambda: web.outbox() == 0)
        import httpx

        body = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert 'walletpass_pushes_total{outcome="ok"} 1.0' in body
        assert "walletpass_push_latency_seconds_count 1.0" in body
        assert worker.stop() == 0, worker.text()      # SIGTERM: warm shutdown, exit 0
    finally:
        worker.kill()
        web.close()


def test_b_broker_down_at_commit_then_sweep_delivers(tmp_path: Path, pki: TestPki, db_url: str, apns: FakeApns,
                                                     redis_url: str, queue: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    closed = _free_port()
    web = Web(tmp_path, pki, db_url, apns, broker_url=f"redis://127.0.0.1:{closed}/0", queue=queue)
    worker = None
    try:
        member = web.members[0]
        phone = web.phones[member["id"]]
        with caplog.at_level("WARNING", logger="walletpass.kick"):
            assert web.add_points(member) == 201                 # the API does not wait on Redis
            assert wait_until(lambda: web.svc.kicker.failed >= 1, timeout=10)  # type: ignore[union-attr]
        assert "could not kick the workers" in caplog.text
        assert web.svc.kicker.sent == 0  # type: ignore[union-attr]
        assert web.outbox() == 1 and not apns.pushes            # committed, waiting
        worker = WorkerProcess(web, pki, apns, redis_url, sweep=0.5)
        assert wait_until(lambda: _pushed(apns, phone.token) == 1, timeout=20), worker.text()
        assert wait_until(lambda: web.outbox() == 0)
    finally:
        if worker is not None:
            worker.kill()
        web.close()


def test_c_celery_worker_killed_between_claim_and_push_loses_nothing(tmp_path: Path, pki: TestPki, db_url: str,
                                                                     apns: FakeApns, redis_url: str,
                                                                     queue: str) -> None:
    hole = BlackHole()
    web = Web(tmp_path, pki, db_url, apns, broker_url=redis_url, queue=queue)
    hung = WorkerProcess(web, pki, apns, redis_url, sweep=0.5, lease=2,
                         apns_url=f"https://127.0.0.1:{hole.port}")
    worker = None
    try:
        hung.wait_ready()
        member = web.members[0]
        phone = web.phones[member["id"]]
        assert web.add_points(member) == 201
        assert wait_until(lambda: len(hole.accepted) > 0), hung.text()        # claimed, stuck talking to "APNs"
        hung.proc.send_signal(signal.SIGKILL)
        hung.proc.wait(timeout=10)
        assert not apns.pushes
        with web.svc.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM outbox WHERE locked_by IS NOT NULL")).scalar_one() == 1
        worker = WorkerProcess(web, pki, apns, redis_url, sweep=0.5, lease=2)
        assert wait_until(lambda: _pushed(apns, phone.token) == 1, timeout=20), "the push was lost\n" + worker.text()
    finally:
        hung.kill()
        if worker is not None:
            worker.kill()
        web.close()
        hole.close()


def test_d_two_workers_push_each_change_once(tmp_path: Path, pki: TestPki, db_url: str, apns: FakeApns,
                                             redis_url: str, queue: str) -> None:
    web = Web(tmp_path, pki, db_url, apns, broker_url=redis_url, queue=queue, members=12)
    workers = [WorkerProcess(web, pki, apns, redis_url, sweep=0.2, args=("--concurrency", "2"))
               for _ in range(2)]
    try:
        for w in workers:
            w.wait_ready()
        tokens = [web.phones[m["id"]].token for m in web.members]
        for round_ in (1, 2):
            for m in web.members:
                assert web.add_points(m) == 201
            assert wait_until(lambda r=round_: all(_pushed(apns, t) >= r for t in tokens), timeout=20), \
                "\n".join(w.text() for w in workers)
            assert wait_until(lambda: web.outbox() == 0)
        time.sleep(0.5)                       # a few more sweeps and kicks: still nothing pushed twice
        assert {t: _pushed(apns, t) for t in tokens} == {t: 2 for t in tokens}
        assert [w.stop() for w in workers] == [0, 0]
    finally:
        for w in workers:
            w.kill()
        web.close()


# -- no Redis needed below -------------------------------------------------------------------------------------
def test_e_worker_config_errors_are_one_line(tmp_path: Path) -> None:
    bad = run_cli(tmp_path, "worker", extra={"WALLETPASS_BROKER_URL": "amqp://guest@127.0.0.1:5672//"})
    assert bad.returncode == 2 and "WALLETPASS_BROKER_URL" in bad.stderr and "redis://" in bad.stderr
    down = run_cli(tmp_path, "worker", extra={"WALLETPASS_BROKER_URL": f"redis://:s3cret@127.0.0.1:{_free_port()}/0"})
    assert down.returncode == 2 and "cannot reach the broker" in down.stderr
    assert "s3cret" not in down.stderr
    solo = run_cli(tmp_path, "worker", "--concurrency", "2")
    assert solo.returncode == 2 and "WALLETPASS_BROKER_URL" in solo.stderr
    for r in (bad, down, solo):
        assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr, r.stderr


def test_polling_worker_serves_its_metrics(tmp_path: Path, pki: TestPki, apns: FakeApns) -> None:
    import httpx

    from walletpass.services.points import add_transaction

    settings = Settings.for_tests(tmp_path, certs_dir=pki.certs_dir)
    svc = bootstrap(settings, migrate=True)
    member = make_member(svc, make_program(svc))
    port = _free_port()
    env = worker_env(settings, apns, pki)
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--metrics-port", str(port)], env=env,
                            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def scrape() -> str:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/metrics").text
            except httpx.TransportError:
                return ""

        assert wait_until(lambda: 'walletpass_pushes_total{outcome="ok"} 0.0' in scrape())
        from api import create_app

        client = create_app(services=svc).test_client()
        phone = Device(client, settings.member_pass_type_id)
        assert phone.register(member["serial_number"], auth_token_of(client, member)).status_code == 201
        add_transaction(svc.uow(), svc.clock, settings, member["id"], 5, "coffee")
        assert wait_until(lambda: 'walletpass_pushes_total{outcome="ok"} 1.0' in scrape())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        svc.close()
