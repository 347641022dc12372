"""Google end to end: save link (fat or skinny), callbacks recorded once, balance changes patched at Google."""

from __future__ import annotations

import json

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from tests.builders import make_member, make_program
from tests.helpers import ISSUER, callback_body
from walletpass.demo import DEMO_PROGRAM
from walletpass.google import schema
from walletpass.jobs.worker import Worker

pytestmark = pytest.mark.usefixtures("google")  # settings point at the stand-in

def _public_key(pki):  # type: ignore[no-untyped-def]
    info = json.loads((pki.certs_dir / "google-service-account.json").read_text())
    return serialization.load_pem_private_key(info["private_key"].encode(), None).public_key(), info


def _save(client, member) -> str:  # type: ignore[no-untyped-def]
    path = "/" + member["links"]["google_save"].split("://", 1)[1].split("/", 1)[1]
    r = client.get(path)
    assert r.status_code == 302
    return r.headers["Location"]


def test_save_link_is_a_signed_jwt_under_1800(client, services, pki) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services), points=300)
    url = _save(client, m)
    assert url.startswith("https://pay.google.com/gp/v/save/") and len(url) <= 1800
    key, info = _public_key(pki)
    claims = pyjwt.decode(url.rsplit("/", 1)[1], key, algorithms=["RS256"], audience="google")
    assert claims["iss"] == info["client_email"] and claims["typ"] == "savetowallet"
    assert claims["origins"] == [services.settings.base_url]
    objects = claims["payload"]["loyaltyObjects"]
    assert objects[0]["id"] == f"{ISSUER}.{m['serial_number']}"


def test_class_is_inserted_once_then_links_carry_the_object_only(client, services, google) -> None:  # type: ignore[no-untyped-def]
    """A 3-locale card: class + object is over 3,000 characters; once the class is at Google, the object alone
    fits (the demo's points label is left untranslated here; with it, see the demo test below)."""
    texts = {loc: {k: v for k, v in t.items() if k != "points_label"} for loc, t in DEMO_PROGRAM["texts"].items()}
    pid = make_program(services, texts=texts)
    m = make_member(services, pid, points=1250)
    url = _save(client, m)
    assert len(url) <= 1800
    object_id = f"{ISSUER}.{m['serial_number']}"
    assert [(r.method, r.path) for r in google.api_requests()] == [("POST", "/walletobjects/v1/loyaltyClass")]
    assert ("loyaltyClass", f"{ISSUER}.program-{pid}") in google.store
    assert ("loyaltyObject", object_id) not in google.store  # the object travels in the link
    claims = pyjwt.decode(url.rsplit("/", 1)[1], options={"verify_signature": False})
    assert "loyaltyClasses" not in claims["payload"]
    [obj] = claims["payload"]["loyaltyObjects"]
    assert obj["id"] == object_id and obj["loyaltyPoints"]["balance"] == {"int": 1250}
    assert not schema.errors("LoyaltyObject", obj, strict=True)
    other = make_member(services, pid)  # the class is known to be at Google: no REST call in the request
    assert len(_save(client, other)) <= 1800 and len(google.api_requests()) == 1
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM wallet_classes WHERE owner_kind = 'program'")).scalar_one() is not None


def test_object_too_long_alone_is_inserted_and_the_link_is_skinny(client, services, google) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services, texts={"zh-Hant": {"tier.Bronze": "銅" * 300}, "zh-Hans": {"tier.Bronze": "铜" * 300}})
    m = make_member(services, pid)
    url = _save(client, m)
    assert len(url) <= 1800
    object_id = f"{ISSUER}.{m['serial_number']}"
    assert ("loyaltyObject", object_id) in google.store
    claims = pyjwt.decode(url.rsplit("/", 1)[1], options={"verify_signature": False})
    assert claims["payload"]["loyaltyObjects"] == [{"id": object_id, "classId": f"{ISSUER}.program-{pid}"}]


def test_callbacks_are_verified_recorded_once_and_changes_sync(client, auth, services, google) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services, terms="Long terms. " * 150)
    m = make_member(services, pid, points=10)
    _save(client, m)                                    # long → inserted at Google
    object_id = f"{ISSUER}.{m['serial_number']}"
    body = callback_body(object_id, nonce="nonce-1")
    assert client.post("/google/callback", data=body, content_type="application/json").status_code == 200
    assert client.post("/google/callback", data=body, content_type="application/json").status_code == 200
    with services.engine.connect() as conn:
        saves = conn.execute(text("SELECT count(*) FROM pass_events WHERE kind = 'google_save'")).scalar_one()
        state = conn.execute(text("SELECT state FROM wallet_objects")).scalar_one()
    assert saves == 1 and state == "saved"

    r = client.post(f"/api/v1/members/{m['id']}/transactions", json={"points": 90, "reason": "x"}, headers=auth)
    assert r.status_code == 201
    worker = Worker(services)
    while worker.run_once():
        pass
    patches = [q for q in google.requests if q.method == "PATCH" and object_id in q.path]
    assert patches, "the balance change was not sent to Google"
    sent = patches[-1].body if isinstance(patches[-1].body, dict) else json.loads(patches[-1].body)
    assert sent["loyaltyPoints"]["balance"] == {"int": 100}
    assert sent.get("notifyPreference") == "NOTIFY_ON_UPDATE"

    delete = callback_body(object_id, event="del")
    assert client.post("/google/callback", data=delete, content_type="application/json").status_code == 200
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT state FROM wallet_objects")).scalar_one() == "deleted"


