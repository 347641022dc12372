"""APNs adapter: pass-update pushes over one long-lived HTTP/2 connection with many concurrent streams.

ADAPTER (STYLE.md §4): owns pycurl and translates its errors into :mod:`walletpass.errors`.

Why pycurl: on this machine one process pushing to a local nginx HTTP/2 server reached ~650 pushes/s with httpx,
~4,000/s with aioapns, ~8,700/s with asyncio+h2 and ~40,000/s with libcurl multiplexing (figures and the
re-measurement in BENCHMARKS.md, "push"). libcurl does HTTP/2, HPACK, flow control and connection reuse in C;
Python only hands it URLs and reads statuses.

What is sent (apple.md §4): ``POST /3/device/<token>`` with ``apns-topic: <passTypeIdentifier>``,
``apns-push-type: background``, ``apns-priority: 5`` (background requires 5), optionally ``apns-expiration``, and
the body ``{}``. The TLS client identity is the pass type certificate and key that also sign the passes.

Threads: a client is meant to be used by one worker thread. Calls from several threads are safe but are serialized
by an internal lock (the pycurl handles must never be driven by two threads at once).
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import pycurl

from walletpass.errors import ConfigurationError, CredentialError, PushUnavailable
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

log = logging.getLogger(__name__)

_HEX = re.compile(r"[0-9A-Fa-f]+")
#: libcurl errors that mean our own files are unusable, not that APNs is unreachable. libcurl 8 reports a key it
#: cannot decrypt as CURLE_BAD_FUNCTION_ARGUMENT ("unable to set private key file"), older ones as CERTPROBLEM.
_CREDENTIAL_ERRORS = {pycurl.E_SSL_CERTPROBLEM, pycurl.E_BAD_FUNCTION_ARGUMENT}
_CA_FILE_ERRORS = {pycurl.E_SSL_CACERT_BADFILE}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_apns_ids(count: int) -> list[str]:
    """Return *count* random UUIDs (version 4 layout) as APNs wants them in ``apns-id``; one urandom call."""
    raw = os.urandom(16 * count).hex()
    return [f"{raw[k:k + 8]}-{raw[k + 8:k + 12]}-4{raw[k + 13:k + 16]}-a{raw[k + 17:k + 20]}-{raw[k + 20:k + 32]}"
            for k in range(0, 32 * count, 32)]


class _Stream:
    """One reusable easy handle plus the body buffer its write callback fills (a C method: no Python frame).

    No header callback: we send our own ``apns-id`` (APNs echoes it, apple.md §4), so the hot loop never has
    to look at response headers; that saves several Python calls per push.
    """

    __slots__ = ("curl", "body", "index")

    def __init__(self, client: ApnsClient) -> None:
        self.body = bytearray()
        self.index = -1
        c = self.curl = pycurl.Curl()
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTPS)
        # HTTP/2 via ALPN over TLS (prior knowledge is for cleartext only).
        c.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_2TLS)
        # Wait for the one connection to say whether it multiplexes instead of opening a second one.
        c.setopt(pycurl.PIPEWAIT, 1)
        c.setopt(pycurl.SSLCERT, client.cert_file)
        c.setopt(pycurl.SSLKEY, client.key_file)
        if client.key_password is not None:
            c.setopt(pycurl.KEYPASSWD, client.key_password)
        if client.ca_file is not None:
            c.setopt(pycurl.CAINFO, client.ca_file)
        c.setopt(pycurl.SSL_VERIFYPEER, 1)
        c.setopt(pycurl.SSL_VERIFYHOST, 2)
        c.setopt(pycurl.POST, 1)
        c.setopt(pycurl.POSTFIELDS, b"{}")
        c.setopt(pycurl.TIMEOUT_MS, client.timeout_ms)
        c.setopt(pycurl.CONNECTTIMEOUT_MS, client.connect_timeout_ms)
        c.setopt(pycurl.TCP_KEEPALIVE, 1)
        # APNs wants connections kept for hours (apple.md §4); libcurl's default drops idle ones after 118 s.
        c.setopt(pycurl.MAXAGE_CONN, 24 * 3600)
        c.setopt(pycurl.WRITEFUNCTION, self.body.extend)



class ApnsClient:
    """Send pass-update pushes for one pass type through one multiplexed HTTP/2 connection.

    Args:
        base_url: ``https://api.push.apple.com`` (Settings.apns_url), or a fake's URL in tests.
        cert_file, key_file: the pass type certificate and key (PEM): the TLS client identity.
        key_password: password of an encrypted key.
        ca_file: extra CA bundle to trust for the server (Settings.apns_ca_file); None = the system's.
        max_streams: most requests in flight at once on the connection (the server's SETTINGS may lower it).
        timeout: seconds one request may take from being queued to its answer.
        connect_timeout: seconds for TCP + TLS set-up.
        now: clock for the health timestamps.

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

    def __init__(self, base_url: str, cert_file: str | Path, key_file: str | Path, key_password: str | None = None,
                 ca_file: str | Path | None = None, *, max_streams: int = 500, timeout: float = 10.0,
                 connect_timeout: float = 10.0, now: Callable[[], datetime] = _utcnow) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "https" or not parts.hostname:
            raise ConfigurationError(f"the APNs URL must be https://host[:port], got {base_url!r}")
        for label, path in (("certificate", cert_file), ("private key", key_file)):
            if not Path(path).is_file():
                raise CredentialError(f"APNs client {label} file {str(path)!r} does not exist or is not a file")
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigurationError(f"APNs CA file {str(ca_file)!r} does not exist")
        if max_streams < 1:
            raise ConfigurationError(f"max_streams must be at least 1, got {max_streams}")
        self.base_url = base_url.rstrip("/")
        self.cert_file = str(cert_file)
        self.key_file = str(key_file)
        self.key_password = key_password
        self.ca_file = None if ca_file is None else str(ca_file)
        self.max_streams = max_streams
        self.timeout_ms = int(timeout * 1000)
        self.connect_timeout_ms = int(connect_timeout * 1000)
        self._now = now
        self._lock = threading.Lock()
        self._multi: pycurl.CurlMulti | None = self._new_multi()
        self._idle: list[_Stream] = []
        self._all: list[_Stream] = []
        self._headers: dict[str, list[str]] = {}
        self.counters: dict[str, int] = {kind.value: 0 for kind in Outcome} | {"connects": 0}
        self.last_forbidden: tuple[str, datetime] | None = None
        self.last_error: tuple[str, datetime] | None = None
        self._identity = self._identity_stamp()

    # -- public API -----------------------------------------------------------------------------------
    def send(self, tokens: Sequence[str], topic: str, *, expiration: int | None = None) -> list[PushOutcome]:
        """Push ``{}`` to every token for *topic* (the passTypeIdentifier); return one outcome per token, in order.

        *expiration* sets ``apns-expiration`` (UNIX seconds; 0 = deliver now or never); None leaves it out.
        Per-token transport failures (reset stream, GOAWAY, timeout) become ``retry`` outcomes (status 0).

        Raises:
            PushUnavailable: no token got an answer: APNs unreachable, TLS refused, or the client is closed.
            CredentialError: libcurl cannot use the certificate/key (wrong format or password).
        """
        if not topic or any(ch in topic for ch in "\r\n:"):
            raise ConfigurationError(f"invalid apns-topic {topic!r}: use the passTypeIdentifier")
        if not tokens:
            return []
        with self._lock:
            if self._multi is None:
                raise PushUnavailable("the APNs client is closed")
            identity = self._identity_stamp()
            if identity != self._identity:
                log.info("APNs: the certificate or key file of %s changed; reconnecting with it", self.cert_file)
                self._new_connection(identity)
            header_list = self._header_list(topic, expiration)
            with _translate_pycurl_errors():
                outcomes, failure = self._run(tokens, header_list)
            if self._account(outcomes):
                # apple.md §4: on a refused certificate close the connection; the next attempt opens a new one
                # (with the files as they are on disk then).
                self._new_connection(identity)
        if failure is not None and all(o.status == 0 for o in outcomes):
            errno, message = failure.args
            if errno in _CREDENTIAL_ERRORS and ("key" in message or "cert" in message):
                raise CredentialError(f"libcurl cannot use the APNs client certificate/key "
                                      f"({self.cert_file}, {self.key_file}): {message}") from failure
            if errno in _CA_FILE_ERRORS:
                raise ConfigurationError(f"cannot read the APNs CA file {self.ca_file}: {message}") from failure
            raise PushUnavailable(f"no answer from APNs at {self.base_url} for {len(tokens)} push(es): "
                                  f"{message} (curl error {errno})") from failure
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
            if self._multi is not None:
                self._new_connection(self._identity_stamp())

    def close(self) -> None:
        """Close the connection and free the libcurl handles; later sends raise PushUnavailable."""
        with self._lock:
            if self._multi is not None:
                self._drop_handles()
                self._multi = None

    def __enter__(self) -> ApnsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------------
    def _new_multi(self) -> pycurl.CurlMulti:
        multi = pycurl.CurlMulti()
        multi.setopt(pycurl.M_PIPELINING, pycurl.PIPE_MULTIPLEX)
        multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, 1)  # one connection, many streams
        multi.setopt(pycurl.M_MAX_CONCURRENT_STREAMS, self.max_streams)
        return multi

    def _identity_stamp(self) -> tuple[tuple[int, int, int], ...]:
        """(inode, size, mtime) of the certificate and key files: a change means the operator replaced them."""
        stamps = []
        for path in (self.cert_file, self.key_file):
            try:
                st = os.stat(path)
            except OSError:
                stamps.append((0, 0, 0))  # gone for now (being replaced?): libcurl will say so on connect
            else:
                stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(stamps)

    def _new_connection(self, identity: tuple[tuple[int, int, int], ...]) -> None:
        """Close the connection and its handles; new ones (reading the files again) open on the next send."""
        self._drop_handles()
        self._multi = self._new_multi()
        self._identity = identity

    def _drop_handles(self) -> None:
        """Close every easy handle and the multi handle (and with it the connection). Hold the lock."""
        assert self._multi is not None
        for stream in self._all:
            stream.curl.close()
        self._multi.close()
        self._all.clear()
        self._idle.clear()

    def _header_list(self, topic: str, expiration: int | None) -> list[str]:
        found = self._headers.get(topic)
        if found is None:
            found = self._headers[topic] = [f"apns-topic: {topic}", "apns-push-type: background",
                                            "apns-priority: 5", "Accept:", "Content-Type: application/json"]
        return found if expiration is None else [*found, f"apns-expiration: {int(expiration)}"]

    def _urls(self, tokens: Sequence[str]) -> list[str]:
        # Device tokens are hex; anything else is quoted so it stays one path segment (APNs: BadDeviceToken).
        prefix = f"{self.base_url}/3/device/"
        if _HEX.fullmatch("".join(tokens)):  # the common case, checked once for the whole batch
            return [prefix + token for token in tokens]
        return [prefix + (token if _HEX.fullmatch(token) else quote(token, safe="")) for token in tokens]

    def _run(self, tokens: Sequence[str], header_list: list[str]) -> tuple[list[PushOutcome], pycurl.error | None]:
        """Drive all transfers to completion; return outcomes in token order and the last transport error.

        This is the hot loop of a campaign (tens of thousands of pushes per second), hence the local names.
        At most ``max_streams`` transfers are handed to libcurl at once; each finished one frees its handle
        for the next token, so the connection stays full without queuing the whole batch inside libcurl.
        """
        multi = self._multi
        assert multi is not None
        n = len(tokens)
        urls = self._urls(tokens)
        ids = _new_apns_ids(n)
        results: list[PushOutcome | None] = [None] * n
        failure: pycurl.error | None = None
        idle, in_flight, cap = self._idle, {}, self.max_streams
        next_index = active = ok = connects = 0
        setopt_url, http_header = pycurl.URL, pycurl.HTTPHEADER
        response_code, num_connects, call_again = pycurl.RESPONSE_CODE, pycurl.NUM_CONNECTS, pycurl.E_CALL_MULTI_PERFORM
        try:
            while next_index < n or active:
                if next_index < n and active < cap:
                    stop = min(n, next_index + cap - active)
                    for i in range(next_index, stop):
                        stream = idle.pop() if idle else self._new_stream()
                        stream.index = i
                        curl = stream.curl
                        curl.setopt(setopt_url, urls[i])
                        curl.setopt(http_header, header_list + [f"apns-id: {ids[i]}"])
                        multi.add_handle(curl)
                        in_flight[curl] = stream
                    active += stop - next_index
                    next_index = stop
                ret = call_again
                while ret == call_again:
                    ret, _running = multi.perform()
                finished = 0
                while True:
                    queued, ok_list, err_list = multi.info_read()
                    for curl in ok_list:
                        stream = in_flight.pop(curl)
                        i = stream.index
                        status = curl.getinfo(response_code)
                        if status == 200:
                            results[i] = PushOutcome(tokens[i], 200, "", ids[i])
                            ok += 1
                        else:
                            reason, timestamp = parse_error_body(bytes(stream.body))
                            del stream.body[:]
                            results[i] = PushOutcome(tokens[i], status, reason, ids[i], timestamp)
                        connects += curl.getinfo(num_connects)
                        multi.remove_handle(curl)
                        idle.append(stream)
                    for curl, errno, message in err_list:
                        stream = in_flight.pop(curl)
                        failure = pycurl.error(errno, message)
                        results[stream.index] = PushOutcome(tokens[stream.index], 0,
                                                            f"curl error {errno}: {message}", ids[stream.index])
                        connects += curl.getinfo(num_connects)
                        multi.remove_handle(curl)
                        del stream.body[:]
                        idle.append(stream)
                    finished += len(ok_list) + len(err_list)
                    if not queued:
                        break
                active -= finished
                if active and not finished:
                    wait = multi.timeout()
                    multi.select(1.0 if wait < 0 else min(wait, 1000) / 1000.0)
        finally:
            for curl, stream in in_flight.items():  # only after an unexpected error: leave the multi clean
                multi.remove_handle(curl)
                del stream.body[:]
                idle.append(stream)
            self.counters["connects"] += connects
            self.counters["ok"] += ok
        return results, failure  # type: ignore[return-value]

    def _new_stream(self) -> _Stream:
        stream = _Stream(self)
        self._all.append(stream)
        return stream

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
                log.error("APNs refused %s with 403 %s: fix the pass type certificate; not retrying",
                          short_token(outcome.token), outcome.reason)
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


@contextmanager
def _translate_pycurl_errors() -> Iterator[None]:
    """Turn a pycurl.error that escapes the multi interface into PushUnavailable, chained."""
    try:
        yield
    except pycurl.error as exc:
        raise PushUnavailable(f"libcurl failed while talking to APNs: {exc}") from exc


__all__ = ["ApnsClient"]
