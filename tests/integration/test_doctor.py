"""`walletpass doctor` on an instance: certificates, APNs (the stand-in, certificate and token mode), Google (the
stand-in's token endpoint), Samsung (not configured), the base URL (a real walletpass answering on a port); and
/healthz for the development stand-in certificate outside the demo."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.serving import make_server

from tests.fakes.apns_server import FakeApns
from tests.helpers import free_port, run_cli
from tests.pki import COUPON_PTID, MEMBER_PTID, TEAM_ID, TestPki
from walletpass.bootstrap import bootstrap
from walletpass.config import Settings
from walletpass.devpki import Issued, make_pass_type_cert
from walletpass.doctor.findings import FAIL, OK, SKIP, WARN, Finding
from walletpass.doctor.instance import PLACEHOLDER_ISSUER_ID, check_instance
from walletpass.errors import ConfigurationError

pytestmark = pytest.mark.usefixtures("apns", "google")
NOW = datetime.now(UTC)
KID = "ABC123DEFG"


@pytest.fixture
def live_url(settings: Settings) -> Iterator[str]:
    """This instance's app answering on a loopback port (what the base URL check GETs)."""
    from api import create_app

    svc = bootstrap(settings)
    server = make_server("127.0.0.1", free_port(), create_app(services=svc), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        svc.close()


def by_check(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.check, []).append(f)
    return out


def levels(findings: list[Finding], check: str) -> list[str]:
    return [f.level for f in findings if f.check == check]


def test_a_healthy_demo_instance(settings: Settings, live_url: str) -> None:
    findings = check_instance(settings.replace(base_url=live_url + "/"), NOW, timeout=5)
    checks = by_check(findings)
    assert not [f for f in findings if f.level == FAIL], [f.line() for f in findings if f.level == FAIL]
    for ptid in (MEMBER_PTID, COUPON_PTID):
        cert = checks[f"certificate:{ptid}"]
        assert [f.level for f in cert] == [WARN, OK]  # loopback demo: the dev stand-in is a (loud) warning
        assert "AN IPHONE WILL REFUSE" in cert[0].detail and "days left" in cert[1].detail
        assert levels(findings, f"apns:{ptid}") == [OK]
    assert levels(findings, "google") == [WARN, OK] and "token fetched" in checks["google"][1].detail
    assert levels(findings, "samsung") == [SKIP] and "not configured" in checks["samsung"][0].detail
    base = checks["base-url"]
    assert [f.level for f in base] == [WARN, OK] and "answered 200 as walletpass" in base[1].detail


def test_dev_certificate_and_placeholders_fail_outside_the_demo(settings: Settings) -> None:
    findings = check_instance(settings.replace(base_url="https://passes.example.invalid/",
                                               google_issuer_id=PLACEHOLDER_ISSUER_ID), NOW, timeout=2)
    dev = [f for f in findings if f.check == f"certificate:{MEMBER_PTID}" and f.level == FAIL]
    assert dev and "AN IPHONE WILL REFUSE EVERY PASS OF THIS INSTANCE" in dev[0].detail
    google = [f.detail for f in findings if f.check == "google" and f.level == FAIL]
    assert any("placeholder" in d for d in google) and any("development stand-in" in d for d in google)
    (unreachable,) = [f for f in findings if f.check == "base-url"]
    assert unreachable.level == FAIL and "GET https://passes.example.invalid/healthz failed" in unreachable.detail


def test_wrong_team(settings: Settings) -> None:
    findings = check_instance(settings.replace(team_id="OTHERTEAM1"), NOW, timeout=2)
    wrong = [f for f in findings if f.check == f"certificate:{MEMBER_PTID}" and f.level == FAIL]
    assert any("OU 'DEVTEAM001' is not the team id 'OTHERTEAM1'" in f.detail for f in wrong)


def test_expired_certificate(settings: Settings, pki: TestPki, tmp_path: Path) -> None:
    wwdr = Issued((pki.certs_dir / "wwdr-ca.pem").read_bytes(), (pki.certs_dir / "wwdr-ca.key").read_bytes())
    old = make_pass_type_cert(wwdr, MEMBER_PTID, TEAM_ID, NOW, not_before=NOW - timedelta(days=400), days=30)
    (tmp_path / "old.pem").write_bytes(old.cert_pem)
    (tmp_path / "old.key").write_bytes(old.key_pem)
    s = settings.replace(member_cert_file=tmp_path / "old.pem", member_key_file=tmp_path / "old.key")
    findings = check_instance(s, NOW, timeout=2)
    cert = [f for f in findings if f.check == f"certificate:{MEMBER_PTID}" and f.level == FAIL]
    assert any("expired on" in f.detail for f in cert)
    (apns,) = [f for f in findings if f.check == f"apns:{MEMBER_PTID}"]
    assert apns.level == FAIL and "TLS/HTTP/2" in apns.detail  # the stand-in refuses the expired client certificate
    assert levels(findings, f"apns:{COUPON_PTID}") == [OK]


def test_bad_base_urls(settings: Settings, live_url: str) -> None:
    findings = check_instance(settings.replace(base_url=live_url + "/v1"), NOW, timeout=2)
    base = [f for f in findings if f.check == "base-url"]
    assert any(f.level == FAIL and "ends with /v1" in f.detail for f in base)
    assert any(f.level == FAIL and "answered 404, not walletpass's /healthz" in f.detail for f in base)
    http = check_instance(settings.replace(base_url="http://passes.example.invalid/"), NOW, timeout=2)
    assert levels(http, "settings") == [FAIL]
    assert any(f.check == "base-url" and f.level == FAIL and "devices only call an https" in f.detail for f in http)


def test_unreachable_apns_and_google(settings: Settings) -> None:
    closed = f"https://127.0.0.1:{free_port()}"
    findings = check_instance(settings.replace(apns_url=closed, google_token_url=closed + "/token"), NOW, timeout=2)
    (apns,) = [f for f in findings if f.check == f"apns:{MEMBER_PTID}"]
    assert apns.level == FAIL and closed in apns.detail and "port 443" in apns.fix
    assert any(f.check == "google" and f.level == FAIL and "no OAuth token" in f.detail for f in findings)


@pytest.fixture
def p8(tmp_path: Path) -> tuple[Path, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "AuthKey.p8"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path, key


@pytest.mark.parametrize("kid, ok", [(KID, True), ("WRONGKID00", False)])
def test_token_mode(settings: Settings, pki: TestPki, p8, kid: str, ok: bool) -> None:  # type: ignore[no-untyped-def]
    path, key = p8
    with FakeApns(pki, token_keys={KID: key.public_key()}, team_id=TEAM_ID,
                  topics={MEMBER_PTID, COUPON_PTID}) as token_apns:
        s = settings.replace(apns_url=token_apns.url, apns_key_file=path, apns_key_id=kid)
        findings = check_instance(s, NOW, timeout=2)
    (note,) = [f for f in findings if f.check == "apns"]
    assert note.level == WARN and "Apple documents only the pass certificate" in note.detail
    (member,) = [f for f in findings if f.check == f"apns:{MEMBER_PTID}"]
    if ok:
        assert member.level == OK and "provider token" in member.detail
    else:
        assert member.level == FAIL and "403 InvalidProviderToken" in member.detail
    assert token_apns.peer_certificates and set(token_apns.peer_certificates) == {None}


def test_token_of_another_team(settings: Settings, pki: TestPki, p8, apns: FakeApns) -> None:  # type: ignore[no-untyped-def]
    s = settings.replace(apns_key_file=p8[0], apns_key_id=KID, apns_team_id="KEYTEAM001")
    findings = check_instance(s, NOW, timeout=2)
    assert any(f.check == f"apns:{MEMBER_PTID}" and f.level == FAIL and "belongs to team DEVTEAM001" in f.detail
               for f in findings)


def test_healthz_reports_the_dev_certificate_as_degraded_outside_the_demo(settings: Settings) -> None:
    from api import create_app

    for base, expected in (("http://127.0.0.1:8000/", "ok"), ("https://passes.example.com/", "degraded")):
        svc = bootstrap(settings.replace(base_url=base))
        try:
            health = create_app(services=svc).test_client().get("/healthz")
        finally:
            svc.close()
        assert health.status_code == 200
        check = health.json["checks"][f"certificate:{MEMBER_PTID}"]
        assert check["status"] == expected, check
        assert health.json["status"] == expected
    assert check["stand_in"] is True and "an iPhone refuses" in check["detail"]


def test_settings_refused_at_start_are_one_finding_among_the_rest(tmp_path: Path) -> None:
    env = {"WALLETPASS_BASE_URL": "http://passes.example.invalid/", "WALLETPASS_CERTS_DIR": str(tmp_path)}
    with pytest.raises(ConfigurationError):
        Settings.from_env(env, cwd=tmp_path)
    findings = check_instance(Settings.from_env(env, cwd=tmp_path, check=False), NOW, timeout=1)
    assert levels(findings, "settings") == [FAIL] and "https" in findings[0].detail
    assert levels(findings, f"certificate:{MEMBER_PTID}") == [FAIL]  # nothing in the empty certs folder
    assert "no certificate at" in next(f.detail for f in findings if f.check == f"certificate:{MEMBER_PTID}")


@pytest.mark.slow
def test_cli_doctor(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "init").returncode == 0
    closed = f"https://127.0.0.1:{free_port()}"
    env = {"WALLETPASS_APNS_URL": closed, "WALLETPASS_GOOGLE_TOKEN_URL": closed + "/token"}
    text = run_cli(tmp_path, "doctor", "--timeout", "1", extra=env)
    assert text.returncode == 1 and "Traceback" not in text.stderr
    assert all(line.split(" ", 1)[0] in {"ok", "warn", "FAIL", "skip"} for line in text.stdout.splitlines())
    assert {line.split()[1].rstrip(":") for line in text.stdout.splitlines()} >= {
        "settings", f"certificate:{MEMBER_PTID}", f"apns:{MEMBER_PTID}", "google", "samsung", "base-url"}
    assert run_cli(tmp_path, "pass", "build", "--member", "1", "-o", str(tmp_path / "m.pkpass")).returncode == 0
    one = run_cli(tmp_path, "doctor", "--json", str(tmp_path / "m.pkpass"))
    assert one.returncode == 1, one.stderr
    doc = json.loads(one.stdout)
    assert doc["ok"] is False and {"check", "level", "detail", "fix", "rule"} <= set(doc["findings"][0])
    chain = [f for f in doc["findings"] if f["check"] == "chain"]
    assert chain[0]["level"] == "FAIL" and "AN IPHONE WILL REFUSE THIS PASS" in chain[0]["detail"]
    assert any(f["check"] == "signature" and f["level"] == "ok" for f in doc["findings"])
