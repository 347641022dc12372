"""Just enough HTTP/2 (RFC 9113) to send many small POSTs over one TLS connection and read their statuses.

Private to :mod:`walletpass.push.apns`. Why not a general client: per request, libcurl (through pycurl) spent over
20 µs of CPU in its own per-transfer work, and the pure-Python h2 state machine costs more, while h2load spends
~6.5 µs; the ApnsClient on top of this module spends ~7 µs (figures in BENCHMARKS.md, "push"). It gets there by
doing only what APNs needs:

* requests are ``POST``s whose HPACK header blocks the caller encodes itself (literals without indexing, so no
  encoder state) and whose bodies are one small DATA frame; many of them go out in one TLS write;
* we announce ``SETTINGS_HEADER_TABLE_SIZE = 0`` and send no request before the server acknowledged it, so every
  response header block is self-contained: ``:status 200`` is recognised from its first byte, anything else is
  decoded by :mod:`hpack` (python-hyper's decoder, the one h2 uses);
* the rest of the protocol a client must honour is here too: the server's SETTINGS (concurrency limit), PING,
  connection flow control in both directions, RST_STREAM, GOAWAY (streams it did not process are handed back
  unsent), CONTINUATION, padding, interim 1xx answers, and unknown frame types (ignored).

Not supported, because APNs never needs them: server push (disabled in our SETTINGS), request bodies larger than
the peer's initial stream window, response trailers with a status.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Sequence

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# frame types (RFC 9113 §6)
DATA, HEADERS, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 5, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
_RECEIVE_WINDOW = 1 << 30        # what we let the server send before we acknowledge (connection)
_STREAM_WINDOW = 1 << 20         # per stream: an error body is ~100 bytes
_READ_SIZE = 1 << 18
_MAX_STREAM_ID = (1 << 31) - 1
#: A frame's 9-byte head read as (length << 8 | type, flags, stream id).
_FRAME_HEAD = struct.Struct(">IBI")
#: A result slot: None = not answered (and, after a call, not sent either: safe to send elsewhere);
#: 200 (the common case, kept an int to stay cheap); (status, body) for any other final answer;
#: a str for a stream that was sent and failed without an answer (reset, connection lost, timed out).
Result = None | int | tuple[int, bytes] | str


class Http2Error(ConnectionError):
    """The connection broke the protocol, or could not be set up (no h2 by ALPN, no SETTINGS in time)."""


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return _FRAME_HEAD.pack(len(payload) << 8 | kind, flags, stream_id) + payload


def _integer(value: int, prefix_bits: int, first: int) -> bytes:
    """HPACK integer (RFC 7541 §5.1) with *first* holding the bits above the prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out, value = bytearray((first | limit,)), value - limit
    while value >= 128:
        out.append(0x80 | value & 0x7F)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name: bytes | int, value: bytes) -> bytes:
    """One header as an HPACK literal without indexing (RFC 7541 §6.2.2), no Huffman coding.

    *name* is either the name itself or its index in the static table (``:path`` is 4, ``:authority`` 1).
    """
    head = _integer(name, 4, 0x00) if isinstance(name, int) else b"\x00" + _integer(len(name), 7, 0) + name
    return head + _integer(len(value), 7, 0) + value


#: ``:method: POST`` and ``:scheme: https`` from the static table (indexes 3 and 7).
POST_HTTPS = b"\x83\x87"


