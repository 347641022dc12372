"""The `walletpass` CLI as an operator runs it (a real process, its own instance folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli, verify_with_openssl

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_init_is_idempotent_and_builds_verifiable_passes(tmp_path: Path) -> None:
    first = run_cli(tmp_path, "init")
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert key.startswith("wp_") and "\n" not in key
    certs = tmp_path / "certs"
    for name in ("apple-root-ca.pem", "wwdr-ca.pem", "pass.dev.walletpass.member.pem",
                 "pass.dev.walletpass.member.key", "pass.dev.walletpass.coupon.pem", "google-service-account.json"):
        assert (certs / name).exists(), name
    ca_before = (certs / "wwdr-ca.pem").read_bytes()
    db_before = (tmp_path / "instance" / "walletpass.db").stat().st_size
    second = run_cli(tmp_path, "init")
    assert second.returncode == 0 and second.stdout == ""
    assert "already initialised" in second.stderr
    assert (certs / "wwdr-ca.pem").read_bytes() == ca_before
    assert (tmp_path / "instance" / "walletpass.db").stat().st_size >= db_before

    built = run_cli(tmp_path, "pass", "build", "--member", "1", "-o", str(tmp_path / "demo.pkpass"))
    assert built.returncode == 0, built.stderr
    verify_with_openssl((tmp_path / "demo.pkpass").read_bytes(), certs / "wwdr-ca.pem", tmp_path)

    made = run_cli(tmp_path, "apikey", "create", "--name", "pos-1", "--scope", "points")
    assert made.returncode == 0 and made.stdout.strip().startswith("wp_") and made.stdout.count("\n") == 1

    ok = run_cli(tmp_path, "certs", "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "pass.dev.walletpass.member" in ok.stdout

    forced = run_cli(tmp_path, "init", "--force")
    assert forced.returncode == 0 and (certs / "wwdr-ca.pem").read_bytes() != ca_before


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "init").returncode == 0
    r = run_cli(tmp_path, "pass", "build", "--member", "999", "-o", str(tmp_path / "x.pkpass"))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "not found" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli(tmp_path, "pass", "build", "--member", str(10**20), "-o", str(tmp_path / "x.pkpass"))
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(tmp_path, "apikey", "create", "--name", "x", "--scope", "root")
    assert r.returncode == 2 and "unknown scope" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(tmp_path, "certs", "check", extra={"WALLETPASS_TEAM_ID": "OTHERTEAM1"})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    r = run_cli(tmp_path, "serve", extra={"WALLETPASS_BASE_URL": "http://example.com"})
    assert r.returncode == 2 and "https" in r.stderr and "Traceback" not in r.stderr


def test_apikey_create_binds_a_key_to_programs_and_refuses_unknown_ones(tmp_path: Path) -> None:
    from api import create_app
    from walletpass.bootstrap import bootstrap
    from walletpass.config import Settings

    init = run_cli(tmp_path, "init")
    assert init.returncode == 0, init.stderr
    admin = {"Authorization": f"Bearer {init.stdout.strip()}"}
    made = run_cli(tmp_path, "apikey", "create", "--name", "till-1", "--program", "1")
    assert made.returncode == 0 and made.stdout.count("\n") == 1, made.stderr
    bound = {"Authorization": f"Bearer {made.stdout.strip()}"}

    # This process reads the instance's secret file, as `walletpass serve` would: the keys the CLI made work here.
    env = {"WALLETPASS_INSTANCE": str(tmp_path / "instance"), "WALLETPASS_CERTS_DIR": str(tmp_path / "certs")}
    svc = bootstrap(Settings.from_env(env, cwd=tmp_path))
    try:
        client = create_app(services=svc).test_client()
        other = client.post("/api/v1/programs", json={"name": "Other", "organization_name": "O"}, headers=admin)
        assert other.status_code == 201, other.json
        stranger = client.post(f"/api/v1/programs/{other.json['id']}/members", json={"name": "S"}, headers=admin)
        assert stranger.status_code == 201
        assert client.get("/api/v1/members/1", headers=bound).status_code == 200  # the demo program's member
        assert client.get(f"/api/v1/members/{stranger.json['id']}", headers=bound).status_code == 404
        r = client.post("/api/v1/programs", json={"name": "P", "organization_name": "O"}, headers=bound)
        assert r.status_code == 403 and "limited to programs [1]" in r.json["detail"]
    finally:
        svc.close()

    counts = _counts(tmp_path)
    r = run_cli(tmp_path, "apikey", "create", "--name", "x", "--program", "1", "--program", "99")
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "there is no program 99" in r.stderr
    r = run_cli(tmp_path, "apikey", "create", "--name", "x", "--program", "0")
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr and "--program" in r.stderr
    assert _counts(tmp_path) == counts  # nothing stored


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
    assert run_cli(tmp_path, "init").returncode == 0
    code, out = _serve_once(tmp_path, {})
    assert code == 0, out
    assert "gunicorn" in out.lower() and '"GET /healthz HTTP/1.1" 200' in out
    code, out = _serve_once(tmp_path, {"WALLETPASS_ACCESS_LOG": "0"})
    assert code == 0, out
    assert "GET /healthz" not in out and "Traceback" not in out


# -- init keeps what it did not make; certs commands --------------------------------------------------

MEMBER, COUPON = "pass.dev.walletpass.member", "pass.dev.walletpass.coupon"


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance made once by `walletpass init`; tests that change it work on a copy (:func:`fresh_copy`)."""
    tmp = tmp_path_factory.mktemp("initialised")
    r = run_cli(tmp, "init")
    assert r.returncode == 0, r.stderr
    return tmp


