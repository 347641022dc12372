"""Callback verification with a locally made ECv2SigningOnly key chain, root keys served over HTTP."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes.google_server import FakeGoogle
from tests.pki import TestPki
from walletpass.errors import GoogleApiError, MalformedRequest, Unauthorized
from walletpass.google.callbacks import CallbackRejected, CallbackVerifier, HttpKeyFetcher, lv

ISSUER = "3388000000022222222"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROOT = ec.generate_private_key(ec.SECP256R1())
OTHER_ROOT = ec.generate_private_key(ec.SECP256R1())


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def der(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> str:
    return b64(key.sign(data, ec.ECDSA(hashes.SHA256())))


def keys_doc(*roots: tuple[ec.EllipticCurvePrivateKey, datetime]) -> dict:
    return {"keys": [{"keyValue": b64(der(k)), "protocolVersion": "ECv2SigningOnly", "keyExpiration": str(ms(exp))}
                     for k, exp in roots]}


def callback(*, event: str = "save", exp: datetime = NOW + timedelta(minutes=5), root=ROOT,
             key_exp: datetime = NOW + timedelta(days=7), recipient: str = ISSUER, class_issuer: str = ISSUER,
             protocol: str = "ECv2SigningOnly", tamper: bool = False) -> bytes:
    inter = ec.generate_private_key(ec.SECP256R1())
    signed_key = json.dumps({"keyValue": b64(der(inter)), "keyExpiration": str(ms(key_exp))})
    message = json.dumps({"classId": f"{class_issuer}.program-7", "objectId": f"{class_issuer}.M-0001",
                          "eventType": event, "expTimeMillis": ms(exp), "count": 1, "nonce": "40a8e5af-1"})
    key_sig = sign(root, lv("GooglePayPasses") + lv("ECv2SigningOnly") + lv(signed_key))
    msg_sig = sign(inter, lv("GooglePayPasses") + lv(recipient) + lv("ECv2SigningOnly") + lv(message))
    if tamper:
        message = message.replace("save", "del")
    return json.dumps({"signature": msg_sig, "intermediateSigningKey": {"signedKey": signed_key,
                                                                          "signatures": [key_sig]},
                       "protocolVersion": protocol, "signedMessage": message}).encode()


@pytest.fixture
def google(pki: TestPki) -> Iterator[FakeGoogle]:
    with FakeGoogle(pki.certs_dir / "google-service-account.json") as server:
        server.set_callback_keys(keys_doc((OTHER_ROOT, NOW + timedelta(days=30)), (ROOT, NOW + timedelta(days=10))))
        yield server


@pytest.fixture
def verifier(google: FakeGoogle) -> CallbackVerifier:
    return CallbackVerifier(ISSUER, HttpKeyFetcher(google.keys_url, timeout=5))


def test_good_callbacks_verify_and_keys_are_fetched_once(google: FakeGoogle, verifier: CallbackVerifier) -> None:
    event = verifier.verify(callback(), NOW)
    assert (event.class_id, event.object_id, event.event_type, event.nonce) == (
        f"{ISSUER}.program-7", f"{ISSUER}.M-0001", "save", "40a8e5af-1")
    assert event.exp == NOW + timedelta(minutes=5)
    assert verifier.verify(callback(event="del").decode(), NOW + timedelta(minutes=1)).event_type == "del"
    assert google.keys_fetches == 1


def test_keys_are_refetched_after_the_earliest_expiry(google: FakeGoogle, verifier: CallbackVerifier) -> None:
    verifier.verify(callback(), NOW)
    later = NOW + timedelta(days=11)  # ROOT expired at +10 d: refetch; the document now has a fresh ROOT
    google.set_callback_keys(keys_doc((ROOT, NOW + timedelta(days=40))))
    verifier.verify(callback(exp=later + timedelta(minutes=1), key_exp=later + timedelta(days=1)), later)
    assert google.keys_fetches == 2


@pytest.mark.parametrize(("body", "why"), [
    (lambda: callback(tamper=True), "message signature"),
    (lambda: callback(exp=NOW - timedelta(seconds=1)), "message has expired"),
    (lambda: callback(key_exp=NOW - timedelta(seconds=1)), "intermediate signing key has expired"),
    (lambda: callback(class_issuer="3388000000099999999"), "another issuer"),
    (lambda: callback(recipient="3388000000099999999"), "message signature"),
    (lambda: callback(root=ec.generate_private_key(ec.SECP256R1())), "no Google root key"),
    (lambda: callback(protocol="ECv1"), "protocolVersion"),
])
def test_bad_callbacks_are_rejected(verifier: CallbackVerifier, body, why: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CallbackRejected, match=why) as err:
        verifier.verify(body(), NOW)
    assert isinstance(err.value, Unauthorized)


def _edit(change) -> bytes:  # type: ignore[no-untyped-def]
    doc = json.loads(callback())
    change(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize("body", [
    b"not json",
    b"[1, 2]",
    b"\xff\xfe",
    _edit(lambda d: d.update(signature="%%%not base64%%%")),
    _edit(lambda d: d.pop("signedMessage")),
    _edit(lambda d: d.update(signedMessage=42)),
    _edit(lambda d: d.update(signedMessage="{not json")),
    _edit(lambda d: d["intermediateSigningKey"].update(signatures=[])),
    _edit(lambda d: d["intermediateSigningKey"].update(signatures=["***"])),
    _edit(lambda d: d["intermediateSigningKey"].update(signedKey='{"keyValue": 5}')),
    _edit(lambda d: d.update(signedMessage=json.dumps({"classId": "a", "objectId": "b", "eventType": "save",
                                                        "nonce": "n", "expTimeMillis": "soon"}))),
    # found by fuzzing: each was a 500 (deep nesting; '²'.isdigit() but int('²') fails; int() refuses 5,000
    # digits; a lone surrogate has no UTF-8 form to verify a signature over)
    b"[" * 5000,
    _edit(lambda d: d["intermediateSigningKey"].update(signedKey=json.dumps({"keyValue": "AA==",
                                                                             "keyExpiration": "²"}))),
    _edit(lambda d: d["intermediateSigningKey"].update(signedKey=json.dumps({"keyValue": "AA==",
                                                                             "keyExpiration": "1" * 5000}))),
    _edit(lambda d: d["intermediateSigningKey"].update(signedKey=d["intermediateSigningKey"]["signedKey"][:-1]
                                                        + ', "x": "\ud800"}')),
])
def test_malformed_callbacks_are_400(verifier: CallbackVerifier, google: FakeGoogle, body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        verifier.verify(body, NOW)
    assert google.keys_fetches == 0  # rejected before any network call


def test_unreachable_or_bad_keys_are_remote_errors(google: FakeGoogle) -> None:
    with pytest.raises(GoogleApiError):
        CallbackVerifier(ISSUER, HttpKeyFetcher(google.url + "/nope")).verify(callback(), NOW)
    google.set_callback_keys({"keys": [{"keyValue": "@@", "protocolVersion": "ECv2SigningOnly"}]})
    with pytest.raises(GoogleApiError):
        CallbackVerifier(ISSUER, HttpKeyFetcher(google.keys_url)).verify(callback(), NOW)


def test_an_answer_without_usable_keys_is_retried_soon(google: FakeGoogle, verifier: CallbackVerifier) -> None:
    google.set_callback_keys(keys_doc((ROOT, NOW - timedelta(days=1))))  # only an expired key
    with pytest.raises(GoogleApiError):
        verifier.verify(callback(), NOW)
    google.set_callback_keys(keys_doc((ROOT, NOW + timedelta(days=1))))
    with pytest.raises(GoogleApiError):
        verifier.verify(callback(), NOW + timedelta(seconds=30))  # still within the retry pause
    assert verifier.verify(callback(), NOW + timedelta(minutes=2)).event_type == "save"
    assert google.keys_fetches == 2
