"""`walletpass serve` as a client meets it (issue 9): gunicorn's own error pages are problem+json (D4), the access
log holds no capability token (D6), and each instance has its own gunicorn control socket."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
MEMBER_PTID = "pass.dev.walletpass.member"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An instance made by `walletpass init` (SQLite, dev PKI, demo member) and its admin API key."""
    tmp = tmp_path_factory.mktemp("serve")
    r = subprocess.run([sys.executable, "-m", "api.cli", "init"], env=_env(tmp, tmp / "instance"), cwd=tmp,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return tmp, r.stdout.strip()


def _env(tmp: Path, instance: Path, port: int = 8000) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLETPASS_")
           and k not in ("PROMETHEUS_MULTIPROC_DIR", "XDG_RUNTIME_DIR")}
    env.update({"WALLETPASS_INSTANCE": str(instance), "WALLETPASS_CERTS_DIR": str(tmp / "certs"),
                "WALLETPASS_BASE_URL": f"http://127.0.0.1:{port}", "PYTHONPATH": str(ROOT),
                "HOME": str(tmp / "home")})  # whatever serve writes under $HOME lands here, not in the real one
    return env


@dataclass
class Served:
    proc: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def serving(tmp: Path, instance: Path, *, threads: int = 2) -> Iterator[Served]:
    """`walletpass serve` (one gunicorn worker) on a free port until the block ends; then SIGTERM and wait."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "1",
                             "--threads", str(threads)], env=_env(tmp, instance, port), cwd=tmp,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    served = Served(proc, port)
    reader = threading.Thread(target=lambda: served.lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(served.url("/healthz"), timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start:\n" + served.output
            time.sleep(0.2)
        yield served
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        reader.join(timeout=5)


def raw_request(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send *data* as it is (no client library would send these bytes) and read the answer to its end."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


BAD_REQUESTS = {
    "DEL in a header value": (b"X-Note: a\x7fb\r\n", 400, "X-NOTE"),
    "DEL in a header name": (b"X-No\x7fte: 1\r\n", 400, "header"),
    "Authorization over 8 KB": (b"Authorization: Bearer wp_" + b"k" * 9000 + b"\r\n", 431, "8190 bytes"),
}


@pytest.mark.parametrize("threads", [1, 2], ids=["sync worker", "gthread worker"])
def test_the_servers_own_error_answers_are_problem_json(initialised: tuple[Path, str], threads: int) -> None:
    tmp, _ = initialised
    with serving(tmp, tmp / "instance", threads=threads) as served:
        for name, (header, status, hint) in BAD_REQUESTS.items():
            code, headers, body = raw_request(served.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n")

            assert code == status, (name, code, body)
            assert headers["content-type"] == "application/problem+json", (name, headers)
            assert headers["x-content-type-options"] == "nosniff" and int(headers["content-length"]) == len(body)
            problem = json.loads(body)
            assert problem["status"] == status and problem["type"] == "about:blank" and problem["title"], name
            assert hint in problem["detail"], (name, problem)
            assert "wp_kkkk" not in problem["detail"]
        too_long = raw_request(served.port, b"GET /" + b"x" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert too_long[0] == 414 and json.loads(too_long[2])["status"] == 414
        assert httpx.get(served.url("/healthz")).status_code == 200  # and it goes on serving
    assert "Traceback" not in served.output


def test_the_access_log_holds_no_capability_token(initialised: tuple[Path, str]) -> None:
    tmp, key = initialised
    with serving(tmp, tmp / "instance") as served:
        member = httpx.get(served.url("/api/v1/members/1"), headers={"Authorization": f"Bearer {key}"}).json()
        page = member["links"]["page"]
        token = page.rsplit("/", 1)[1]
        assert httpx.get(page).status_code == 200
        assert httpx.get(member["links"]["pkpass"]).status_code == 200
        httpx.get(member["links"]["google_save"])                       # whatever it answers, it is logged
        for spelling in (f"/%70/{token}", f"/p%2F{token}"):                # the same page, spelled otherwise
            assert httpx.get(served.url(spelling)).status_code == 200, spelling
        assert raw_request(served.port, f"GET http://127.0.0.1/p/{token} HTTP/1.1\r\nHost: x\r\n"
                                        "Connection: close\r\n\r\n".encode())[0] == 200
        raw_request(served.port, f"GET /p/{token}\x7f HTTP/1.1\r\nHost: x\r\n\r\n".encode())  # 400, warned
        device, serial = "d0123456789abcdef", member["serial_number"]
        assert httpx.get(served.url(f"/v1/devices/{device}/registrations/{MEMBER_PTID}")).status_code == 204
        assert httpx.get(served.url(f"/v1/passes/{MEMBER_PTID}/{serial}")).status_code == 401
        time.sleep(0.5)  # the last access log lines

    log = served.output
    assert token not in log and token[4:12] not in log, log
    assert log.count(f"/p/{token[:4]}…") >= 6, log                # the lines are there, the token cut short
    assert f"/v1/devices/{device}/registrations/{MEMBER_PTID}" in log  # Apple's ids are no secret: kept whole
    assert f"/v1/passes/{MEMBER_PTID}/{serial}" in log
    assert key not in log


def test_two_instances_on_one_machine_each_have_their_own_control_socket(initialised: tuple[Path, str]) -> None:
    from gunicorn.ctl.client import ControlClient

    tmp, _ = initialised
    second = tmp / "second-instance"
    shutil.copytree(tmp / "instance", second, ignore=shutil.ignore_patterns("gunicorn.ctl", "prometheus-multiproc"))
    with serving(tmp, tmp / "instance") as one:
        with serving(tmp, second) as two:
            for served, instance in ((one, tmp / "instance"), (two, second)):
                assert httpx.get(served.url("/healthz")).status_code == 200
                with ControlClient(str(instance / "gunicorn.ctl"), timeout=10) as ctl:
                    assert ctl.send_command("show stats")["pid"] == served.proc.pid  # its own master answers
        assert not (second / "gunicorn.ctl").exists()                  # removed by the instance that made it
        assert (tmp / "instance" / "gunicorn.ctl").exists()            # the other one's is still there
        with ControlClient(str(tmp / "instance" / "gunicorn.ctl"), timeout=10) as ctl:
            assert ctl.send_command("show stats")["pid"] == one.proc.pid
    assert not (tmp / "home" / ".gunicorn").exists()                   # nothing in a path shared by all instances


def test_redact_uri_cuts_the_token_of_every_spelling_of_a_public_link() -> None:
    from api.server import redact_tokens, redact_uri

    token = "Lg-0OPz9-xxF7wVOyEg_V5533GK1rnG9"
    for uri, expected in (
        (f"/p/{token}", "/p/Lg-0…"),
        (f"/p/{token}/pass.pkpass?src=flyer", "/p/Lg-0…/pass.pkpass?src=flyer"),
        (f"/a/{token}", "/a/Lg-0…"),
        (f"/%70/{token}/google", "/p/Lg-0…/google"),
        (f"/p%2F{token}", "/p/Lg-0…"),
        (f"https://wallet.example.com/p/{token}", "https://wallet.example.com/p/Lg-0…"),
        ("/p/short", "/p/…"),                                     # too short to show any of it
        (f"/v1/passes/{MEMBER_PTID}/SERIAL42", f"/v1/passes/{MEMBER_PTID}/SERIAL42"),
        ("/v1/devices/a/registrations/p", "/v1/devices/a/registrations/p"),
        ("-", "-"),
    ):
        assert redact_uri(uri) == expected, uri
    assert redact_tokens(f"Invalid HTTP request line: 'GET /p/{token}\\x7f HTTP/1.1'") == (
        "Invalid HTTP request line: 'GET /p/Lg-0…\\x7f HTTP/1.1'")
