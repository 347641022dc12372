"""Points ledger: concurrency, idempotency, overdraw, bad input (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import text

from tests.builders import make_member, make_program


def _count(services, sql: str) -> int:  # type: ignore[no-untyped-def]
    with services.engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


@pytest.fixture
def member(services):  # type: ignore[no-untyped-def]
    return make_member(services, make_program(services))


def _tx(client, auth, member_id, body, key=None):  # type: ignore[no-untyped-def]
    headers = dict(auth)
    if key:
        headers["Idempotency-Key"] = key
    return client.post(f"/api/v1/members/{member_id}/transactions", data=json.dumps(body), headers=headers,
                       content_type="application/json")


def test_transaction_answer_and_tier(client, auth, member, services) -> None:  # type: ignore[no-untyped-def]
    r = _tx(client, auth, member["id"], {"points": 600, "reason": "purchase"})
    assert r.status_code == 201
    assert {"id", "points", "balance"} <= set(r.json) and r.json["points"] == 600 and r.json["balance"] == 600
    got = client.get(f"/api/v1/members/{member['id']}", headers=auth).json
    assert got["points"] == 600 and got["tier"] == "Silver"
    r = _tx(client, auth, member["id"], {"points": -550, "reason": "free coffee"})
    assert r.json["balance"] == 50
    assert client.get(f"/api/v1/members/{member['id']}", headers=auth).json["tier"] == "Bronze"


def test_concurrent_transactions_lose_nothing(app, auth, member, services) -> None:  # type: ignore[no-untyped-def]
    c = app.test_client()
    assert _tx(c, auth, member["id"], {"points": 7, "reason": "start"}).status_code == 201
    statuses: list[int] = []
    barrier = threading.Barrier(16)

    def run(n: int) -> None:
        client = app.test_client()
        barrier.wait()
        for _ in range(n):
            statuses.append(_tx(client, auth, member["id"], {"points": 1, "reason": "+1"}).status_code)

    threads = [threading.Thread(target=run, args=(4,)) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [201] * 64
    assert client_balance(app, auth, member["id"]) == 71
    assert _count(services, f"SELECT count(*) FROM ledger_entries WHERE member_id = {member['id']}") == 65
    assert _count(services, f"SELECT sum(points) FROM ledger_entries WHERE member_id = {member['id']}") == 71


def client_balance(app, auth, member_id) -> int:  # type: ignore[no-untyped-def]
    return int(app.test_client().get(f"/api/v1/members/{member_id}", headers=auth).json["points"])


def test_idempotency_key_replays_first_answer(client, auth, member, services) -> None:  # type: ignore[no-untyped-def]
    first = _tx(client, auth, member["id"], {"points": 100, "reason": "till 3"}, key="till3-0001")
    again = _tx(client, auth, member["id"], {"points": 100, "reason": "till 3"}, key="till3-0001")
    assert first.status_code == again.status_code == 201
    assert first.json == again.json
    assert _count(services, "SELECT count(*) FROM ledger_entries") == 1
    assert client_balance(client.application, auth, member["id"]) == 100
    other = _tx(client, auth, member["id"], {"points": 5, "reason": "till 3"}, key="till3-0001")
    assert other.status_code == 422 and "different request" in other.json["detail"]
    assert _count(services, "SELECT count(*) FROM ledger_entries") == 1


def test_concurrent_retries_with_one_key_count_once(app, auth, member, services) -> None:  # type: ignore[no-untyped-def]
    answers: list[tuple[int, dict]] = []
    barrier = threading.Barrier(8)

    def run() -> None:
        c = app.test_client()
        barrier.wait()
        r = _tx(c, auth, member["id"], {"points": 10, "reason": "retry storm"}, key="same-key")
        answers.append((r.status_code, r.json))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {s for s, _ in answers} == {201}
    assert len({json.dumps(b, sort_keys=True) for _, b in answers}) == 1
    assert _count(services, "SELECT count(*) FROM ledger_entries") == 1
    assert client_balance(app, auth, member["id"]) == 10


def test_overdraw_is_409_and_changes_nothing(client, auth, member, services) -> None:  # type: ignore[no-untyped-def]
    _tx(client, auth, member["id"], {"points": 50, "reason": "x"})
    tag_before = _count(services, "SELECT value FROM counters WHERE name = 'pass_tag'")
    r = _tx(client, auth, member["id"], {"points": -51, "reason": "too much"})
    assert r.status_code == 409 and r.mimetype == "application/problem+json" and "insufficient" in r.json["detail"]
    assert client_balance(client.application, auth, member["id"]) == 50
    assert _count(services, "SELECT count(*) FROM ledger_entries") == 1
    assert _count(services, "SELECT value FROM counters WHERE name = 'pass_tag'") == tag_before


@pytest.mark.parametrize(("body", "status"), [
    ({"points": 1.5, "reason": "x"}, 422),
    ({"points": 2.0, "reason": "x"}, 422),
    ({"points": "10", "reason": "x"}, 422),
    ({"points": 10**30, "reason": "x"}, 422),
    ({"points": True, "reason": "x"}, 422),
    ({"points": 0, "reason": "x"}, 422),
    ({"reason": "x"}, 422),
    ({"points": 5}, 422),
    ({"points": 5, "reason": "x", "extra": 1}, 422),
    (b"{\"points\": 5, \"reason\": ", 400),
    (b"{\"points\": NaN, \"reason\": \"x\"}", 400),
    # found by fuzzing: each was a 500 (a lone surrogate has no UTF-8 form; PostgreSQL text holds no NUL;
    # int() refuses 5,000 digits; deep nesting exhausts the parser)
    ({"points": 5, "reason": "\ud800"}, 400),
    ({"points": 5, "reason": "a\x00b"}, 422),
    (b"{\"points\": 1" + b"0" * 5000 + b", \"reason\": \"x\"}", 400),
    (b"{\"points\": 5, \"reason\": " + b"[" * 5000 + b"]" * 5000 + b"}", 400),
])
def test_bad_transactions_change_nothing(client, auth, member, services, body, status) -> None:  # type: ignore[no-untyped-def]
    data = body if isinstance(body, bytes) else json.dumps(body)
    r = client.post(f"/api/v1/members/{member['id']}/transactions", data=data, headers=auth,
                    content_type="application/json")
    assert r.status_code == status and r.mimetype == "application/problem+json"
    assert _count(services, "SELECT count(*) FROM ledger_entries") == 0
    assert _count(services, "SELECT count(*) FROM outbox") == 0


def test_unknown_member_is_404(client, auth) -> None:  # type: ignore[no-untyped-def]
    assert _tx(client, auth, 4242, {"points": 1, "reason": "x"}).status_code == 404


def test_a_tier_change_reaches_the_downloaded_pass(client, auth, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import io
    import zipfile

    from tests.helpers import check_manifest, verify_with_openssl

    member = make_member(services, make_program(services), points=100)
    assert client.get(f"/api/v1/members/{member['id']}", headers=auth).json["tier"] == "Bronze"
    r = _tx(client, auth, member["id"], {"points": 2000, "reason": "catering order"})
    assert r.status_code == 201 and r.json["balance"] == 2100 and r.json["tier"] == "Gold"

    dl = client.get("/" + member["links"]["pkpass"].split("://", 1)[1].split("/", 1)[1])
    assert dl.status_code == 200 and dl.mimetype == "application/vnd.apple.pkpass"
    verify_with_openssl(dl.data, services.settings.wwdr_path, tmp_path)   # a real, signed pkpass
    check_manifest(dl.data)
    with zipfile.ZipFile(io.BytesIO(dl.data)) as z:
        pj = json.loads(z.read("pass.json"))
        strings = z.read("en.lproj/pass.strings").decode("utf-16")  # UTF-16 with BOM (apple.md §2.10)
    assert pj["backgroundColor"] == "rgb(176, 132, 30)"                   # Gold's colour, not Bronze's
    fields = {f["key"]: f for group in pj["storeCard"].values() if isinstance(group, list) for f in group}
    assert fields["tier"]["value"] == "tier.Gold" and fields["tier"]["changeMessage"] == "change.tier"
    assert fields["points"]["value"] == 2100 and fields["points"]["changeMessage"] == "change.points"
    assert '"tier.Gold" = "Gold";' in strings and '"change.tier" = ' in strings and "%@" in strings
