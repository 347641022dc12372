"""Engines and migrations: SQLite (default, one file) or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from walletpass.errors import DatabaseUnavailable

MIGRATIONS = Path(__file__).with_name("migrations")

#: Execution option of connections that only read (``read_only_uow_factory``): on SQLite they begin a deferred
#: transaction, a consistent WAL snapshot that never waits for, nor holds up, the write lock.
READ_ONLY_OPTION = "walletpass_read_only"


def make_engine(url: str, *, pool_size: int = 10, autocommit_reads: bool = False) -> Engine:
    """Create an engine tuned for our use: WAL + busy timeout on SQLite, a pool on PostgreSQL.

    *autocommit_reads* makes an engine that only opens connections for single-SELECT reads (``DeviceReads``,
    which keeps them and hands them to its threads itself, so the engine pools nothing): on PostgreSQL in
    autocommit, so a read is one round trip with no COMMIT/ROLLBACK after it, and no pre-ping (that would be a
    second round trip per read; the caller retries once on a dropped connection instead).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               **({"poolclass": NullPool} if autocommit_reads else {}))

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # Let SQLAlchemy, not pysqlite, decide when a transaction begins (BEGIN IMMEDIATE below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            # Writers take the lock up front: no deadlock-prone read→write upgrades, no lost updates.
            # Read-only units of work begin deferred: they read a snapshot beside the writer.
            read_only = conn.get_execution_options().get(READ_ONLY_OPTION)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if autocommit_reads:
        return create_engine(parsed, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    return create_engine(parsed, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)


#: SQLAlchemy's errors that say the database did not answer (connection lost or refused, pool or lock timeout),
#: as opposed to a statement it refused. An error on a connection SQLAlchemy found dead counts whatever its class.
_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, _UNAVAILABLE) or (isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated)


def unavailable(exc: BaseException) -> DatabaseUnavailable:
    """The DatabaseUnavailable for *exc* (SQLAlchemy's or the driver's), with the driver's first line as reason.

    Only that line: SQLAlchemy's own text adds the statement and its parameters, which may hold tokens.
    """
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    lines = str(orig).strip().splitlines()
    return DatabaseUnavailable(reason=f"{type(orig).__name__}: {lines[0] if lines else ''}")


@contextmanager
def unavailable_as_error() -> Iterator[None]:
    """Translate SQLAlchemy's "the database did not answer" errors into :class:`DatabaseUnavailable`."""
    try:
        yield
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
        if not is_unavailable(exc):
            raise
        raise unavailable(exc) from exc


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to *revision* (Alembic)."""
    _migrate(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database back to *revision* (Alembic)."""
    _migrate(engine, command.downgrade, revision)


def _migrate(engine: Engine, step: Any, revision: str) -> None:
    """Run an Alembic *step* in one transaction.

    SQLite changes some tables by copying them into a new one and dropping the old (Alembic's batch mode). With
    foreign keys enforced, dropping ``passes`` would delete its registrations (ON DELETE CASCADE) and dropping
    ``programs`` would fail, so they are off for the migration — set outside the transaction, as SQLite requires —
    and the result is checked (``PRAGMA foreign_key_check``) before it commits.
    """
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        if sqlite and raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                step(cfg, revision)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration to {revision} would break foreign keys: {broken[:5]}")
        finally:
            if sqlite and raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def is_migrated(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")
