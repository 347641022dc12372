"""Pure parts of the Google client: token bucket pacing and retry backoff (fake clock, no sleeping)."""

from __future__ import annotations

from walletpass.google.client import RetryPolicy, _contains, _google_error
from walletpass.google.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_token_bucket_paces_to_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(20, clock=clock, sleep=clock.sleep)
    for _ in range(21):
        bucket.acquire()
    assert clock.now - 100.0 == sum(clock.slept)
    assert abs((clock.now - 100.0) - 20 / 20) < 1e-9  # burst of 1, then one every 50 ms
    clock.now += 10  # idle time refills only up to the burst
    waited = [bucket.acquire() for _ in range(2)]
    assert waited[0] == 0 and abs(waited[1] - 0.05) < 1e-9


def test_token_bucket_off_at_zero() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0, clock=clock, sleep=clock.sleep)
    assert all(bucket.acquire() == 0 for _ in range(1000)) and clock.slept == []


def test_retry_delay_is_jittered_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(attempts=5, base=0.5, cap=8.0)
    assert [policy.delay(n, rand=lambda: 1.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert policy.delay(3, rand=lambda: 0.25) == 1.0
    assert policy.delay(0, retry_after=3) == 3 and policy.delay(0, retry_after=60) == 8.0


def test_google_error_keeps_message_and_reason() -> None:
    err = _google_error(400, b'{"error": {"code": 400, "message": "Invalid resource ID", "status": "INVALID_ARGUMENT",'
                             b' "errors": [{"reason": "invalidResource"}]}}')
    assert (err.detail, err.status, err.reason) == ("Invalid resource ID", 400, "invalidResource")
    err = _google_error(403, b'{"error": {"code": 403, "message": "Permission Denied", "status": "PERMISSION_DENIED"}}')
    assert (err.detail, err.reason) == ("Permission Denied", "PERMISSION_DENIED")
    err = _google_error(502, b"<html>Bad Gateway</html>")
    assert err.detail == "HTTP 502: <html>Bad Gateway</html>" and err.status == 502


def test_contains_tolerates_fields_google_adds() -> None:
    have = {"id": "1.a", "kind": "walletobjects#loyaltyObject", "loyaltyPoints": {"balance": {"int": 5}},
            "micros": "1000000", "list": [{"a": 1, "kind": "x"}]}
    assert _contains(have, {"id": "1.a", "loyaltyPoints": {"balance": {"int": 5}}, "micros": 1000000,
                            "list": [{"a": 1}]})
    assert not _contains(have, {"loyaltyPoints": {"balance": {"int": 6}}})
    assert not _contains(have, {"list": [{"a": 1}, {"a": 2}]})
