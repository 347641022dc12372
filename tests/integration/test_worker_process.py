"""A `walletpass worker` process killed with SIGKILL between commit and push loses nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.builders import make_member, make_program
from tests.fakes.apns_server import FakeApns
from walletpass.bootstrap import bootstrap
from walletpass.config import Settings
from walletpass.services.points import add_transaction

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _env(settings: Settings, apns: FakeApns, pki) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLETPASS_")}
    env.update({
        "WALLETPASS_INSTANCE": str(settings.instance_path), "WALLETPASS_DATABASE_URL": settings.database_url,
        "WALLETPASS_CERTS_DIR": str(pki.certs_dir), "WALLETPASS_APNS_URL": apns.url,
        "WALLETPASS_APNS_CA_FILE": str(pki.tls_ca_file), "WALLETPASS_JOB_LEASE_SECONDS": "2",
        "WALLETPASS_SECRET_KEY": "x" * 32, "PYTHONPATH": str(ROOT),
    })
    return env


def _wait(pred, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


class BlackHole:
    """A TCP listener that accepts connections and never answers: an APNs that hangs mid-handshake."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self) -> None:
        try:
            while True:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)
        except OSError:
            return

    def close(self) -> None:
        self.sock.close()
        for c in self.accepted:
            c.close()


def test_killed_worker_loses_no_push(tmp_path, pki, db_url) -> None:  # type: ignore[no-untyped-def]
    hole = BlackHole()
    with FakeApns(pki) as apns:
        settings = Settings.for_tests(tmp_path, database_url=db_url, certs_dir=pki.certs_dir)
        svc = bootstrap(settings)
        m = make_member(svc, make_program(svc))
        from tests.integration.test_device_story import Device, auth_token_of

        from api import create_app

        client = create_app(services=svc).test_client()
        phone = Device(client, settings.member_pass_type_id)
        assert phone.register(m["serial_number"], auth_token_of(client, m)).status_code == 201
        cmd = [sys.executable, "-m", "api.cli", "worker"]
        env = _env(settings, apns, pki)
        # First worker: its APNs hangs, so it claims the job and is stuck before any push is answered.
        hung_env = {**env, "WALLETPASS_APNS_URL": f"https://127.0.0.1:{hole.port}"}
        worker = subprocess.Popen(cmd, env=hung_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            add_transaction(svc.uow(), svc.clock, settings, m["id"], 5, "coffee")   # committed: job in outbox
            assert _wait(lambda: len(hole.accepted) > 0), "worker never reached APNs"
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            assert not apns.pushes
            with svc.engine.connect() as conn:   # the job is still there, leased by the dead worker
                assert conn.execute(text("SELECT count(*) FROM outbox WHERE locked_by IS NOT NULL")).scalar_one() == 1
            worker = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert _wait(lambda: any(p.token == phone.token and p.status == 200 for p in apns.pushes)), \
                "the push was lost"
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
            svc.close()
            hole.close()
