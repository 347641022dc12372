"""Google's 20 requests/s is per project: one token bucket shared by every process through Redis (ADAPTER).

``walletpass serve`` runs one process per CPU and workers run elsewhere; a bucket per process would let them
together send N × the limit. With Redis configured (``WALLETPASS_BROKER_URL``), every process reserves its
tokens from one bucket kept in Redis by an atomic Lua script (the same algorithm as
:class:`TokenBucket`: a caller reserves a token, the count may go negative, and it
sleeps until its token is due, so concurrent callers — in any process — are served in order at the rate).
Without Redis the per-process bucket is used. If Redis stops answering, the process falls back to its own
bucket for that call (logged), so a Redis outage slows nothing down that worked before.

The bucket's clock is Redis's ``TIME`` (one clock for every machine); tests may inject one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis

from walletpass.config import Settings

log = logging.getLogger("walletpass.google")

#: KEYS[1]: the bucket hash; ARGV: rate (tokens/s), burst, now in seconds ("" = Redis's TIME).
#: Returns the seconds the caller must wait for its token, as a string (Lua numbers become integers).
_RESERVE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now
if ARGV[3] ~= '' then
  now = tonumber(ARGV[3])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
if now > last then
  tokens = math.min(burst, tokens + (now - last) * rate)
  last = now
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'last', string.format('%.17g', last))
redis.call('PEXPIRE', KEYS[1], math.ceil(((burst - tokens) / rate + 60) * 1000))
if tokens < 0 then
  return string.format('%.17g', -tokens / rate)
end
return '0'
"""


class TokenBucket:
    """Thread-safe token bucket: at most *rate* acquisitions per second after a burst of *burst*.

    Each caller reserves a token (the count may go negative) and sleeps outside the lock until it is due, so
    concurrent callers are served in order. ``rate <= 0`` disables it.
    """

    def __init__(self, rate: float, burst: float = 1.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._tokens = self.burst
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until it is available; return the seconds waited."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


#: After Redis fails to answer, each process paces itself alone this long before asking Redis again.
REDIS_RETRY_SECONDS = 30.0


class RedisTokenBucket:
    """A token bucket of *rate* per second (burst *burst*) kept in Redis under *key*, shared by all processes.

    Args:
        url: the Redis URL (``redis://`` or ``rediss://``).
        rate: tokens per second; ``<= 0`` disables the bucket.
        key: the Redis key; one per Google project (issuer).
        fallback: the bucket used when Redis does not answer.
        clock: seconds as a float sent to the script instead of Redis's TIME (tests); None = Redis's clock.
    """

    def __init__(self, url: str, rate: float, burst: float = 1.0, *, key: str,
                 fallback: TokenBucket | None = None, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.key = key
        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._script = self._redis.register_script(_RESERVE)
        self._fallback = fallback if fallback is not None else TokenBucket(rate, burst)
        self._clock, self._sleep = clock, sleep
        self._monotonic = monotonic
        self._down_until: float | None = None  # Redis failed: pace locally until then, without asking it

    def acquire(self) -> float:
        """Take one token from the shared bucket, sleeping until it is due; return the seconds waited.

        When Redis does not answer, this process paces itself for REDIS_RETRY_SECONDS before asking Redis again
        (one warning per outage), so a hung Redis costs one timeout per period, not one per Google request."""
        if self.rate <= 0:
            return 0.0
        if self._down_until is not None:
            if self._monotonic() < self._down_until:
                return self._fallback.acquire()
            self._down_until = None
            log.info("Google rate limit: asking Redis again")
        now = "" if self._clock is None else repr(self._clock())
        try:
            wait = float(self._script(keys=[self.key], args=[repr(float(self.rate)), repr(self.burst), now]))
        except redis.RedisError as exc:
            log.warning("Google rate limit: Redis unavailable (%s); pacing this process alone for %.0f s", exc,
                        REDIS_RETRY_SECONDS)
            self._down_until = self._monotonic() + REDIS_RETRY_SECONDS
            return self._fallback.acquire()
        if wait > 0:
            self._sleep(wait)
        return wait

    def close(self) -> None:
        self._redis.close()


def make_bucket(settings: Settings, burst: float = 1.0) -> TokenBucket | RedisTokenBucket:
    """The bucket for ``settings.google_rate_limit``: shared through Redis when a broker URL is set."""
    local = TokenBucket(settings.google_rate_limit, burst)
    if settings.broker_url and settings.google_rate_limit > 0:
        return RedisTokenBucket(settings.broker_url, settings.google_rate_limit, burst,
                                key=f"walletpass:google-rate:{settings.google_issuer_id}", fallback=local)
    return local
