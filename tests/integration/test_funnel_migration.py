"""Migration 0013 makes the first install, save and transaction of a card unique: events recorded before keep their
first, get the source of the card's member, and lose those of coupon passes (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import IntegrityError

from walletpass.storage.db import downgrade, upgrade
from walletpass.storage.tables import MemberRow, PassEventRow, PassRow, ProgramRow

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _seed_0010(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(ProgramRow), [{"id": 1, "name": "P", "organization_name": "O", "background_color": "",
                                           "foreground_color": "", "label_color": "", "points_label": "", "created_at": NOW,
                                           "updated_at": NOW}])
        conn.execute(insert(MemberRow), [
            {"id": m, "program_id": 1, "name": "M", "member_number": f"N{m}", "points": 0, "source": src,
             "created_at": NOW, "updated_at": NOW} for m, src in ((1, "flyer-a"), (2, None))])
        conn.execute(insert(PassRow), [
            {"id": p, "serial_number": f"S{p}", "pass_type_id": "pass.x", "kind": kind, "program_id": 1,
             "member_id": member, "authentication_token": "t", "public_token": f"pub{p}", "update_tag": 1,
             "created_at": NOW, "updated_at": NOW}
            for p, kind, member in ((1, "member", 1), (2, "member", 2), (3, "coupon", 1))])
        events = [("enrol", 1, "flyer-a"), ("apple_install", 1, None), ("apple_install", 1, None),
                  ("google_save", 1, None), ("google_save", 1, None), ("uninstall", 1, None),
                  ("apple_install", 2, None), ("apple_install", 3, None), ("uninstall", 3, None),
                  ("visit", None, "flyer-a")]
        conn.execute(insert(PassEventRow), [
            {"program_id": 1, "pass_id": pass_id, "kind": kind, "source": src, "day": "2026-12-01",
             "at": NOW + timedelta(minutes=i)} for i, (kind, pass_id, src) in enumerate(events)])


def test_upgrade_keeps_first_events_with_their_member_source(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0010")
    _seed_0010(empty_engine)
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        rows = conn.execute(text("SELECT kind, pass_id, source FROM pass_events ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [
        ("enrol", 1, "flyer-a"), ("apple_install", 1, "flyer-a"), ("google_save", 1, "flyer-a"),
        ("uninstall", 1, "flyer-a"), ("apple_install", 2, None), ("visit", None, "flyer-a")]
    with pytest.raises(IntegrityError), empty_engine.begin() as conn:  # a second first install: refused
        conn.execute(insert(PassEventRow), [{"program_id": 1, "pass_id": 2, "kind": "apple_install",
                                             "day": "2026-12-02", "at": NOW}])
    with empty_engine.begin() as conn:  # uninstalls and visits repeat freely
        conn.execute(insert(PassEventRow), [{"program_id": 1, "pass_id": 1, "kind": "uninstall", "day": "2026-12-02",
                                             "at": NOW}] * 2)
    downgrade(empty_engine, "0010")
    with empty_engine.begin() as conn:
        conn.execute(insert(PassEventRow), [{"program_id": 1, "pass_id": 2, "kind": "apple_install",
                                             "day": "2026-12-02", "at": NOW}])
