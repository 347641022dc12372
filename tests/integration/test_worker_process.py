"""A `walletpass worker` process killed with SIGKILL between commit and push loses nothing."""

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
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
            svc.close()
            hole.close()
