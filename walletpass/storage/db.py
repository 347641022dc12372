"""Engines and migrations: SQLite (default, one file) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")

#: Execution option of connections that only read (``read_only_uow_factory``): on SQLite they begin a deferred
#: transaction, a consistent WAL snapshot that never waits for, nor holds up, the write lock.
READ_ONLY_OPTION = "walletpass_read_only"


def make_engine(url: str, *, pool_size: int = 10, autocommit_reads: bool = False) -> Engine:
    """Create an engine tuned for our use: WAL + busy timeout on SQLite, a pool on PostgreSQL.

    *autocommit_reads* makes a PostgreSQL engine for single-SELECT reads only (``DeviceReads``): autocommit,
    so a read is one round trip with no COMMIT/ROLLBACK after it, and no pre-ping (that would be a second
    round trip per read; the caller retries once on a dropped connection instead). SQLite ignores it.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

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
        return create_engine(parsed, pool_size=pool_size, max_overflow=20, isolation_level="AUTOCOMMIT",
                             pool_recycle=3600)
    return create_engine(parsed, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to *revision* (Alembic)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def is_migrated(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")
