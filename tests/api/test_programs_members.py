"""Marketer API: programs and members, the fixed fields of PRODUCT.md, and bad input → problem+json."""

from __future__ import annotations

import json

import pytest

from tests.helpers import png
from walletpass.demo import DEMO_PROGRAM


def _post(client, url, body, auth, **kw):  # type: ignore[no-untyped-def]
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(url, data=data, headers={**auth, **kw.pop("headers", {})},
                       content_type=kw.pop("content_type", "application/json"), **kw)


def _count(services, table: str) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    with services.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_create_program_and_member(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, "/api/v1/programs", DEMO_PROGRAM, auth)
    assert r.status_code == 201, r.json
    pid = r.json["id"]
    assert r.headers["Location"].endswith(f"/api/v1/programs/{pid}")
    r = _post(client, f"/api/v1/programs/{pid}/members", {"name": "Lin Mei", "email": "mei@example.com",
                                                          "external_id": "crm-1", "points": 600}, auth)
    assert r.status_code == 201, r.json
    m = r.json
    assert {"id", "serial_number", "points", "tier", "links"} <= set(m)
    assert m["points"] == 600 and m["tier"] == "Silver"
    assert set(m["links"]) == {"page", "pkpass", "google_save", "smart"}
    token = m["links"]["pkpass"].split("/")[-2]
    assert token not in (m["serial_number"], str(m["id"])) and len(token) >= 32  # unguessable, not an id
    assert r.headers["Location"].endswith(f"/api/v1/members/{m['id']}")
    got = client.get(f"/api/v1/members/{m['id']}", headers=auth)
    assert got.status_code == 200
    assert got.json["serial_number"] == m["serial_number"] and got.json["links"] == m["links"]


def test_colours_are_normalised(client, auth) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, "/api/v1/programs", {"name": "P", "organization_name": "O", "background_color": "#ff8000"},
              auth)
    assert r.status_code == 201
    got = client.get(f"/api/v1/programs/{r.json['id']}", headers=auth).json
    assert got["background_color"] == "rgb(255, 128, 0)"


@pytest.mark.parametrize(("body", "status", "field", "needle"), [
    (b"{not json", 400, None, "malformed JSON"),
    (b"[1, 2]", 400, None, "must be a JSON object"),
    (b'{"name": "a", "name": "b", "organization_name": "o"}', 400, None, "appears twice"),
    ({"organization_name": "O"}, 422, "name", "is required"),
    ({"name": 5, "organization_name": "O"}, 422, "name", "must be of type string"),
    ({"name": "P", "organization_name": "O", "colour": "red"}, 422, "colour", "unknown field"),
    ({"name": "P", "organization_name": "O", "background_color": "rgb(255-255-255)"}, 422, "background_color",
     "is not a colour"),
    ({"name": "P", "organization_name": "O", "background_color": "rgb(300, 0, 0)"}, 422, "background_color",
     "0–255"),
    ({"name": "P", "organization_name": "O", "tiers": [{"name": "Gold", "min_points": 1.5}]}, 422,
     "tiers[0].min_points", "integer"),
    ({"name": "P", "organization_name": "O", "tiers": [{"name": "A", "min_points": 0},
                                                       {"name": "A", "min_points": 5}]}, 422, "tiers[1].name",
     "appears twice"),
    ({"name": "P", "organization_name": "O", "locales": ["fr"]}, 422, "locales[0]", "must be one of"),
    ({"name": "   ", "organization_name": "O"}, 422, "name", "blank"),
    # found by fuzzing: each was a 500, or stored text that no pass could be built from
    (b'{"name": "P", "organization_name": "O", "terms": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, None,
     "nested too deeply"),
    (b'{"name": "P", "organization_name": "O", "terms": 1' + b"0" * 5000 + b"}", 400, None, "too many digits"),
    ({"name": "\ud800", "organization_name": "O"}, 400, "name", "lone surrogate"),
    ({"name": "P", "organization_name": "O", "texts": {"en": {"name": "x\udfff"}}}, 400, "texts.en.name",
     "lone surrogate"),
    ({"name": "P", "organization_name": "O", "tiers": [{"name": "\udc00", "min_points": 0}]}, 400,
     "tiers[0].name", "lone surrogate"),
    ({"name": "P", "organization_name": "O", "texts": {"\ud800": {}}}, 400, "texts.\ud800", "lone surrogate"),
    ({"name": "P\x00", "organization_name": "O"}, 422, "name", "NUL"),
])
def test_bad_program_input_is_rejected_and_nothing_saved(client, auth, services, body, status, field,
                                                         needle) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, "/api/v1/programs", body, auth)
    assert r.status_code == status, r.json
    assert r.mimetype == "application/problem+json"
    assert needle in r.json["detail"]
    if field:
        assert r.json["errors"][0]["field"] == field
    assert _count(services, "programs") == 0