@pytest.mark.parametrize("body,status", [
    (b"not json", 400),
    (b'{"protocolVersion": "ECv2SigningOnly"}', 400),
    ("tampered", 401),
])
def test_bad_callbacks(client, services, body, status) -> None:  # type: ignore[no-untyped-def]
    if body == "tampered":
        body = callback_body(f"{ISSUER}.X").replace(b"save", b"del")
    r = client.post("/google/callback", data=body, content_type="application/json")
    assert r.status_code == status and r.mimetype == "application/problem+json"


def test_malformed_base64_in_a_callback_is_a_400_problem(client, services) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(callback_body(f"{ISSUER}.X"))
    doc["signature"] = "%%%not base64%%%"
    r = client.post("/google/callback", data=json.dumps(doc), content_type="application/json")
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert "signature is not valid base64" in r.get_json()["detail"]
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM google_callback_nonces")).scalar_one() == 0


@pytest.mark.parametrize("slot", ["logo", "hero"])
def test_the_images_google_fetches_are_served(client, services, slot: str) -> None:  # type: ignore[no-untyped-def]
    from io import BytesIO

    from PIL import Image

    pid = make_program(services)
    url = services.urls.program_image(pid, slot)
    assert url == f"{services.settings.base_url}/assets/programs/{pid}/{slot}.png"
    r = client.get(url.split(services.settings.base_url, 1)[1])
    assert r.status_code == 200 and r.mimetype == "image/png"
    with Image.open(BytesIO(r.data)) as image:
        assert image.format == "PNG" and image.width > 0


def test_demo_card_link_is_object_only_without_rest(client, services, google) -> None:  # type: ignore[no-untyped-def]
    """The program and member `walletpass init` seeds (3 locales): once the class is at Google, a member's first
    save is a plain signed link — even for a 40-character CJK name and a 9-digit balance — and no REST call."""
    from walletpass.demo import DEMO_MEMBER

    pid = make_program(services)
    demo = make_member(services, pid, source="demo", **DEMO_MEMBER)
    first = _save(client, demo)  # the class is not at Google yet: inserted once by REST
    assert [(r.method, r.path) for r in google.api_requests()] == [("POST", "/walletobjects/v1/loyaltyClass")]
    long_name = "晨光咖啡會員" * 6 + "林美玲好"
    assert len(long_name) == 40
    big = make_member(services, pid, name=long_name, email="long@example.com", points=999_999_999)
    for member, url in ((demo, first), (big, _save(client, big))):
        assert url.startswith("https://pay.google.com/gp/v/save/") and len(url) < 1800, len(url)
        claims = pyjwt.decode(url.rsplit("/", 1)[1], options={"verify_signature": False})
        assert set(claims["payload"]) == {"loyaltyObjects"}
        [obj] = claims["payload"]["loyaltyObjects"]
        assert not schema.errors("LoyaltyObject", obj, strict=True)
        assert obj["id"] == f"{ISSUER}.{member['serial_number']}" and obj["accountName"] == member["name"]
        # what the card shows is all there: translated points label and tier line, balance, member number
        assert obj["loyaltyPoints"]["localizedLabel"]["translatedValues"] == [
            {"language": "zh-Hant", "value": "點數"}, {"language": "zh-Hans", "value": "积分"}]
        assert obj["barcode"]["value"] == obj["accountId"]
        [tier] = obj["textModulesData"]
        assert {t["value"] for t in tier["localizedBody"]["translatedValues"]} <= {
            f"{label}{name}" for label in ("等級：", "等级：") for name in
            [*DEMO_PROGRAM["texts"]["zh-Hant"].values(), *DEMO_PROGRAM["texts"]["zh-Hans"].values()]}
    assert obj["loyaltyPoints"]["balance"] == {"int": 999_999_999}
    assert len(google.api_requests()) == 1  # the second member's first save: no REST call in the request
    assert not [k for k in google.store if k[0] == "loyaltyObject"]
