"""Migration 0003 with the keys of a real 0002 database: they keep working (and are rewritten to the keyed
hash on first use); a downgrade revokes the keys bound to programs instead of freeing them to every program.

On SQLite and PostgreSQL, each on a database of its own (not the migrated one the other tests share).
"""

from __future__ import annotations

from datetime import UTC, datetime

from passlib.hash import pbkdf2_sha256
from sqlalchemy import Engine, text

from walletpass.ids import new_api_key
from walletpass.ports import SystemClock
from walletpass.services.api_keys import ApiKeyVerifier, create_api_key
from walletpass.storage.db import downgrade, upgrade
from walletpass.storage.uow import read_only_uow_factory, uow_factory

SECRET = "migration-test-secret-0123456789"


def _verifier(engine: Engine) -> ApiKeyVerifier:
    return ApiKeyVerifier(SECRET, read_uow=read_only_uow_factory(engine), uow=uow_factory(engine, wallets=()))


def test_a_key_of_a_0002_database_works_after_the_upgrade_and_is_rehashed(empty_engine: Engine) -> None:
    upgrade(empty_engine, "0002")
    key, prefix = new_api_key()
    with empty_engine.begin() as conn:  # what walletpass wrote before 0003
        conn.execute(text("INSERT INTO api_keys (name, prefix, key_hash, scopes, created_at) "
                          "VALUES ('old till', :p, :h, '[\"points\"]', :now)"),
                     {"p": prefix, "h": pbkdf2_sha256.hash(key), "now": datetime.now(UTC).replace(tzinfo=None)})
    upgrade(empty_engine)
    principal = _verifier(empty_engine).verify(key)
    assert (principal.name, principal.scopes, principal.programs) == ("old till", ("points",), None)
    with empty_engine.connect() as conn:
        stored = conn.execute(text("SELECT key_hash FROM api_keys WHERE prefix = :p"), {"p": prefix}).scalar_one()
    assert stored == _verifier(empty_engine).hasher.hash(key)
    assert _verifier(empty_engine).verify(key).name == "old till"  # a new process: from the keyed hash


def test_downgrade_revokes_the_keys_bound_to_programs(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(text("INSERT INTO programs (name, organization_name, background_color, foreground_color, "
                          "label_color, points_label, tiers, locales, texts, terms, member_template, "
                          "coupon_template, version, created_at, updated_at) VALUES ('P', 'O', '', '', '', '', "
                          "'[]', '[]', '{}', '', 'm', 'c', 1, :now, :now)"),
                     {"now": datetime.now(UTC).replace(tzinfo=None)})
        program_id = conn.execute(text("SELECT id FROM programs")).scalar_one()
    hasher = _verifier(empty_engine).hasher
    create_api_key(uow_factory(empty_engine, wallets=())(), SystemClock(), hasher, "bound", ["admin"], programs=[program_id])
    create_api_key(uow_factory(empty_engine, wallets=())(), SystemClock(), hasher, "every program", ["admin"])
    downgrade(empty_engine, "0002")
    with empty_engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT name, revoked_at IS NOT NULL FROM api_keys")).all())
    assert rows == {"bound": True, "every program": False}
    upgrade(empty_engine)