def test_wrong_content_type_and_oversized_body(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, "/api/v1/programs", "name=x", auth, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400 and "application/json" in r.json["detail"]
    big = {"name": "P", "organization_name": "O", "terms": "x" * 1_100_000}
    r = _post(client, "/api/v1/programs", big, auth)
    assert r.status_code == 413 and r.mimetype == "application/problem+json"
    assert _count(services, "programs") == 0


@pytest.mark.parametrize(("body", "field", "needle"), [
    ({}, "name", "is required"),
    ({"name": "A", "points": "100"}, "points", "integer"),
    ({"name": "A", "points": 10.0}, "points", "integer"),
    ({"name": "A", "points": -5}, "points", "≥ 0"),
    ({"name": "A", "points": 10**12}, "points", "≤"),
    ({"name": "A", "email": "not-an-email"}, "email", "does not match"),
    ({"name": "A", "tier": "Gold"}, "tier", "unknown field"),
])
def test_bad_member_input(client, auth, services, body, field, needle) -> None:  # type: ignore[no-untyped-def]
    pid = _post(client, "/api/v1/programs", DEMO_PROGRAM, auth).json["id"]
    r = _post(client, f"/api/v1/programs/{pid}/members", body, auth)
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert r.json["errors"][0]["field"] == field and needle in r.json["errors"][0]["detail"]
    assert _count(services, "members") == 0 and _count(services, "passes") == 0


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"name": "A", "email": "a@b.c\ud800"}, 400, "email"),
    ({"name": "A\udbff"}, 400, "name"),
    ({"name": "A", "external_id": "crm\x00"}, 422, "external_id"),
])
def test_unstorable_member_text_is_4xx(client, auth, services, body, status,
                                       field) -> None:  # type: ignore[no-untyped-def]
    # Found by fuzzing: a 500 (SQLite cannot write a lone surrogate, PostgreSQL no NUL) — now a 4xx naming the field.
    pid = _post(client, "/api/v1/programs", DEMO_PROGRAM, auth).json["id"]
    r = _post(client, f"/api/v1/programs/{pid}/members", body, auth)
    assert r.status_code == status and r.mimetype == "application/problem+json"
    assert r.json["errors"][0]["field"] == field
    assert _count(services, "members") == 0 and _count(services, "passes") == 0


def test_unknown_program_and_member_are_404(client, auth) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, "/api/v1/programs/999/members", {"name": "A"}, auth)
    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    assert client.get("/api/v1/members/999", headers=auth).status_code == 404
    assert client.get("/api/v1/members/abc", headers=auth).status_code == 404


@pytest.mark.parametrize("big", [2**31, 2**63, 10**30])
def test_ids_beyond_any_row_are_404_not_500(client, auth, services, big) -> None:  # type: ignore[no-untyped-def]
    # Found by fuzzing: the driver refused such numbers (PostgreSQL past 2**31, SQLite past 2**63) → 500.
    assert _post(client, "/api/v1/programs", DEMO_PROGRAM, auth).status_code == 201
    for r in (client.get(f"/api/v1/programs/{big}", headers=auth),
              client.get(f"/api/v1/members/{big}", headers=auth),
              client.get(f"/api/v1/members/{big}/transactions", headers=auth),
              _post(client, f"/api/v1/programs/{big}/members", {"name": "A"}, auth),
              _post(client, f"/api/v1/members/{big}/transactions", {"points": 5, "reason": "x"}, auth),
              client.put(f"/api/v1/programs/{big}/images/logo", data=png(8, 8), headers=auth,
                         content_type="image/png"),
              client.get(f"/assets/programs/{big}/logo.png")):
        assert r.status_code == 404 and r.mimetype == "application/problem+json", (r.request.path, r.data)
    assert _count(services, "programs") == 1 and _count(services, "members") == 0


def test_duplicate_external_id_is_409(client, auth) -> None:  # type: ignore[no-untyped-def]
    pid = _post(client, "/api/v1/programs", DEMO_PROGRAM, auth).json["id"]
    assert _post(client, f"/api/v1/programs/{pid}/members", {"name": "A", "external_id": "x"}, auth).status_code == 201
    r = _post(client, f"/api/v1/programs/{pid}/members", {"name": "B", "external_id": "x"}, auth)
    assert r.status_code == 409 and "external_id" in r.json["detail"]


