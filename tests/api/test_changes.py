"""Every change that alters a pass reaches the phone (issue 3 item 2): name, coupon redeemed / voided / expired,
program design and tier thresholds. Each one moves the pass's update tag in the API's own transaction (so the
list-since-tag call right after the 2xx returns the serial), pushes through the APNs stand-in, and the pass the
device then fetches shows the change and verifies with openssl. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.builders import make_member, make_program
from tests.helpers import Device, count, encode_image, local, make_offer, post, put_image, verify_with_openssl
from walletpass.bootstrap import Services, bootstrap
from walletpass.jobs.worker import Worker
from walletpass.ports import FixedClock

pytestmark = pytest.mark.usefixtures("apns")  # settings point at the stand-in

NOW = datetime(2026, 11, 23, 9, 30, 15, 500000, tzinfo=UTC)


@pytest.fixture
def services(settings) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    svc = bootstrap(settings, clock=FixedClock(NOW))
    yield svc
    svc.close()


def patch(client, path: str, auth, body: object):  # type: ignore[no-untyped-def]
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.patch(path, data=data, headers=auth, content_type="application/json")


def files_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def fields_of(pj: dict[str, Any]) -> dict[str, Any]:
    style = pj.get("storeCard") or pj["coupon"]
    return {f["key"]: f["value"] for group in style.values() if isinstance(group, list) for f in group}


def reaches_the_phone(client, services, apns, links: dict[str, str], pass_type_id: str,  # type: ignore[no-untyped-def]
                      change: Callable[[], None], tmp_path) -> dict[str, bytes]:
    """Install the pass on a phone, make *change*, and follow it to the phone; return the new pass's files."""
    first = client.get(local(links["pkpass"]))
    pj = json.loads(files_of(first.data)["pass.json"])
    serial, token = pj["serialNumber"], pj["authenticationToken"]
    phone = Device(client, pass_type_id)
    assert phone.register(serial, token).status_code == 201
    tag = phone.list().json["lastUpdated"]
    last_modified = phone.fetch(serial, token).headers["Last-Modified"]
    assert phone.list(tag).status_code == 204

    change()
    listed = phone.list(tag)                  # the 2xx means the tag moved already
    assert listed.status_code == 200 and listed.json["serialNumbers"] == [serial]
    assert int(listed.json["lastUpdated"]) > int(tag)

    worker = Worker(services)
    while worker.run_once():
        pass
    pushes = [p for p in apns.pushes if p.token == phone.token]
    assert len(pushes) == 1 and pushes[0].status == 200 and pushes[0].topic == pass_type_id

    fresh = phone.fetch(serial, token, last_modified)
    assert fresh.status_code == 200 and fresh.headers["Last-Modified"] != last_modified
    verify_with_openssl(fresh.data, services.settings.wwdr_path, tmp_path)
    return files_of(fresh.data)


def pass_json(files: dict[str, bytes]) -> dict[str, Any]:
    return json.loads(files["pass.json"])  # type: ignore[no-any-return]


# -- members --------------------------------------------------------------------------------------------------

def test_name_change_reaches_the_member_card(client, auth, services, apns, tmp_path) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    member = make_member(services, program, name="Lin Mei")
    offer = make_offer(client, auth, program)
    coupon = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]}).json

    def change() -> None:
        r = patch(client, f"/api/v1/members/{member['id']}", auth, {"name": "林美"})
        assert r.status_code == 200 and r.json["name"] == "林美"

    files = reaches_the_phone(client, services, apns, member["links"], services.settings.member_pass_type_id,
                              change, tmp_path)
    assert fields_of(pass_json(files))["member"] == "林美"
    coupon_pass = client.get(local(coupon["links"]["pkpass"]))   # the coupon shows the name too
    assert fields_of(pass_json(files_of(coupon_pass.data)))["member"] == "林美"
    with services.engine.connect() as conn:  # both passes moved in the one change
        tags = conn.execute(text("SELECT DISTINCT update_tag FROM passes")).scalars().all()
    assert len(tags) == 1


