"""The pure rules of webhooks: which URLs and addresses may be called, retry times, the body, the secret."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address

import pytest

from walletpass.domain import webhooks as w
from walletpass.errors import InvalidInput
from walletpass.ids import new_webhook_secret

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("address", "public_only", "with_private"), [
    ("93.184.216.34", True, True),
    ("2606:2800:220:1:248:1893:25c8:1946", True, True),
    ("127.0.0.1", False, True), ("::1", False, True), ("10.1.2.3", False, True), ("192.168.0.10", False, True),
    ("172.16.5.4", False, True), ("fd12::1", False, True),
    ("169.254.169.254", False, False), ("fe80::1", False, False), ("::ffff:169.254.169.254", False, False),
    ("fd00:ec2::254", False, False), ("0.0.0.0", False, False), ("::", False, False), ("224.0.0.1", False, False),
])
def test_addresses(address: str, public_only: bool, with_private: bool) -> None:
    assert w.address_allowed(ip_address(address), allow_private=False) is public_only
    assert w.address_allowed(ip_address(address), allow_private=True) is with_private


def test_urls() -> None:
    assert w.check_url("https://crm.example.com/hook?x=1", allow_private=False)
    assert w.check_url("http://localhost:8080/h", allow_private=True)
    for url in ("http://localhost/h", "http://127.0.0.1/h", "http://10.0.0.1/h"):
        with pytest.raises(InvalidInput):
            w.check_url(url, allow_private=False)
    for url in ("http://169.254.169.254/", "http://metadata.google.internal./", "ftp://x.example/", "http:///x",
                "http://u:p@x.example/", "http://x.example/#f", "http://x.example:70000/", "http://[::1/"):
        with pytest.raises(InvalidInput) as info:
            w.check_url(url, allow_private=True)
        assert info.value.field == "url"


def test_events() -> None:
    assert w.parse_events(["points.changed", "points.changed", "tier.changed"]) == ("points.changed", "tier.changed")
    assert w.parse_events(["points.changed", "*"]) == ("*",)
    with pytest.raises(InvalidInput) as info:
        w.parse_events(["points.changed", "member.deleted"])
    assert info.value.field == "events[1]"


def test_secrets() -> None:
    made = new_webhook_secret()
    assert w.parse_secret(made) == made and made.startswith("whsec_")
    for bad in ("whsec_", "whsec_" + "A" * 20, "hunter2", "whsec_!!!!" + "A" * 40, "whsec_" + "A" * 100):
        with pytest.raises(InvalidInput):
            w.parse_secret(bad)


def test_backoff_doubles_with_jitter_and_stops_at_the_window() -> None:
    rng = random.Random(1)
    fail = w.Outcome(500)
    delays = [(w.next_try(n, NOW, NOW, fail, rng) - NOW).total_seconds() for n in range(1, 12)]  # type: ignore[operator]
    for n, delay in enumerate(delays, start=1):
        upper = min(5 * 2 ** (n - 1), 3600)
        assert upper / 2 <= delay <= upper
    late = NOW + w.RETRY_WINDOW - timedelta(seconds=1)
    assert w.next_try(30, NOW, late, fail, rng) is None, "past the 24 hours: parked"


@pytest.mark.parametrize(("status", "retried"), [(0, True), (500, True), (503, True), (408, True), (425, True),
                                                 (429, True), (400, False), (401, False), (404, False),
                                                 (410, False), (301, False)])
def test_which_answers_are_retried(status: int, retried: bool) -> None:
    assert (w.next_try(1, NOW, NOW, w.Outcome(status)) is not None) is retried


def test_retry_after_and_refused_addresses() -> None:
    assert w.next_try(1, NOW, NOW, w.Outcome(429, retry_after=600)) >= NOW + timedelta(seconds=600)  # type: ignore[operator]
    assert w.next_try(1, NOW, NOW, w.Outcome(429, retry_after=10**7)) is None
    assert w.next_try(1, NOW, NOW, w.Outcome(0, "refused", allowed=False)) is None
    assert w.parse_retry_after("120", NOW) == 120
    assert w.parse_retry_after("Thu, 03 Dec 2026 12:01:00 GMT", NOW) == 60
    assert w.parse_retry_after("soon", NOW) is None and w.parse_retry_after(None, NOW) is None


def test_body_holds_ids_and_changed_values_only() -> None:
    d = w.Delivery(id=1, webhook_id=1, event_id="evt_x", type="tier.changed", created_at=NOW,
                   values={"program_id": 2, "member_id": 3, "tier": None, "previous_tier": "Bronze", "code": "X"})
    assert json.loads(w.body(d)) == {"id": "evt_x", "type": "tier.changed", "created_at": "2026-12-03T12:00:00Z",
                                     "data": {"program_id": 2, "member_id": 3, "tier": None,
                                              "previous_tier": "Bronze"}}
    with pytest.raises(ValueError):
        w.Event("member.deleted", NOW, {})
    with pytest.raises(ValueError):
        w.Event("member.enrolled", NOW, {"email": "a@b.c"})
