"""The reads that Apple devices make most: list-since-tag and the latest-pass check (apple.md §3.3, §3.4).

Every device that gets a push calls both, and a device re-checks its passes on its own, so these two run far
more often than anything else. They skip the ORM session: each SELECT is built once, at import, compiled once
per engine by SQLAlchemy, and run on a DB-API connection the reads keep (prepared on the server, PostgreSQL).
Each read is one statement; on SQLite it
runs outside any transaction (no ``BEGIN IMMEDIATE``, which writers use), so reads proceed beside a writer under
WAL instead of queueing for the write lock. Only a fetch that moves a registration forward writes; a fetch served
from the stored signed bytes (after a campaign's push: every device at once) leaves its write to :class:`_FetchLog`,
which writes those of a quarter second in one transaction, so the fetches do not queue one by one for SQLite's
single write lock.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Engine, Select, bindparam, exists, literal_column, or_, select, update
from sqlalchemy.pool import PoolProxiedConnection

from walletpass.domain.devices import PassForDevice
from walletpass.domain.passes import StoredPass
from walletpass.storage.db import unavailable, unavailable_as_error
from walletpass.storage.tables import Base, CounterRow, DeviceRow, PassFileRow, PassRow, ProgramRow, RegistrationRow

log = logging.getLogger("walletpass.device_reads")

_passes, _regs, _devices, _files = (Base.metadata.tables[t.__tablename__]
                                    for t in (PassRow, RegistrationRow, DeviceRow, PassFileRow))
_programs = Base.metadata.tables[ProgramRow.__tablename__]
_counters = Base.metadata.tables[CounterRow.__tablename__]

_LAGGING = exists().where(_regs.c.pass_id == _passes.c.id,
                          or_(_regs.c.fetched_tag.is_(None), _regs.c.fetched_tag < _passes.c.update_tag))

_PASS_FOR_DEVICE = (
    select(_passes.c.id, _passes.c.authentication_token, _passes.c.updated_at, _passes.c.update_tag,
           _LAGGING.label("lagging"))
    .where(_passes.c.pass_type_id == bindparam("pass_type_id"), _passes.c.serial_number == bindparam("serial"))
)

_DEVICE_PASSES_SINCE = (
    select(_passes.c.serial_number, _passes.c.update_tag)
    .select_from(_devices.join(_regs, _regs.c.device_id == _devices.c.id)
                 .join(_passes, _passes.c.id == _regs.c.pass_id))
    .where(_devices.c.device_library_identifier == bindparam("device"),
           _passes.c.pass_type_id == bindparam("pass_type_id"),
           # a since past every tag handed out is another server's lastUpdated: everything (Android apps)
           or_(_passes.c.update_tag > bindparam("since", type_=BigInteger),
               bindparam("since", type_=BigInteger) > select(_counters.c.value).where(_counters.c.name == literal_column("'pass_tag'"))
               .scalar_subquery()))
)

#: The public pages' check (services.pages.PassPages): which pass a token opens and its version.
_PAGE_VERSION = (
    select(_passes.c.id, _passes.c.update_tag, _programs.c.version)
    .select_from(_passes.join(_programs, _programs.c.id == _passes.c.program_id))
    .where(_passes.c.public_token == bindparam("token"))
)

#: The signed bytes of a version at least *tag*, built by *build_key* (StoredPass.serves, as one SELECT).
_STORED_PASS = (
    select(_files.c.update_tag, _files.c.last_modified, _files.c.data)
    .where(_files.c.pass_id == bindparam("pass_id"), _files.c.update_tag >= bindparam("tag"),
           _files.c.build_key == bindparam("build_key"), _files.c.data.is_not(None))
)

_RECORD_FETCH = (
    update(_regs)
    .where(_regs.c.pass_id == bindparam("b_pass"),
           or_(_regs.c.fetched_tag.is_(None), _regs.c.fetched_tag < bindparam("b_tag")))
    .values(fetched_tag=bindparam("b_tag"), last_fetched_at=bindparam("b_now"))
)


class _Connections:
    """The read connections: a stack of idle DB-API connections (each with its cursor), shared by the threads.

    A read takes one, runs its statement and puts it back: a deque pop and append, not SQLAlchemy's pool
    checkout and checkin (its events, reset and bookkeeping cost more than the read itself here). New
    connections come from *engine* (``make_engine(..., autocommit_reads=True)``: no pool of its own, so its
    connect events set up each one), so there are never more than the most reads that ran at once.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._idle: deque[_Held] = deque()

    def take(self) -> _Held:
        try:
            return self._idle.pop()  # deque.pop and append are thread-safe
        except IndexError:
            return _Held(self._engine.raw_connection())

    def give(self, held: _Held) -> None:
        self._idle.append(held)

    def retire_all(self) -> None:
        """Close every idle connection: the database dropped one, so the others opened with it are dead too."""
        while True:
            try:
                held = self._idle.pop()
            except IndexError:
                return
            held.discard()


