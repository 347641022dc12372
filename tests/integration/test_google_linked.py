"""Every coupon issued to a member goes beside their Google card (``linkedObjectIds``), whatever issued it: the
newest usable coupons, at most 50, never a redeemed or expired one; every body strictly valid against the discovery
document. SQLite and PostgreSQL, against the Google stand-in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.builders import make_member, make_program
from tests.fakes.google_server import FakeGoogle
from tests.helpers import ISSUER, callback_body, local, make_offer, post
from walletpass.bootstrap import Services
from walletpass.google import schema
from walletpass.google.provider import MAX_LINKED
from walletpass.jobs.worker import Worker
from walletpass.ports import FixedClock

pytestmark = pytest.mark.usefixtures("google", "apns")

VALID_UNTIL = "2099-12-31T23:59:00+08:00"


def _drain(services: Services) -> None:
    worker = Worker(services)
    while worker.run_once():
        pass


def _program(services: Services) -> int:
    return make_program(services)


def _member(services: Services, pid: int) -> dict[str, Any]:
    return make_member(services, pid, points=100)


def _at_google(client, google: FakeGoogle, member: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    """The member's card saved by the user from its link (Google creates the object and calls back)."""
    r = client.get(local(member["links"]["google_save"]))
    assert r.status_code == 302
    object_id = f"{ISSUER}.{member['serial_number']}"
    google.save_link(r.headers["Location"])
    assert client.post("/google/callback", data=callback_body(object_id)).status_code == 200
    return object_id


@pytest.fixture
def services_clock() -> FixedClock:
    """conftest's ``services`` on a clock the tests move."""
    return FixedClock(datetime.now(UTC))


def _coupon(client, auth, offer: int, member: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]})
    assert r.status_code == 201, r.json
    return dict(r.json)


def _object_of(coupon: dict[str, Any]) -> str:
    return f"{ISSUER}.{coupon['serial_number']}"


def _link_patches(google, card: str) -> list[Any]:  # type: ignore[no-untyped-def]
    return [q for q in google.api_requests() if q.method == "PATCH" and q.path.endswith(card)
            and "linkedObjectIds" in q.body]


def test_a_coupon_issued_by_the_api_is_linked_and_a_used_one_is_not_sent_again(  # type: ignore[no-untyped-def]
        client, auth, services, google) -> None:
    pid = _program(services)
    member = _member(services, pid)
    card = _at_google(client, google, member)
    _drain(services)
    first = _coupon(client, auth, make_offer(client, auth, pid, valid_until=VALID_UNTIL, title="Latte"), member)
    _drain(services)
    assert google.store[("offerObject", _object_of(first))]["state"] == "ACTIVE"
    assert google.store[("loyaltyObject", card)]["linkedObjectIds"] == [_object_of(first)]

    assert post(client, f"/api/v1/coupons/{first['id']}/redeem", auth).status_code == 200
    _drain(services)
    assert google.store[("offerObject", _object_of(first))]["state"] == "COMPLETED"  # out of the active passes
    second = _coupon(client, auth, make_offer(client, auth, pid, valid_until=VALID_UNTIL, title="Scone"), member)
    _drain(services)
    [*_, last] = _link_patches(google, card)
    assert last.body == {"linkedObjectIds": [_object_of(second)]}  # the redeemed coupon is not linked again
    assert schema.errors("LoyaltyObject", last.body, strict=True, partial=True) == []
    # Google keeps links once made ("cannot be unlinked"): the stand-in, like Google, still lists the first.
    assert google.store[("loyaltyObject", card)]["linkedObjectIds"] == [_object_of(first), _object_of(second)]


def test_a_member_whose_card_google_does_not_hold_gets_no_link_job(client, auth, services, google) -> None:  # type: ignore[no-untyped-def]
    pid = _program(services)
    member = _member(services, pid)
    coupon = _coupon(client, auth, make_offer(client, auth, pid, valid_until=VALID_UNTIL), member)
    _drain(services)
    assert ("offerObject", _object_of(coupon)) not in google.store
    assert not [q for q in google.api_requests() if "linkedObjectIds" in (q.body or {})]


def test_the_card_links_the_newest_fifty_usable_coupons(client, auth, services, google) -> None:  # type: ignore[no-untyped-def]
    pid = _program(services)
    member = _member(services, pid)
    card = _at_google(client, google, member)
    _drain(services)
    coupons = [_coupon(client, auth, make_offer(client, auth, pid, valid_until=VALID_UNTIL, title=f"Offer {i}"),
                       member) for i in range(MAX_LINKED + 2)]
    _drain(services)
    patches = _link_patches(google, card)
    assert patches and all(len(q.body["linkedObjectIds"]) <= MAX_LINKED for q in patches)
    for q in patches:
        assert schema.errors("LoyaltyObject", q.body, strict=True, partial=True) == []
    newest = [_object_of(c) for c in reversed(coupons)][:MAX_LINKED]
    assert patches[-1].body["linkedObjectIds"] == newest, [len(q.body["linkedObjectIds"]) for q in patches]
    # An old coupon's late link job: older than the newest 50, it is not linked (nothing sent).
    before = len(google.api_requests())
    with services.uow() as u:
        card_pass = u.passes.of_member(member["id"])[0].id
        u.outbox.enqueue("google_offer_link", {"offer_id": coupons[0]["offer_id"]}, services.clock.now(),
                         pass_id=card_pass)
        u.commit()
    _drain(services)
    assert [q for q in google.api_requests()[before:] if q.method == "PATCH"] == []


