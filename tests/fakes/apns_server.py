"""A real APNs stand-in: HTTP/2 (h2 library) over TLS on 127.0.0.1 that demands a client certificate, or, in token
mode, checks provider tokens (``authorization: bearer <ES256 JWT>``) instead.

It checks requests the way apple.md §4 describes APNs (``POST /3/device/<hex token>``, ``apns-topic`` equal to the
client certificate's UID, ``apns-push-type: background`` with ``apns-priority: 5``, body ``{}``), records every
request, and answers per-token scripts (410, 400, 429 then 200, 403, …). It can send GOAWAY on demand.

Usage::

    with FakeApns(pki) as apns:            # pki: tests.pki.TestPki
        apns.script(token, [429, 200])     # statuses (or (status, reason)) used in order, then 200; 0 = RST_STREAM
        apns.framing(padding=7, ...)       # answer in the rarer frame shapes a client must read as well
        client = ApnsClient(apns.url, pki.cert(), pki.key(), ca_file=pki.tls_ca_file)
        ...
        apns.pushes                         # [RecordedPush, ...] in answer order
        apns.connections                    # TLS+HTTP/2 connections accepted
        apns.rejected_handshakes            # TLS handshakes refused (no/unknown client certificate)
        apns.most_requests_per_read         # most requests that arrived in one read: in flight at once

Token mode (apple.md §4, token-based connection)::

    with FakeApns(pki, token_keys={"ABC123DEFG": p8_public_key}, team_id="A1B2C3D4E5",
                  topics={MEMBER_PTID}) as apns:
        apns.clock = lambda: time.time() + 3700   # the server's clock, for iat freshness

No client certificate is asked for. Each request's token is checked the way APNs answers: PyJWT (an implementation
independent of walletpass's) verifies the ES256 signature with the public key of its ``kid``; an unknown ``kid``, a
bad signature, another ``alg`` or an ``iss`` other than the team give 403 InvalidProviderToken, a missing header 403
MissingProviderToken, an ``iat`` over an hour old 403 ExpiredProviderToken, and a token replaced on a connection
less than 20 minutes (by ``iat``) after the previous one 429 TooManyProviderTokenUpdates. As APNs does, a new
connection allows one stream until a request is accepted, then ``max_concurrent_streams``.

Threads: one accept thread plus one thread per connection (blocking ssl sockets with a short timeout, so that
``goaway()`` and shutdown are noticed).
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: Reason sent when a script gives only a status.
DEFAULT_REASONS = {
    400: "BadDeviceToken",
    403: "BadCertificate",
    404: "BadPath",
    405: "MethodNotAllowed",
    410: "Unregistered",
    413: "PayloadTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}
_HEX_TOKEN = re.compile(r"[0-9a-fA-F]+")
_POLL = 0.05  # seconds a connection thread blocks in recv before checking for goaway()/shutdown


@dataclass(frozen=True)
class RecordedPush:
    """One request the fake answered."""

    token: str
    topic: str | None
    headers: dict[str, str]
    body: bytes
    status: int
    reason: str
    apns_id: str
    connection: int       # 1-based number of the TLS connection it came on
    stream_id: int
    at: float             # time.monotonic() when answered


@dataclass
class _Request:
    headers: dict[str, str]
    body: bytearray = field(default_factory=bytearray)


Script = Iterable[int | tuple[int, str]]


class FakeApns:
    """HTTP/2 TLS server on a random loopback port speaking enough APNs for walletpass' adapter."""

    def __init__(self, pki: Any, *, max_concurrent_streams: int = 1000, trust_files: Iterable[Path] | None = None,
                 host: str = "127.0.0.1", token_keys: Mapping[str, ec.EllipticCurvePublicKey] | None = None,
                 team_id: str | None = None, topics: Iterable[str] | None = None) -> None:
        # A bare server context: only the dev PKI is trusted for client certificates, never the system CAs.
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self._ctx.load_cert_chain(str(pki.server_cert_file), str(pki.server_key_file))
        #: token mode: key id → public key of the team's .p8 keys (None: certificate mode)
        self.token_keys = dict(token_keys) if token_keys is not None else None
        self.team_id = team_id
        self.topics = set(topics) if topics is not None else None
        #: the server's clock (UNIX seconds) for the tokens' iat
        self.clock: Callable[[], float] = time.time
        #: (kid, iat) of every token that passed the checks, in order
        self.tokens_accepted: list[tuple[str, int]] = []
        self._ctx.verify_mode = ssl.CERT_REQUIRED if token_keys is None else ssl.CERT_OPTIONAL
        for path in trust_files or (pki.certs_dir / "apple-root-ca.pem", pki.certs_dir / "wwdr-ca.pem"):
            self._ctx.load_verify_locations(cafile=str(path))
        self._ctx.set_alpn_protocols(["h2"])
        self.max_concurrent_streams = max_concurrent_streams
        self._host = host
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[tuple[int, str]]] = {}
        self._pushes: list[RecordedPush] = []
        self._goaway_countdown: int | None = None
        self._hold_left: int | None = None
        #: requests left unanswered while holding (``hold_after``)
        self.held = 0
        self._refused_serials: dict[int, str] = {}
        self._sessions: list[_Session] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.connections = 0
        self.rejected_handshakes = 0
        #: The most requests whose headers arrived in one read of a connection: the client had sent them all
        #: before any of their answers left, so at least that many streams were in flight at once.
        self.most_requests_per_read = 0
        self.handshake_errors: list[str] = []
        #: the client certificate's UID of each accepted connection (None: the client sent no certificate)
        self.peer_certificates: list[str | None] = []
        self.framing()
        #: PING acknowledgements received from clients (``framing(ping=True)``)
        self.ping_acks = 0
        self._listener: socket.socket | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> FakeApns:
        listener = socket.create_server((self._host, 0), backlog=128)
        listener.settimeout(_POLL)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._spawn(self._accept_loop, "fake-apns-accept")
        return self

    def stop(self) -> None:
        self._stopping.set()
        for thread in list(self._threads):
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> FakeApns:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"https://{self._host}:{self.port}"

    # -- test controls --------------------------------------------------------------------------------
    def script(self, token: str, responses: Script) -> None:
        """Answer the next requests for *token* with *responses* in order (status or (status, reason)), then 200.
        Status 0 resets the stream (RST_STREAM, INTERNAL_ERROR) instead of answering."""
        steps = deque((r, DEFAULT_REASONS.get(r, "")) if isinstance(r, int) else (r[0], r[1]) for r in responses)
        with self._lock:
            self._scripts[token] = steps

    def framing(self, *, padding: int = 0, interim: bool = False, filler: int = 0, ping: bool = False) -> None:
        """Shape every later answer the less common ways HTTP/2 allows: error bodies in DATA frames with
        *padding* bytes of padding, a ``100`` interim answer before the final one, an extra header of *filler*
        bytes (over 16 KiB it needs CONTINUATION frames), and a PING before each answer."""
        self.padding, self.interim, self.filler, self.ping = padding, interim, filler, ping

    def refuse_certificate(self, cert_file: Path, reason: str = "BadCertificate") -> None:
        """Answer 403 *reason* to every push on a connection made with this client certificate (revoked)."""
        serial = x509.load_pem_x509_certificate(Path(cert_file).read_bytes()).serial_number
        with self._lock:
            self._refused_serials[serial] = reason

    def hold_after(self, n: int) -> None:
        """Answer *n* more requests, then leave every further one unanswered (a server that hangs mid-batch)
        until :meth:`release`."""
        with self._lock:
            self._hold_left = n

    def release(self) -> None:
        """Answer new requests again (those held stay unanswered: their client gave up or died)."""
        with self._lock:
            self._hold_left = None

    def _holding(self) -> bool:
        with self._lock:
            if self._hold_left is None:
                return False
            if self._hold_left > 0:
                self._hold_left -= 1
                return False
            self.held += 1
            return True

    def goaway_after(self, n: int) -> None:
        """After answering *n* more requests, send GOAWAY (last stream = that request) and close the connection."""
        with self._lock:
            self._goaway_countdown = n

    def goaway(self) -> None:
        """Ask every open connection to send GOAWAY now and close."""
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.goaway_requested.set()

    def wait_until(self, predicate: Any, timeout: float = 2.0) -> bool:
        """Poll *predicate* (e.g. ``lambda: apns.rejected_handshakes``) until truthy; the server's threads record
        a refused handshake just after the client has seen the alert, so tests wait instead of racing."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._sessions)

    @property
    def pushes(self) -> list[RecordedPush]:
        with self._lock:
            return list(self._pushes)

    def delivered(self) -> list[str]:
        """Tokens answered 200, in answer order."""
        return [p.token for p in self.pushes if p.status == 200]

    def requests_for(self, token: str) -> list[RecordedPush]:
        return [p for p in self.pushes if p.token == token]

    # -- internals ------------------------------------------------------------------------------------
    def _spawn(self, target: Any, name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, "fake-apns-conn", raw)

    def _serve(self, raw: socket.socket) -> None:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        raw.settimeout(5)
        try:
            tls = self._ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
            tls.do_handshake()
            if tls.selected_alpn_protocol() != "h2":
                raise ssl.SSLError("client did not negotiate h2 via ALPN")
            der = tls.getpeercert(binary_form=True)
            cert = x509.load_der_x509_certificate(der) if der else None
            uids = cert.subject.get_attributes_for_oid(NameOID.USER_ID) if cert else []
        except (ssl.SSLError, OSError) as exc:
            with self._lock:
                self.rejected_handshakes += 1
                self.handshake_errors.append(str(exc))
            raw.close()
            return
        with self._lock:
            self.connections += 1
            self.peer_certificates.append(str(uids[0].value) if uids else None if cert is None else "")
            session = _Session(self, tls, self.connections, str(uids[0].value) if uids else None,
                               token_mode=self.token_keys is not None)
            session.refused = self._refused_serials.get(cert.serial_number) if cert else None
            self._sessions.append(session)
        try:
            session.run()
        finally:
            with self._lock:
                self._sessions.remove(session)
            tls.close()

    def _check_token(self, authorization: str | None, session: _Session) -> tuple[int, str] | None:
        """(status, reason) refusing a provider token as APNs would, or None when it is good."""
        if authorization is None:
            return 403, "MissingProviderToken"
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return 403, "MissingProviderToken"
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return 403, "InvalidProviderToken"
        key = (self.token_keys or {}).get(str(header.get("kid")))
        if header.get("alg") != "ES256" or key is None:
            return 403, "InvalidProviderToken"
        try:
            claims = jwt.decode(token, key, algorithms=["ES256"],
                                options={"verify_iat": False, "require": ["iss", "iat"]})
        except jwt.PyJWTError:
            return 403, "InvalidProviderToken"  # bad signature, wrong key, malformed
        iat = claims["iat"]
        if claims["iss"] != self.team_id or not isinstance(iat, int):
            return 403, "InvalidProviderToken"
        now = self.clock()
        if now - iat > 3600:
            return 403, "ExpiredProviderToken"
        if iat > now + 60:
            return 403, "InvalidProviderToken"
        if session.token_iat is not None and iat != session.token_iat and iat - session.token_iat < 1200:
            return 429, "TooManyProviderTokenUpdates"
        if iat != session.token_iat:
            session.token_iat = iat
            with self._lock:
                self.tokens_accepted.append((str(header["kid"]), iat))
        return None

    def _judge(self, req: _Request, cert_uid: str | None,
               session: _Session | None = None) -> tuple[str, str | None, int, str]:
        """Return (token, topic, status, reason) for one complete request, as APNs would answer it."""
        h = req.headers
        path = h.get(":path", "")
        token = path[len("/3/device/"):] if path.startswith("/3/device/") else ""
        topic = h.get("apns-topic")
        if h.get(":method") != "POST":
            return token, topic, 405, "MethodNotAllowed"
        if not path.startswith("/3/device/"):
            return token, topic, 404, "BadPath"
        if not token:
            return token, topic, 400, "MissingDeviceToken"
        if not _HEX_TOKEN.fullmatch(token):
            return token, topic, 400, "BadDeviceToken"
        token_auth = self.token_keys is not None and ("authorization" in h or cert_uid is None)
        if token_auth:
            assert session is not None
            refused = self._check_token(h.get("authorization"), session)
            if refused is not None:
                return token, topic, *refused
        if not topic:
            return token, topic, 400, "MissingTopic"
        if token_auth:
            if self.topics is not None and topic not in self.topics:
                return token, topic, 400, "TopicDisallowed"
        elif topic != cert_uid:
            return token, topic, 400, "BadTopic"
        if h.get("apns-push-type") != "background":
            return token, topic, 400, "InvalidPushType"
        if h.get("apns-priority", "10") != "5":  # background pushes must use priority 5 (apple.md §4)
            return token, topic, 400, "BadPriority"
        expiration = h.get("apns-expiration")
        if expiration is not None and not expiration.isdigit():
            return token, topic, 400, "BadExpirationDate"
        if "apns-id" in h and not _is_uuid(h["apns-id"]):
            return token, topic, 400, "BadMessageId"
        if not req.body:
            return token, topic, 400, "PayloadEmpty"
        try:
            payload = json.loads(req.body)
        except ValueError:
            payload = None
        if payload != {}:
            return token, topic, 400, "BadPayload"  # fake-only reason: Wallet pushes must be exactly {}
        with self._lock:
            steps = self._scripts.get(token)
            if steps:
                status, reason = steps.popleft()
                return token, topic, status, reason
        return token, topic, 200, ""

    def _record(self, push: RecordedPush) -> bool:
        """Store *push*; return True if the connection must now send GOAWAY (``goaway_after``)."""
        with self._lock:
            self._pushes.append(push)
            if self._goaway_countdown is None:
                return False
            self._goaway_countdown -= 1
            if self._goaway_countdown > 0:
                return False
            self._goaway_countdown = None
            return True


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class _Session:
    """One HTTP/2 connection: feeds bytes to h2, answers complete requests, respects flow control."""

    def __init__(self, server: FakeApns, tls: ssl.SSLSocket, number: int, cert_uid: str | None, *,
                 token_mode: bool = False) -> None:
        self.server = server
        self.tls = tls
        self.number = number
        self.cert_uid = cert_uid
        self.token_iat: int | None = None  # iat of the provider token this connection uses
        # APNs allows one stream on a token-authenticated connection until a request is accepted (apple.md §4).
        self.limited = token_mode
        self.refused: str | None = None  # 403 reason for every push: the client certificate is revoked
        self.goaway_requested = threading.Event()
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS:
                            1 if token_mode else server.max_concurrent_streams,
                            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 65536},
        )
        self.requests: dict[int, _Request] = {}
        self.pending: dict[int, bytes] = {}  # response bodies waiting for flow-control window
        self.last_answered = 0

    def run(self) -> None:
        self.tls.settimeout(_POLL)
        self.conn.initiate_connection()
        # Room for many streams' request bodies before the client has to wait for WINDOW_UPDATE.
        self.conn.increment_flow_control_window(2**24)
        self._flush()
        while not self.server._stopping.is_set():
            if self.goaway_requested.is_set():
                self._goaway()
                return
            try:
                data = self.tls.recv(65536)
            except TimeoutError:
                continue
            except (ssl.SSLError, OSError):
                return
            if not data:
                return
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                self._flush()
                return
            if self._handle(events):
                self._goaway()
                return
            self._flush()

    def _handle(self, events: list[h2.events.Event]) -> bool:
        """Process *events*; return True when the connection must go away now."""
        arrived = sum(isinstance(e, h2.events.RequestReceived) for e in events)
        if arrived > self.server.most_requests_per_read:
            with self.server._lock:
                self.server.most_requests_per_read = max(self.server.most_requests_per_read, arrived)
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                headers = {k.decode(): v.decode() for k, v in event.headers}  # type: ignore[union-attr]
                self.requests[event.stream_id] = _Request(headers)
            elif isinstance(event, h2.events.DataReceived):
                req = self.requests.get(event.stream_id)
                if req is not None:
                    req.body += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                if self._answer(event.stream_id):
                    return True
            elif isinstance(event, h2.events.StreamReset):
                self.requests.pop(event.stream_id, None)
                self.pending.pop(event.stream_id, None)
            elif isinstance(event, h2.events.WindowUpdated):
                for stream_id in list(self.pending) if event.stream_id == 0 else [event.stream_id]:
                    self._send_body(stream_id)
            elif isinstance(event, h2.events.PingAckReceived):
                with self.server._lock:
                    self.server.ping_acks += 1
            elif isinstance(event, h2.events.ConnectionTerminated):
                return False
        return False

    def _answer(self, stream_id: int) -> bool:
        req = self.requests.pop(stream_id, None)
        if req is None or self.server._holding():
            return False
        token, topic, status, reason = self.server._judge(req, self.cert_uid, self)
        if self.refused is not None and status == 200:
            status, reason = 403, self.refused
        if self.limited and status == 200:
            self.limited = False
            self.conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS:
                                       self.server.max_concurrent_streams})
        apns_id = req.headers.get("apns-id") or str(uuid.uuid4())
        server = self.server
        if status == 0:
            self.conn.reset_stream(stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
            return server._record(RecordedPush(token, topic, dict(req.headers), bytes(req.body), 0, "reset",
                                               apns_id, self.number, stream_id, time.monotonic()))
        if server.ping:
            self.conn.ping(b"walletpa")
        if server.interim:
            self.conn.send_headers(stream_id, [(":status", "100")])
        headers = [(":status", str(status)), ("apns-id", apns_id)]
        if server.filler:
            headers.append(("x-filler", "f" * server.filler))
        body = b""
        if status != 200:
            doc: dict[str, object] = {"reason": reason}
            if status == 410:
                doc["timestamp"] = int(time.time() * 1000)
            body = json.dumps(doc).encode()
            headers += [("content-type", "application/json"), ("content-length", str(len(body)))]
        try:
            self.conn.send_headers(stream_id, headers, end_stream=not body)
        except h2.exceptions.StreamClosedError:
            return False
        if body:
            self.pending[stream_id] = body
            self._send_body(stream_id)
        self.last_answered = max(self.last_answered, stream_id)
        return self.server._record(RecordedPush(token, topic, dict(req.headers), bytes(req.body), status, reason,
                                                apns_id, self.number, stream_id, time.monotonic()))

    def _send_body(self, stream_id: int) -> None:
        data = self.pending.get(stream_id)
        if data is None:
            return
        try:
            while data:
                size = min(len(data), self.conn.local_flow_control_window(stream_id), self.conn.max_outbound_frame_size)
                if size <= 0:
                    self.pending[stream_id] = data
                    return
                padding = min(self.server.padding, 255, max(0, size - 2))
                if padding:
                    size -= padding + 1  # the padding and its length byte count against the window too
                self.conn.send_data(stream_id, data[:size], pad_length=padding or None)
                data = data[size:]
            self.conn.end_stream(stream_id)
        except h2.exceptions.StreamClosedError:
            pass
        self.pending.pop(stream_id, None)

    def _flush(self) -> None:
        out = self.conn.data_to_send()
        if out:
            with contextlib.suppress(ssl.SSLError, OSError):
                self.tls.sendall(out)

    def _goaway(self) -> None:
        """Send GOAWAY naming the last answered stream, then linger so the client reads it before we close."""
        self.conn.close_connection(error_code=h2.errors.ErrorCodes.NO_ERROR, last_stream_id=self.last_answered,
                                   additional_data=b'{"reason":"Shutdown"}')
        self._flush()
        deadline = time.monotonic() + 0.25
        while time.monotonic() < deadline:  # discard what the client still sends (no RST that eats the GOAWAY)
            try:
                if not self.tls.recv(65536):
                    break
            except TimeoutError:
                continue
            except (ssl.SSLError, OSError):
                break
