"""A program's stores (GET/PUT /api/v1/programs/{id}/stores) and benefits (a program field): bad input is a 422
problem and writes nothing; the downloaded, signed pass carries the first 10 stores as ``locations`` and the
benefits as back fields. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from tests.helpers import count, local, post
from walletpass.pkpass import passjson

STORES = [{"name": f"Harbour Books {i}", "latitude": 25.03 + i / 1000, "longitude": 121.56 + i / 1000,
           **({"address": f"{i} Harbour Rd"} if i % 2 else {})} for i in range(12)]
BENEFITS = [{"header": "Free gift wrap", "body": "On every book", "uri": "https://books.example/wrap"},
            {"header": "Reading nights"}]


def _program(client, auth, **fields: Any) -> int:  # type: ignore[no-untyped-def]
    r = post(client, "/api/v1/programs", auth, {"name": "Harbour Club", "organization_name": "Harbour Books",
                                                **fields})
    assert r.status_code == 201, r.json
    return int(r.json["id"])


def _put(client, auth, program: int, body: object):  # type: ignore[no-untyped-def]
    return client.put(f"/api/v1/programs/{program}/stores", data=json.dumps(body),
                      headers=auth, content_type="application/json")


def test_put_and_get_stores(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    program = _program(client, auth)
    assert client.get(f"/api/v1/programs/{program}/stores", headers=auth).json == {"stores": []}
    version = client.get(f"/api/v1/programs/{program}", headers=auth).json["version"]
    r = _put(client, auth, program, {"stores": STORES})
    assert r.status_code == 200, r.json
    got = client.get(f"/api/v1/programs/{program}/stores", headers=auth).json["stores"]
    assert [s["name"] for s in got] == [s["name"] for s in STORES]
    assert got[1]["address"] == "1 Harbour Rd" and got[0]["address"] is None
    assert got[3]["latitude"] == pytest.approx(25.033)
    assert client.get(f"/api/v1/programs/{program}", headers=auth).json["version"] == version + 1
    assert _put(client, auth, program, {"stores": STORES}).status_code == 200  # the same stores: no new version
    assert client.get(f"/api/v1/programs/{program}", headers=auth).json["version"] == version + 1
    assert _put(client, auth, program, {"stores": []}).status_code == 200
    assert count(services, f"SELECT count(*) FROM program_stores WHERE program_id = {program}") == 0


@pytest.mark.parametrize(("store", "field"), [
    ({"name": "X", "latitude": 90.01, "longitude": 0}, "latitude"),
    ({"name": "X", "latitude": -90.5, "longitude": 0}, "latitude"),
    ({"name": "X", "latitude": 0, "longitude": 180.5}, "longitude"),
    ({"name": "X", "latitude": 0, "longitude": -181}, "longitude"),
    ({"name": "X", "latitude": "25", "longitude": 121}, "latitude"),
    ({"name": " ", "latitude": 25, "longitude": 121}, "name"),
    ({"latitude": 25, "longitude": 121}, "name"),
    ({"name": "X", "latitude": 25, "longitude": 121, "colour": "red"}, "colour"),
])
def test_bad_stores_are_422_and_nothing_is_written(client, auth, services, store, field) -> None:  # type: ignore[no-untyped-def]
    program = _program(client, auth)
    assert _put(client, auth, program, {"stores": STORES[:2]}).status_code == 200
    r = _put(client, auth, program, {"stores": [STORES[5], store]})
    assert r.status_code == 422 and r.mimetype == "application/problem+json", r.json
    assert field in json.dumps(r.json)
    got = client.get(f"/api/v1/programs/{program}/stores", headers=auth).json["stores"]
    assert [s["name"] for s in got] == [STORES[0]["name"], STORES[1]["name"]]


def test_too_many_stores_and_unknown_program(client, auth) -> None:  # type: ignore[no-untyped-def]
    program = _program(client, auth)
    r = _put(client, auth, program, {"stores": [STORES[0]] * 101})
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert _put(client, auth, 999999, {"stores": STORES[:1]}).status_code in (403, 404)


def test_benefits_are_validated_and_shown(client, auth) -> None:  # type: ignore[no-untyped-def]
    program = _program(client, auth, benefits=BENEFITS)
    assert client.get(f"/api/v1/programs/{program}", headers=auth).json["benefits"] == BENEFITS
    for bad in ([{"header": "x"}] * 11, [{"header": "x" * 61}], [{"header": "x", "body": "y" * 51}],
                [{"header": "x", "uri": "javascript:alert(1)"}], [{"body": "no header"}]):
        r = client.patch(f"/api/v1/programs/{program}", data=json.dumps({"benefits": bad}), headers=auth,
                         content_type="application/json")
        assert r.status_code == 422 and r.mimetype == "application/problem+json", (bad, r.json)
    assert client.get(f"/api/v1/programs/{program}", headers=auth).json["benefits"] == BENEFITS


def test_signed_member_card_carries_locations_and_benefits(client, auth) -> None:  # type: ignore[no-untyped-def]
    program = _program(client, auth, benefits=BENEFITS)
    assert _put(client, auth, program, {"stores": STORES}).status_code == 200
    member = post(client, f"/api/v1/programs/{program}/members", auth, {"name": "Chen Yi"}).json
    r = client.get(local(member["links"]["pkpass"]))
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.data)) as z:
        p = json.loads(z.read("pass.json"))
    assert [loc["relevantText"] for loc in p["locations"]] == [s["name"] for s in STORES[:10]]
    back = {f["key"]: f for f in p["storeCard"]["backFields"]}
    assert back["benefit_0"]["label"] == "Free gift wrap"
    assert back["benefit_1"]["value"] == "Reading nights"
    passjson.validate(p)