def test_email_is_not_on_the_pass_so_nothing_is_pushed(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services))
    tag = count(services, "SELECT value FROM counters WHERE name = 'pass_tag'")
    r = patch(client, f"/api/v1/members/{member['id']}", auth, {"email": "mei@example.com", "external_id": "crm-9"})
    assert r.status_code == 200 and r.json["email"] == "mei@example.com" and r.json["external_id"] == "crm-9"
    assert count(services, "SELECT value FROM counters WHERE name = 'pass_tag'") == tag
    assert count(services, "SELECT count(*) FROM outbox") == 0
    cleared = patch(client, f"/api/v1/members/{member['id']}", auth, {"email": None})
    assert cleared.status_code == 200 and cleared.json["email"] is None


def test_email_change_bumps_the_passes_when_the_template_in_use_shows_it(services) -> None:  # type: ignore[no-untyped-def]
    from walletpass.render.template import PassTemplate
    from walletpass.services.members import shown_on_passes, update_member

    demo = services.pass_builder.template("member")
    assert "email" not in shown_on_passes(services.pass_builder.templates_in_use())
    document = json.loads(demo.document)
    document["pass"]["storeCard"]["backFields"].append({"key": "email", "label": "email", "value": "${member.email}"})
    with_email = PassTemplate.create("member-card-email", document, demo.strings, demo.images)
    assert shown_on_passes([with_email]) == {"name", "email", "number", "points", "tier_key"}
    member = make_member(services, make_program(services))
    tag = count(services, "SELECT update_tag FROM passes")
    view = update_member(services.uow(), services.clock, services.settings, member["id"],
                         {"email": "mei@example.com"}, templates=[with_email])
    assert view.member.email == "mei@example.com"
    assert count(services, "SELECT update_tag FROM passes") > tag
    assert count(services, "SELECT count(*) FROM outbox WHERE kind = 'pass_changed'") == 1


@pytest.mark.parametrize(("body", "status", "field"), [
    ({}, 422, ""),
    ({"name": ""}, 422, "name"),
    ({"name": "   "}, 422, "name"),
    ({"name": 5}, 422, "name"),
    ({"points": 5}, 422, "points"),
    ({"email": "not an address"}, 422, "email"),
    ({"external_id": ""}, 422, "external_id"),
    ({"name": "a\x00b"}, 422, "name"),
    (b'{"name": "x", "name": "y"}', 400, "name"),
    (b"[1]", 400, ""),
])
def test_bad_member_patches_change_nothing(client, auth, services, body, status, field) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services), name="Lin Mei")
    r = patch(client, f"/api/v1/members/{member['id']}", auth, body)
    assert r.status_code == status and r.mimetype == "application/problem+json", r.json
    if field:
        assert r.json["errors"][0]["field"] == field
    assert client.get(f"/api/v1/members/{member['id']}", headers=auth).json["name"] == "Lin Mei"
    assert count(services, "SELECT version FROM members") == 1 and count(services, "SELECT count(*) FROM outbox") == 0


def test_external_id_taken_is_409(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    make_member(services, program, external_id="crm-1")
    member = make_member(services, program, name="Lin Mei", external_id="crm-2")
    r = patch(client, f"/api/v1/members/{member['id']}", auth, {"name": "Other", "external_id": "crm-1"})
    assert r.status_code == 409 and r.mimetype == "application/problem+json" and "crm-1" in r.json["detail"]
    got = client.get(f"/api/v1/members/{member['id']}", headers=auth).json
    assert got["name"] == "Lin Mei" and got["external_id"] == "crm-2"
    assert count(services, "SELECT count(*) FROM outbox") == 0
    assert patch(client, "/api/v1/members/4242", auth, {"name": "x"}).status_code == 404


# -- coupons --------------------------------------------------------------------------------------------------

def _coupon(client, auth, services, **offer_fields: object) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    program = make_program(services)
    member = make_member(services, program)
    offer = make_offer(client, auth, program, **offer_fields)
    r = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]})
    assert r.status_code == 201
    return r.json  # type: ignore[no-any-return]


@pytest.mark.parametrize("action", ["redeem", "void"])
def test_redeemed_or_voided_coupon_is_voided_on_the_phone(client, auth, services, apns, tmp_path, action) -> None:  # type: ignore[no-untyped-def]
    coupon = _coupon(client, auth, services)
    before = pass_json(files_of(client.get(local(coupon["links"]["pkpass"])).data))
    assert "voided" not in before

    def change() -> None:
        r = post(client, f"/api/v1/coupons/{coupon['id']}/{action}", auth)
        assert r.status_code == 200 and r.json["state"] == {"redeem": "redeemed", "void": "voided"}[action]

    pj = pass_json(reaches_the_phone(client, services, apns, coupon["links"], services.settings.coupon_pass_type_id,
                                     change, tmp_path))
    assert pj["voided"] is True and pj["barcodes"][0]["message"] == coupon["code"]