class Connection:
    """One HTTP/2 connection over TLS, used by one thread at a time.

    ``open`` is False once the connection can take no new request (closed, GOAWAY received, stream ids used
    up); ``error`` is the exception that closed it, if any; ``goaway`` is ``(last_stream_id, error_code,
    debug_data)`` once the server sent GOAWAY.
    """

    def __init__(self, host: str, port: int, context: ssl.SSLContext, connect_timeout: float) -> None:
        self.host = host
        self.open = False
        self.error: BaseException | None = None
        self.goaway: tuple[int, int, bytes] | None = None
        self.peer_max_streams = 100  # RFC 9113 suggests at least 100 until the server says otherwise
        self._peer_stream_window = 65_535
        self._send_window = 65_535   # connection-level: what we may still send in DATA frames
        self._unacked = 0            # DATA bytes received and not yet returned by WINDOW_UPDATE
        self._next_id = 1
        self._out = bytearray()
        self._in = bytearray()
        self._decoder = hpack.Decoder()
        self._decoder.max_allowed_table_size = 0
        self._decoder.header_table_size = 0
        self._streams: dict[int, int] = {}            # stream id → result slot index
        self._answers: dict[int, int] = {}            # stream id → status of an answer whose body is coming
        self._bodies: dict[int, bytearray] = {}
        self._block: tuple[int, int, bytearray] | None = None  # stream, flags, header block awaiting CONTINUATION
        deadline = time.monotonic() + connect_timeout
        raw = socket.create_connection((host, port), timeout=connect_timeout)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            self._tls = context.wrap_socket(raw, server_hostname=host)
        except BaseException:
            raw.close()
            raise
        try:
            if self._tls.selected_alpn_protocol() != "h2":
                raise Http2Error(f"{host}:{port} did not agree to HTTP/2 (ALPN: {self._tls.selected_alpn_protocol()})")
            settings = b"".join(k.to_bytes(2, "big") + v.to_bytes(4, "big")
                                for k, v in ((1, 0), (2, 0), (4, _STREAM_WINDOW)))  # table 0, no push, window
            self._tls.sendall(PREFACE + frame(SETTINGS, 0, 0, settings)
                              + frame(WINDOW_UPDATE, 0, 0, (_RECEIVE_WINDOW - 65_535).to_bytes(4, "big")))
            self._tls.setblocking(False)
            self._poller = select.poll()
            self._poller.register(self._tls, select.POLLIN)
            # No request before the server acknowledged our SETTINGS: from then on its header blocks use no table.
            self._settings_acked = self._peer_settings_seen = False
            results: list[Result] = []
            while not (self._settings_acked and self._peer_settings_seen):
                left = deadline - time.monotonic()
                if self._tls is None:
                    raise self.error or Http2Error(f"{host}:{port} closed the connection during set-up")
                if left <= 0:
                    raise Http2Error(f"no HTTP/2 SETTINGS from {host}:{port} within {connect_timeout:g} s")
                self._flush()
                if self._poller.poll(left * 1000):
                    self._receive(results)
        except BaseException:
            self.close()
            raise
        self.open = self.goaway is None

    # -- public ---------------------------------------------------------------------------------------
    def exchange(self, blocks: Sequence[bytes], order: Sequence[int], body: bytes, results: list[Result],
                 cap: int, timeout: float) -> None:
        """Send ``POST``s with the header blocks ``blocks[i]`` (for i in *order*) and body *body*; put each
        answer in ``results[i]``. At most *cap* (and the server's limit) are in flight at once.

        Returns when every sent request is answered or failed. Requests left ``None`` were not sent (GOAWAY,
        connection closed before) and may go on another connection. A request unanswered *timeout* seconds
        after it was sent fails with the rest of this connection's requests, and the connection is closed.
        """
        try:
            self._exchange(blocks, order, body, results, cap, timeout)
        except OSError as exc:  # the socket failed while writing
            self.close(exc, results)

    def _exchange(self, blocks: Sequence[bytes], order: Sequence[int], body: bytes, results: list[Result],
                  cap: int, timeout: float) -> None:
        streams, tls, poller = self._streams, self._tls, self._poller
        body_len = len(body)
        pack = _FRAME_HEAD.pack
        data_head = (body_len << 8 | DATA, END_STREAM)
        sent_batches: deque[tuple[float, int, int]] = deque()  # (deadline, first stream, last stream)
        stalled_until: float | None = None  # nothing in flight and no room to send (flow control)
        n, k = len(order), 0
        while True:
            if self.open and k < n:
                room = min(cap, self.peer_max_streams) - len(streams)
                room = min(room, n - k, self._send_window // body_len if body_len else n,
                           (_MAX_STREAM_ID - self._next_id) // 2)
                if room > 0 and body_len <= self._peer_stream_window:
                    sid, parts = self._next_id, []
                    first = sid
                    for i in order[k:k + room]:
                        block = blocks[i]
                        parts.append(pack(len(block) << 8 | HEADERS, END_HEADERS, sid) + block
                                     + pack(*data_head, sid) + body)
                        streams[sid] = i
                        sid += 2
                    self._out += b"".join(parts)
                    self._next_id = sid
                    self._send_window -= room * body_len
                    k += room
                    sent_batches.append((time.monotonic() + timeout, first, sid - 2))
                    stalled_until = None
                    if sid > _MAX_STREAM_ID - 2:
                        self.open = False  # stream ids used up: finish these, then a new connection
            if not streams and (k >= n or not self.open):
                if self._tls is not None:
                    self._flush()  # acknowledgements (SETTINGS, PING) and window updates still owed
                return
            self._flush()
            now = time.monotonic()
            if not streams:
                stalled_until = stalled_until or now + timeout
                wait = stalled_until - now
            else:
                wait = sent_batches[0][0] - now if sent_batches else timeout
            if wait <= 0:
                while sent_batches and not any(s in streams for s in range(sent_batches[0][1],
                                                                             sent_batches[0][2] + 1, 2)):
                    sent_batches.popleft()  # answered in time
                stalled = stalled_until is not None and stalled_until <= now
                if stalled or (sent_batches and sent_batches[0][0] <= now):
                    self.close(TimeoutError(f"no answer from {self.host} within {timeout:g} s"), results)
                    return
                continue
            poller.modify(tls, select.POLLIN | select.POLLOUT if self._out else select.POLLIN)
            if poller.poll(wait * 1000) or tls.pending():
                self._receive(results)

    def close(self, error: BaseException | None = None, results: list[Result] | None = None) -> None:
        """Close the connection; requests in flight fail with *error* (or "connection closed")."""
        self.open = False
        if error is not None and self.error is None:
            self.error = error
        if results is not None:
            reason = f"{type(self.error).__name__}: {self.error}" if self.error else "connection closed"
            for i in self._streams.values():
                results[i] = reason
        self._streams.clear()
        if self._tls is not None:
            try:
                self._tls.close()
            finally:
                self._tls = None  # type: ignore[assignment]

    def idle_check(self) -> bool:
        """Between calls: read what the server sent meanwhile (PING, GOAWAY, EOF); return whether still open."""
        if self.open:
            try:
                if self._poller.poll(0) or self._tls.pending():
                    self._receive([])
                self._flush()
            except OSError as exc:
                self.close(exc)
        return self.open

    # -- internals ------------------------------------------------------------------------------------
    def _flush(self) -> None:
        out = self._out
        while out:
            try:
                sent = self._tls.send(out)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                return
            del out[:sent]

    def _receive(self, results: list[Result]) -> None:
        """Read everything the socket has and act on every complete frame."""
        data = self._in
        error: BaseException | None = None
        try:
            while True:
                chunk = self._tls.recv(_READ_SIZE)
                if not chunk:
                    error = ConnectionResetError(f"{self.host} closed the connection")
                    break
                data += chunk
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            pass
        except OSError as exc:
            error = exc
        try:
            self._frames(results)  # what arrived before an error still counts (a GOAWAY, answers)
        except Http2Error as exc:
            error = exc
        if error is not None:
            self.close(error, results)

    def _frames(self, results: list[Result]) -> None:
        data, pos, size = self._in, 0, len(self._in)
        streams, unpack = self._streams, _FRAME_HEAD.unpack_from
        while size - pos >= 9:
            length_kind, flags, sid = unpack(data, pos)
            end = pos + 9 + (length_kind >> 8)
            if end > size:
                break
            kind, sid = length_kind & 0xFF, sid & _MAX_STREAM_ID
            if kind == HEADERS and flags & (END_HEADERS | PADDED | PRIORITY) == END_HEADERS and self._block is None:
                j = pos + 9  # the common case: no padding, no priority, one frame
                while j < end and data[j] == 0x20:  # "dynamic table size 0" updates
                    j += 1
                if j < end and data[j] == 0x88 and flags & END_STREAM:  # :status 200, no body
                    i = streams.pop(sid, None)
                    if i is not None:
                        results[i] = 200
                else:
                    self._headers(sid, flags, bytes(data[pos + 9:end]), results)
            elif kind == RST_STREAM and sid not in streams and self._block is None:
                pass  # after the answer: nginx says it will not read the rest of the body
            elif kind == DATA and self._block is None:  # (mid header block: _control refuses it)
                self._data(sid, flags, data[pos + 9:end], results)
            else:
                self._control(kind, flags, sid, bytes(data[pos + 9:end]), results)
            pos = end
        del data[:pos]

    def _payload(self, flags: int, payload: bytes, kind: int) -> bytes:
        if flags & PADDED:
            if not payload or payload[0] >= len(payload):
                raise Http2Error("bad padding")
            payload = payload[1:len(payload) - payload[0]]
        if kind == HEADERS and flags & PRIORITY:
            payload = payload[5:]
        return payload

    def _headers(self, sid: int, flags: int, payload: bytes, results: list[Result]) -> None:
        block = self._payload(flags, payload, HEADERS)
        if not flags & END_HEADERS:
            self._block = (sid, flags, bytearray(block))
            return
        self._header_block(sid, flags, block, results)

    def _header_block(self, sid: int, flags: int, block: bytes, results: list[Result]) -> None:
        try:
            fields = self._decoder.decode(block, raw=True)
            status = next((int(value) for name, value in fields if name == b":status"), None)
        except (hpack.HPACKError, ValueError) as exc:
            raise Http2Error(f"undecodable response headers: {exc}") from exc
        if status is not None and status < 200:
            return  # interim answer (1xx): the final one follows
        if status is not None:
            self._answers[sid] = status
        if flags & END_STREAM:
            self._finish(sid, results)

    def _data(self, sid: int, flags: int, payload: bytearray, results: list[Result]) -> None:
        self._unacked += len(payload)
        if self._unacked > _RECEIVE_WINDOW // 2:
            self._out += frame(WINDOW_UPDATE, 0, 0, self._unacked.to_bytes(4, "big"))
            self._unacked = 0
        if sid not in self._streams:
            return
        body = self._bodies.get(sid)
        if body is None:
            body = self._bodies[sid] = bytearray()
        body += self._payload(flags, bytes(payload), DATA)
        if flags & END_STREAM:
            self._finish(sid, results)

    def _finish(self, sid: int, results: list[Result]) -> None:
        i = self._streams.pop(sid, None)
        status = self._answers.pop(sid, None)
        body = self._bodies.pop(sid, None)
        if i is None:
            return
        if status is None:
            results[i] = "the answer had no :status"
        elif status == 200 and not body:
            results[i] = 200
        else:
            results[i] = (status, bytes(body or b""))

    def _control(self, kind: int, flags: int, sid: int, payload: bytes, results: list[Result]) -> None:
        if self._block is not None:
            if kind != CONTINUATION or sid != self._block[0]:
                raise Http2Error("a header block was interrupted")
            self._block[2].extend(payload)
            if flags & END_HEADERS:
                sid, first_flags, block = self._block
                self._block = None
                self._header_block(sid, first_flags, bytes(block), results)
        elif kind == HEADERS:
            self._headers(sid, flags, payload, results)
        elif kind == SETTINGS:
            if flags & ACK:
                self._settings_acked = True
                return
            for at in range(0, len(payload) - 5, 6):
                key, value = int.from_bytes(payload[at:at + 2], "big"), int.from_bytes(payload[at + 2:at + 6], "big")
                if key == 3:
                    self.peer_max_streams = value
                elif key == 4:
                    self._peer_stream_window = value
            self._peer_settings_seen = True
            self._out += frame(SETTINGS, ACK, 0)
        elif kind == PING:
            if not flags & ACK:
                self._out += frame(PING, ACK, 0, payload)
        elif kind == WINDOW_UPDATE:
            if sid == 0:
                self._send_window += int.from_bytes(payload[:4], "big") & _MAX_STREAM_ID
        elif kind == RST_STREAM:
            i = self._streams.pop(sid, None)
            self._answers.pop(sid, None)
            self._bodies.pop(sid, None)
            if i is not None:
                code = int.from_bytes(payload[:4], "big")
                results[i] = f"stream reset by the server (HTTP/2 error {code})"
        elif kind == GOAWAY:
            last = int.from_bytes(payload[:4], "big") & _MAX_STREAM_ID
            self.goaway = (last, int.from_bytes(payload[4:8], "big"), payload[8:])
            self.open = False
            for s in [s for s in self._streams if s > last]:
                results[self._streams.pop(s)] = None  # not processed (RFC 9113 §6.8): may be sent again
        elif kind == PUSH_PROMISE:
            raise Http2Error("server push although SETTINGS_ENABLE_PUSH is 0")
        # PRIORITY and unknown frame types are ignored (RFC 9113 §5.5)


__all__ = ["Connection", "Http2Error", "POST_HTTPS", "Result", "literal"]
