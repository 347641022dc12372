"""APNs adapter: pass-update pushes over one long-lived HTTP/2 connection with many concurrent streams.

ADAPTER (STYLE.md §4): owns the TLS connection and translates its errors into :mod:`walletpass.errors`.

Why our own HTTP/2 loop (:mod:`walletpass.push._http2`): the push leg of a campaign is measured against h2load on
the same nginx stand-in (BENCHMARKS.md, "push"). The pycurl client this module was before spent 35-39 µs of CPU
per push (libcurl's own per-transfer work alone stayed above 20 µs: one easy-handle cycle and one TLS write per
request) and reached 22-31 % of h2load; httpx and the pure-Python h2 clients are slower still. Every request here
is the same ``POST`` with another path, so the header blocks are encoded once per batch, hundreds of requests go
out in one TLS write, and a 200 is recognised from one byte; the stdlib ``ssl`` module does TLS and :mod:`hpack`
decodes any other answer: ~7 µs per push, ~85 % of h2load.

What is sent (apple.md §4): ``POST /3/device/<token>`` with ``apns-topic: <passTypeIdentifier>``,
``apns-push-type: background``, ``apns-priority: 5`` (background requires 5), our own ``apns-id`` (APNs echoes
it), optionally ``apns-expiration``, and the body ``{}``. The TLS client identity is the pass type certificate and
key that also sign the passes; or, with token authentication (``WALLETPASS_APNS_KEY_FILE``, see
:mod:`walletpass.push.token`), the TLS connection carries no client certificate and every request an
``authorization: bearer <provider token>`` header. A 403 ``ExpiredProviderToken`` renews the token and sends the
refused pushes once more.

Threads: a client is meant to be used by one worker thread. Calls from several threads are safe but are serialized
by an internal lock.
"""

from __future__ import annotations

import logging
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

from walletpass.errors import ConfigurationError, CredentialError, PushUnavailable
from walletpass.push._http2 import POST_HTTPS, Connection, Http2Error, Result, literal
from walletpass.push.policy import (
    DEFAULT_BASE,
    DEFAULT_CAP,
    Outcome,
    PushOutcome,
    RandomSource,
    backoff_delay,
    parse_error_body,
    short_token,
    should_retry,
)
from walletpass.push.token import ProviderTokens

log = logging.getLogger(__name__)

_HEX = re.compile(r"[0-9A-Fa-f]+")
_BODY = b"{}"
#: Connections in a row that may answer nothing before a send gives up on the tokens it has left.
_FRUITLESS_CONNECTIONS = 2


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_apns_ids(count: int) -> list[str]:
    """Return *count* random UUIDs (version 4 layout) as APNs wants them in ``apns-id``; one urandom call."""
    raw = os.urandom(16 * count).hex()
    return [f"{raw[k:k + 8]}-{raw[k + 8:k + 12]}-4{raw[k + 13:k + 16]}-a{raw[k + 17:k + 20]}-{raw[k + 20:k + 32]}"
            for k in range(0, 32 * count, 32)]


