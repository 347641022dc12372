"""Program benefits and stores on the passes: Google value-added modules and merchant locations (strictly valid
against the discovery document), Apple locations (≤ 10) and benefit back fields (valid pass.json)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from walletpass.domain.offers import Coupon, Offer
from walletpass.domain.passes import COUPON, PassRef
from walletpass.domain.programs import Benefit, Program, Store, check_store
from walletpass.errors import InvalidInput
from walletpass.google import objects, schema
from walletpass.pass_templates import load_templates
from walletpass.pkpass import passjson
from walletpass.render import RenderContext, coupon_pass_json, localized_strings, member_pass_json
from walletpass.render.demo import demo_coupon, demo_coupon_ref, demo_member, demo_offer, demo_pass_ref, demo_program

ISSUER = "3388000000022222222"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def program(**kw: object) -> Program:
    return Program(**{"id": 7, "name": "Morning Light Rewards", "organization_name": "Morning Light",  # type: ignore[arg-type]
                      "background_color": "rgb(23, 187, 82)", **kw})


def ref(serial: str, kind: str) -> PassRef:
    return PassRef(serial, "pass.dev.walletpass.coupon", "tok", kind, 1, NOW, False)


def images(slot: str) -> str | None:
    return {"logo": "https://cdn.example/assets/programs/7/logo.png"}.get(slot)


def assert_valid(name: str, body: dict) -> None:
    assert schema.errors(name, body, strict=True) == []
    assert schema.lint(name, body) == []


STORES = tuple(Store(f"Store {i}", 25.0 + i / 100, 121.5 + i / 100, f"No. {i} Main St") for i in range(14))
BENEFITS = (Benefit("Free refill", "Any size, every day", "https://shop.example/refill"),
            Benefit("Birthday treat", "A pastry in your birthday month"),
            Benefit("Members' evenings"))
JOIN = "https://passes.example.com/join/7"
TEMPLATES = load_templates()
CTX = RenderContext(team_id="DEVTEAM001", web_service_url="https://passes.example.com/")

def test_loyalty_class_carries_benefits_and_the_first_ten_stores() -> None:
    body = objects.loyalty_class(program(benefits=BENEFITS, stores=STORES), issuer_id=ISSUER, images=images,
                                 benefit_uri=JOIN)
    assert_valid("LoyaltyClass", body)
    assert body["merchantLocations"] == [{"latitude": s.latitude, "longitude": s.longitude} for s in STORES[:10]]
    modules = body["valueAddedModuleData"]
    assert [m["header"]["defaultValue"]["value"] for m in modules] == [b.header for b in BENEFITS]
    assert [m["uri"] for m in modules] == ["https://shop.example/refill", JOIN, JOIN]  # header and uri: required
    assert [m["sortIndex"] for m in modules] == [0, 1, 2]
    assert "body" not in modules[2]
    assert modules[0]["body"] == {"defaultValue": {"language": "en", "value": "Any size, every day"}}

def test_benefits_without_a_link_are_left_out_when_there_is_no_default() -> None:
    body = objects.loyalty_class(program(benefits=BENEFITS), issuer_id=ISSUER, images=images)
    assert_valid("LoyaltyClass", body)
    assert [m["uri"] for m in body["valueAddedModuleData"]] == ["https://shop.example/refill"]
    assert "merchantLocations" not in body

def test_program_without_benefits_or_stores_has_neither_field() -> None:
    body = objects.loyalty_class(program(), issuer_id=ISSUER, images=images, benefit_uri=JOIN)
    assert "valueAddedModuleData" not in body and "merchantLocations" not in body

def test_offer_class_carries_the_program_stores() -> None:
    offer = Offer(id=3, program_id=7, title="Free pastry")
    body = objects.offer_class(offer, program(stores=STORES[:3]), issuer_id=ISSUER, images=images)
    assert_valid("OfferClass", body)
    assert len(body["merchantLocations"]) == 3

@pytest.mark.parametrize(("lat", "lon", "field"), [(90.5, 0, "latitude"), (-91, 0, "latitude"),
                                                   (0, 180.01, "longitude"), (0, -181, "longitude")])
def test_store_coordinates_out_of_range_are_refused(lat: float, lon: float, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        check_store(Store("X", lat, lon), "stores[0]")
    assert e.value.field == f"stores[0].{field}"

def test_apple_member_card_has_ten_locations_and_benefit_back_fields() -> None:
    prog = dataclasses.replace(demo_program(), stores=STORES, benefits=BENEFITS)
    template = TEMPLATES["member-card"]
    p = member_pass_json(template, prog, demo_member(), demo_pass_ref(), CTX)
    assert p["locations"] == [{"latitude": s.latitude, "longitude": s.longitude, "relevantText": s.name}
                              for s in STORES[:10]]
    back = {f["key"]: f for f in p["storeCard"]["backFields"]}
    assert back["benefit_0"] == {"key": "benefit_0", "label": "Free refill",
                                 "value": "Any size, every day\nhttps://shop.example/refill"}
    assert back["benefit_2"]["value"] == "Members' evenings"
    passjson.validate(p, strings=localized_strings(template, prog))

def test_apple_coupon_has_the_program_locations() -> None:
    prog = dataclasses.replace(demo_program(), stores=STORES[:2], benefits=BENEFITS)
    template, offer = TEMPLATES["coupon"], demo_offer()
    p = coupon_pass_json(template, prog, offer, demo_coupon(), demo_member(), demo_coupon_ref(), CTX)
    assert [loc["relevantText"] for loc in p["locations"]] == ["Store 0", "Store 1"]
    assert not any(f["key"].startswith("benefit_") for f in p["coupon"].get("backFields", []))
    passjson.validate(p, strings=localized_strings(template, prog, offer))

def test_apple_pass_without_stores_has_no_locations() -> None:
    p = member_pass_json(TEMPLATES["member-card"], demo_program(), demo_member(), demo_pass_ref(), CTX)
    assert "locations" not in p

def test_apple_validator_refuses_eleven_locations() -> None:
    p = member_pass_json(TEMPLATES["member-card"], demo_program(), demo_member(), demo_pass_ref(), CTX)
    p["locations"] = [{"latitude": 1.0, "longitude": 2.0}] * 11
    with pytest.raises(Exception, match="locations"):
        passjson.validate(p, strings=localized_strings(TEMPLATES["member-card"], demo_program()))


# -- rotating barcodes ---------------------------------------------------------------------------------------
RFC_KEY = b"12345678901234567890".hex()  # RFC 6238 appendix B, SHA-1


@pytest.mark.parametrize(("seconds", "value"), [(59, "94287082"), (1111111109, "07081804"),
                                                 (1234567890, "89005924"), (20000000000, "65353130")])
def test_totp_value_matches_rfc_6238(seconds: int, value: str) -> None:
    assert objects.totp_value(RFC_KEY, datetime.fromtimestamp(seconds, UTC)) == value


def test_offer_object_with_a_rotating_barcode_is_valid() -> None:
    offer = Offer(id=3, program_id=7, title="Free pastry", rotating_barcode=True)
    coupon = Coupon(id=1, offer_id=3, code="MLC-000001")
    key = "ab" * objects.TOTP_KEY_BYTES
    body = objects.offer_object(coupon, offer, ref("C-1", COUPON), issuer_id=ISSUER, now=NOW, totp_key=key)
    assert_valid("OfferObject", body)
    assert "barcode" not in body
    assert body["rotatingBarcode"] == {
        "type": "QR_CODE", "valuePattern": "MLC-000001:{totp_value_0}",
        "totpDetails": {"algorithm": "TOTP_SHA1", "periodMillis": "30000",
                        "parameters": [{"key": key, "valueLength": 8}]}}
    plain = objects.offer_object(coupon, offer, ref("C-1", COUPON), issuer_id=ISSUER, now=NOW)
    assert "rotatingBarcode" not in plain and plain["barcode"]["value"] == "MLC-000001"


@pytest.mark.parametrize(("patch", "problem"), [
    ({"merchantLocations": [{"latitude": 91.0, "longitude": 0.0}]}, "merchantLocations.0.latitude"),
    ({"merchantLocations": [{"latitude": 1.0, "longitude": 1.0}] * 11}, "merchantLocations: at most 10"),
    ({"valueAddedModuleData": [{"header": {"defaultValue": {"language": "en", "value": "x"}}}]},
     "valueAddedModuleData.0.uri"),
    ({"linkedObjectIds": ["not-an-id"]}, "linkedObjectIds.0"),
    ({"rotatingBarcode": {"type": "EAN_13", "valuePattern": "x"}}, "rotatingBarcode.type"),
    ({"rotatingBarcode": {"type": "QR_CODE", "valuePattern": "{totp_value_1}",
                          "totpDetails": {"parameters": [{"key": "zz"}]}}}, "rotatingBarcode"),
])
def test_cross_field_rules_catch_what_discovery_cannot(patch: dict, problem: str) -> None:
    body = {"id": f"{ISSUER}.x", "classId": f"{ISSUER}.offer-1", "state": "ACTIVE", **patch}
    assert any(p.startswith(problem) for p in schema.lint("OfferObject", body)), schema.lint("OfferObject", body)
