"""Google's 20 requests/s is per project: the token bucket shared through the real Redis
(WALLETPASS_TEST_REDIS_URL) keeps two clients together within the limit; without Redis each process paces alone."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL
from walletpass.config import Settings
from walletpass.google.ratelimit import RedisTokenBucket, TokenBucket, make_bucket

RATE = 20.0


class SharedClock:
    """One fake clock for both clients (what Redis's TIME is in production); sleeping is only recorded."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("WALLETPASS_TEST_REDIS_URL is not set: Redis tests skipped")
    return REDIS_URL


def _due_times(bucket, clock: SharedClock, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    return [clock.now + bucket.acquire() for _ in range(n)]


def test_two_clients_share_one_bucket(redis_url: str) -> None:
    key = f"walletpass-test:google-rate:{uuid.uuid4()}"
    clock = SharedClock()
    a = RedisTokenBucket(redis_url, RATE, key=key, clock=clock, sleep=lambda s: None)
    b = RedisTokenBucket(redis_url, RATE, key=key, clock=clock, sleep=lambda s: None)
    try:
        due = sorted(_due_times(a, clock, 15) + _due_times(b, clock, 15))
    finally:
        a.close()
        b.close()
    # 30 requests from two processes at one instant are spread one every 1/20 s: 20 per second together.
    assert [round((t - due[0]) * RATE, 6) for t in due] == list(range(30))
    assert max(sum(1 for u in due if t <= u < t + 1.0) for t in due) == RATE


def test_separate_buckets_would_double_the_rate() -> None:
    """Why the bucket is shared: two per-process buckets let two processes send twice the limit."""
    clock = SharedClock()
    a, b = (TokenBucket(RATE, clock=clock, sleep=lambda s: None) for _ in range(2))
    due = sorted(_due_times(a, clock, 15) + _due_times(b, clock, 15))
    assert max(sum(1 for u in due if t <= u < t + 1.0) for t in due) == 30 > RATE  # all 30 within 0.75 s


def test_the_bucket_is_shared_only_when_redis_is_configured(tmp_path: Path, redis_url: str) -> None:
    local = make_bucket(Settings.for_tests(tmp_path))
    assert isinstance(local, TokenBucket) and local.rate == 20.0
    shared = make_bucket(Settings.for_tests(tmp_path, broker_url=redis_url, google_rate_limit=5.0))
    try:
        assert isinstance(shared, RedisTokenBucket) and shared.rate == 5.0
        assert shared.key == "walletpass:google-rate:3388000000000000001"
    finally:
        shared.close()  # type: ignore[attr-defined]


def test_redis_down_falls_back_to_this_process(tmp_path: Path) -> None:
    clock = SharedClock()
    fallback = TokenBucket(RATE, clock=clock, sleep=lambda s: None)
    bucket = RedisTokenBucket("redis://127.0.0.1:1/0", RATE, key="k", fallback=fallback, sleep=lambda s: None)
    assert [bucket.acquire() for _ in range(3)] == [0.0, 1 / RATE, 2 / RATE]


def test_redis_down_is_asked_again_only_after_a_pause() -> None:
    """A Redis that fails costs one attempt per REDIS_RETRY_SECONDS, not one (and a timeout) per Google request."""
    import socket
    import threading

    from walletpass.google.ratelimit import REDIS_RETRY_SECONDS

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[int] = []

    def refuse() -> None:  # a "Redis" that hangs up on every connection
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            conn.close()

    threading.Thread(target=refuse, daemon=True).start()
    clock, mono = SharedClock(), SharedClock()
    fallback = TokenBucket(RATE, clock=clock, sleep=lambda s: None)
    bucket = RedisTokenBucket(f"redis://127.0.0.1:{listener.getsockname()[1]}/0", RATE, key="k",
                              fallback=fallback, sleep=lambda s: None, monotonic=mono)
    try:
        bucket.acquire()
        tried = len(accepted)
        assert tried >= 1
        for _ in range(5):
            bucket.acquire()
        assert len(accepted) == tried                  # paced locally, Redis left alone
        mono.now += REDIS_RETRY_SECONDS + 1
        bucket.acquire()
        assert len(accepted) > tried                   # asked again after the pause
    finally:
        listener.close()
        bucket.close()