class ApnsClient:
    """Send pass-update pushes for one pass type through one multiplexed HTTP/2 connection.

    Args:
        base_url: ``https://api.push.apple.com`` (Settings.apns_url), or a fake's URL in tests.
        cert_file, key_file: the pass type certificate and key (PEM): the TLS client identity. Unused (may be
            None) with *tokens*.
        key_password: password of an encrypted key.
        ca_file: extra CA bundle to trust for the server (Settings.apns_ca_file); None = the system's.
        max_streams: most requests in flight at once on the connection (the server's SETTINGS may lower it).
        timeout: seconds one request may take from being queued to its answer.
        connect_timeout: seconds for TCP + TLS set-up.
        now: clock for the health timestamps.
        tokens: token authentication: the provider tokens of the team's APNs key (then no client certificate).

    Raises:
        ConfigurationError: *base_url* is not an https URL.
        CredentialError: the certificate or key file cannot be read.

    Health state of this process: ``counters`` (answers by :class:`Outcome` value, plus ``connects``),
    ``last_forbidden`` (``(reason, when)`` of a 403 not yet followed by an accepted push, or None) and
    ``last_error`` (the latest other 4xx). The state every process shares is kept by
    :class:`walletpass.storage.push_status.PushStatusStore`.

    Credentials (apple.md §4, "certificate revoked: close all connections, fix, reconnect"): after a 403 the
    connection is closed, so the next send opens a new one; and whenever the certificate or key file changed on
    disk since the connection was opened, the next send reconnects, which reads both files again. An operator who
    replaces an expiring certificate needs no restart.
    """

    def __init__(self, base_url: str, cert_file: str | Path | None, key_file: str | Path | None,
                 key_password: str | None = None, ca_file: str | Path | None = None, *, max_streams: int = 500,
                 timeout: float = 10.0, connect_timeout: float = 10.0, now: Callable[[], datetime] = _utcnow,
                 tokens: ProviderTokens | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "https" or not parts.hostname:
            raise ConfigurationError(f"the APNs URL must be https://host[:port], got {base_url!r}")
        if tokens is None:
            for label, path in (("certificate", cert_file), ("private key", key_file)):
                if path is None or not Path(path).is_file():
                    raise CredentialError(f"APNs client {label} file {str(path)!r} does not exist or is not a file")
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigurationError(f"APNs CA file {str(ca_file)!r} does not exist")
        if max_streams < 1:
            raise ConfigurationError(f"max_streams must be at least 1, got {max_streams}")
        self.base_url = base_url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or 443
        self.tokens = tokens
        self.cert_file = None if tokens is not None or cert_file is None else str(cert_file)
        self.key_file = None if tokens is not None or key_file is None else str(key_file)
        self.key_password = key_password
        self.ca_file = None if ca_file is None else str(ca_file)
        self.max_streams = max_streams
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._now = now
        self._lock = threading.Lock()
        self._closed = False
        self._connection: Connection | None = None
        self._shared: dict[tuple[str, int | None, str], tuple[bytes, bytes]] = {}
        self.counters: dict[str, int] = {kind.value: 0 for kind in Outcome} | {"connects": 0}
        self.last_forbidden: tuple[str, datetime] | None = None
        self.last_error: tuple[str, datetime] | None = None
        self._identity = self._identity_stamp()

    # -- public API -----------------------------------------------------------------------------------
    def send(self, tokens: Sequence[str], topic: str, *, expiration: int | None = None) -> list[PushOutcome]:
        """Push ``{}`` to every token for *topic* (the passTypeIdentifier); return one outcome per token, in order.

        *expiration* sets ``apns-expiration`` (UNIX seconds; 0 = deliver now or never); None leaves it out.
        Per-token transport failures (reset stream, lost connection, timeout) become ``retry`` outcomes (status
        0). Requests that a GOAWAY says were not processed go out again on a new connection within this call.

        Raises:
            PushUnavailable: no token got an answer: APNs unreachable, TLS refused, or the client is closed.
            CredentialError: the certificate/key cannot be loaded (wrong format or password).
            ConfigurationError: the CA file cannot be read.
        """
        if not topic or any(ch in topic for ch in "\r\n:"):
            raise ConfigurationError(f"invalid apns-topic {topic!r}: use the passTypeIdentifier")
        if not tokens:
            return []
        with self._lock:
            if self._closed:
                raise PushUnavailable("the APNs client is closed")
            identity = self._identity_stamp()
            if identity != self._identity:
                log.info("APNs: the certificate or key file of %s changed; reconnecting with it", self.cert_file)
                self._drop_connection()
                self._identity = identity
            bearer = self.tokens.current() if self.tokens is not None else ""
            outcomes, failure = self._run(tokens, *self._headers(topic, expiration, bearer))
            if bearer:
                failure = self._retry_expired(tokens, topic, expiration, bearer, outcomes, failure)
            if self._account(outcomes):
                # apple.md §4: on a refused certificate close the connection; the next attempt opens a new one
                # (with the files as they are on disk then).
                self._drop_connection()
        if failure is not None and all(o.status == 0 for o in outcomes):
            raise PushUnavailable(f"no answer from APNs at {self.base_url} for {len(tokens)} push(es): "
                                  f"{type(failure).__name__}: {failure}") from failure
        return outcomes

    def send_with_retry(self, tokens: Sequence[str], topic: str, *, max_attempts: int = 5,
                        sleep: Callable[[float], None] = time.sleep, rng: RandomSource | None = None,
                        base: float = DEFAULT_BASE, cap: float = DEFAULT_CAP,
                        expiration: int | None = None) -> list[PushOutcome]:
        """Like :meth:`send`, then re-send only ``retry`` outcomes with jittered backoff; return the final ones.

        403 and other 4xx are never retried, so a bad certificate cannot loop. If the first round gets no answer
        at all, PushUnavailable propagates (nothing happened; the caller's job can run again later). If a later
        round gets none, retrying stops and those tokens keep their ``retry`` outcome for the caller to reschedule.
        """
        rng = rng if rng is not None else random.Random()
        final = self.send(tokens, topic, expiration=expiration)
        attempt = 1
        while True:
            todo = [i for i, o in enumerate(final) if should_retry(o, attempt, max_attempts)]
            if not todo:
                return final
            if any(final[i].status == 503 for i in todo):
                self.reconnect()  # apple.md §4: retry a 503 on a new connection
            delay = backoff_delay(attempt, base=base, cap=cap, rng=rng)
            log.info("APNs: retrying %d push(es) for %s in %.2fs (attempt %d of %d)",
                     len(todo), topic, delay, attempt + 1, max_attempts)
            sleep(delay)
            attempt += 1
            try:
                again = self.send([final[i].token for i in todo], topic, expiration=expiration)
            except PushUnavailable as exc:
                log.warning("APNs: retry round %d got no answer (%s); %d push(es) left for later",
                            attempt, exc, len(todo))
                return final
            for i, outcome in zip(todo, again, strict=True):
                final[i] = outcome

    def reconnect(self) -> None:
        """Drop the current connection; the next send opens a new one (after a 503, or a revoked certificate)."""
        with self._lock:
            self._drop_connection()
            self._identity = self._identity_stamp()

    def close(self) -> None:
        """Close the connection; later sends raise PushUnavailable."""
        with self._lock:
            self._drop_connection()
            self._closed = True

    def __enter__(self) -> ApnsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------------
    def _retry_expired(self, tokens: Sequence[str], topic: str, expiration: int | None, bearer: str,
                       outcomes: list[PushOutcome], failure: BaseException | None) -> BaseException | None:
        """Token mode: the pushes APNs refused with 403 ExpiredProviderToken go out once more with a renewed
        token (apple.md §4: "for JWT, regenerate the token"); *outcomes* is updated in place."""
        expired = [i for i, o in enumerate(outcomes) if o.status == 403 and o.reason == "ExpiredProviderToken"]
        if not expired or self.tokens is None:
            return failure
        if not self.tokens.renew(bearer):
            log.error("APNs: 403 ExpiredProviderToken for a token issued under 20 minutes ago: is this machine's "
                      "clock right? (a new token now would get 429 TooManyProviderTokenUpdates)")
            return failure
        log.info("APNs: provider token expired; sending %d push(es) again with a new one", len(expired))
        again, failure = self._run([tokens[i] for i in expired],
                                   *self._headers(topic, expiration, self.tokens.current()))
        for i, outcome in zip(expired, again, strict=True):
            outcomes[i] = outcome
        return failure

    def _identity_stamp(self) -> tuple[tuple[int, int, int], ...]:
        """(inode, size, mtime) of the certificate and key files: a change means the operator replaced them."""
        stamps = []
        for path in (self.cert_file, self.key_file):
            if path is None:  # token mode: no files to watch
                continue
            try:
                st = os.stat(path)
            except OSError:
                stamps.append((0, 0, 0))  # gone for now (being replaced?): libcurl will say so on connect
            else:
                stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(stamps)

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _context(self) -> ssl.SSLContext:
        """A TLS context with the certificate and key as they are on disk now (read at every new connection)."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        ctx.set_alpn_protocols(["h2"])
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.ca_file is not None:
            try:
                ctx.load_verify_locations(self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(f"cannot read the APNs CA file {self.ca_file}: {exc}") from exc
        if self.cert_file is None or self.key_file is None:
            return ctx  # token authentication: no client certificate
        try:
            ctx.load_cert_chain(self.cert_file, self.key_file, self.key_password)
        except (OSError, ssl.SSLError) as exc:
            raise CredentialError(f"cannot use the APNs client certificate/key ({self.cert_file}, "
                                  f"{self.key_file}): {exc}") from exc
        return ctx

    def _connect(self) -> Connection:
        """The open connection, or a new one (OSError or Http2Error when none can be made)."""
        conn = self._connection
        if conn is not None and conn.idle_check():
            return conn
        self._drop_connection()
        conn = Connection(self.host, self.port, self._context(), self.connect_timeout)
        self.counters["connects"] += 1
        self._connection = conn
        return conn

    def _headers(self, topic: str, expiration: int | None, bearer: str = "") -> tuple[bytes, bytes]:
        """The encoded headers every push for *topic* shares: the pseudo-headers before ``:path``, and the
        ``apns-*`` headers (and ``authorization`` with a provider token *bearer*) after it (all but ``apns-id``)."""
        key = (topic, None if expiration is None else int(expiration), bearer)
        found = self._shared.get(key)
        if found is None:
            if bearer and any(k[2] != bearer for k in self._shared):
                self._shared = {k: v for k, v in self._shared.items() if k[2] == bearer}  # a renewed token
            authority = self.host if self.port == 443 else f"{self.host}:{self.port}"
            pseudo = POST_HTTPS + literal(1, authority.encode())  # 1: :authority in the static table
            apns = (literal(b"apns-topic", topic.encode()) + literal(b"apns-push-type", b"background")
                    + literal(b"apns-priority", b"5"))
            if key[1] is not None:
                apns += literal(b"apns-expiration", str(key[1]).encode())
            if bearer:
                apns += literal(b"authorization", b"bearer " + bearer.encode())
            found = self._shared[key] = (pseudo, apns)
        return found

    @staticmethod
    def _blocks(tokens: Sequence[str], ids: Sequence[str], pseudo: bytes, shared: bytes) -> list[bytes]:
        """One HPACK header block per push: *pseudo*, ``:path``, *shared* and ``apns-id``."""
        tail = shared + literal(b"apns-id", b"")[:-1] + b"\x24"  # the name, then the length of a UUID (36)
        if _HEX.fullmatch("".join(tokens)) and len({len(token) for token in tokens}) == 1:  # the common case
            head = pseudo + literal(4, f"/3/device/{tokens[0]}".encode())[:-len(tokens[0])]  # 4: :path
            return [head + token.encode() + tail + apns_id.encode() for token, apns_id in zip(tokens, ids, strict=True)]
        # Device tokens are hex; anything else is quoted so it stays one path segment (APNs: BadDeviceToken).
        return [pseudo + literal(4, f"/3/device/{token if _HEX.fullmatch(token) else quote(token, safe='')}".encode())
                + tail + apns_id.encode() for token, apns_id in zip(tokens, ids, strict=True)]

    def _run(self, tokens: Sequence[str], pseudo: bytes, shared: bytes) -> tuple[list[PushOutcome], BaseException | None]:
        """Send every push (over new connections when one goes away); return outcomes in token order and the last
        transport error.

        This is the hot loop of a campaign (tens of thousands of pushes per second), hence the local names.
        """
        n = len(tokens)
        ids = _new_apns_ids(n)
        blocks = self._blocks(tokens, ids, pseudo, shared)
        results: list[Result] = [None] * n
        todo: list[int] = list(range(n))
        failure: BaseException | None = None
        fruitless = 0
        while todo and fruitless < _FRUITLESS_CONNECTIONS:
            try:
                conn = self._connect()
            except (OSError, Http2Error) as exc:  # ssl.SSLError and timeouts are OSErrors
                failure = exc
                break
            conn.exchange(blocks, todo, _BODY, results, self.max_streams, self.timeout)
            if conn.error is not None:
                failure = conn.error
                if isinstance(failure, TimeoutError):
                    break  # APNs stopped answering: the rest waits for the caller's retry, not for more timeouts
            if not conn.open:
                self._drop_connection()
            left = [i for i in todo if results[i] is None]
            fruitless = fruitless + 1 if len(left) == len(todo) else 0
            todo = left
        unsent = f"not sent: {type(failure).__name__}: {failure}" if failure else "not sent"
        outcomes: list[PushOutcome] = []
        add, ok = outcomes.append, 0
        for token, result, apns_id in zip(tokens, results, ids, strict=True):
            if result == 200:
                add(PushOutcome(token, 200, "", apns_id))
                ok += 1
            elif isinstance(result, tuple):
                reason, timestamp = parse_error_body(result[1])
                add(PushOutcome(token, result[0], reason, apns_id, timestamp))
            else:
                add(PushOutcome(token, 0, result if isinstance(result, str) else unsent, apns_id))
        self.counters["ok"] += ok
        return outcomes, failure

    def _account(self, outcomes: list[PushOutcome]) -> bool:
        """Count and log the answers other than 200 (those are counted in the hot loop); True if one was a 403."""
        counters = self.counters
        forbidden = accepted = False
        for outcome in outcomes:
            if outcome.status == 200:
                accepted = True
                continue
            kind = outcome.kind
            counters[kind.value] += 1
            if kind is Outcome.FORBIDDEN:
                forbidden = True
                self.last_forbidden = (outcome.reason, self._now())
                log.error("APNs refused %s with 403 %s: fix %s; not retrying", short_token(outcome.token),
                          outcome.reason, "the APNs key (WALLETPASS_APNS_KEY_FILE, _KEY_ID, team id)"
                          if self.tokens is not None else "the pass type certificate")
            elif kind is Outcome.ERROR:
                self.last_error = (f"{outcome.status} {outcome.reason}".strip(), self._now())
                log.error("APNs rejected the push to %s: %d %s (configuration bug; not retrying)",
                          short_token(outcome.token), outcome.status, outcome.reason)
            elif kind is Outcome.UNREGISTERED:
                log.info("APNs: token %s is no longer valid (%d %s)",
                         short_token(outcome.token), outcome.status, outcome.reason)
            else:
                log.debug("APNs: push to %s will be retried (%d %s)",
                          short_token(outcome.token), outcome.status, outcome.reason)
        if accepted and not forbidden:
            self.last_forbidden = None
        return forbidden


__all__ = ["ApnsClient"]