def test_openapi_document(client) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.") and "/programs/{program_id}/members" in doc["paths"]
    # every status the routes give is documented, and none they never give (tests/api/test_fuzz.py holds the
    # answers to it): 404 where the path names a resource, or a query names one (?program_id=, ?offer_id=,
    # ?member_id=) or the body a coupon's code; 400/413/422 where there is a body
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                assert {"401", "403"} <= set(op["responses"])
                queries = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
                names = "{" in path or any(q.endswith("_id") for q in queries) or path == "/coupons/redeem"
                assert names == ("404" in op["responses"]), (method, path)
                assert "requestBody" not in op or {"400", "413", "422"} <= set(op["responses"])


def test_every_create_honours_idempotency_key(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    """D7: a till retrying a create after a timeout gets the first answer; nothing is made twice (the welcome
    points are credited once), and the key with another body is a 422 that changes nothing."""
    def post(path: str, body: dict, key: str):  # type: ignore[no-untyped-def]
        return client.post(path, json=body, headers={**auth, "Idempotency-Key": key})

    def count(table: str) -> int:
        with services.engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())

    first = post("/api/v1/programs", DEMO_PROGRAM, "prog-1")
    again = post("/api/v1/programs", DEMO_PROGRAM, "prog-1")
    assert first.status_code == again.status_code == 201 and first.json == again.json
    assert again.headers["Location"] == first.headers["Location"] and count("programs") == 1
    pid = first.json["id"]
    member = {"name": "陳小明", "points": 50, "external_id": "crm-7"}
    first = post(f"/api/v1/programs/{pid}/members", member, "enrol-1")
    again = post(f"/api/v1/programs/{pid}/members", member, "enrol-1")
    assert first.status_code == again.status_code == 201 and first.json == again.json
    assert count("members") == 1 and count("passes") == 1 and count("ledger_entries") == 1
    assert client.get(first.headers["Location"], headers=auth).json["points"] == 50
    other = post(f"/api/v1/programs/{pid}/members", {**member, "name": "Someone else"}, "enrol-1")
    assert other.status_code == 422 and "different request" in other.json["detail"] and count("members") == 1
    offer = {"title": "Free latte", "valid_until": "2099-12-31T23:59:00+08:00"}
    first = post(f"/api/v1/programs/{pid}/offers", offer, "offer-1")
    again = post(f"/api/v1/programs/{pid}/offers", offer, "offer-1")
    assert first.status_code == again.status_code == 201 and first.json == again.json and count("offers") == 1


def test_phone_is_normalised_and_patchable(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = _post(client, "/api/v1/programs", DEMO_PROGRAM, auth).json["id"]
    r = _post(client, f"/api/v1/programs/{pid}/members",
              {"name": "Chen", "phone": "+886 (912) 345-678", "email": "Chen@Example.COM"}, auth)
    assert r.status_code == 201, r.json
    got = client.get(f"/api/v1/members/{r.json['id']}", headers=auth).json
    assert got["phone"] == "+886912345678" and got["email"] == "Chen@example.com"
    r2 = client.patch(f"/api/v1/members/{got['id']}", json={"phone": "0912.345.679"}, headers=auth)
    assert r2.status_code == 200, r2.json
    assert r2.json["phone"] == "0912345679"
    r3 = client.patch(f"/api/v1/members/{got['id']}", json={"phone": None}, headers=auth)
    assert r3.status_code == 200 and r3.json["phone"] is None


@pytest.mark.parametrize("phone", ["12345", "+1234567890123456", "call me", "+886-912-345-67a", "", "++886912345"])
def test_bad_phone_is_422_and_nothing_written(client, auth, services, phone) -> None:  # type: ignore[no-untyped-def]
    pid = _post(client, "/api/v1/programs", DEMO_PROGRAM, auth).json["id"]
    before = _count(services, "members")
    r = _post(client, f"/api/v1/programs/{pid}/members", {"name": "Chen", "phone": phone}, auth)
    assert r.status_code == 422 and r.headers["Content-Type"].startswith("application/problem+json")
    assert "phone" in json.dumps(r.json)
    assert _count(services, "members") == before


def test_program_theme_stylesheet_carries_its_colours(client, auth) -> None:  # type: ignore[no-untyped-def]
    pid = _post(client, "/api/v1/programs", {**DEMO_PROGRAM, "background_color": "#102030"}, auth).json["id"]
    r = client.get(f"/assets/programs/{pid}/theme.css?v=1")
    assert r.status_code == 200 and r.mimetype == "text/css"
    assert "--brand-bg:rgb(16, 32, 48)" in r.get_data(as_text=True)
    assert client.get("/assets/programs/999999/theme.css").status_code == 404


# -- Program options for Apple's 2024–2026 pass keys: stored, shown, changed by PATCH, and bad values → 4

OPTIONS = {
    "member_card_style": "posterGeneric", "footer_background_color": "#102030", "use_automatic_colors": True,
    "benefits_url": "https://example.com/benefits", "barcode_format": "ean13", "coupon_relevant_dates": True,
    "coupon_sharing_prohibited": True,
}
DEFAULTS = {
    "member_card_style": "storeCard", "footer_background_color": None, "use_automatic_colors": False,
    "benefits_url": None, "barcode_format": "qr", "coupon_relevant_dates": False, "coupon_sharing_prohibited": False,
}


def _patch(client, url, body, auth):  # type: ignore[no-untyped-def]
    return client.patch(url, data=json.dumps(body), headers=auth, content_type="application/json")


def test_defaults_shown(client, auth) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, "/api/v1/programs", {"name": "P", "organization_name": "O"}, auth)
    assert r.status_code == 201, r.json
    got = client.get(f"/api/v1/programs/{r.json['id']}", headers=auth).json
    assert {k: got[k] for k in DEFAULTS} == DEFAULTS


