"""The simulated device fleet of bench/campaign.py: Apple devices that, on each push, ask for their updated serials
and fetch the pass, over HTTP/1.1 keep-alive connections (apple.md §3.3, §3.4).

The pushes come from the APNs stand-in's access log (nginx writes one line per push answered: ``$msec $uri``, the
device token at the end of the path), which :meth:`Fleet.tail` follows. Each push puts its device in a queue;
``connections`` coroutines, each with its own keep-alive connection, take devices from it and do what a phone does:

1. ``GET /v1/devices/<device>/registrations/<pass type>?passesUpdatedSince=<the tag it holds>``: 200 with the one
   serial and a new ``lastUpdated`` (204: nothing new, counted);
2. ``GET /v1/passes/<pass type>/<serial>`` with ``Authorization: ApplePass <token>``: 200, a pkpass whose ETag
   names a version at least that ``lastUpdated``. Every ``sample``-th pass is opened: its pass.json must show the
   news field with ``changeMessage: "%@"`` and its en.lproj/pass.strings the campaign's message.

Anything else (another status, a wrong version or content, a broken connection) is a fetch error; the device tries
again a second later, at most three times, as a phone retries later. The client is a few lines over asyncio
streams, not httpx: httpx's AsyncClient spent ~2.7 ms of CPU per request on this machine (32 connections to a
local nginx), against ~35 µs for these lines — httpx would have been the bottleneck.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile
from collections import Counter
from dataclasses import dataclass

#: Tries per pushed device (each failure is one fetch error), a second apart.
TRIES = 3


class Http:
    """One HTTP/1.1 keep-alive connection on asyncio streams (Content-Length or chunked bodies)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, target: str, headers: str = "",
                      body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        """Send one request; *headers* are ``Name: value\\r\\n`` lines. A reused connection that the server had
        closed (its keep-alive timeout) is reopened and the request sent again: what HTTP clients do."""
        data = (f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\n{headers}"
                f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
        for _ in range(2):
            reused = self._writer is not None
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            assert self._reader is not None
            try:
                self._writer.write(data)
                head = await self._reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()
                if reused:
                    continue
                raise
            return await self._response(head)
        raise ConnectionError("the server closed the connection twice")

    async def _response(self, head: bytes) -> tuple[int, dict[str, str], bytes]:
        assert self._reader is not None
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
        if fields.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += (await self._reader.readexactly(size + 2))[:-2]
            await self._reader.readuntil(b"\r\n")
        elif "content-length" in fields:
            body = await self._reader.readexactly(int(fields["content-length"]))
        else:
            body = b""
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, fields, body

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass(slots=True)
class Phone:
    """One device with one pass: what it holds, and when it was pushed and got the new version."""

    device: str
    serial: str
    token: str
    tag: int              # the lastUpdated it holds
    pushes: int = 0
    pushed_at: float = 0.0  # epoch seconds of its (last) push, as nginx logged it
    held_at: float = 0.0    # epoch seconds it held the new version (0: not yet)


class FetchError(Exception):
    """An answer a phone would not accept (the text is its kind, counted)."""


class Fleet:
    def __init__(self, phones: dict[str, Phone], *, host: str, port: int, pass_type_id: str, message: str,
                 sample: int = 200) -> None:
        self.phones, self.host, self.port, self.ptid = phones, host, port, pass_type_id
        self.message, self.sample = message, sample
        self.queue: asyncio.Queue[Phone] = asyncio.Queue()
        self.errors: Counter[str] = Counter()
        self.versions: Counter[tuple[str, str]] = Counter()  # (serial, tag) → 200 pass answers
        self.held = self.nothing_new = self.unknown_pushes = self.checked = 0
        self.pushes: list[float] = []
        self.all_held = asyncio.Event()

    async def tail(self, path: str) -> None:
        """Follow the APNs stand-in's log of pushes: each pushed device goes into the queue."""
        rest = b""
        with open(path, "rb") as log:
            while True:
                data = log.read()
                if not data:
                    await asyncio.sleep(0.01)
                    continue
                lines = (rest + data).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    at, _, uri = line.partition(b" ")
                    phone = self.phones.get(uri.rsplit(b"/", 1)[-1].decode())
                    if phone is None:
                        self.unknown_pushes += 1
                        continue
                    phone.pushes += 1
                    phone.pushed_at = float(at)
                    self.pushes.append(phone.pushed_at)
                    self.queue.put_nowait(phone)

    async def device(self) -> None:
        """One connection's loop: update each pushed phone in turn."""
        conn = Http(self.host, self.port)
        try:
            while True:
                phone = await self.queue.get()
                for attempt in range(TRIES):
                    try:
                        await self._update(conn, phone)
                        break
                    except (FetchError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                        self.errors[str(exc) if isinstance(exc, FetchError) else type(exc).__name__] += 1
                        conn.close()
                        if attempt + 1 < TRIES:
                            await asyncio.sleep(1)
        finally:
            conn.close()

    async def _update(self, conn: Http, phone: Phone) -> None:
        status, _, body = await conn.request(
            "GET", f"/v1/devices/{phone.device}/registrations/{self.ptid}?passesUpdatedSince={phone.tag}")
        if status == 204:
            self.nothing_new += 1
            return
        if status != 200:
            raise FetchError(f"list: {status}")
        listed = json.loads(body)
        if listed["serialNumbers"] != [phone.serial]:
            raise FetchError("list: other serials")
        last = int(listed["lastUpdated"])
        status, fields, body = await conn.request("GET", f"/v1/passes/{self.ptid}/{phone.serial}",
                                                  f"Authorization: ApplePass {phone.token}\r\n")
        if status != 200 or fields.get("content-type") != "application/vnd.apple.pkpass":
            raise FetchError(f"pass: {status}")
        tag = fields.get("etag", "").strip('"').rsplit("-", 1)[-1]
        if not tag.isdigit() or int(tag) < last:
            raise FetchError("pass: older version")
        self.versions[(phone.serial, tag)] += 1
        if self.held % self.sample == 0:
            self._check(body)
        phone.tag, phone.held_at = last, time.time()
        self.held += 1
        if self.held == len(self.phones):
            self.all_held.set()

    def _check(self, pkpass: bytes) -> None:
        """The pass shows the campaign's message: its news field only tells the lock screen (``%@``)."""
        with zipfile.ZipFile(io.BytesIO(pkpass)) as z:
            names = set(z.namelist())
            doc = json.loads(z.read("pass.json"))
            news = [f for f in doc["storeCard"].get("backFields", []) if f.get("key") == "news"]
            strings = z.read("en.lproj/pass.strings").decode("utf-16") if "en.lproj/pass.strings" in names else ""
        if not {"signature", "manifest.json"} <= names or len(news) != 1 or news[0].get("changeMessage") != "%@" \
                or self.message not in strings:
            raise FetchError("pass: content without the message")
        self.checked += 1