def fresh_copy(initialised: Path, tmp_path: Path) -> Path:
    import shutil

    for name in ("instance", "certs"):
        shutil.copytree(initialised / name, tmp_path / name)
    return tmp_path


def _counts(tmp: Path) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(tmp / "instance" / "walletpass.db") as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("programs", "members", "api_keys")}


def _secrets(tmp: Path) -> dict[str, bytes]:
    names = (f"{MEMBER}.pem", f"{MEMBER}.key", f"{COUPON}.pem", f"{COUPON}.key", "google-service-account.json")
    return {n: (tmp / "certs" / n).read_bytes() for n in names}


def test_init_twice_keeps_rows_certificates_and_keys(initialised: Path, tmp_path: Path) -> None:
    tmp = fresh_copy(initialised, tmp_path)
    counts, files = _counts(tmp), _secrets(tmp)
    assert counts == {"programs": 1, "members": 1, "api_keys": 1}
    again = run_cli(tmp, "init")
    assert again.returncode == 0 and again.stdout == "", again.stderr
    assert _counts(tmp) == counts and _secrets(tmp) == files


def _wwdr(tmp: Path):  # type: ignore[no-untyped-def]
    from walletpass.devpki import Issued

    return Issued((tmp / "certs" / "wwdr-ca.pem").read_bytes(), (tmp / "certs" / "wwdr-ca.key").read_bytes())


