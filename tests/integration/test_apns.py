"""The real ApnsClient (HTTP/2 over TLS with a client certificate) against FakeApns on loopback."""

from __future__ import annotations

import logging
import random
import socket
import ssl
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from tests.fakes.apns_server import FakeApns
from tests.helpers import renew_identity
from tests.pki import COUPON_PTID, MEMBER_PTID, TEAM_ID
from tests.pki import TestPki as Pki  # aliased: pytest would try to collect a Test* name
from walletpass import devpki
from walletpass.errors import ConfigurationError, CredentialError, PushUnavailable
from walletpass.push.apns import ApnsClient
from walletpass.push.policy import Outcome


def tok(i: int) -> str:
    return f"{i:064x}"


@pytest.fixture
def apns(pki: Pki) -> Iterator[FakeApns]:
    with FakeApns(pki) as server:
        yield server


@pytest.fixture
def client(apns: FakeApns, pki: Pki) -> Iterator[ApnsClient]:
    with ApnsClient(apns.url, pki.cert(), pki.key(), ca_file=pki.tls_ca_file, timeout=5) as c:
        yield c


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_a_push_is_a_background_post_of_an_empty_dict_with_the_pass_type_topic(apns: FakeApns,
                                                                               client: ApnsClient) -> None:
    [outcome] = client.send([tok(1)], MEMBER_PTID)

    assert (outcome.token, outcome.status, outcome.kind) == (tok(1), 200, Outcome.OK)
    [push] = apns.pushes
    assert outcome.apns_id == push.apns_id
    assert push.headers[":method"] == "POST"
    assert push.headers[":path"] == f"/3/device/{tok(1)}"
    assert push.headers["apns-topic"] == MEMBER_PTID
    assert push.headers["apns-push-type"] == "background"
    assert push.headers["apns-priority"] == "5"
    assert "apns-expiration" not in push.headers
    assert push.body == b"{}"
    assert client.counters["ok"] == 1


def test_expiration_header_is_sent_when_asked(apns: FakeApns, client: ApnsClient) -> None:
    client.send([tok(1)], MEMBER_PTID, expiration=0)
    assert apns.pushes[0].headers["apns-expiration"] == "0"


