"""GoogleWalletClient against the local fake Google (real HTTP, real OAuth JWT-bearer, discovery validation)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fakes.google_server import FakeGoogle
from tests.pki import TestPki
from walletpass.config import Settings
from walletpass.domain.members import Member
from walletpass.domain.passes import MEMBER_CARD, PassRef
from walletpass.domain.programs import Program
from walletpass.errors import GoogleApiError
from walletpass.google import objects
from walletpass.google.client import GoogleWalletClient, RetryPolicy

ISSUER = "3388000000022222222"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PROGRAM = Program(7, "Morning Light Rewards", "Morning Light", locales=("en", "zh-Hant"),
                  texts={"zh-Hant": {"name": "晨光會員卡"}})
LOGO = {"logo": "https://cdn.example/assets/programs/7/logo.png"}
FAST = RetryPolicy(attempts=4, base=0.01, cap=0.05)


@pytest.fixture
def google(pki: TestPki) -> Iterator[FakeGoogle]:
    with FakeGoogle(pki.certs_dir / "google-service-account.json") as server:
        yield server


def make_client(google: FakeGoogle, pki: TestPki, tmp_path: Path, rate: float = 0) -> GoogleWalletClient:
    settings = Settings.for_tests(tmp_path, certs_dir=pki.certs_dir, google_api_url=google.url,
                                  google_token_url=google.token_url, google_rate_limit=rate,
                                  google_issuer_id=ISSUER)
    return GoogleWalletClient.from_settings(settings, retry=FAST)


@pytest.fixture
def client(google: FakeGoogle, pki: TestPki, tmp_path: Path) -> Iterator[GoogleWalletClient]:
    with make_client(google, pki, tmp_path) as c:
        yield c


def member_pass(points: int = 100, serial: str = "M-0001") -> tuple[dict, dict]:
    ref = PassRef(serial, "pass.dev.walletpass.member", "tok", MEMBER_CARD, 1, NOW)
    member = Member(1, 7, "Lin Mei", "ML-000123", points=points, tier=None)
    return (objects.loyalty_class(PROGRAM, issuer_id=ISSUER, images=LOGO),
            objects.loyalty_object(PROGRAM, member, ref, issuer_id=ISSUER))


def test_insert_get_and_token_reuse(google: FakeGoogle, client: GoogleWalletClient) -> None:
    cls, obj = member_pass()
    assert client.insert_class("loyalty", cls)["reviewStatus"] == "APPROVED"
    assert client.insert_object("loyalty", obj)["loyaltyPoints"]["balance"] == {"int": 100}
    assert client.get_object("loyalty", obj["id"])["id"] == obj["id"]
    assert client.get_class("loyalty", cls["id"])["programName"] == "Morning Light Rewards"
    assert google.tokens_issued == 1 and google.token_errors == []
    api = google.api_requests()
    assert [r.method for r in api] == ["POST", "POST", "GET", "GET"]
    assert len({r.client_port for r in api}) == 1  # one kept-alive connection


def test_duplicate_insert_gets_then_patches(google: FakeGoogle, client: GoogleWalletClient) -> None:
    cls, obj = member_pass()
    client.insert_class("loyalty", cls)
    client.insert_object("loyalty", obj)
    _, changed = member_pass(points=250)
    answer = client.insert_object("loyalty", changed)
    assert answer["loyaltyPoints"]["balance"] == {"int": 250}
    assert [(r.method, r.status) for r in google.api_requests()[2:]] == [("POST", 409), ("GET", 200), ("PATCH", 200)]
    client.insert_class("loyalty", cls)  # unchanged (Google says APPROVED, we send UNDER_REVIEW): no PATCH
    assert [r.method for r in google.api_requests()[5:]] == ["POST", "GET"]


def test_patch_with_notify_preference_and_expire(google: FakeGoogle, client: GoogleWalletClient) -> None:
    cls, obj = member_pass()
    client.insert_class("loyalty", cls)
    client.insert_object("loyalty", obj)
    _, changed = member_pass(points=1250)
    patch = {"loyaltyPoints": changed["loyaltyPoints"]}
    answer = client.patch_object("loyalty", obj["id"], patch, notify=True)
    assert answer["loyaltyPoints"]["balance"] == {"int": 1250}
    sent = google.api_requests("PATCH")[-1].body
    assert sent == {**patch, "notifyPreference": "NOTIFY_ON_UPDATE"}
    client.patch_object("loyalty", obj["id"], patch)
    assert "notifyPreference" not in google.api_requests("PATCH")[-1].body
    assert client.expire_object("loyalty", obj["id"])["state"] == "EXPIRED"
    assert google.store[("loyaltyObject", obj["id"])]["state"] == "EXPIRED"


def test_fourth_notifying_message_goes_as_text(google: FakeGoogle, client: GoogleWalletClient) -> None:
    cls, obj = member_pass()
    client.insert_class("loyalty", cls)
    client.insert_object("loyalty", obj)
    sent_at: list[datetime] = []
    for i in range(4):
        now = NOW + timedelta(minutes=i)
        notify = objects.message_type_for(sent_at, now) == "TEXT_AND_NOTIFY"
        client.add_message("loyalty", obj["id"], f"News {i}", "20% off this week", notify, message_id=f"m{i}")
        if notify:
            sent_at.append(now)
    types = [r.body["message"]["messageType"] for r in google.api_requests("POST")[-4:]]
    assert types == ["TEXT_AND_NOTIFY"] * 3 + ["TEXT"]
    assert all(r.status == 200 for r in google.api_requests())
    assert google.notify_count(obj["id"]) == 3
    assert len(google.store[("loyaltyObject", obj["id"])]["messages"]) == 4
    # Had we ignored the policy, Google's quota answer is final (not retried) and keeps Google's words.
    with pytest.raises(GoogleApiError) as err:
        client.add_message("loyalty", obj["id"], "Too many", "buzz", True)
    assert (err.value.status, err.value.reason) == (429, "quotaExceeded")
    assert "QuotaExceededException" in err.value.detail
    assert google.api_requests()[-1].status == 429 and google.api_requests()[-2].status == 200


def test_429_and_500_are_retried(google: FakeGoogle, client: GoogleWalletClient) -> None:
    cls, _ = member_pass()
    google.fail_next(429, times=2)
    google.fail_next(503)
    client.insert_class("loyalty", cls)
    assert [r.status for r in google.api_requests()] == [429, 429, 503, 200]


def test_retries_are_bounded(google: FakeGoogle, client: GoogleWalletClient) -> None:
    google.fail_next(500, times=10)
    with pytest.raises(GoogleApiError) as err:
        client.get_class("loyalty", f"{ISSUER}.program-7")
    assert err.value.status == 500 and err.value.reason == "backendError"
    assert len(google.api_requests()) == FAST.attempts


def test_rejected_body_keeps_googles_message(google: FakeGoogle, client: GoogleWalletClient) -> None:
    cls, obj = member_pass()
    client.insert_class("loyalty", cls)
    with pytest.raises(GoogleApiError) as err:
        client.insert_object("loyalty", {**obj, "hexBackgroundColor": "#000000"})  # class-level field only
    assert err.value.status == 400 and err.value.reason == "invalid"
    assert err.value.detail.startswith("Request contains an invalid argument.")
    assert "hexBackgroundColor" in err.value.detail
    with pytest.raises(GoogleApiError) as err:
        client.patch_object("loyalty", obj["id"], {"state": "ACTIVE"})
    assert err.value.status == 404 and err.value.detail == f"Wallet Object {obj['id']} not found."
    with pytest.raises(GoogleApiError) as err:
        client.insert_object("loyalty", {**obj, "barcode": {"type": "QRCODE", "value": "x"}})
    assert err.value.status == 400


def test_offer_flow(google: FakeGoogle, client: GoogleWalletClient) -> None:
    from walletpass.domain.offers import Coupon, Offer
    offer = Offer(3, 7, "Free coffee", valid_until=NOW + timedelta(days=3))
    ref = PassRef("C-9", "pass.dev.walletpass.coupon", "tok", "coupon", 1, NOW)
    client.insert_class("offer", objects.offer_class(offer, PROGRAM, issuer_id=ISSUER, images=LOGO))
    obj = objects.offer_object(Coupon(9, 3, "CPN-1"), offer, ref, issuer_id=ISSUER, now=NOW)
    assert client.insert_object("offer", obj)["state"] == "ACTIVE"
    redeemed = objects.offer_object(Coupon(9, 3, "CPN-1", state="redeemed"), offer, ref, issuer_id=ISSUER, now=NOW)
    assert client.patch_object("offer", obj["id"], {"state": redeemed["state"]})["state"] == "COMPLETED"


def test_rate_limit_paces_requests(google: FakeGoogle, pki: TestPki, tmp_path: Path) -> None:
    with make_client(google, pki, tmp_path, rate=40) as client:
        start = time.monotonic()
        for _ in range(12):
            with pytest.raises(GoogleApiError):
                client.get_object("loyalty", f"{ISSUER}.missing")
        elapsed = time.monotonic() - start
    assert elapsed >= 11 / 40 * 0.9
    stamps = [r.at for r in google.api_requests()]
    # never more than rate × window (+1 for the burst, +1 for arrival jitter) in any 0.25 s window
    assert max(sum(1 for u in stamps if t <= u < t + 0.25) for t in stamps) <= 0.25 * 40 + 2


def test_bad_token_endpoint_answer_is_a_google_api_error(google: FakeGoogle, pki: TestPki, tmp_path: Path) -> None:
    info = json.loads((pki.certs_dir / "google-service-account.json").read_text())
    settings = Settings.for_tests(tmp_path, certs_dir=pki.certs_dir, google_api_url=google.url,
                                  google_token_url=google.url + "/nope")
    with GoogleWalletClient(settings, info, retry=FAST) as client, pytest.raises(GoogleApiError) as err:
        client.get_class("loyalty", f"{ISSUER}.program-7")
    assert err.value.reason == "token_refresh_failed"


def test_revoked_token_is_refreshed_once(google: FakeGoogle, client: GoogleWalletClient) -> None:
    cls, _ = member_pass()
    client.insert_class("loyalty", cls)
    google.revoke_tokens()
    assert client.get_class("loyalty", cls["id"])["id"] == cls["id"]
    assert google.tokens_issued == 2
    assert [r.status for r in google.api_requests()] == [200, 401, 200]


def test_unreachable_api_is_a_google_api_error(google: FakeGoogle, pki: TestPki, tmp_path: Path) -> None:
    info = json.loads((pki.certs_dir / "google-service-account.json").read_text())
    settings = Settings.for_tests(tmp_path, certs_dir=pki.certs_dir, google_api_url="http://127.0.0.1:1",
                                  google_token_url=google.token_url, google_rate_limit=0)
    with GoogleWalletClient(settings, info, retry=FAST) as client, pytest.raises(GoogleApiError) as err:
        client.get_class("loyalty", f"{ISSUER}.program-7")
    assert err.value.reason == "unreachable" and err.value.status == 0


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return str(parts.hostname), parts.port or (443 if parts.scheme == "https" else 80)


def test_only_the_configured_urls_are_contacted(google: FakeGoogle, client: GoogleWalletClient,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Token refreshes and API calls reach the configured token and API URLs and nothing else.

    google-auth's ``Credentials.before_request`` (what ``AuthorizedSession`` calls) also starts a background
    "Regional Access Boundary" lookup at iamcredentials.googleapis.com, which no setting turns off; the client
    only calls ``refresh()``, which does not. Both HTTP stacks (requests for the token, httpx for the API) resolve
    every host through ``socket.getaddrinfo``, so recording it sees any other host, in any thread.
    """
    allowed = {_host_port(google.token_url), _host_port(google.url)}
    resolved: list[tuple[str, int]] = []
    real_getaddrinfo = socket.getaddrinfo

    def recording_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        resolved.append((host.decode() if isinstance(host, bytes) else str(host), int(port or 0)))
        if resolved[-1] not in allowed:
            raise socket.gaierror(socket.EAI_NONAME, f"test: {resolved[-1]} is not a configured URL")
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    before = set(threading.enumerate())
    cls, _ = member_pass()
    client.insert_class("loyalty", cls)  # first token + API call
    google.revoke_tokens()
    client.get_class("loyalty", cls["id"])  # 401 → refreshed token → retried call
    # A lookup would run in a thread of google-auth's; wait for any new thread but the fake's connection handlers.
    for thread in set(threading.enumerate()) - before:
        if not thread.name.endswith("(process_request_thread)"):
            thread.join(timeout=5)
    assert google.tokens_issued == 2 and [r.status for r in google.api_requests()] == [200, 401, 200]
    assert set(resolved) == allowed


