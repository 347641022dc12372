"""API keys through the API (admin scope) and the CLI: created and shown once, listed without the key, revoked
(401 from the next request on), last use recorded without a write per request."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.builders import make_program
from tests.helpers import post, run_cli
from walletpass.services.api_keys import create_api_key


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _writes(services: Any, fn: Any) -> int:
    """UPDATEs of api_keys that *fn* made."""
    from sqlalchemy import event

    seen: list[str] = []

    def listen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            seen.append(statement)

    event.listen(services.engine, "before_cursor_execute", listen)
    try:
        fn()
    finally:
        event.remove(services.engine, "before_cursor_execute", listen)
    return len(seen)


def test_create_list_revoke(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    made = post(client, "/api/v1/api-keys", auth, {"name": "till-1", "scopes": ["pos"], "programs": [pid]})
    assert made.status_code == 201, made.json
    key = made.json["key"]
    assert key.startswith(f"wp_{made.json['prefix']}_") and made.json["scopes"] == ["pos"]
    assert made.headers["Location"].endswith(f"/api/v1/api-keys/{made.json['id']}")
    twin = post(client, "/api/v1/api-keys", auth, {"name": "till-1"})  # the same name again: allowed
    assert twin.status_code == 201 and twin.json["scopes"] == ["admin"] and twin.json["programs"] is None

    assert client.get(f"/api/v1/members?program_id={pid}", headers=_bearer(key)).status_code == 200
    listed = client.get("/api/v1/api-keys", headers=auth).json
    names = [k["name"] for k in listed["data"]]
    assert names.count("till-1") == 2 and listed["next"] is None
    mine = next(k for k in listed["data"] if k["id"] == made.json["id"])
    assert "key" not in mine and not any(key in str(v) for v in mine.values())
    assert mine["programs"] == [pid] and mine["last_used_at"] is not None and mine["revoked_at"] is None
    assert client.get(f"/api/v1/api-keys/{made.json['id']}", headers=auth).json == mine

    assert client.delete(f"/api/v1/api-keys/{made.json['id']}", headers=auth).status_code == 204
    refused = client.get(f"/api/v1/members?program_id={pid}", headers=_bearer(key))
    assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    assert client.delete(f"/api/v1/api-keys/{made.json['id']}", headers=auth).status_code == 204  # again: no-op
    assert client.get(f"/api/v1/api-keys/{made.json['id']}", headers=auth).status_code == 404  # deleted
    revoked = [k for k in client.get("/api/v1/api-keys", headers=auth).json["data"] if k["id"] == made.json["id"]]
    assert revoked[0]["revoked_at"] is not None  # the list still shows it
    assert client.delete("/api/v1/api-keys/987654", headers=auth).status_code == 404
    own = client.get("/api/v1/api-keys?limit=1", headers=auth).json["data"][0]["id"]  # the fixture's key
    assert client.delete(f"/api/v1/api-keys/{own}", headers=auth).status_code == 409


def test_bad_requests_and_scopes(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    with services.engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM api_keys")).scalar_one()
    for body in ({"name": ""}, {"name": "x", "scopes": ["root"]}, {"name": "x", "programs": []},
                 {"name": "x", "programs": [987654]}, {"name": "x", "key": "mine"}, {"scopes": ["admin"]}):
        r = post(client, "/api/v1/api-keys", auth, body)
        assert r.status_code == 422 and r.mimetype == "application/problem+json", (body, r.json)
    members = _bearer(create_api_key(services.uow(), services.clock, services.api_keys.hasher, "m", ["members"]))
    bound = _bearer(create_api_key(services.uow(), services.clock, services.api_keys.hasher, "b", ["admin"],
                                   programs=[pid]))
    assert post(client, "/api/v1/api-keys", members, {"name": "x"}).status_code == 403
    assert client.get("/api/v1/api-keys", headers=members).status_code == 403
    assert post(client, "/api/v1/api-keys", bound, {"name": "x"}).status_code == 403  # could widen itself
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == before + 2


def test_last_use_is_recorded_without_a_write_per_request(client, services) -> None:  # type: ignore[no-untyped-def]
    key = create_api_key(services.uow(), services.clock, services.api_keys.hasher, "reader", ["programs"])
    pid = make_program(services)

    def requests() -> None:
        for _ in range(20):
            assert client.get(f"/api/v1/programs/{pid}", headers=_bearer(key)).status_code == 200

    assert _writes(services, requests) == 1  # the first use; the rest within the 5-minute precision
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT last_used_at FROM api_keys WHERE name = 'reader'")).scalar_one()


def test_cli_lists_and_revokes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    init = run_cli(tmp_path, "init")
    assert init.returncode == 0, init.stderr
    for _ in range(2):
        assert run_cli(tmp_path, "apikey", "create", "--name", "pos-1", "--scope", "pos").returncode == 0
    listed = run_cli(tmp_path, "apikey", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()[1:]]
    pos = [r for r in rows if r[2] == "pos-1"]
    assert len(pos) == 2 and all(r[3] == "pos" and r[4] == "all" and r[7] == "-" for r in pos)
    assert "wp_" not in listed.stdout  # never a key
    by_prefix = run_cli(tmp_path, "apikey", "revoke", pos[0][1])
    by_id = run_cli(tmp_path, "apikey", "revoke", pos[1][0])
    assert by_prefix.returncode == 0 and by_id.returncode == 0, by_prefix.stderr + by_id.stderr
    after = [line.split("\t") for line in run_cli(tmp_path, "apikey", "list").stdout.splitlines()[1:]]
    assert all(r[7] != "-" for r in after if r[2] == "pos-1")
    missing = run_cli(tmp_path, "apikey", "revoke", "nope")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