def test_expired_coupon_is_voided_on_the_phone_once(client, auth, services, apns, tmp_path) -> None:  # type: ignore[no-untyped-def]
    coupon = _coupon(client, auth, services, valid_until=(NOW + timedelta(hours=1)).isoformat())

    def change() -> None:
        services.clock.advance(hours=2)  # type: ignore[attr-defined]
        Worker(services).sweep()

    pj = pass_json(reaches_the_phone(client, services, apns, coupon["links"], services.settings.coupon_pass_type_id,
                                     change, tmp_path))
    assert pj["voided"] is True and pj["expirationDate"] == (NOW + timedelta(hours=1)).replace(
        microsecond=0).isoformat()
    pushes = len(apns.pushes)
    tag = count(services, "SELECT value FROM counters WHERE name = 'pass_tag'")
    services.clock.advance(hours=1)  # type: ignore[attr-defined]
    worker = Worker(services)
    while worker.run_once():
        pass
    assert count(services, "SELECT value FROM counters WHERE name = 'pass_tag'") == tag and len(apns.pushes) == pushes


# -- programs -------------------------------------------------------------------------------------------------

def test_design_change_reaches_every_pass(client, auth, services, apns, tmp_path) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    member = make_member(services, program, points=100)
    others = [make_member(services, program) for _ in range(5)]
    offer = make_offer(client, auth, program)
    coupon = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": others[0]["id"]}).json

    def change() -> None:
        r = patch(client, f"/api/v1/programs/{program}", auth, {"background_color": "#102030", "name": "Sunrise Club",
                                                               "texts": {}})
        assert r.status_code == 200 and r.json["name"] == "Sunrise Club" and r.json["version"] == 2

    files = reaches_the_phone(client, services, apns, member["links"], services.settings.member_pass_type_id,
                              change, tmp_path)
    assert pass_json(files)["backgroundColor"] == "rgb(16, 32, 48)"
    assert '"program_name" = "Sunrise Club";' in files["en.lproj/pass.strings"].decode("utf-16")
    # every pass of the program — six member cards and a coupon — moved to one new tag, each with its own job
    with services.engine.connect() as conn:
        tags = {r[0] for r in conn.execute(text(f"SELECT update_tag FROM passes WHERE program_id = {program}"))}
        jobs = conn.execute(text("SELECT count(DISTINCT pass_id) FROM outbox WHERE kind = 'pass_changed'")).scalar()
    assert len(tags) == 1 and jobs in (0, 7)  # the worker above delivered them (0), or they are pending (7)
    coupon_pj = pass_json(files_of(client.get(local(coupon["links"]["pkpass"])).data))
    assert coupon_pj["backgroundColor"] == "rgb(16, 32, 48)"


def test_new_tier_thresholds_move_members_and_their_passes(client, auth, services, apns, tmp_path) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    member = make_member(services, program, points=600)
    assert member["tier"] == "Silver"
    tiers = [{"name": "Bronze", "min_points": 0}, {"name": "Gold", "min_points": 300}]

    def change() -> None:
        r = patch(client, f"/api/v1/programs/{program}", auth, {"tiers": tiers, "texts": {}})
        assert r.status_code == 200, r.json

    files = reaches_the_phone(client, services, apns, member["links"], services.settings.member_pass_type_id,
                              change, tmp_path)
    assert fields_of(pass_json(files))["tier"] == "tier.Gold"
    assert client.get(f"/api/v1/members/{member['id']}", headers=auth).json["tier"] == "Gold"


