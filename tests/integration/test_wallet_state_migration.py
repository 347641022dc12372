"""Migration 0004 moves what Google knows of each pass and class out of passes, programs and offers into
wallet_objects and wallet_classes, and a downgrade brings it back (SQLite and PostgreSQL, databases of their own)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, text

from walletpass.storage.db import downgrade, upgrade

NOW = {"now": datetime(2026, 12, 1, tzinfo=UTC).replace(tzinfo=None)}


def _seed_0003(empty_engine: Engine) -> None:
    """A program and an offer whose classes are at Google, a saved pass, an inserted one and one Google never had."""
    with empty_engine.begin() as conn:
        conn.execute(text("INSERT INTO programs (id, name, organization_name, background_color, foreground_color, "
                          "label_color, points_label, tiers, locales, texts, terms, member_template, coupon_template, "
                          "version, google_class_version, created_at, updated_at) VALUES (1, 'P', 'O', '', '', '', "
                          "'', '[]', '[]', '{}', '', 'm', 'c', 1, 111, :now, :now)"), NOW)
        conn.execute(text("INSERT INTO offers (id, program_id, title, description, discount, terms, texts, "
                          "google_class_version, created_at, updated_at) VALUES (1, 1, 'T', '', '', '', '{}', 222, "
                          ":now, :now)"), NOW)
        for pid, object_id, state, synced in ((1, "3388.A", "saved", 7), (2, "3388.B", "inserted", 8),
                                              (3, None, None, None)):
            conn.execute(text("INSERT INTO passes (id, serial_number, pass_type_id, kind, program_id, "
                              "authentication_token, public_token, update_tag, voided, google_object_id, google_state, "
                              "google_synced_tag, created_at, updated_at) VALUES (:id, :s, 'pass.x', 'member', 1, 't', "
                              ":pub, 9, false, :o, :st, :sy, :now, :now)"),
                         {"id": pid, "s": f"S{pid}", "pub": f"p{pid}", "o": object_id, "st": state, "sy": synced,
                          **NOW})
        conn.execute(text("INSERT INTO devices (id, device_library_identifier, push_token, created_at, updated_at) "
                          "VALUES (1, 'dev1', 'ab', :now, :now)"), NOW)
        conn.execute(text("INSERT INTO registrations (device_id, pass_id, created_at) VALUES (1, 1, :now)"), NOW)


def test_upgrade_moves_google_state_into_the_wallet_tables_and_downgrade_brings_it_back(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0003")
    _seed_0003(empty_engine)
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        objects = conn.execute(text("SELECT pass_id, provider, object_id, state, synced_tag FROM wallet_objects "
                                    "ORDER BY pass_id")).all()
        classes = conn.execute(text("SELECT provider, owner_kind, owner_id, version FROM wallet_classes "
                                    "ORDER BY owner_kind")).all()
    assert [tuple(r) for r in objects] == [(1, "google", "3388.A", "saved", 7), (2, "google", "3388.B", "inserted", 8)]
    assert [tuple(r) for r in classes] == [("google", "offer", 1, 222), ("google", "program", 1, 111)]
    with empty_engine.connect() as conn:  # the passes table was copied on SQLite: nothing cascaded from it
        assert conn.execute(text("SELECT count(*) FROM registrations")).scalar_one() == 1

    downgrade(empty_engine, "0003")
    with empty_engine.connect() as conn:
        passes = conn.execute(text("SELECT id, google_object_id, google_state, google_synced_tag FROM passes "
                                   "ORDER BY id")).all()
        versions = conn.execute(text("SELECT (SELECT google_class_version FROM programs), "
                                     "(SELECT google_class_version FROM offers)")).one()
    assert [tuple(r) for r in passes] == [(1, "3388.A", "saved", 7), (2, "3388.B", "inserted", 8),
                                          (3, None, None, None)]
    assert tuple(versions) == (111, 222)
    upgrade(empty_engine)  # and up again