def test_a_rotating_barcode_coupon_keeps_its_key_at_google(client, auth, services, google) -> None:  # type: ignore[no-untyped-def]
    pid = _program(services)
    member = _member(services, pid)
    card = _at_google(client, google, member)
    _drain(services)
    offer = make_offer(client, auth, pid, valid_until=VALID_UNTIL, rotating_barcode=True)
    assert client.get(f"/api/v1/offers/{offer}", headers=auth).json["rotating_barcode"] is True
    coupon = _coupon(client, auth, offer, member)
    _drain(services)
    held = google.store[("offerObject", _object_of(coupon))]  # inserted: the stand-in validated it
    rotating = held["rotatingBarcode"]
    assert "barcode" not in held and rotating["valuePattern"] == f"{coupon['code']}:{{totp_value_0}}"
    [parameters] = rotating["totpDetails"]["parameters"]
    with services.uow() as u:
        [coupon_pass] = u.passes.of_member_coupons(member["id"])
        key, made = u.wallet_state.barcode_key(coupon_pass.id, "00" * 20)
    assert not made and parameters == {"key": key, "valueLength": 8} and len(key) == 40
    assert google.store[("loyaltyObject", card)]["linkedObjectIds"] == [_object_of(coupon)]

    assert post(client, f"/api/v1/coupons/{coupon['id']}/redeem", auth).status_code == 200
    _drain(services)
    [patch] = [q for q in google.api_requests() if q.method == "PATCH" and q.path.endswith(_object_of(coupon))]
    assert patch.body["rotatingBarcode"]["totpDetails"]["parameters"] == [parameters]  # the same key
    assert schema.errors("OfferObject", patch.body, strict=True, partial=True) == []
    assert schema.lint("OfferObject", patch.body) == []


def test_rotating_barcode_must_be_a_boolean(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = _program(services)
    r = post(client, f"/api/v1/programs/{pid}/offers", auth, {"title": "X", "rotating_barcode": "yes"})
    assert r.status_code == 422 and r.mimetype == "application/problem+json"


def test_coupons_issued_before_the_card_was_saved_are_linked_when_it_is(client, auth, services, google) -> None:  # type: ignore[no-untyped-def]
    pid = _program(services)
    member = _member(services, pid)
    old = _coupon(client, auth, make_offer(client, auth, pid, valid_until=VALID_UNTIL, title="Latte"), member)
    new = _coupon(client, auth, make_offer(client, auth, pid, valid_until=VALID_UNTIL, title="Scone"), member)
    used = _coupon(client, auth, make_offer(client, auth, pid, valid_until=VALID_UNTIL, title="Bagel"), member)
    assert post(client, f"/api/v1/coupons/{used['id']}/redeem", auth).status_code == 200
    _drain(services)
    card = _at_google(client, google, member)  # saved: the callback queues the links
    _drain(services)
    assert google.store[("loyaltyObject", card)]["linkedObjectIds"] == [_object_of(old), _object_of(new)]
    assert ("offerObject", _object_of(used)) not in google.store
    [*_, last] = _link_patches(google, card)
    assert last.body == {"linkedObjectIds": [_object_of(new), _object_of(old)]}


def test_a_rotating_barcode_coupon_is_saved_by_a_link_that_does_not_carry_its_key(client, auth, services, google) -> None:  # type: ignore[no-untyped-def]
    # the save link is signed, not encrypted: a TOTP key in it would let anyone make valid codes
    import base64
    import json

    pid = _program(services)
    offer = make_offer(client, auth, pid, valid_until=VALID_UNTIL, rotating_barcode=True)
    coupon = _coupon(client, auth, offer, _member(services, pid))
    r = client.get(local(coupon["links"]["google_save"]))
    assert r.status_code == 302
    jwt = r.headers["Location"].rsplit("/", 1)[1]
    claims = json.loads(base64.urlsafe_b64decode(jwt.split(".")[1] + "=="))
    assert "rotatingBarcode" not in json.dumps(claims) and "totp" not in json.dumps(claims).lower()
    assert "rotatingBarcode" in google.store[("offerObject", _object_of(coupon))]  # inserted through the API
