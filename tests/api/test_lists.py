"""Lists ({data, next} cursor pages) and the till's lookups, on SQLite and PostgreSQL.

Paging while another thread inserts sees every row that existed before exactly once; filters agree with a
brute-force filter over generated members; cursors are signed per list and filters; a ``pos`` key can do the
till's calls and nothing else; a key bound to programs finds nothing of the others.
"""

from __future__ import annotations

import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from tests.builders import make_member, make_program
from tests.helpers import local, post
from walletpass.services.api_keys import create_api_key


def _key(services: Any, scopes: tuple[str, ...], programs: list[int] | None = None) -> dict[str, str]:
    key = create_api_key(services.uow(), services.clock, services.api_keys.hasher, "till", scopes, programs=programs)
    return {"Authorization": f"Bearer {key}"}


def _add_members(services: Any, program_id: int, rows: list[dict[str, Any]]) -> list[int]:
    """Members written through the repository in one transaction (ids from the database): fast, and every
    field (created_at, source) as given."""
    ids = []
    with services.uow() as uow:
        for r in rows:
            now = r.get("created_at", datetime.now(UTC))
            ids.append(uow.members.add(program_id=program_id, name=r.get("name", "M"),
                                       member_number=uuid.uuid4().hex[:12], points=r.get("points", 0),
                                       tier=r.get("tier"), email=r.get("email"), external_id=r.get("external_id"),
                                       source=r.get("source"), now=now, phone=r.get("phone")).id)
        uow.commit()
    return ids