def test_design_change_queues_the_google_class_sync(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    assert patch(client, f"/api/v1/programs/{program}", auth, {"points_label": "Beans"}).status_code == 200
    assert count(services, "SELECT count(*) FROM outbox WHERE kind = 'google_class_sync'") >= 1


def test_image_upload_bumps_the_passes_and_queues_the_google_class_sync(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    make_member(services, program)
    tag = count(services, "SELECT update_tag FROM passes")
    assert put_image(client, auth, program, "logo", encode_image("PNG")).status_code == 204
    assert count(services, "SELECT update_tag FROM passes") > tag
    assert count(services, "SELECT count(*) FROM outbox WHERE kind = 'google_class_sync'") >= 1


def test_same_second_changes_get_later_last_modified(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    member = make_member(services, program)
    patch(client, f"/api/v1/members/{member['id']}", auth, {"name": "A"})          # Last-Modified = NOW's second
    with services.engine.connect() as conn:
        before = conn.execute(text("SELECT updated_at FROM passes")).scalar_one()
    assert patch(client, f"/api/v1/programs/{program}", auth, {"terms": "New terms"}).status_code == 200
    with services.engine.connect() as conn:
        after = conn.execute(text("SELECT updated_at FROM passes")).scalar_one()
    assert after > before


@pytest.mark.parametrize(("body", "field"), [
    ({}, ""),
    ({"background_color": "blue"}, "background_color"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"locales": ["en", "fr"]}, "locales[1]"),
    ({"locales": ["en"]}, "texts.zh-Hant"),          # the program's texts are in zh-Hant and zh-Hans
    ({"tiers": [{"name": "A", "min_points": 0}, {"name": "A", "min_points": 5}]}, "tiers[1].name"),
    ({"tiers": [{"name": "A", "min_points": 0}]}, "texts.zh-Hant.tier.Bronze"),
    ({"colour": "#000000"}, "colour"),
    ({"texts": {"en": {"slogan": "x"}}}, "texts.en.slogan"),
])
def test_bad_program_patches_change_nothing(client, auth, services, body, field) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    make_member(services, program)
    before = client.get(f"/api/v1/programs/{program}", headers=auth).json
    tag = count(services, "SELECT value FROM counters WHERE name = 'pass_tag'")
    r = patch(client, f"/api/v1/programs/{program}", auth, body)
    assert r.status_code == 422 and r.mimetype == "application/problem+json", r.json
    if field:
        assert r.json["errors"][0]["field"] == field, r.json
    assert client.get(f"/api/v1/programs/{program}", headers=auth).json == before
    assert count(services, "SELECT value FROM counters WHERE name = 'pass_tag'") == tag
    assert count(services, "SELECT count(*) FROM outbox") == 0
    assert patch(client, "/api/v1/programs/4242", auth, {"name": "x"}).status_code == 404


def test_unchanged_patch_pushes_nothing(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    make_member(services, program)
    same = client.get(f"/api/v1/programs/{program}", headers=auth).json
    r = patch(client, f"/api/v1/programs/{program}", auth, {"name": same["name"], "tiers": same["tiers"]})
    assert r.status_code == 200 and r.json["version"] == same["version"]
    assert count(services, "SELECT count(*) FROM outbox") == 0


def test_how_to_earn_change_reaches_the_passes(client, auth, services, apns, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """issue 9 item 7: a program text is design: PATCHing it bumps every pass, which shows the new text."""
    program = make_program(services)
    member = make_member(services, program)
    texts = client.get(f"/api/v1/programs/{program}", headers=auth).json["texts"]
    texts["zh-Hant"]["how_to_earn"] = "週一雙倍點數。"

    def change() -> None:
        r = patch(client, f"/api/v1/programs/{program}", auth, {"how_to_earn": "Double points on Mondays.",
                                                               "texts": texts})
        assert r.status_code == 200 and r.json["how_to_earn"] == "Double points on Mondays.", r.json
        assert r.json["version"] == 2

    files = reaches_the_phone(client, services, apns, member["links"], services.settings.member_pass_type_id,
                              change, tmp_path)
    assert '"how_to_earn" = "Double points on Mondays.";' in files["en.lproj/pass.strings"].decode("utf-16")
    assert '"how_to_earn" = "週一雙倍點數。";' in files["zh-Hant.lproj/pass.strings"].decode("utf-16")
    assert fields_of(pass_json(files))["how_to_earn"] == "how_to_earn"
    # cleared in every locale: the field leaves the pass (a blank field is invalid)
    for lang in texts.values():
        lang.pop("how_to_earn", None)
    r = patch(client, f"/api/v1/programs/{program}", auth, {"how_to_earn": "", "texts": texts})
    assert r.status_code == 200 and r.json["how_to_earn"] == "" and r.json["version"] == 3
    cleared = files_of(client.get(local(member["links"]["pkpass"])).data)
    assert "how_to_earn" not in fields_of(pass_json(cleared))
    assert '"how_to_earn"' not in cleared["en.lproj/pass.strings"].decode("utf-16")
