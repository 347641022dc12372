"""`walletpass serve` with two gunicorn workers: /metrics adds up every worker's pushes, whichever one answers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api import create_app
from tests.builders import make_member, make_program
from tests.fakes.apns_server import FakeApns
from tests.helpers import Device, auth_token_of
from tests.pki import MEMBER_PTID
from tests.pki import TestPki as Pki
from walletpass.bootstrap import bootstrap
from walletpass.config import Settings
from walletpass.services.points import add_transaction

ROOT = Path(__file__).resolve().parents[2]
PASSES = 6


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def apns(pki: Pki) -> Iterator[FakeApns]:
    with FakeApns(pki) as fake:
        yield fake


def _prepare(tmp_path: Path, pki: Pki, apns: FakeApns, port: int) -> list[str]:
    """A SQLite instance with PASSES registered passes, each changed once: jobs for the embedded workers."""
    settings = Settings.for_tests(tmp_path, certs_dir=pki.certs_dir, apns_url=apns.url, apns_ca_file=pki.tls_ca_file,
                                  base_url=f"http://127.0.0.1:{port}")
    svc = bootstrap(settings, migrate=True)
    try:
        client = create_app(services=svc).test_client()
        program = make_program(svc)
        tokens = []
        for _ in range(PASSES):
            member = make_member(svc, program)
            phone = Device(client, MEMBER_PTID)
            assert phone.register(member["serial_number"], auth_token_of(client, member)).status_code == 201
            add_transaction(svc.uow(), svc.clock, settings, member["id"], 5, "coffee")
            tokens.append(phone.token)
    finally:
        svc.close()
    return tokens


def _metric(body: str, name: str) -> float:
    [line] = [x for x in body.splitlines() if x.startswith(name + " ")]
    return float(line.split()[1])


def test_metrics_add_up_every_worker_and_read_the_same_from_any_of_them(tmp_path: Path, pki: Pki,
                                                                         apns: FakeApns) -> None:
    port = _free_port()
    tokens = _prepare(tmp_path, pki, apns, port)
    leftover = tmp_path / "instance" / "prometheus-multiproc" / "counter_999999.db"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"counts of a previous run")  # must not be added to this run's
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WALLETPASS_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({"WALLETPASS_INSTANCE": str(tmp_path / "instance"), "WALLETPASS_CERTS_DIR": str(pki.certs_dir),
                "WALLETPASS_BASE_URL": f"http://127.0.0.1:{port}", "WALLETPASS_APNS_URL": apns.url,
                "WALLETPASS_APNS_CA_FILE": str(pki.tls_ca_file), "WALLETPASS_PUSH_COALESCE_SECONDS": "0",
                "WALLETPASS_SECRET_KEY": "test-secret-key-0123456789abcdef", "PYTHONPATH": str(ROOT)})
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "2",
                             "--threads", "2"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        assert apns.wait_until(lambda: len(apns.delivered()) >= PASSES or proc.poll() is not None, timeout=60), \
            "".join(lines)
        assert sorted(apns.delivered()) == sorted(tokens), "".join(lines)   # each device pushed once, by either worker
        bodies: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(bodies) < 2:                                 # scrape until both workers have answered
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
            with httpx.Client() as fresh:                      # a new connection each time
                r = fresh.get(f"http://127.0.0.1:{port}/metrics")
            assert r.status_code == 200
            time.sleep(0.05)                                   # let the access log line arrive
            pids = re.findall(r'"GET /metrics HTTP/1.1" 200 .* pid=<(\d+)>', "".join(lines))
            if pids:
                bodies[pids[-1]] = r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=5)

    assert proc.returncode == 0, "".join(lines)
    first, second = bodies.values()
    for body in (first, second):
        assert _metric(body, 'walletpass_pushes_total{outcome="ok"}') == PASSES        # counted once, in total
        assert _metric(body, "walletpass_push_latency_seconds_count") == PASSES
        assert _metric(body, "walletpass_registrations") == PASSES                      # from the DB, not summed
        assert _metric(body, "walletpass_outbox_backlog") == 0
        assert body.count("# HELP walletpass_registrations ") == 1
    assert _metric(first, 'walletpass_pushes_total{outcome="ok"}') == _metric(
        second, 'walletpass_pushes_total{outcome="ok"}')
    assert not leftover.exists()
    assert "Traceback" not in "".join(lines)
