"""API keys: Bearer scheme, hashed at rest (keyed SHA-256; legacy PBKDF2 rows rewritten on use), scopes."""

from __future__ import annotations

import logging

import pytest
from passlib.hash import pbkdf2_sha256
from sqlalchemy import text

from tests.builders import make_program
from walletpass.bootstrap import bootstrap
from walletpass.errors import Unauthorized
from walletpass.ids import ApiKeyHasher, new_api_key
from walletpass.services.api_keys import create_api_key


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _stored(services, prefix: str) -> str:  # type: ignore[no-untyped-def]
    with services.engine.connect() as conn:
        return str(conn.execute(text("SELECT key_hash FROM api_keys WHERE prefix = :p"), {"p": prefix}).scalar_one())


def _other_secret(key: str) -> str:
    """The same prefix, another secret of the same shape."""
    return key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")


def _legacy_key(services, scopes: tuple[str, ...] = ("admin",)) -> str:  # type: ignore[no-untyped-def]
    """A key as walletpass stored them before the keyed hash: passlib's PBKDF2-SHA256."""
    key, prefix = new_api_key()
    with services.uow() as uow:
        uow.api_keys.add(name="legacy", prefix=prefix, key_hash=pbkdf2_sha256.hash(key), scopes=scopes,
                         now=services.clock.now())
        uow.commit()
    return key


def test_missing_wrong_and_malformed_keys_are_401(client, api_key) -> None:  # type: ignore[no-untyped-def]
    well_formed_unknown = "wp_000000000000_" + "a" * 43
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer wp_000000000000_nope"}, {"Authorization": "Bearer garbage"},
                    _bearer(well_formed_unknown), _bearer(_other_secret(api_key)),
                    {"Authorization": f"Bearer {api_key[:-2]}xx"}, _bearer(api_key + "x"), _bearer(api_key[:-1]),
                    _bearer(api_key[:-1] + "!"), _bearer(api_key[:-1] + "\u00e9"),
                    {"Authorization": "Bearer wp_abcdef\x00abcde_secret"}):  # NUL: a 500 on PostgreSQL (fuzzing)
        r = client.get("/api/v1/members/1", headers=headers)
        assert r.status_code == 401, headers
        assert r.mimetype == "application/problem+json"
        assert r.json["status"] == 401 and r.json["detail"]
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_keys_are_stored_as_a_keyed_hash(services, api_key) -> None:  # type: ignore[no-untyped-def]
    with services.engine.connect() as conn:
        rows = conn.execute(text("SELECT prefix, key_hash FROM api_keys")).all()
    assert rows and all(api_key not in h and api_key.split("_", 2)[2] not in h for _, h in rows)
    stored = rows[0][1]
    assert stored.startswith(f"hmac-sha256${services.api_keys.hasher.id}$")
    assert stored == services.api_keys.hasher.hash(api_key)
    assert ApiKeyHasher("another instance secret").hash(api_key) != stored  # keyed by the instance secret


def test_a_legacy_pbkdf2_key_still_works_and_is_rehashed_on_its_first_use(settings, services, client) -> None:  # type: ignore[no-untyped-def]
    key = _legacy_key(services)
    prefix = key.split("_")[1]
    pid = make_program(services)
    assert client.get(f"/api/v1/programs/{pid}", headers=_bearer(_other_secret(key))).status_code == 401
    assert _stored(services, prefix).startswith("$pbkdf2-sha256$")  # a wrong key rewrites nothing

    r = client.get(f"/api/v1/programs/{pid}", headers=_bearer(key))
    assert r.status_code == 200, r.json
    assert _stored(services, prefix) == services.api_keys.hasher.hash(key)  # now in the keyed form
    assert client.get(f"/api/v1/programs/{pid}", headers=_bearer(key)).status_code == 200

    other = bootstrap(settings)  # another process of the instance: no cache, the same secret
    try:
        assert other.api_keys.verify(key).name == "legacy"
        with pytest.raises(Unauthorized):
            other.api_keys.verify(_other_secret(key))
    finally:
        other.close()


def test_revoked_keys_are_401_in_both_forms_and_a_revoked_legacy_key_is_not_rehashed(services, client,  # type: ignore[no-untyped-def]
                                                                                    api_key) -> None:
    legacy = _legacy_key(services)
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE api_keys SET revoked_at = created_at"))
    for key in (api_key, legacy):
        assert client.get("/api/v1/members/1", headers=_bearer(key)).status_code == 401
    assert _stored(services, legacy.split("_")[1]).startswith("$pbkdf2-sha256$")


def test_a_key_hashed_under_another_instance_secret_is_401_and_the_log_says_why(settings, api_key,  # type: ignore[no-untyped-def]
                                                                                caplog) -> None:
    other = bootstrap(settings.replace(secret_key="another-secret-0123456789abcdef"))
    try:
        with caplog.at_level(logging.WARNING, logger="walletpass.services.api_keys"):
            for _ in range(3):
                with pytest.raises(Unauthorized):
                    other.api_keys.verify(api_key)
    finally:
        other.close()
    said = [r.getMessage() for r in caplog.records if "another instance secret" in r.getMessage()]
    assert len(said) == 1 and "WALLETPASS_SECRET_KEY" in said[0]  # once per key and process
    assert api_key not in caplog.text and api_key.split("_", 2)[2] not in caplog.text  # never the key


def test_every_process_of_an_instance_derives_the_same_hasher_from_its_secret_file(settings) -> None:  # type: ignore[no-untyped-def]
    from_file = settings.replace(secret_key=None)
    first, second = bootstrap(from_file), bootstrap(from_file)
    try:
        assert first.api_keys.hasher.id == second.api_keys.hasher.id
        key = create_api_key(first.uow(), first.clock, first.api_keys.hasher, "cli", ["admin"])
        assert second.api_keys.verify(key).name == "cli"
    finally:
        first.close()
        second.close()
    secret_file = settings.instance_path / "secret_key"
    assert secret_file.stat().st_mode & 0o777 == 0o600


def test_scope_is_enforced(client, services) -> None:  # type: ignore[no-untyped-def]
    key = create_api_key(services.uow(), services.clock, services.api_keys.hasher, "till", ["points"])
    r = client.post("/api/v1/programs", json={"name": "P", "organization_name": "O"},
                    headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 403 and "programs" in r.json["detail"]


def test_a_wrong_key_never_costs_a_slow_hash(client, services, api_key, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """D9: an unknown prefix, a wrong secret for a keyed-hash row, a malformed key: none runs PBKDF2 (passlib's
    verify is counted; only a row still in the legacy form may cost it)."""
    calls: list[int] = []
    real = pbkdf2_sha256.verify
    monkeypatch.setattr(pbkdf2_sha256, "verify", lambda *a, **k: calls.append(1) or real(*a, **k))
    def same_prefix(key: str) -> str:  # the key's row, another secret
        return f"wp_{key.split('_', 2)[1]}_{new_api_key()[0].split('_', 2)[2]}"

    unknown, _ = new_api_key()
    wrong_secret = same_prefix(api_key)
    for key in (unknown, wrong_secret, "wp_short", "x" * 80):
        r = client.get("/api/v1/programs/1", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 401 and r.mimetype == "application/problem+json"
    assert calls == []
    other = same_prefix(_legacy_key(services))
    assert client.get("/api/v1/programs/1", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    assert calls == [1]  # the legacy row: the one case that still verifies with PBKDF2