class _Held:
    """One DB-API connection kept by the reads, with its cursor (made once, reused by every read on it)."""

    __slots__ = ("connection", "cursor")

    def __init__(self, connection: PoolProxiedConnection) -> None:
        self.connection = connection
        self.cursor = connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def discard(self) -> None:
        with contextlib.suppress(Exception):  # it is already broken: nothing left to tell
            self.connection.invalidate()
            self.connection.close()


class _Prepared:
    """A SELECT compiled once for the engine's dialect, run on a kept DB-API connection.

    SQLAlchemy still writes the SQL and converts the values (each column's own result processor, so
    ``UTCDateTime`` comes back zone-aware on SQLite and PostgreSQL alike); what is skipped is the per-call
    Connection/ExecutionContext/Result machinery, which costs several times the query itself here. On
    PostgreSQL the statement is prepared on the server (psycopg ``prepare=True``) the first time each
    connection runs it: later runs send only the parameters, and the server does not parse or plan again.
    SQLite keeps its own statement cache per connection.
    """

    def __init__(self, engine: Engine, stmt: Select[Any], connections: _Connections) -> None:
        self._connections = connections
        compiled = stmt.compile(dialect=engine.dialect)
        self._sql = compiled.string
        self._order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        self._options: dict[str, Any] = {"prepare": True} if engine.dialect.driver == "psycopg" else {}
        dbapi = engine.dialect.dbapi
        self._disconnect_errors: tuple[type[BaseException], ...] = (
            (dbapi.OperationalError, dbapi.InterfaceError) if dbapi is not None else ())
        self._convert = tuple(c.type.dialect_impl(engine.dialect).result_processor(engine.dialect, None)
                              for c in stmt.selected_columns)

    def rows(self, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        args: Any = tuple(params[name] for name in self._order) if self._order is not None else params
        try:
            raw = self._run(args)
        except self._disconnect_errors:
            # That connection had died (database restarted, sessions killed), and so have the others opened
            # with it: retire them all, and once more on a fresh one.
            self._connections.retire_all()
            try:
                with unavailable_as_error():  # connecting failing is SQLAlchemy's error
                    raw = self._run(args)
            except self._disconnect_errors as exc:
                raise unavailable(exc) from exc
        convert = self._convert
        return [tuple(f(v) if f is not None else v for f, v in zip(convert, row, strict=True)) for row in raw]

    def _run(self, args: Any) -> list[Any]:
        held = self._connections.take()
        try:
            held.cursor.execute(self._sql, args, **self._options)
            rows = list(held.cursor.fetchall())
        except BaseException:
            held.discard()  # dropped, or in a state we do not know: never used again
            raise
        self._connections.give(held)
        return rows


class DeviceReads:
    """Prepared statements for the device calls; one per process, shared by threads.

    *engine* makes the read connections: an engine of their own (``make_engine(..., autocommit_reads=True)``:
    autocommit on PostgreSQL, one round trip per read). *writer* (default: *engine*) records fetches.
    """

    def __init__(self, engine: Engine, *, writer: Engine | None = None) -> None:
        self._engine = engine
        self._writer = writer or engine
        self._connections = _Connections(engine)
        self._pass_for_device = _Prepared(engine, _PASS_FOR_DEVICE, self._connections)
        self._device_passes_since = _Prepared(engine, _DEVICE_PASSES_SINCE, self._connections)
        self._page_version = _Prepared(engine, _PAGE_VERSION, self._connections)
        self._stored_pass = _Prepared(engine, _STORED_PASS, self._connections)
        self._fetch_log = _FetchLog(self._writer)

    def pass_for_device(self, pass_type_id: str, serial: str) -> PassForDevice | None:
        rows = self._pass_for_device.rows({"pass_type_id": pass_type_id, "serial": serial})
        if not rows:
            return None
        pass_id, token, updated_at, tag, lagging = rows[0]
        return PassForDevice(pass_id, token, updated_at, int(tag), bool(lagging))

    def device_passes_since(self, device_library_identifier: str, pass_type_id: str,
                            since_tag: int) -> list[tuple[str, int]]:
        """(serial, tag) of the device's registered passes of *pass_type_id* changed after *since_tag*."""
        rows = self._device_passes_since.rows({"device": device_library_identifier,
                                               "pass_type_id": pass_type_id, "since": since_tag})
        return [(serial, int(tag)) for serial, tag in rows]

    def page_version(self, public_token: str) -> tuple[int, int, int] | None:
        """(pass id, update tag, program version) of the pass behind a public token, or None (pass pages)."""
        rows = self._page_version.rows({"token": public_token})
        if not rows:
            return None
        pass_id, tag, version = rows[0]
        return int(pass_id), int(tag), int(version)
    def stored_pass(self, pass_id: int, tag: int, build_key: str) -> StoredPass | None:
        """The stored signed bytes that serve a fetch of version *tag* built by *build_key* (one indexed read),
        or None: not signed yet, or signed by another build."""
        rows = self._stored_pass.rows({"pass_id": pass_id, "tag": tag, "build_key": build_key})
        if not rows:
            return None
        stored_tag, last_modified, data = rows[0]
        return StoredPass(pass_id, int(stored_tag), build_key, last_modified, bytes(data))

    def record_fetch(self, pass_id: int, tag: int, now: datetime) -> None:
        """A device holds version *tag*: mark the registrations still behind it as delivered.

        The fetch carries no device id, so every registration of the pass that was behind is marked.
        """
        with unavailable_as_error(), self._writer.begin() as conn:
            conn.execute(_RECORD_FETCH, {"b_pass": pass_id, "b_tag": tag, "b_now": now})

    def record_fetch_soon(self, pass_id: int, tag: int, now: datetime) -> None:
        """As :meth:`record_fetch`, written within FETCH_LOG_SECONDS together with the other fetches of this
        process (one transaction), by a thread of its own: the request does not wait for the write lock."""
        self._fetch_log.add(pass_id, tag, now)

    def flush_fetches(self) -> None:
        """Write the fetches :meth:`record_fetch_soon` holds now."""
        self._fetch_log.flush()

    def close(self) -> None:
        """Write the fetches held, close the read connections (and the read engine, when it is our own, not the
        writer's)."""
        self._fetch_log.close()
        self._connections.retire_all()
        if self._engine is not self._writer:
            self._engine.dispose()


#: How long a fetch recorded by ``record_fetch_soon`` waits at most before it is written.
FETCH_LOG_SECONDS = 0.25


class _FetchLog:
    """Fetches to record, written every FETCH_LOG_SECONDS in one transaction (one executemany UPDATE).

    What they feed — a registration's ``fetched_tag`` and ``last_fetched_at``: the admin API's ``up_to_date``, the
    stale-devices gauge, a campaign's pace — can be a quarter second late. A process killed in between loses its
    last quarter second of them (the registrations look behind: the gauge counts them, a later fetch marks them).
    A failed write keeps them for the next round.
    """

    def __init__(self, writer: Engine, interval: float = FETCH_LOG_SECONDS) -> None:
        self._writer = writer
        self._interval = interval
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._pending: dict[int, tuple[int, datetime]] = {}  # pass id → the newest (tag, time) fetched
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, pass_id: int, tag: int, now: datetime) -> None:
        with self._lock:
            held = self._pending.get(pass_id)
            if held is None or held[0] < tag:
                self._pending[pass_id] = (tag, now)
            if self._thread is None and not self._stop.is_set():  # started in the process that serves
                self._thread = threading.Thread(target=self._run, name="walletpass-fetch-log", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - kept for the next round; the fetches were answered already
                log.warning("could not record fetches; trying again", exc_info=True)

    def flush(self) -> None:
        with self._writing:
            with self._lock:
                batch, self._pending = self._pending, {}
            if not batch:
                return
            try:
                with unavailable_as_error(), self._writer.begin() as conn:
                    conn.execute(_RECORD_FETCH, [{"b_pass": pass_id, "b_tag": tag, "b_now": now}
                                                 for pass_id, (tag, now) in sorted(batch.items())])
            except BaseException:
                with self._lock:  # back, unless a newer fetch of the pass came meanwhile
                    for pass_id, held in batch.items():
                        if pass_id not in self._pending or self._pending[pass_id][0] < held[0]:
                            self._pending[pass_id] = held
                raise

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(5)
        with contextlib.suppress(Exception):  # the database is gone: nothing left to record it in
            self.flush()