def test_a_wrong_type_is_refused_with_googles_words(google: FakeGoogle, client: GoogleWalletClient) -> None:
    cls, obj = member_pass()
    client.insert_class("loyalty", cls)
    with pytest.raises(GoogleApiError) as err:  # balance.int is an int32: a string is the wrong type
        client.insert_object("loyalty", {**obj, "loyaltyPoints": {"label": "Points", "balance": {"int": "many"}}})
    assert (err.value.status, err.value.reason) == (400, "invalid")
    sent = google.api_requests()[-1]
    assert sent.status == 400 and err.value.detail.startswith("Request contains an invalid argument.")
    assert "loyaltyPoints.balance.int" in err.value.detail and "'many' is not of type 'integer'" in err.value.detail
    assert ("loyaltyObject", obj["id"]) not in google.store


@pytest.mark.parametrize("change", ["other key", "wrong iss"])
def test_the_token_endpoint_refusing_the_assertion_is_our_error(google: FakeGoogle, pki: TestPki, tmp_path: Path,
                                                                change: str) -> None:
    from walletpass.devpki import make_google_service_account

    info = json.loads((pki.certs_dir / "google-service-account.json").read_text())
    if change == "other key":  # same account, a key Google does not know: the signature does not verify
        other = json.loads(make_google_service_account(google.token_url))
        info = {**info, "private_key": other["private_key"], "private_key_id": other["private_key_id"]}
    else:
        info = {**info, "client_email": "someone-else@example.iam.gserviceaccount.com"}
    settings = Settings.for_tests(tmp_path, certs_dir=pki.certs_dir, google_api_url=google.url,
                                  google_token_url=google.token_url, google_rate_limit=0)
    with GoogleWalletClient(settings, info, retry=FAST) as client, pytest.raises(GoogleApiError) as err:
        client.get_class("loyalty", f"{ISSUER}.program-7")
    assert (err.value.status, err.value.reason) == (401, "token_refresh_failed")
    assert "invalid_grant" in err.value.detail
    assert google.api_requests() == [] and google.tokens_issued == 0
    assert google.token_errors == ["Signature verification failed" if change == "other key"
                                   else "iss is not the service account"]