def test_options_stored_shown_and_patched(client, auth) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, "/api/v1/programs", {"name": "P", "organization_name": "O", **OPTIONS}, auth)
    assert r.status_code == 201, r.json
    url = f"/api/v1/programs/{r.json['id']}"
    got = client.get(url, headers=auth).json
    assert {k: got[k] for k in OPTIONS} == {**OPTIONS, "footer_background_color": "rgb(16, 32, 48)"}
    version = got["version"]
    r = _patch(client, url, {"footer_background_color": None, "barcode_format": "code39"}, auth)
    assert r.status_code == 200, r.json
    assert r.json["footer_background_color"] is None and r.json["barcode_format"] == "code39"
    assert r.json["member_card_style"] == "posterGeneric" and r.json["version"] == version + 1
    r = _patch(client, url, {k: v for k, v in DEFAULTS.items()}, auth)
    assert {k: r.json[k] for k in DEFAULTS} == DEFAULTS


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("member_card_style", "poster", "must be one of ['storeCard', 'posterGeneric']"),
    ("footer_background_color", "rgb(255-0-0)", "is not a colour"),
    ("footer_background_color", "rgb(300, 0, 0)", "0–255"),
    ("use_automatic_colors", "yes", "boolean"),
    ("benefits_url", "http://example.com/benefits", "is not an https:// URL"),
    ("benefits_url", "benefits", "is not an https:// URL"),
    ("benefits_url", "https://[::::]/b", "is not an https URL"),
    ("barcode_format", "upc", "must be one of ['qr', 'ean13', 'code39', 'codabar', 'itf']"),
    ("barcode_format", "PKBarcodeFormatEAN13", "must be one of ['qr', 'ean13', 'code39', 'codabar', 'itf']"),
    ("coupon_relevant_dates", 1, "boolean"),
    ("coupon_sharing_prohibited", None, "boolean"),
])
def test_bad_option_is_422_and_nothing_written(client, auth, services, field, value,
                                               needle) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, "/api/v1/programs", {"name": "P", "organization_name": "O", field: value}, auth)
    assert r.status_code == 422, r.json
    assert r.mimetype == "application/problem+json"
    assert r.json["errors"][0]["field"] == field and needle in r.json["detail"]
    assert _count(services, "programs") == 0
    r = _post(client, "/api/v1/programs", {"name": "P", "organization_name": "O"}, auth)
    url = f"/api/v1/programs/{r.json['id']}"
    before = client.get(url, headers=auth).json
    r = _patch(client, url, {field: value}, auth)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == field
    assert client.get(url, headers=auth).json == before


def test_a_members_card_follows_the_options(client, auth) -> None:  # type: ignore[no-untyped-def]
    import io
    import zipfile
    from urllib.parse import urlsplit

    r = _post(client, "/api/v1/programs", {"name": "P", "organization_name": "O"}, auth)
    url = f"/api/v1/programs/{r.json['id']}"
    m = _post(client, f"{url}/members", {"name": "Lin"}, auth).json

    def pass_json() -> dict:  # type: ignore[type-arg]
        got = client.get(urlsplit(m["links"]["pkpass"]).path)
        assert got.status_code == 200
        return json.loads(zipfile.ZipFile(io.BytesIO(got.data)).read("pass.json"))

    plain = pass_json()
    assert "posterGeneric" not in plain and [b["format"] for b in plain["barcodes"]] == ["PKBarcodeFormatQR"]
    r = _patch(client, url, {"member_card_style": "posterGeneric", "barcode_format": "ean13",
                             "benefits_url": "https://example.com/benefits"}, auth)
    assert r.status_code == 200, r.json
    poster = pass_json()
    assert "storeCard" in poster and "posterGeneric" in poster
    assert [b["format"] for b in poster["barcodes"]] == ["PKBarcodeFormatEAN13", "PKBarcodeFormatQR"]
    assert poster["barcodes"][0]["message"][:12] == m["member_number"]
    assert poster["featuredActions"][0]["url"] == "https://example.com/benefits"