def _all_pages(client: Any, url: str, headers: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    seen: list[dict[str, Any]] = []
    pages = 0
    while url:
        r = client.get(local(url) if "://" in url else url, headers=headers)
        assert r.status_code == 200, r.json
        seen += r.json["data"]
        url, pages = r.json["next"], pages + 1
    return seen, pages


def test_lookups_by_barcode_external_id_email_and_phone(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    other = make_program(services)
    m = make_member(services, pid, name="Ann", email="Ann.Lee@Example.com", phone="+886 912-345-678",
                    external_id="crm-1")
    make_member(services, other, name="Ann elsewhere", email="ann.lee@example.com")
    make_member(services, pid, name="Bob", email="bob@example.com")

    def ids(query: str) -> list[int]:
        r = client.get(f"/api/v1/members?{query}", headers=auth)
        assert r.status_code == 200, r.json
        assert r.json["next"] is None
        return [x["id"] for x in r.json["data"]]

    assert ids(f"barcode={m['member_number']}") == [m["id"]]
    assert ids(f"program_id={pid}&barcode={m['member_number']}") == [m["id"]]
    assert ids(f"program_id={other}&barcode={m['member_number']}") == []
    assert ids(f"program_id={pid}&external_id=crm-1") == [m["id"]]
    assert ids(f"program_id={pid}&email=ANN.LEE@EXAMPLE.COM") == [m["id"]]
    assert len(ids("email=ann.lee@example.com")) == 2  # one per program
    assert ids(f"program_id={pid}&phone=%2B886912345678") == [m["id"]]
    assert ids(f"program_id={pid}&phone=%2B886 (912) 345.678") == [m["id"]]
    assert ids(f"program_id={pid}&email=nobody@example.com") == []
    found = client.get(f"/api/v1/members?barcode={m['member_number']}", headers=auth).json["data"][0]
    assert found["points"] == m["points"] and found["links"] == m["links"] and found["serial_number"] == m["serial_number"]
    bad = client.get(f"/api/v1/members?program_id={pid}&phone=12", headers=auth)
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "phone"
    assert client.get("/api/v1/members?program_id=987654", headers=auth).status_code == 404
    assert client.get("/api/v1/members?pin=1", headers=auth).status_code == 422


def test_coupon_by_code_and_redeem_by_code(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    m = make_member(services, pid)
    offer = post(client, f"/api/v1/programs/{pid}/offers", auth, {"title": "Tea"}).json["id"]
    coupon = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": m["id"]}).json
    found = client.get(f"/api/v1/coupons?code={coupon['code']}", headers=auth).json
    assert [c["id"] for c in found["data"]] == [coupon["id"]] and found["data"][0]["state"] == "issued"
    assert client.get("/api/v1/coupons?code=NOPE", headers=auth).json == {"data": [], "next": None}

    first = post(client, "/api/v1/coupons/redeem", auth, {"code": coupon["code"]}, key="till-1")
    assert first.status_code == 200 and first.json["state"] == "redeemed", first.json
    replay = post(client, "/api/v1/coupons/redeem", auth, {"code": coupon["code"]}, key="till-1")
    assert replay.status_code == 200 and replay.json == first.json
    again = post(client, "/api/v1/coupons/redeem", auth, {"code": coupon["code"]})
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    missing = post(client, "/api/v1/coupons/redeem", auth, {"code": "NOPE"})
    assert missing.status_code == 404 and "NOPE" in missing.json["detail"]
    assert post(client, "/api/v1/coupons/redeem", auth, {"code": ""}).status_code == 422
    assert post(client, "/api/v1/coupons/redeem", auth, {"code": "x", "extra": 1}).status_code == 422
    listed = client.get(f"/api/v1/members/{m['id']}/coupons?state=redeemed", headers=auth).json["data"]
    assert [c["id"] for c in listed] == [coupon["id"]]


def test_a_pos_key_does_the_tills_calls_and_nothing_else(app, client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    m = make_member(services, pid)
    offer = post(client, f"/api/v1/programs/{pid}/offers", auth, {"title": "Tea"}).json["id"]
    coupon, spare = (post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": m["id"]}).json
                     for _ in range(2))
    pos = _key(services, ("pos",))
    allowed = {("GET", "/api/v1/members"), ("GET", "/api/v1/members/<int:member_id>"),
               ("GET", "/api/v1/members/<int:member_id>/transactions"),
               ("POST", "/api/v1/members/<int:member_id>/transactions"),
               ("GET", "/api/v1/members/<int:member_id>/coupons"), ("GET", "/api/v1/coupons"),
               ("POST", "/api/v1/coupons/redeem"), ("POST", "/api/v1/coupons/<int:coupon_id>/redeem"),
               ("GET", "/api/v1/transactions/<int:transaction_id>")}  # the Location of a transaction it made
    ids = {"program_id": pid, "member_id": m["id"], "offer_id": offer, "coupon_id": coupon["id"], "issue_id": 1,
           "campaign_id": 1, "slot": "logo"}
    routes = []
    for rule in app.url_map.iter_rules():
        if hasattr(app.view_functions[rule.endpoint], "api_key_scope"):
            routes += [(m_, rule) for m_ in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    assert allowed <= {(method, rule.rule) for method, rule in routes}
    for method, rule in routes:
        path = rule.build({k: ids.get(k, 1) for k in rule.arguments})[1]
        r = client.open(path, method=method, headers=pos, json={})
        if (method, rule.rule) in allowed:
            assert r.status_code != 403, (method, rule.rule, r.json)
        else:
            assert r.status_code == 403, (method, rule.rule, r.status_code)
    assert client.get(f"/api/v1/members?barcode={m['member_number']}", headers=pos).json["data"][0]["id"] == m["id"]
    assert post(client, f"/api/v1/members/{m['id']}/transactions", pos, {"points": 5, "reason": "latte"}).status_code == 201
    assert post(client, "/api/v1/coupons/redeem", pos, {"code": spare["code"]}).status_code == 200


def test_a_bound_key_finds_nothing_of_other_programs(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    a, b = make_program(services), make_program(services)
    ma, mb = make_member(services, a, email="x@example.com"), make_member(services, b, email="x@example.com")
    offer = post(client, f"/api/v1/programs/{b}/offers", auth, {"title": "Tea"}).json["id"]
    coupon = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": mb["id"]}).json
    till = _key(services, ("pos",), programs=[a])
    assert client.get(f"/api/v1/members?barcode={mb['member_number']}", headers=till).json["data"] == []
    assert [x["id"] for x in client.get("/api/v1/members?email=x@example.com", headers=till).json["data"]] == [ma["id"]]
    assert client.get(f"/api/v1/members?program_id={b}", headers=till).status_code == 404
    assert client.get(f"/api/v1/coupons?code={coupon['code']}", headers=till).json["data"] == []
    assert post(client, "/api/v1/coupons/redeem", till, {"code": coupon["code"]}).status_code == 404
    admin_a = _key(services, ("admin",), programs=[a])
    assert [p["id"] for p in client.get("/api/v1/programs", headers=admin_a).json["data"]] == [a]
    assert client.get(f"/api/v1/coupons?offer_id={offer}", headers=admin_a).status_code == 404
    assert {p["id"] for p in client.get("/api/v1/programs", headers=auth).json["data"]} == {a, b}


def test_paging_while_another_thread_inserts_sees_every_row_once(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    before = _add_members(services, pid, [{"name": f"M{i}"} for i in range(230)])
    stop = threading.Event()
    inserted: list[int] = []

    def insert() -> None:
        while not stop.is_set():
            inserted.extend(_add_members(services, pid, [{"name": "late"}] * 3))

    thread = threading.Thread(target=insert)
    thread.start()
    try:
        seen, pages = _all_pages(client, f"/api/v1/programs/{pid}/members?limit=7", auth)
    finally:
        stop.set()
        thread.join()
    ids = [x["id"] for x in seen]
    assert len(ids) == len(set(ids)), "a row was seen twice"
    assert set(before) <= set(ids), "a row that existed before was missed"
    assert ids == sorted(ids) and pages >= 230 // 7
    assert inserted, "the other thread inserted nothing while the pages were read"


def _brute(members: list[dict[str, Any]], f: dict[str, Any]) -> list[int]:
    def ok(m: dict[str, Any]) -> bool:
        return ((f.get("tier") is None or m["tier"] == f["tier"])
                and (f.get("min_points") is None or m["points"] >= f["min_points"])
                and (f.get("max_points") is None or m["points"] <= f["max_points"])
                and (f.get("source") is None or m["source"] == f["source"])
                and (f.get("enrolled_after") is None or m["created_at"] >= f["enrolled_after"])
                and (f.get("enrolled_before") is None or m["created_at"] < f["enrolled_before"]))
    return sorted(m["id"] for m in members if ok(m))


def test_filters_agree_with_a_brute_force_filter(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    rnd = random.Random(12)
    pid = make_program(services)
    other = make_program(services)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    tiers, sources = ["Bronze", "Silver", "Gold", None], ["flyer-a", "flyer-b", "api", None]
    rows = [{"tier": rnd.choice(tiers), "points": rnd.randrange(0, 2000), "source": rnd.choice(sources),
             "created_at": start + timedelta(hours=rnd.randrange(0, 24 * 60))} for _ in range(300)]
    for r, i in zip(rows, _add_members(services, pid, rows), strict=True):
        r["id"] = i
    _add_members(services, other, rows[:20])  # same values in another program: never listed
    for _ in range(60):
        f: dict[str, Any] = {}
        if rnd.random() < 0.5:
            f["tier"] = rnd.choice(tiers[:3])
        if rnd.random() < 0.5:
            f["min_points"] = rnd.randrange(0, 2000)
        if rnd.random() < 0.5:
            f["max_points"] = rnd.randrange(0, 2000)
        if rnd.random() < 0.4:
            f["source"] = rnd.choice(sources[:3])
        if rnd.random() < 0.4:
            f["enrolled_after"] = start + timedelta(hours=rnd.randrange(0, 24 * 60))
        if rnd.random() < 0.4:
            f["enrolled_before"] = start + timedelta(hours=rnd.randrange(0, 24 * 60))
        query = "&".join(f"{k}={v.isoformat().replace('+', '%2B') if isinstance(v, datetime) else v}"
                         for k, v in f.items())
        limit = rnd.choice([1, 13, 200])
        seen, _ = _all_pages(client, f"/api/v1/programs/{pid}/members?limit={limit}&{query}", auth)
        assert [x["id"] for x in seen] == _brute(rows, f), f
        # the lookup route takes the same filters
        found, _ = _all_pages(client, f"/api/v1/members?program_id={pid}&limit=200&{query}", auth)
        assert [x["id"] for x in found] == _brute(rows, f), f


def test_cursors_are_checked_and_limits_bounded(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    _add_members(services, pid, [{"tier": "Gold"}] * 5)
    first = client.get(f"/api/v1/programs/{pid}/members?limit=2", headers=auth).json
    nxt = first["next"]
    assert nxt.startswith(services.settings.base_url) and "cursor=" in nxt
    cursor = nxt.split("cursor=")[1]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for url in (f"/api/v1/programs/{pid}/members?limit=2&cursor={tampered}",
                f"/api/v1/programs/{pid}/members?limit=2&tier=Gold&cursor={cursor}",  # other filters
                f"/api/v1/programs/{pid}/offers?cursor={cursor}",  # another list
                f"/api/v1/programs/{pid}/members?cursor=not-a-cursor",
                f"/api/v1/programs/{pid}/members?limit=201", f"/api/v1/programs/{pid}/members?limit=0",
                f"/api/v1/programs/{pid}/members?limit=1&limit=2"):
        r = client.get(url, headers=auth)
        assert r.status_code == 422 and r.mimetype == "application/problem+json", (url, r.json)
    assert client.get(local(nxt), headers=auth).status_code == 200
    assert len(client.get(f"/api/v1/programs/{pid}/members", headers=auth).json["data"]) == 5


def test_every_resource_has_a_list(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    m = make_member(services, pid)
    offers = [post(client, f"/api/v1/programs/{pid}/offers", auth, {"title": t}).json["id"] for t in "ABC"]
    coupons = [post(client, f"/api/v1/offers/{offers[0]}/coupons", auth, {"member_id": m["id"]}).json["id"]
               for _ in range(3)]
    for p in (1, -1, 2):
        post(client, f"/api/v1/members/{m['id']}/transactions", auth, {"points": p, "reason": "r"})
    with services.uow() as uow:
        card = uow.passes.of_member(m["id"])[0]
    r = client.post(f"/v1/devices/dev0000001/registrations/{card.pass_type_id}/{card.serial_number}",
                    json={"pushToken": "ab" * 32}, headers={"Authorization": f"ApplePass {card.authentication_token}"})
    assert r.status_code == 201
    expect = {f"/api/v1/programs/{pid}/offers?limit=2": offers,
              f"/api/v1/offers/{offers[0]}/coupons?limit=2": coupons,
              f"/api/v1/members/{m['id']}/coupons?limit=2&state=issued": coupons,
              f"/api/v1/coupons?offer_id={offers[0]}&limit=2": coupons,
              f"/api/v1/offers/{offers[1]}/coupons": []}
    for url, ids in expect.items():
        assert [x["id"] for x in _all_pages(client, url, auth)[0]] == ids, url
    ledger = _all_pages(client, f"/api/v1/members/{m['id']}/transactions?limit=2", auth)[0]
    assert [e["points"] for e in ledger] == [1, -1, 2] and ledger[-1]["balance"] == m["points"] + 2
    devices = client.get(f"/api/v1/members/{m['id']}/devices", headers=auth).json
    assert [d["serial_number"] for d in devices["data"]] == [card.serial_number] and devices["next"] is None
    assert pid in [p["id"] for p in _all_pages(client, "/api/v1/programs?limit=1", auth)[0]]
    for url in ("/api/v1/members/987654/transactions", "/api/v1/offers/987654/coupons",
                "/api/v1/programs/987654/offers", "/api/v1/members/987654/devices"):
        assert client.get(url, headers=auth).status_code == 404, url
    with services.engine.connect() as conn:  # nothing written by reading
        assert conn.execute(text("SELECT count(*) FROM coupons")).scalar_one() == 3