def test_410_and_bad_device_token_mean_unregistered(apns: FakeApns, client: ApnsClient,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    apns.script(tok(1), [410])
    apns.script(tok(2), [(410, "ExpiredToken")])
    apns.script(tok(3), [400])  # BadDeviceToken
    caplog.set_level(logging.DEBUG, logger="walletpass.push")

    out = client.send([tok(1), tok(2), tok(3), tok(4)], MEMBER_PTID)

    assert [(o.status, o.reason, o.kind) for o in out] == [
        (410, "Unregistered", Outcome.UNREGISTERED),
        (410, "ExpiredToken", Outcome.UNREGISTERED),
        (400, "BadDeviceToken", Outcome.UNREGISTERED),
        (200, "", Outcome.OK),
    ]
    assert out[0].timestamp is not None and out[0].timestamp > 1_600_000_000_000
    assert client.counters["unregistered"] == 3
    assert "unregistered" in caplog.text.lower() or "no longer valid" in caplog.text
    assert tok(1) not in caplog.text  # device tokens are never logged in full


def test_a_non_hex_token_stays_one_path_segment(apns: FakeApns, client: ApnsClient) -> None:
    [outcome] = client.send(["not/a token"], MEMBER_PTID)
    assert (outcome.status, outcome.reason, outcome.kind) == (400, "BadDeviceToken", Outcome.UNREGISTERED)
    assert apns.pushes[0].headers[":path"] == "/3/device/not%2Fa%20token"


def test_429_500_and_503_are_retried_with_backoff_until_they_succeed(apns: FakeApns, client: ApnsClient) -> None:
    apns.script(tok(1), [429, 200])
    apns.script(tok(2), [500, 500, 200])
    apns.script(tok(3), [503])
    sleeps = Sleeps()

    out = client.send_with_retry([tok(1), tok(2), tok(3), tok(4)], MEMBER_PTID, max_attempts=4,
                                 sleep=sleeps, rng=random.Random(3), base=0.1, cap=1.0)

    assert [o.status for o in out] == [200, 200, 200, 200]
    assert Counter(p.token for p in apns.pushes) == {tok(1): 2, tok(2): 3, tok(3): 2, tok(4): 1}
    assert len(sleeps.calls) == 2  # two retry rounds, each batch waits once
    assert 0.05 <= sleeps.calls[0] <= 0.1 and 0.1 <= sleeps.calls[1] <= 0.2
    assert client.counters["retry"] == 4 and client.counters["ok"] == 4


def test_a_503_is_retried_on_a_new_connection(apns: FakeApns, client: ApnsClient) -> None:
    apns.script(tok(1), [(503, "Shutdown"), 200])
    out = client.send_with_retry([tok(1)], MEMBER_PTID, sleep=Sleeps(), rng=random.Random(0))
    assert out[0].status == 200
    assert [p.connection for p in apns.requests_for(tok(1))] == [1, 2]


def test_retries_stop_at_max_attempts(apns: FakeApns, client: ApnsClient) -> None:
    apns.script(tok(1), [503] * 10)
    out = client.send_with_retry([tok(1)], MEMBER_PTID, max_attempts=3, sleep=Sleeps(), rng=random.Random(0))
    assert (out[0].status, out[0].kind) == (503, Outcome.RETRY)
    assert len(apns.requests_for(tok(1))) == 3


def test_403_never_loops_and_is_kept_for_health(apns: FakeApns, client: ApnsClient) -> None:
    tokens = [tok(i) for i in range(5)]
    for t in tokens:
        apns.script(t, [403] * 10)
    sleeps = Sleeps()

    out = client.send_with_retry(tokens, MEMBER_PTID, max_attempts=5, sleep=sleeps, rng=random.Random(0))

    assert {(o.status, o.reason, o.kind) for o in out} == {(403, "BadCertificate", Outcome.FORBIDDEN)}
    assert Counter(p.token for p in apns.pushes) == {t: 1 for t in tokens}  # exactly one request per token
    assert sleeps.calls == []
    assert client.last_forbidden is not None and client.last_forbidden[0] == "BadCertificate"
    assert isinstance(client.last_forbidden[1], datetime)


def test_topic_other_than_the_certificate_uid_is_a_configuration_error(apns: FakeApns, client: ApnsClient) -> None:
    sleeps = Sleeps()
    out = client.send_with_retry([tok(1)], COUPON_PTID, sleep=sleeps, rng=random.Random(0))
    assert (out[0].status, out[0].reason, out[0].kind) == (400, "BadTopic", Outcome.ERROR)
    assert len(apns.pushes) == 1 and sleeps.calls == []
    assert client.last_error is not None and client.last_error[0] == "400 BadTopic"


def test_each_pass_type_client_uses_its_own_certificate(apns: FakeApns, pki: Pki) -> None:
    with ApnsClient(apns.url, pki.cert(COUPON_PTID), pki.key(COUPON_PTID), ca_file=pki.tls_ca_file) as coupon:
        assert coupon.send([tok(1)], COUPON_PTID)[0].status == 200
    assert apns.pushes[0].topic == COUPON_PTID


@pytest.fixture(scope="module")
def foreign_identity(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A pass type certificate of the right shape, issued by an unrelated CA."""
    now = datetime.now(UTC)
    other = devpki.make_pass_type_cert(devpki.make_wwdr(devpki.make_root(now), now), MEMBER_PTID, TEAM_ID, now)
    folder = tmp_path_factory.mktemp("foreign")
    (folder / "c.pem").write_bytes(other.cert_pem)
    (folder / "c.key").write_bytes(other.key_pem)
    return folder / "c.pem", folder / "c.key"


def test_a_client_certificate_from_another_ca_is_refused_at_the_handshake(
        apns: FakeApns, pki: Pki, foreign_identity: tuple[Path, Path]) -> None:
    cert, key = foreign_identity
    with ApnsClient(apns.url, cert, key, ca_file=pki.tls_ca_file) as stranger, \
            pytest.raises(PushUnavailable) as info:
        stranger.send([tok(1), tok(2)], MEMBER_PTID)
    assert isinstance(info.value.__cause__, ssl.SSLError)  # the TLS layer's own error, chained
    assert apns.wait_until(lambda: apns.rejected_handshakes >= 1)
    assert apns.connections == 0 and apns.pushes == []


def test_the_fake_refuses_a_client_without_certificate(apns: FakeApns, pki: Pki) -> None:
    ctx = ssl.create_default_context(cafile=str(pki.tls_ca_file))
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", apns.port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls, pytest.raises((ssl.SSLError, OSError)):
        tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        tls.recv(100)
    assert apns.wait_until(lambda: apns.rejected_handshakes == 1)
    assert apns.connections == 0


def test_an_unreachable_server_is_push_unavailable(pki: Pki) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        with ApnsClient(f"https://127.0.0.1:{port}", pki.cert(), pki.key(), ca_file=pki.tls_ca_file) as c, \
                pytest.raises(PushUnavailable, match="no answer from APNs"):
            c.send([tok(1)], MEMBER_PTID)


def test_an_encrypted_key_needs_its_password(apns: FakeApns, pki: Pki, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(pki.key().read_bytes(), None)
    encrypted = tmp_path / "enc.key"
    encrypted.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.BestAvailableEncryption(b"s3cret")))
    with ApnsClient(apns.url, pki.cert(), encrypted, "s3cret", pki.tls_ca_file) as good:
        assert good.send([tok(1)], MEMBER_PTID)[0].status == 200
    with ApnsClient(apns.url, pki.cert(), encrypted, "wrong", pki.tls_ca_file) as bad, \
            pytest.raises(CredentialError):
        bad.send([tok(1)], MEMBER_PTID)


def test_bad_construction_arguments_are_rejected(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        ApnsClient("http://127.0.0.1:1", pki.cert(), pki.key())
    with pytest.raises(CredentialError):
        ApnsClient("https://127.0.0.1:1", tmp_path / "missing.pem", pki.key())


def test_a_closed_client_refuses_to_send(client: ApnsClient) -> None:
    client.close()
    with pytest.raises(PushUnavailable):
        client.send([tok(1)], MEMBER_PTID)


def test_2000_pushes_travel_concurrently_over_one_connection(apns: FakeApns, pki: Pki) -> None:
    tokens = [tok(i) for i in range(2000)]
    # The client keeps max_streams (500) requests in flight, so each one waits for up to 500 answers of the fake,
    # which is pure Python (h2 + hpack: ~1-3 ms of CPU per request). On a loaded machine it answers 100-200 a
    # second, the 500th request in flight waits 3-5 s, and the 5 s timeout of the shared fixture turned some into
    # timeouts (status 0): the flakiness. The budget here is the fake's, not APNs': 60 s per request.
    with ApnsClient(apns.url, pki.cert(), pki.key(), ca_file=pki.tls_ca_file, timeout=60) as client:
        out = client.send(tokens, MEMBER_PTID)

        assert [o.token for o in out] == tokens and {o.status for o in out} == {200}
        assert apns.connections == 1 and client.counters["connects"] == 1
        assert sorted(apns.delivered()) == sorted(tokens)
        assert len({p.stream_id for p in apns.pushes}) == 2000
        # concurrently: many requests were on the wire before any of them was answered (~160: a TLS record's worth)
        assert apns.most_requests_per_read >= 50, apns.most_requests_per_read
        # the connection stays open for the next call
        client.send(tokens[:10], MEMBER_PTID)
        assert apns.connections == 1


def test_goaway_mid_batch_reconnects_and_delivers_the_rest(apns: FakeApns, client: ApnsClient) -> None:
    tokens = [tok(i) for i in range(2000)]
    apns.goaway_after(500)

    out = client.send_with_retry(tokens, MEMBER_PTID, sleep=Sleeps(), rng=random.Random(0))

    assert {o.status for o in out} == {200}
    assert apns.connections == 2
    assert set(apns.delivered()) == set(tokens)
    assert Counter(p.connection for p in apns.pushes)[1] == 500


def test_requests_a_goaway_left_unprocessed_go_out_again_within_the_same_call(apns: FakeApns,
                                                                              client: ApnsClient) -> None:
    tokens = [tok(i) for i in range(1200)]
    apns.goaway_after(300)

    out = client.send(tokens, MEMBER_PTID)

    assert [o.token for o in out] == tokens and {o.status for o in out} == {200}
    assert apns.connections == 2 and client.counters["connects"] == 2
    assert Counter(p.token for p in apns.pushes) == Counter(tokens)  # each exactly once


def test_answers_in_the_rarer_frame_shapes_are_read(apns: FakeApns, client: ApnsClient) -> None:
    # padded DATA, a 100 before the answer, CONTINUATION frames, and a PING before each
    apns.framing(padding=9, interim=True, filler=40_000, ping=True)
    apns.script(tok(2), [410])
    apns.script(tok(3), [(429, "TooManyRequests")])

    out = client.send([tok(1), tok(2), tok(3)], MEMBER_PTID)

    assert [(o.status, o.reason) for o in out] == [(200, ""), (410, "Unregistered"), (429, "TooManyRequests")]
    assert out[1].timestamp is not None
    assert apns.wait_until(lambda: apns.ping_acks == 3)
    assert client.send([tok(4)], MEMBER_PTID)[0].status == 200 and apns.connections == 1


def test_a_reset_stream_is_a_retry_and_the_others_are_answered(apns: FakeApns, client: ApnsClient) -> None:
    apns.script(tok(2), [0])  # RST_STREAM instead of an answer

    out = client.send([tok(1), tok(2), tok(3)], MEMBER_PTID)

    assert [o.status for o in out] == [200, 0, 200]
    assert out[1].kind is Outcome.RETRY and "reset" in out[1].reason
    assert apns.connections == 1


def test_a_server_that_stops_answering_times_out_and_leaves_the_rest_to_a_retry(apns: FakeApns, pki: Pki) -> None:
    apns.hold_after(2)
    with ApnsClient(apns.url, pki.cert(), pki.key(), ca_file=pki.tls_ca_file, max_streams=3, timeout=0.5) as c:
        out = c.send([tok(i) for i in range(6)], MEMBER_PTID)
        # the unanswered requests fail with a timeout; those not yet sent are not sent into the silence
        assert [o.status for o in out] == [200, 200, 0, 0, 0, 0]
        assert all(o.kind is Outcome.RETRY for o in out[2:])
        assert len(apns.pushes) == 2 and apns.held <= 4
        apns.release()
        assert c.send([tok(9)], MEMBER_PTID)[0].status == 200  # on a new connection
        assert apns.connections == 2


def test_a_connection_closed_between_calls_is_reopened(apns: FakeApns, client: ApnsClient) -> None:
    client.send([tok(1)], MEMBER_PTID)
    apns.goaway()
    assert apns.wait_until(lambda: apns.open_connections == 0)
    out = client.send_with_retry([tok(2), tok(3)], MEMBER_PTID, sleep=Sleeps(), rng=random.Random(0))
    assert [o.status for o in out] == [200, 200]
    assert apns.connections == 2


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "answer"),
    [
        ("POST", f"/3/device/{tok(1)}", {"apns-priority": "10"}, b"{}", (400, "BadPriority")),
        ("POST", f"/3/device/{tok(1)}", {"apns-push-type": "alert"}, b"{}", (400, "InvalidPushType")),
        ("POST", f"/3/device/{tok(1)}", {"apns-topic": ""}, b"{}", (400, "MissingTopic")),
        ("POST", f"/3/device/{tok(1)}", {}, b'{"aps":{}}', (400, "BadPayload")),
        ("POST", f"/3/device/{tok(1)}", {"apns-id": "nope"}, b"{}", (400, "BadMessageId")),
        ("GET", f"/3/device/{tok(1)}", {}, b"", (405, "MethodNotAllowed")),
        ("POST", "/2/device/ab", {}, b"{}", (404, "BadPath")),
    ],
)
def test_the_fake_checks_requests_like_apns(apns: FakeApns, pki: Pki, method: str, path: str,
                                            headers: dict[str, str], body: bytes, answer: tuple[int, str]) -> None:
    ctx = ssl.create_default_context(cafile=str(pki.tls_ca_file))
    ctx.load_cert_chain(str(pki.cert()), str(pki.key()))
    sent = {"apns-topic": MEMBER_PTID, "apns-push-type": "background", "apns-priority": "5"} | headers
    with httpx.Client(http2=True, verify=ctx) as raw:
        response = raw.request(method, apns.url + path, headers=sent, content=body)
    assert response.http_version == "HTTP/2"
    assert (response.status_code, response.json()["reason"]) == answer
    assert response.headers["apns-id"]


# -- a refused certificate: close, fix, reconnect (apple.md §4) ------------------------------------------------
def _own_identity(pki: Pki, folder: Path) -> tuple[Path, Path]:
    """A copy of the member pass type certificate and key that a test may replace."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / f"{MEMBER_PTID}.pem", folder / f"{MEMBER_PTID}.key"
    cert.write_bytes(pki.cert().read_bytes())
    key.write_bytes(pki.key().read_bytes())
    return cert, key


def test_a_403_closes_the_connection_and_the_next_send_opens_a_new_one(apns: FakeApns, client: ApnsClient) -> None:
    apns.script(tok(1), [403])

    [refused] = client.send([tok(1)], MEMBER_PTID)
    [accepted] = client.send([tok(1)], MEMBER_PTID)

    assert (refused.status, accepted.status) == (403, 200)
    assert [p.connection for p in apns.requests_for(tok(1))] == [1, 2]
    assert client.last_forbidden is None  # an accepted push clears this process's note of the 403


def test_a_revoked_certificate_replaced_on_disk_is_used_without_a_restart(apns: FakeApns, pki: Pki,
                                                                           tmp_path: Path) -> None:
    cert, key = _own_identity(pki, tmp_path / "certs")
    apns.refuse_certificate(cert)  # Apple revoked it: every push on its connections is 403 BadCertificate
    with ApnsClient(apns.url, cert, key, ca_file=pki.tls_ca_file, timeout=5) as c:
        assert [o.status for o in c.send([tok(1), tok(2)], MEMBER_PTID)] == [403, 403]
        assert c.last_forbidden is not None and c.last_forbidden[0] == "BadCertificate"

        renew_identity(pki, cert, key)
        out = c.send([tok(1), tok(2)], MEMBER_PTID)

    assert [o.status for o in out] == [200, 200]
    assert [p.connection for p in apns.requests_for(tok(1))] == [1, 2]
    assert c.last_forbidden is None


def test_certificate_files_replaced_before_they_expire_are_picked_up_by_a_new_connection(
        apns: FakeApns, pki: Pki, tmp_path: Path) -> None:
    cert, key = _own_identity(pki, tmp_path / "certs")
    with ApnsClient(apns.url, cert, key, ca_file=pki.tls_ca_file, timeout=5) as c:
        assert c.send([tok(1)], MEMBER_PTID)[0].status == 200
        assert c.send([tok(2)], MEMBER_PTID)[0].status == 200  # same files: the connection is kept
        apns.refuse_certificate(cert)  # from now on the old certificate would be refused
        renew_identity(pki, cert, key)
        assert c.send([tok(3)], MEMBER_PTID)[0].status == 200

    assert [p.connection for p in apns.pushes] == [1, 1, 2]
