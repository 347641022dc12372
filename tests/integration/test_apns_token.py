"""APNs token authentication (.p8 → ES256 provider token) against the APNs stand-in in token mode, which checks
each token with PyJWT against the key's public part, its kid, iss and iat, and asks for no client certificate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.builders import make_member, make_program
from tests.fakes.apns_server import FakeApns
from tests.helpers import Device, auth_token_of, post, push_token, run_cli
from tests.pki import COUPON_PTID, MEMBER_PTID, TEAM_ID, TestPki
from walletpass.bootstrap import bootstrap
from walletpass.config import Settings
from walletpass.errors import ConfigurationError, CredentialError
from walletpass.jobs.worker import Worker
from walletpass.push.apns import ApnsClient
from walletpass.push.policy import Outcome
from walletpass.push.token import ProviderTokens, make_provider_token
from walletpass.services.api_keys import create_api_key

KID = "ABC123DEFG"


class Clock:
    """A clock the test moves; both the client and the stand-in read it."""

    def __init__(self) -> None:
        self.at = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture(scope="module")
def p8_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def write_p8(path: Path, key: object) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,  # type: ignore[attr-defined]
                                       serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


@pytest.fixture
def token_apns(pki: TestPki, p8_key: ec.EllipticCurvePrivateKey) -> Iterator[FakeApns]:
    with FakeApns(pki, token_keys={KID: p8_key.public_key()}, team_id=TEAM_ID,
                  topics={MEMBER_PTID, COUPON_PTID}) as fake:
        yield fake


def client_for(apns: FakeApns, pki: TestPki, tokens: ProviderTokens) -> ApnsClient:
    return ApnsClient(apns.url, None, None, ca_file=pki.tls_ca_file, tokens=tokens, timeout=5)


def test_the_token_is_es256_with_kid_iss_iat_only(p8_key) -> None:  # type: ignore[no-untyped-def]
    token = make_provider_token(p8_key, KID, TEAM_ID, 1_800_000_000)
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": KID}
    claims = jwt.decode(token, p8_key.public_key(), algorithms=["ES256"], options={"verify_iat": False})
    assert claims == {"iss": TEAM_ID, "iat": 1_800_000_000}
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, other.public_key(), algorithms=["ES256"])


def test_pushes_carry_a_bearer_token_and_no_client_certificate(token_apns, pki, p8_key) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    token_apns.clock = lambda: clock().timestamp()
    tokens = ProviderTokens(p8_key, KID, TEAM_ID, now=clock)
    devices = [push_token() for _ in range(300)]
    with client_for(token_apns, pki, tokens) as client:
        outcomes = client.send(devices, MEMBER_PTID)
        again = client.send(devices[:5], COUPON_PTID)
    assert [o.status for o in outcomes + again] == [200] * 305
    assert tokens.issued == 1                                   # one token, reused by every request
    assert token_apns.rejected_handshakes == 0 and token_apns.connections == 1
    assert token_apns.peer_certificates == [None]               # the TLS connection carried no client certificate
    headers = token_apns.pushes[0].headers
    assert headers["authorization"].startswith("bearer ") and headers["apns-topic"] == MEMBER_PTID
    # APNs allows one stream until the first accepted request; then the client used the raised limit.
    assert token_apns.most_requests_per_read > 1


def test_the_token_is_refreshed_after_the_interval_not_before(token_apns, pki, p8_key) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    token_apns.clock = lambda: clock().timestamp()
    tokens = ProviderTokens(p8_key, KID, TEAM_ID, now=clock, refresh_seconds=50 * 60)
    with client_for(token_apns, pki, tokens) as client:
        assert client.send([push_token()], MEMBER_PTID)[0].status == 200
        clock.advance(minutes=49)
        assert client.send([push_token()], MEMBER_PTID)[0].status == 200
        assert tokens.issued == 1
        clock.advance(minutes=2)
        assert client.send([push_token()], MEMBER_PTID)[0].status == 200
        assert tokens.issued == 2
    start = int(Clock()().timestamp())
    assert token_apns.tokens_accepted == [(KID, start), (KID, start + 51 * 60)]  # no 429: ≥ 20 min apart


def test_expired_token_is_renewed_once_and_the_push_retried(token_apns, pki, p8_key) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    skew = timedelta(minutes=31)  # the server's clock runs ahead: it sees our 30-minute-old token as 61 minutes old
    token_apns.clock = lambda: (clock() + skew).timestamp()
    tokens = ProviderTokens(p8_key, KID, TEAM_ID, now=clock)
    device = push_token()
    with client_for(token_apns, pki, tokens) as client:
        assert client.send([push_token()], MEMBER_PTID)[0].status == 200
        clock.advance(minutes=30)
        (outcome,) = client.send([device], MEMBER_PTID)
        assert outcome.status == 200 and tokens.issued == 2
        assert client.counters["forbidden"] == 0 and client.last_forbidden is None
    assert [(p.status, p.reason) for p in token_apns.requests_for(device)] == [(403, "ExpiredProviderToken"), (200, "")]


def test_expired_answer_to_a_young_token_is_not_retried_in_a_loop(token_apns, pki, p8_key) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    token_apns.clock = lambda: (clock() + timedelta(hours=2)).timestamp()  # a server (or our clock) far off
    tokens = ProviderTokens(p8_key, KID, TEAM_ID, now=clock)
    device = push_token()
    with client_for(token_apns, pki, tokens) as client:
        (outcome,) = client.send([device], MEMBER_PTID)
    assert (outcome.status, outcome.reason, outcome.kind) == (403, "ExpiredProviderToken", Outcome.FORBIDDEN)
    assert tokens.issued == 1 and len(token_apns.requests_for(device)) == 1  # a new token now would get 429


@pytest.mark.parametrize("kid, signer", [("ZZZ999ZZZZ", None), (KID, "other key")])
def test_unknown_kid_or_wrong_key_is_403_invalid_provider_token(token_apns, pki, p8_key, kid, signer) -> None:  # type: ignore[no-untyped-def]
    key = ec.generate_private_key(ec.SECP256R1()) if signer else p8_key
    tokens = ProviderTokens(key, kid, TEAM_ID)
    with client_for(token_apns, pki, tokens) as client:
        (outcome,) = client.send([push_token()], MEMBER_PTID)
        assert (outcome.status, outcome.reason) == (403, "InvalidProviderToken")
        assert client.last_forbidden is not None and client.last_forbidden[0] == "InvalidProviderToken"


def test_wrong_team_is_refused(token_apns, pki, p8_key) -> None:  # type: ignore[no-untyped-def]
    with client_for(token_apns, pki, ProviderTokens(p8_key, KID, "OTHERTEAM1")) as client:
        (outcome,) = client.send([push_token()], MEMBER_PTID)
    assert (outcome.status, outcome.reason) == (403, "InvalidProviderToken")


def test_refresh_interval_must_respect_apns_limits(p8_key) -> None:  # type: ignore[no-untyped-def]
    for seconds in (19 * 60, 60 * 60):
        with pytest.raises(ConfigurationError):
            ProviderTokens(p8_key, KID, TEAM_ID, refresh_seconds=seconds)
    with pytest.raises(ConfigurationError, match="key id"):
        ProviderTokens(p8_key, "short", TEAM_ID)


# -- through the whole pipeline: settings → bootstrap → worker → APNs ------------------------------------------

@pytest.fixture
def token_settings(tmp_path: Path, pki: TestPki, db_url: str, token_apns: FakeApns, p8_key) -> Settings:  # type: ignore[no-untyped-def]
    return Settings.for_tests(tmp_path, database_url=db_url, certs_dir=pki.certs_dir, apns_url=token_apns.url,
                              apns_ca_file=pki.tls_ca_file, apns_key_file=write_p8(tmp_path / "AuthKey.p8", p8_key),
                              apns_key_id=KID)


def _push_one(settings: Settings) -> tuple[str, object]:
    from api import create_app

    svc = bootstrap(settings)
    try:
        client = create_app(services=svc).test_client()
        member = make_member(svc, make_program(svc))
        phone = Device(client, settings.member_pass_type_id)
        assert phone.register(member["serial_number"], auth_token_of(client, member)).status_code == 201
        key = create_api_key(svc.uow(), svc.clock, svc.api_keys.hasher, "t", ["admin"])
        r = post(client, f"/api/v1/members/{member['id']}/transactions", {"Authorization": f"Bearer {key}"},
                 {"points": 5, "reason": "latte"})
        assert r.status_code == 201
        Worker(svc).run_once()
        return phone.token, client.get("/healthz").json
    finally:
        svc.close()


def test_a_points_change_reaches_apns_with_token_auth(token_settings, token_apns) -> None:  # type: ignore[no-untyped-def]
    device, health = _push_one(token_settings)
    (push,) = token_apns.requests_for(device)
    assert push.status == 200 and push.topic == MEMBER_PTID and push.headers["authorization"].startswith("bearer ")
    assert health["checks"][f"apns:{MEMBER_PTID}"]["status"] == "ok"


def test_a_bad_kid_is_recorded_as_failed_with_the_reason(token_settings, token_apns) -> None:  # type: ignore[no-untyped-def]
    device, health = _push_one(token_settings.replace(apns_key_id="WRONGKID00"))
    (push,) = token_apns.requests_for(device)
    assert (push.status, push.reason) == (403, "InvalidProviderToken")
    check = health["checks"][f"apns:{MEMBER_PTID}"]
    assert check["status"] == "degraded" and check["forbidden_reason"] == "InvalidProviderToken"
    assert "WALLETPASS_APNS_KEY" in check["detail"]
    assert health["status"] == "degraded"


def test_settings_need_the_key_id_with_the_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="APNS_KEY_ID"):
        Settings.from_env({"WALLETPASS_APNS_KEY_FILE": "AuthKey.p8"}, cwd=tmp_path)
    with pytest.raises(ConfigurationError, match="APNS_KEY_FILE"):
        Settings.from_env({"WALLETPASS_APNS_KEY_ID": KID}, cwd=tmp_path)
    s = Settings.from_env({"WALLETPASS_APNS_KEY_FILE": "AuthKey.p8", "WALLETPASS_APNS_KEY_ID": KID,
                           "WALLETPASS_APNS_TEAM_ID": "KEYTEAM001"}, cwd=tmp_path)
    assert s.apns_key_file == tmp_path / "AuthKey.p8" and s.apns_token_team_id == "KEYTEAM001"


def test_an_unusable_key_file_fails_at_startup(tmp_path: Path, pki: TestPki, db_url: str) -> None:
    rsa_key = write_p8(tmp_path / "rsa.p8", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    garbage = tmp_path / "garbage.p8"
    garbage.write_text("not a key")
    for path, words in ((rsa_key, "not an EC P-256 key"), (garbage, "not a .p8 private key"),
                        (tmp_path / "missing.p8", "cannot read the APNs key file")):
        settings = Settings.for_tests(tmp_path, database_url=db_url, certs_dir=pki.certs_dir, apns_key_file=path,
                                      apns_key_id=KID)
        with pytest.raises(CredentialError, match=words):
            bootstrap(settings)


@pytest.mark.slow
def test_cli_says_what_is_wrong_with_the_key_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "AuthKey.p8").write_text("-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END PRIVATE KEY-----\n")
    r = run_cli(tmp_path, "db", "upgrade", extra={"WALLETPASS_APNS_KEY_FILE": str(tmp_path / "AuthKey.p8"),
                                                   "WALLETPASS_APNS_KEY_ID": KID})
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.strip().count("\n") == 0, r.stderr
    assert "APNs key file" in r.stderr and "Traceback" not in r.stderr