def test_init_never_overwrites_an_imported_certificate(initialised: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from walletpass.devpki import make_pass_type_cert

    tmp = fresh_copy(initialised, tmp_path)
    real = make_pass_type_cert(_wwdr(tmp), MEMBER, "DEVTEAM001", datetime.now(UTC), organization="Morning Light Ltd")
    (tmp / "certs" / f"{MEMBER}.pem").write_bytes(real.cert_pem)
    (tmp / "certs" / f"{MEMBER}.key").write_bytes(real.key_pem)
    for name in ("apple-root-ca.pem", "apple-root-ca.key", "wwdr-ca.pem", "wwdr-ca.key"):  # the audit's case
        (tmp / "certs" / name).unlink()
    dev_coupon = (tmp / "certs" / f"{COUPON}.pem").read_bytes()
    for args in (("init",), ("init", "--force")):
        r = run_cli(tmp, *args)
        assert r.returncode == 0, r.stderr
        assert (tmp / "certs" / f"{MEMBER}.pem").read_bytes() == real.cert_pem
        assert (tmp / "certs" / f"{MEMBER}.key").read_bytes() == real.key_pem
        assert f"kept {tmp / 'certs' / f'{MEMBER}.pem'}: not made by walletpass's dev CA" in r.stderr
        assert "--force only regenerates dev material" in r.stderr
        assert (tmp / "certs" / f"{COUPON}.pem").read_bytes() != dev_coupon  # stand-ins follow the new CA
        dev_coupon = (tmp / "certs" / f"{COUPON}.pem").read_bytes()


def test_init_leaves_pass_types_with_their_own_files_alone(initialised: Path, tmp_path: Path) -> None:
    tmp = fresh_copy(initialised, tmp_path)
    extra = {"WALLETPASS_MEMBER_CERT_FILE": str(tmp / "real" / "member.pem"),
             "WALLETPASS_MEMBER_KEY_FILE": str(tmp / "real" / "member.key")}
    r = run_cli(tmp, "init", "--force", extra=extra)
    assert r.returncode == 0, r.stderr
    assert not (tmp / "real").exists()  # the operator's to fill (certs import-p12), never a stand-in


def test_certs_check_compares_each_certificate_with_its_own_pass_type(initialised: Path) -> None:
    # The coupon's certificate and key configured for member cards: every file is valid, but the UID is wrong.
    certs = initialised / "certs"
    r = run_cli(initialised, "certs", "check", extra={"WALLETPASS_MEMBER_CERT_FILE": str(certs / f"{COUPON}.pem"),
                                                  "WALLETPASS_MEMBER_KEY_FILE": str(certs / f"{COUPON}.key")})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"{MEMBER}: ERROR" in r.stdout and f"{COUPON}: OK" in r.stdout
    assert (f"error: UID '{COUPON}' is not the pass type id '{MEMBER}' this certificate is configured for; "
            f"import the certificate of {MEMBER}") in r.stdout


def _install(tmp: Path, *, days: int, age_days: int) -> None:
    from datetime import UTC, datetime, timedelta

    from walletpass.devpki import make_pass_type_cert

    now = datetime.now(UTC)
    cert = make_pass_type_cert(_wwdr(tmp), MEMBER, "DEVTEAM001", now, days=days,
                               not_before=now - timedelta(days=age_days))
    (tmp / "certs" / f"{MEMBER}.pem").write_bytes(cert.cert_pem)
    (tmp / "certs" / f"{MEMBER}.key").write_bytes(cert.key_pem)


def test_certs_check_expired_certificate_exits_1(initialised: Path, tmp_path: Path) -> None:
    tmp = fresh_copy(initialised, tmp_path)
    _install(tmp, days=30, age_days=60)
    r = run_cli(tmp, "certs", "check")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"{MEMBER}: ERROR" in r.stdout and "days left)" in r.stdout
    assert "error: expired on" in r.stdout and "create a new certificate in the Apple Developer portal" in r.stdout


def test_certs_check_warns_under_30_days(initialised: Path, tmp_path: Path) -> None:
    tmp = fresh_copy(initialised, tmp_path)
    _install(tmp, days=20, age_days=0)
    r = run_cli(tmp, "certs", "check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{MEMBER}: OK" in r.stdout and "warning: expires in 19 days" in r.stdout
    assert "renew it soon" in r.stdout


def test_db_upgrade(tmp_path: Path) -> None:
    import sqlite3

    from walletpass.storage.db import MIGRATIONS

    head = sorted(p.name for p in (MIGRATIONS / "versions").glob("0*.py"))[-1].split("_")[0]
    for _ in range(2):  # on a fresh instance, then again: nothing to do, still 0
        r = run_cli(tmp_path, "db", "upgrade")
        assert r.returncode == 0 and "database is up to date" in r.stderr, r.stderr
        with sqlite3.connect(tmp_path / "instance" / "walletpass.db") as db:
            (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
            assert version.startswith(head) and db.execute("SELECT count(*) FROM programs").fetchone() == (0,)


# -- certs import-p12 ---------------------------------------------------------------------------------

def _p12(initialised: Path, out: Path, *, legacy: bool, password: str = "s3cret pass") -> Path:
    certs = initialised / "certs"
    cmd = ["openssl", "pkcs12", "-export", "-in", str(certs / f"{MEMBER}.pem"), "-inkey", str(certs / f"{MEMBER}.key"),
           "-certfile", str(certs / "wwdr-ca.pem"), "-passout", f"pass:{password}", "-out", str(out)]
    if legacy:
        cmd.insert(3, "-legacy")
    subprocess.run(cmd, check=True, capture_output=True)
    return out


@pytest.mark.parametrize("legacy", [True, False])
def test_import_p12_writes_where_the_settings_say(initialised: Path, tmp_path: Path, legacy: bool) -> None:
    p12 = _p12(initialised, tmp_path / "Certificates.p12", legacy=legacy)
    (tmp_path / "pw").write_text("s3cret pass\n")
    real = tmp_path / "etc-walletpass"
    r = run_cli(tmp_path, "certs", "import-p12", str(p12), "--password-file", str(tmp_path / "pw"),
            extra={"WALLETPASS_CERTS_DIR": str(real)})
    assert r.returncode == 0, r.stderr
    for name in (f"{MEMBER}.pem", f"{MEMBER}.key"):
        assert (real / name).read_bytes() == (initialised / "certs" / name).read_bytes()
        assert (real / name).stat().st_mode & 0o777 == 0o600
    assert r.stdout == "" and f"imported {MEMBER}" in r.stderr


def test_import_p12_password_on_stdin_to_the_configured_files(initialised: Path, tmp_path: Path) -> None:
    p12 = _p12(initialised, tmp_path / "Certificates.p12", legacy=True)
    cert, key = tmp_path / "real" / "member.pem", tmp_path / "real" / "member.key"
    r = run_cli(tmp_path, "certs", "import-p12", str(p12), input="s3cret pass\n",
            extra={"WALLETPASS_MEMBER_CERT_FILE": str(cert), "WALLETPASS_MEMBER_KEY_FILE": str(key)})
    assert r.returncode == 0, r.stderr
    assert "s3cret" not in r.stdout + r.stderr  # never echoed
    assert cert.read_bytes() == (initialised / "certs" / f"{MEMBER}.pem").read_bytes()
    assert key.stat().st_mode & 0o777 == 0o600 and not (tmp_path / "certs" / f"{MEMBER}.pem").exists()


@pytest.mark.parametrize("legacy", [True, False])
def test_import_p12_wrong_password_is_one_line(initialised: Path, tmp_path: Path, legacy: bool) -> None:
    p12 = _p12(initialised, tmp_path / "Certificates.p12", legacy=legacy)
    r = run_cli(tmp_path, "certs", "import-p12", str(p12), input="wrong\n")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == "error: cannot open the .p12: wrong password, or the file is not a PKCS#12 export\n"
    assert not (tmp_path / "certs").exists()
