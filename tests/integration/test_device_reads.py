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
