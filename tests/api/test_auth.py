"""API keys: Bearer scheme, hashed at rest, scopes."""

from __future__ import annotations

from sqlalchemy import text

from walletpass.services.api_keys import create_api_key


def test_missing_wrong_and_malformed_keys_are_401(client, api_key) -> None:  # type: ignore[no-untyped-def]
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer wp_000000000000_nope"}, {"Authorization": "Bearer garbage"},
                    {"Authorization": f"Bearer {api_key[:-2]}xx"},
                    {"Authorization": "Bearer wp_abcdef\x00abcde_secret"}):  # NUL: a 500 on PostgreSQL (fuzzing)
        r = client.get("/api/v1/members/1", headers=headers)
        assert r.status_code == 401, headers
        assert r.mimetype == "application/problem+json"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_keys_are_stored_hashed(services, api_key) -> None:  # type: ignore[no-untyped-def]
    with services.engine.connect() as conn:
        rows = conn.execute(text("SELECT prefix, key_hash FROM api_keys")).all()
    assert rows and all(api_key not in h and api_key.split("_", 2)[2] not in h for _, h in rows)
    assert rows[0][1].startswith("$pbkdf2-sha256$")


def test_scope_is_enforced(client, services) -> None:  # type: ignore[no-untyped-def]
    key = create_api_key(services.uow(), services.clock, "till", ["points"])
    r = client.post("/api/v1/programs", json={"name": "P", "organization_name": "O"},
                    headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 403 and "programs" in r.json["detail"]
