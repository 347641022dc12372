"""Processes for tests: the web side (Services, the Flask app, members with registered phones) and
`walletpass worker` processes (polling, or Celery workers on a Redis broker) with their logs."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from tests.builders import make_member, make_program
from tests.fakes.apns_server import FakeApns
from tests.helpers import REPO_ROOT, Device, auth_token_of, wait_until, worker_env
from tests.pki import TestPki
from walletpass.bootstrap import Services, bootstrap
from walletpass.config import Settings


class Web:
    """The web side: Services with the broker's kicker, the Flask app, one member with a registered phone."""

    def __init__(self, tmp_path: Path, pki: TestPki, db_url: str, apns: FakeApns, *, broker_url: str | None,
                 queue: str = "walletpass", members: int = 1, member: dict[str, Any] | None = None) -> None:
        from api import create_app

        self.settings = Settings.for_tests(tmp_path, database_url=db_url, certs_dir=pki.certs_dir,
                                           apns_url=apns.url, apns_ca_file=pki.tls_ca_file,
                                           broker_url=broker_url, broker_queue=queue)
        self.svc: Services = bootstrap(self.settings)
        self.client = create_app(services=self.svc).test_client()
        from walletpass.services.api_keys import create_api_key

        key = create_api_key(self.svc.uow(), self.svc.clock, self.svc.api_keys.hasher, "t", ["admin"])
        self.auth = {"Authorization": "Bearer " + key}
        program = make_program(self.svc)
        self.program_id = program
        self.members = [make_member(self.svc, program, **(member or {})) for _ in range(members)]
        self.phones: dict[int, Device] = {}
        for m in self.members:
            phone = self.phones[m["id"]] = Device(self.client, self.settings.member_pass_type_id)
            assert phone.register(m["serial_number"], auth_token_of(self.client, m)).status_code == 201

    def add_points(self, member: dict[str, Any], points: int = 5) -> int:
        r = self.client.post(f"/api/v1/members/{member['id']}/transactions",
                             json={"points": points, "reason": "latte"}, headers=self.auth)
        return r.status_code

    def outbox(self) -> int:
        with self.svc.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM outbox")).scalar_one())

    def close(self) -> None:
        self.svc.close()


class WorkerProcess:
    """`walletpass worker` (in broker mode when given a Redis URL), its log in a file (shown when an assertion
    fails)."""

    def __init__(self, web: Web, pki: TestPki, apns: FakeApns, redis_url: str | None, *, sweep: float = 2.0,
                 lease: float | None = None, apns_url: str | None = None, args: tuple[str, ...] = (),
                 extra: dict[str, str] | None = None) -> None:
        env = worker_env(web.settings, apns, pki)
        env.update({"WALLETPASS_APNS_URL": apns_url or apns.url, "WALLETPASS_PUSH_COALESCE_SECONDS": "0"})
        if redis_url is not None:  # broker mode (Celery); else the polling worker
            env.update({"WALLETPASS_BROKER_URL": redis_url, "WALLETPASS_BROKER_QUEUE": web.settings.broker_queue,
                        "WALLETPASS_SWEEP_SECONDS": str(sweep)})
        env.update(extra or {})
        if lease is None:
            env.pop("WALLETPASS_JOB_LEASE_SECONDS")
        else:
            env["WALLETPASS_JOB_LEASE_SECONDS"] = str(lease)
        self.log = web.settings.instance_path / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "api.cli", "worker", *args], env=env, cwd=REPO_ROOT,
                                         stdout=out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        assert wait_until(lambda: " ready." in self.text() or self.proc.poll() is not None), self.text()
        assert self.proc.poll() is None, self.text()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
