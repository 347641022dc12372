"""The `walletpass` CLI as an operator runs it (a real process, its own instance folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.test_download import verify_with_openssl

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def cli(tmp: Path, *args: str, input: str | None = None, extra: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLETPASS_")}
    env.update({"WALLETPASS_INSTANCE": str(tmp / "instance"), "WALLETPASS_CERTS_DIR": str(tmp / "certs"),
                "PYTHONPATH": str(ROOT), **(extra or {})})
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, cwd=tmp, capture_output=True,
                          text=True, input=input, timeout=120)


def test_init_is_idempotent_and_builds_verifiable_passes(tmp_path: Path) -> None:
    first = cli(tmp_path, "init")
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert key.startswith("wp_") and "\n" not in key
    certs = tmp_path / "certs"
    for name in ("apple-root-ca.pem", "wwdr-ca.pem", "pass.dev.walletpass.member.pem",
                 "pass.dev.walletpass.member.key", "pass.dev.walletpass.coupon.pem", "google-service-account.json"):
        assert (certs / name).exists(), name
    ca_before = (certs / "wwdr-ca.pem").read_bytes()
    db_before = (tmp_path / "instance" / "walletpass.db").stat().st_size
    second = cli(tmp_path, "init")
    assert second.returncode == 0 and second.stdout == ""
    assert "already initialised" in second.stderr
    assert (certs / "wwdr-ca.pem").read_bytes() == ca_before
    assert (tmp_path / "instance" / "walletpass.db").stat().st_size >= db_before

    built = cli(tmp_path, "pass", "build", "--member", "1", "-o", str(tmp_path / "demo.pkpass"))
    assert built.returncode == 0, built.stderr
    verify_with_openssl((tmp_path / "demo.pkpass").read_bytes(), certs / "wwdr-ca.pem", tmp_path)

    made = cli(tmp_path, "apikey", "create", "--name", "pos-1", "--scope", "points")
    assert made.returncode == 0 and made.stdout.strip().startswith("wp_") and made.stdout.count("\n") == 1

    ok = cli(tmp_path, "certs", "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "pass.dev.walletpass.member" in ok.stdout

    forced = cli(tmp_path, "init", "--force")
    assert forced.returncode == 0 and (certs / "wwdr-ca.pem").read_bytes() != ca_before


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    assert cli(tmp_path, "init").returncode == 0
    r = cli(tmp_path, "pass", "build", "--member", "999", "-o", str(tmp_path / "x.pkpass"))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "not found" in r.stderr
    assert "Traceback" not in r.stderr
    r = cli(tmp_path, "pass", "build", "--member", str(10**20), "-o", str(tmp_path / "x.pkpass"))
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr
    r = cli(tmp_path, "apikey", "create", "--name", "x", "--scope", "root")
    assert r.returncode == 2 and "unknown scope" in r.stderr and "Traceback" not in r.stderr
    r = cli(tmp_path, "certs", "check", extra={"WALLETPASS_TEAM_ID": "OTHERTEAM1"})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    r = cli(tmp_path, "serve", extra={"WALLETPASS_BASE_URL": "http://example.com"})
    assert r.returncode == 2 and "https" in r.stderr and "Traceback" not in r.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_once(tmp: Path, extra: dict[str, str]) -> tuple[int, str]:
    """Start `walletpass serve` (gunicorn), GET /healthz and the demo pass page, stop it; (exit code, output)."""
    import signal
    import time

    import httpx

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLETPASS_")}
    env.update({"WALLETPASS_INSTANCE": str(tmp / "instance"), "WALLETPASS_CERTS_DIR": str(tmp / "certs"),
                "WALLETPASS_BASE_URL": f"http://127.0.0.1:{port}", "PYTHONPATH": str(ROOT), **extra})
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "1",
                             "--threads", "2"], env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "walletpass serve did not start"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["status"] == "ok", r.text
        r = httpx.get(f"http://127.0.0.1:{port}/v1/devices/dev1/registrations/pass.dev.walletpass.member")
        assert r.status_code == 204
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    return proc.returncode, out


def test_serve_runs_gunicorn_and_the_access_log_follows_the_setting(tmp_path: Path) -> None:
    assert cli(tmp_path, "init").returncode == 0
    code, out = _serve_once(tmp_path, {})
    assert code == 0, out
    assert "gunicorn" in out.lower() and '"GET /healthz HTTP/1.1" 200' in out
    code, out = _serve_once(tmp_path, {"WALLETPASS_ACCESS_LOG": "0"})
    assert code == 0, out
    assert "GET /healthz" not in out and "Traceback" not in out
