"""`walletpass worker` processes killed with SIGKILL: between commit and push nothing is lost; mid-batch, the worker taking over skips the devices already pushed."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from sqlalchemy import text

from tests.builders import make_member, make_program
from tests.fakes.apns_server import FakeApns
from tests.helpers import BlackHole, wait_until, worker_env
from walletpass.bootstrap import bootstrap
from walletpass.config import Settings
from walletpass.services.points import add_transaction

pytestmark = pytest.mark.slow


def _stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=10)
    except subprocess.TimeoutExpired:
        worker.kill()


def test_killed_worker_loses_no_push(tmp_path, pki, db_url) -> None:  # type: ignore[no-untyped-def]
    hole = BlackHole()
    with FakeApns(pki) as apns:
        settings = Settings.for_tests(tmp_path, database_url=db_url, certs_dir=pki.certs_dir)
        svc = bootstrap(settings)
        m = make_member(svc, make_program(svc))
        from api import create_app
        from tests.helpers import REPO_ROOT, Device, auth_token_of

        client = create_app(services=svc).test_client()
        phone = Device(client, settings.member_pass_type_id)
        assert phone.register(m["serial_number"], auth_token_of(client, m)).status_code == 201
        cmd = [sys.executable, "-m", "api.cli", "worker"]
        env = worker_env(settings, apns, pki)
        # First worker: its APNs hangs, so it claims the job and is stuck before any push is answered.
        hung_env = {**env, "WALLETPASS_APNS_URL": f"https://127.0.0.1:{hole.port}"}
        worker = subprocess.Popen(cmd, env=hung_env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            add_transaction(svc.uow(), svc.clock, settings, m["id"], 5, "coffee")   # committed: job in outbox
            assert wait_until(lambda: len(hole.accepted) > 0), "worker never reached APNs"
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            assert not apns.pushes
            with svc.engine.connect() as conn:   # the job is still there, leased by the dead worker
                assert conn.execute(text("SELECT count(*) FROM outbox WHERE locked_by IS NOT NULL")).scalar_one() == 1
            worker = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert wait_until(lambda: any(p.token == phone.token and p.status == 200 for p in apns.pushes)), \
                "the push was lost"
        finally:
            _stop(worker)
            svc.close()
            hole.close()


def test_a_batch_resumed_after_its_worker_died_skips_the_devices_already_pushed(tmp_path, pki, db_url) -> None:  # type: ignore[no-untyped-def]
    """600 devices, one change each (a design change): the first worker delivers a chunk, is answered for part of
    the next, then APNs hangs and the worker is killed. Its chunk deliveries were recorded as they came, so the
    worker that takes over (once the lease runs out) pushes exactly the devices not recorded: each device gets the
    push, and none the dead worker recorded is pushed again."""
    from api import create_app
    from tests.helpers import REPO_ROOT
    from walletpass.apple.push import PUSH_CHUNK
    from walletpass.services import programs

    devices = 3 * PUSH_CHUNK
    with FakeApns(pki) as apns:
        settings = Settings.for_tests(tmp_path, database_url=db_url, certs_dir=pki.certs_dir)
        svc = bootstrap(settings)
        pid = make_program(svc)
        client = create_app(services=svc).test_client()
        ptid = settings.member_pass_type_id
        for n in range(devices):
            m = make_member(svc, pid, name=f"Member {n}")
            with svc.engine.connect() as conn:
                token = conn.execute(text("SELECT authentication_token FROM passes WHERE serial_number = :s"),
                                     {"s": m["serial_number"]}).scalar_one()
            r = client.post(f"/v1/devices/device{n:04d}/registrations/{ptid}/{m['serial_number']}",
                            json={"pushToken": f"{n:064x}"}, headers={"Authorization": f"ApplePass {token}"})
            assert r.status_code == 201
        programs.update_program(svc.uow(), svc.clock, pid, {"name": "Morning Light Club"})  # every pass changed
        with svc.engine.connect() as conn:
            tag = conn.execute(text("SELECT value FROM counters WHERE name = 'pass_tag'")).scalar_one()

        def recorded() -> int:
            with svc.engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM registrations WHERE pushed_tag = :t"),
                                        {"t": tag}).scalar_one())

        cmd = [sys.executable, "-m", "api.cli", "worker"]
        env = {**worker_env(settings, apns, pki), "WALLETPASS_JOB_LEASE_SECONDS": "3"}
        apns.hold_after(PUSH_CHUNK + PUSH_CHUNK // 2)   # the first chunk, half the second: then APNs hangs
        worker = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_until(lambda: apns.held > 0 and recorded() == PUSH_CHUNK, timeout=60), \
                (len(apns.pushes), apns.held, recorded())
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            before = len(apns.pushes)
            with svc.engine.connect() as conn:  # the devices the dead worker recorded as pushed
                delivered = set(conn.execute(text(
                    "SELECT d.push_token FROM registrations r JOIN devices d ON d.id = r.device_id "
                    "WHERE r.pushed_tag = :t"), {"t": tag}).scalars())
            assert len(delivered) == PUSH_CHUNK and delivered <= {p.token for p in apns.pushes if p.status == 200}
            apns.release()
            worker = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            assert wait_until(lambda: recorded() == devices, timeout=60), (recorded(), len(apns.pushes))

            def jobs_left() -> int:
                with svc.engine.connect() as conn:
                    return int(conn.execute(text("SELECT count(*) FROM outbox WHERE kind = 'pass_changed'")).scalar_one())

            assert wait_until(lambda: jobs_left() == 0)
            after = {p.token for p in apns.pushes[before:] if p.status == 200}
            assert {p.token for p in apns.pushes if p.status == 200} == {f"{n:064x}" for n in range(devices)}
            assert after.isdisjoint(delivered)                # the worker that took over skipped them
            assert after == {f"{n:064x}" for n in range(devices)} - delivered
        finally:
            _stop(worker)
            svc.close()
