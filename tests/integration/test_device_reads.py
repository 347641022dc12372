"""DeviceReads, the web service's prepared reads, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from tests.builders import make_member, make_program
from walletpass.storage.db import make_engine
from walletpass.storage.device_reads import DeviceReads


def _pass(services, serial: str) -> tuple:  # type: ignore[no-untyped-def]
    with services.engine.connect() as conn:
        return tuple(conn.execute(text("SELECT id, authentication_token, update_tag FROM passes "
                                       "WHERE serial_number = :s"), {"s": serial}).one())


def test_pass_for_device_converts_types_like_the_orm(services) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services))
    ptid = services.settings.member_pass_type_id
    found = services.device_reads.pass_for_device(ptid, member["serial_number"])
    pass_id, token, tag = _pass(services, member["serial_number"])
    assert (found.id, found.authentication_token, found.update_tag) == (pass_id, token, tag)
    assert found.updated_at.tzinfo is not None and found.updated_at <= datetime.now(UTC)
    assert found.lagging is False  # no registration yet, so none is behind
    assert services.device_reads.pass_for_device(ptid, "no-such-serial") is None
    assert services.device_reads.device_passes_since("no-such-device", ptid, 0) == []


def test_a_dropped_connection_is_replaced_on_the_next_read(services, db_url) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services))
    ptid, serial = services.settings.member_pass_type_id, member["serial_number"]
    reads: DeviceReads = services.device_reads
    assert reads.pass_for_device(ptid, serial) is not None
    if services.engine.dialect.name == "postgresql":
        # What a database restart does to pooled connections: the server ends every other session.
        admin = make_engine(db_url)
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
            conn.commit()
        admin.dispose()
    assert reads.pass_for_device(ptid, serial) is not None
    assert reads.pass_for_device(ptid, serial) is not None


def test_pass_downloads_and_device_calls_do_not_wait_for_a_writer(client, services) -> None:  # type: ignore[no-untyped-def]
    """A long write transaction (SQLite: the database write lock) must not stall phones and pass pages."""
    import sqlite3
    import time

    from tests.helpers import Device, auth_token_of

    member = make_member(services, make_program(services))
    ptid, serial = services.settings.member_pass_type_id, member["serial_number"]
    token = auth_token_of(client, member)
    phone = Device(client, ptid)
    assert phone.register(serial, token).status_code == 201
    assert phone.fetch(serial, token).status_code == 200         # the first fetch records itself (a write)
    page_path = "/" + member["links"]["pkpass"].split("://", 1)[1].split("/", 1)[1]

    writer = None
    if services.engine.dialect.name == "sqlite":
        writer = sqlite3.connect(services.engine.url.database, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")                         # hold the write lock
    try:
        started = time.monotonic()
        assert phone.list().status_code == 200
        assert phone.fetch(serial, token).status_code == 200      # built and signed while the lock is held
        assert client.get(page_path).status_code == 200
        assert client.get(page_path.rsplit("/", 1)[0]).status_code == 200   # the pass page
        assert time.monotonic() - started < 5                     # the busy timeout is 30 s
    finally:
        if writer is not None:
            writer.execute("ROLLBACK")
            writer.close()


def test_a_read_only_unit_of_work_refuses_to_commit(services) -> None:  # type: ignore[no-untyped-def]
    import pytest

    with services.read_uow() as uow:
        uow.programs.all()
        with pytest.raises(RuntimeError, match="read-only"):
            uow.commit()
