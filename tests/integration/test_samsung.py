"""Samsung Wallet against the Samsung stand-in (tests/fakes/samsung_server.py), which checks with code of its own:
the add link's cdata decrypted and verified with the partner's public key, Send Card State recorded as install /
uninstall, an Update Notification after a points change and after a redemption (then Samsung gets the card again),
retries, and Samsung's tokens verified on our endpoints (401 otherwise)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select, text, update

from tests.builders import make_member, make_program
from tests.fakes.samsung_server import FakeSamsung, Refused
from tests.helpers import count, drain, local, make_offer, post
from walletpass.config import Settings
from walletpass.services.points import add_transaction
from walletpass.storage.tables import OutboxRow

PARTNER_ID, CERTIFICATE_ID = "wpPartner0001", "YMtt"
LOYALTY_CARD, COUPON_CARD = "3gljl0iagsd00", "3gljl0iagsd01"
SAMSUNG_UA = ("Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
              "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36")
CHROME_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/121.0.0.0 Mobile Safari/537.36")


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _self_signed(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Samsung Wallet test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """(partner key, Samsung's key): generated here, never committed."""
    return _rsa(), _rsa()


@pytest.fixture(params=["pkcs1", "pkcs8"])
def settings(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path,
             keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> Settings:
    partner, samsung = keys
    fmt = (serialization.PrivateFormat.TraditionalOpenSSL if request.param == "pkcs1"
           else serialization.PrivateFormat.PKCS8)
    key_file, cert_file = tmp_path / "samsung-partner.key", tmp_path / "samsung.crt"
    key_file.write_bytes(partner.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()))
    cert_file.write_bytes(_self_signed(samsung))
    return settings.replace(samsung_partner_id=PARTNER_ID, samsung_certificate_id=CERTIFICATE_ID,
                            samsung_loyalty_card_id=LOYALTY_CARD, samsung_coupon_card_id=COUPON_CARD,
                            samsung_partner_key_file=key_file, samsung_cert_file=cert_file,
                            samsung_api_url="http://127.0.0.1:9/unused")


@pytest.fixture
def samsung(client: Any, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> Iterator[FakeSamsung]:
    partner, samsung_key = keys

    def call(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        r = client.open(path, method=method, headers=headers, data=body)
        return r.status_code, r.data

    with FakeSamsung(samsung_key, partner.public_key(), PARTNER_ID, CERTIFICATE_ID, (LOYALTY_CARD, COUPON_CARD),
                     partner=call) as fake:
        yield fake


def _link(client: Any, page_url: str) -> str:
    r = client.get(local(page_url) + "/samsung")
    assert r.status_code == 302, r.data
    assert r.headers["Cache-Control"] == "no-store"
    return str(r.headers["Location"])


def _add_member(client: Any, services: Any, samsung: FakeSamsung) -> tuple[dict[str, Any], str]:
    program = make_program(services)
    member = make_member(services, program, name="Mei Chen", source="flyer-a")
    held = samsung.add(_link(client, member["links"]["page"]))
    return member, held.ref_id


def _state(services: Any, ref_id: str) -> Any:
    with services.engine.connect() as conn:
        return conn.execute(text("SELECT state, region, callback_url, pass_id FROM wallet_objects "
                                 "WHERE provider = 'samsung' AND object_id = :r"), {"r": ref_id}).one()


def test_the_add_link_is_decrypted_and_verified_by_samsung(client, services, samsung) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    member = make_member(services, program, name="Mei Chen")
    link = _link(client, member["links"]["page"])
    assert link.startswith(f"https://a.swallet.link/atw/v3/{LOYALTY_CARD}#Clip?cdata=")
    card_id, header, card = samsung.open_link(link)
    assert card_id == LOYALTY_CARD
    assert header["ver"] == "3" and header["cty"] == "CARD" and header["partnerId"] == PARTNER_ID
    data = card["card"]["data"][0]
    assert card["card"]["type"] == "loyalty" and len(data["refId"]) == 32
    attrs = data["attributes"]
    assert attrs["barcode.value"] == member["member_number"] and "barcode" not in attrs  # flat dotted keys
    assert "0" in attrs["subtitle1"]
    # a second link carries the same refId and a fresh token
    again = _link(client, member["links"]["page"])
    assert again != link and samsung.open_link(again)[2]["card"]["data"][0]["refId"] == data["refId"]
    # a token older than 30 s is refused by Samsung: the link is built at the tap, never at page render
    samsung.clock = lambda: datetime.now(UTC).timestamp() + 31
    with pytest.raises(Refused, match="utc"):
        samsung.open_link(link)


def test_a_tampered_or_foreign_cdata_is_refused(client, services, samsung) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    member = make_member(services, program)
    link = _link(client, member["links"]["page"])
    head, rest = link.split("cdata=")
    jws = rest.split(".")
    flipped = jws[1][:40] + ("B" if jws[1][40] != "B" else "C") + jws[1][41:]
    with pytest.raises(Refused, match="signature"):
        samsung.open_link(f"{head}cdata={jws[0]}.{flipped}.{jws[2]}")
    with pytest.raises(Refused, match="unknown card id"):
        samsung.open_link(link.replace(LOYALTY_CARD, "otherCard"))


def test_card_states_are_recorded_as_install_and_uninstall(client, services, samsung) -> None:  # type: ignore[no-untyped-def]
    member, ref_id = _add_member(client, services, samsung)
    state = _state(services, ref_id)
    assert (state.state, state.region, state.callback_url) == ("added", "us", samsung.url)
    # a duplicate delivery records nothing more
    assert samsung.card_state(LOYALTY_CARD, ref_id, "ADDED")[0] == 200
    assert count(services, "SELECT count(*) FROM pass_events WHERE kind = 'samsung_add'") == 1
    assert samsung.card_state(LOYALTY_CARD, ref_id, "DELETED")[0] == 200
    assert samsung.card_state(LOYALTY_CARD, ref_id, "DELETED")[0] == 200
    assert _state(services, ref_id).state == "deleted"
    assert count(services, "SELECT count(*) FROM pass_events WHERE kind = 'uninstall'") == 1
    assert count(services, "SELECT count(*) FROM pass_events WHERE kind = 'samsung_add' AND source = 'flyer-a'") == 1
    # an event we do not act on is acknowledged
    assert samsung.card_state(LOYALTY_CARD, ref_id, "PROVISIONED")[0] == 200


def test_the_funnel_counts_samsung_adds(client, services, samsung, auth) -> None:  # type: ignore[no-untyped-def]
    member, _ = _add_member(client, services, samsung)
    r = client.get(f"/api/v1/programs/{member['program_id']}/stats", headers=auth)
    assert r.status_code == 200, r.json
    assert r.json["totals"]["samsung_adds"] == 1 and r.json["totals"]["enrolments"] == 1


def test_bad_tokens_are_refused_with_401(client, services, samsung) -> None:  # type: ignore[no-untyped-def]
    member, ref_id = _add_member(client, services, samsung)
    status, body = samsung.card_state(LOYALTY_CARD, ref_id, "DELETED", valid=False)
    assert status == 401 and b"Samsung authorization token" in body
    assert samsung.get_card_data(LOYALTY_CARD, ref_id, valid=False)[0] == 401
    path = f"/samsung/cards/{LOYALTY_CARD}/{ref_id}"
    # no token; a token bound to another path; an old token; Samsung's token without "Bearer" is fine
    assert client.get(path).status_code == 401
    other = samsung.auth("GET", f"/samsung/cards/{LOYALTY_CARD}/someoneelse")
    r = client.get(path, headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    old = samsung.auth("GET", path, utc=datetime.now(UTC).timestamp() - 600)
    assert client.get(path, headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert client.get(path, headers={"Authorization": samsung.auth("GET", path)}).status_code == 200
    assert _state(services, ref_id).state == "added"  # nothing written by the refused calls


def test_get_card_data_answers_the_current_card_or_204(client, services, samsung) -> None:  # type: ignore[no-untyped-def]
    member, ref_id = _add_member(client, services, samsung)
    status, card = samsung.get_card_data(LOYALTY_CARD, ref_id)
    assert status == 200 and card is not None and card["card"]["data"][0]["refId"] == ref_id
    assert samsung.get_card_data(LOYALTY_CARD, "0" * 32)[0] == 204
    assert samsung.get_card_data(COUPON_CARD, ref_id)[0] == 204  # a loyalty card is not a coupon


def test_a_points_change_sends_an_update_notification(client, services, samsung) -> None:  # type: ignore[no-untyped-def]
    member, ref_id = _add_member(client, services, samsung)
    drain(services)
    add_transaction(services.uow(), services.clock, services.settings, member["id"], 250, "coffee")
    drain(services)
    held = samsung.wallet[ref_id]
    assert held.updates == 1
    assert "250" in held.card["card"]["data"][0]["attributes"]["subtitle1"]
    update_calls = [r for r in samsung.requests if r.path.endswith("/updates")]
    assert update_calls[-1].path == f"/us/wltex/cards/{LOYALTY_CARD}/updates" and update_calls[-1].status == 200
    assert update_calls[-1].headers["x-smcs-partner-id"] == PARTNER_ID
    body = json.loads(update_calls[-1].body)
    assert body == {"card": {"type": "loyalty", "data": [{"refId": ref_id, "state": "UPDATED"}]}}
    # a removed card is not notified
    samsung.card_state(LOYALTY_CARD, ref_id, "DELETED")
    add_transaction(services.uow(), services.clock, services.settings, member["id"], 5, "tea")
    drain(services)
    assert held.updates == 1


def _refused_update(client, services, samsung, status: int):  # type: ignore[no-untyped-def]
    """A card added, Samsung refusing its next Update Notification with *status*: (ref id, the job's row)."""
    member, ref_id = _add_member(client, services, samsung)
    drain(services)
    samsung.fail_next(status)
    add_transaction(services.uow(), services.clock, services.settings, member["id"], 10, "coffee")
    drain(services)
    with services.engine.connect() as conn:
        return ref_id, conn.execute(select(OutboxRow).where(OutboxRow.kind == "samsung_update")).one()


def test_update_notifications_are_retried(client, services, samsung) -> None:  # type: ignore[no-untyped-def]
    ref_id, job = _refused_update(client, services, samsung, 503)
    assert job.attempts == 1 and "503" in (job.last_error or "") and samsung.wallet[ref_id].updates == 0
    with services.engine.begin() as conn:  # its backoff is over
        conn.execute(update(OutboxRow).where(OutboxRow.id == job.id).values(available_at=datetime.now(UTC)))
    drain(services)
    assert samsung.wallet[ref_id].updates == 1
    assert count(services, "SELECT count(*) FROM outbox WHERE kind = 'samsung_update'") == 0


def test_a_redeemed_coupon_is_notified(client, services, samsung, auth) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    offer = make_offer(client, auth, program)
    member = make_member(services, program)
    coupon = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]}).json
    held = samsung.add(_link(client, coupon["links"]["page"]))
    attrs = held.card["card"]["data"][0]["attributes"]
    assert held.card["card"]["type"] == "coupon" and held.card_id == COUPON_CARD
    assert attrs["barcode.value"] == coupon["code"] and attrs["redeemYn"] == "N"
    drain(services)
    assert post(client, f"/api/v1/coupons/{coupon['id']}/redeem", auth, {}).status_code == 200
    drain(services)
    assert held.updates == 1
    assert held.card["card"]["data"][0]["attributes"]["redeemYn"] == "Y"


def test_the_pass_page_shows_the_samsung_badge_to_samsung_internet_only(client, services) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    member = make_member(services, program)
    page = local(member["links"]["page"])
    galaxy = client.get(page, headers={"User-Agent": SAMSUNG_UA}).get_data(as_text=True)
    assert f'href="{member["links"]["page"]}/samsung"' in galaxy and "badge-samsung" in galaxy
    assert galaxy.index("badge-samsung") < galaxy.index("badge-google")
    assert "badge-samsung" not in client.get(page, headers={"User-Agent": CHROME_UA}).get_data(as_text=True)
    svg = client.get("/assets/badges/samsung.en.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"Add to Samsung Wallet" in svg.data


def test_unknown_card_and_bad_state_requests(client, services, samsung) -> None:  # type: ignore[no-untyped-def]
    member, ref_id = _add_member(client, services, samsung)
    path = f"/samsung/cards/{LOYALTY_CARD}/{ref_id}"
    token = samsung.auth("POST", path)
    r = client.post(f"{path}?event=ADDED&cc2={quote('u$')}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    r = client.post(f"{path}?cc2=us&event=ADDED", headers={"Authorization": f"Bearer {token}"},
                    data=b'{"callback": "ftp://x"}')
    assert r.status_code == 400
    unknown = f"/samsung/cards/{LOYALTY_CARD}/{'f' * 32}"
    r = client.post(f"{unknown}?cc2=us&event=ADDED",
                    headers={"Authorization": f"Bearer {samsung.auth('POST', unknown)}"})
    assert r.status_code == 404
    assert _state(services, ref_id).region == "us"


def test_the_doctor_checks_samsungs_keys(settings: Settings, tmp_path: Path,
                                         keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> None:
    from walletpass.doctor.findings import FAIL, OK, SKIP, WARN
    from walletpass.doctor.instance import samsung_checks

    found = samsung_checks(settings)
    assert [f.level for f in found] == [OK] and "/samsung" in found[0].detail
    assert [f.level for f in samsung_checks(settings.replace(samsung_partner_id=None))] == [SKIP]
    missing = samsung_checks(settings.replace(samsung_partner_key_file=tmp_path / "none.key"))
    assert [f.level for f in missing] == [FAIL] and "partner key" in missing[0].detail
    not_a_cert = tmp_path / "bad.crt"
    not_a_cert.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert [f.level for f in samsung_checks(settings.replace(samsung_cert_file=not_a_cert))] == [FAIL]
    later = datetime.now(UTC) + timedelta(days=400)  # the test certificate is valid for 365 days
    expired = samsung_checks(settings, later)
    assert FAIL in [f.level for f in expired] and "expired" in expired[0].detail
    no_coupons = samsung_checks(settings.replace(samsung_coupon_card_id=None))
    assert [f.level for f in no_coupons] == [WARN, OK] and "coupons" in no_coupons[0].detail


def test_a_refused_token_pauses_the_job(client, services, samsung) -> None:  # type: ignore[no-untyped-def]
    _, job = _refused_update(client, services, samsung, 401)
    assert job.attempts == 1 and "401" in (job.last_error or "")
    assert job.available_at.replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(minutes=5)  # paused, not hammered


def test_a_card_added_from_an_older_link_is_brought_up_to_date(client, services, samsung) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    member = make_member(services, program)
    link = _link(client, member["links"]["page"])  # the link carries 0 points
    add_transaction(services.uow(), services.clock, services.settings, member["id"], 40, "coffee")
    drain(services)  # Samsung does not hold the card yet: nothing to notify
    assert count(services, "SELECT count(*) FROM outbox WHERE kind = 'samsung_update'") == 0
    held = samsung.add(link)
    drain(services)
    assert held.updates == 1 and "40" in held.card["card"]["data"][0]["attributes"]["subtitle1"]


def test_the_smart_link_takes_samsung_internet_to_the_page_with_its_badge(client, services) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services))
    links = member["links"]
    galaxy = client.get(local(links["smart"]), headers={"User-Agent": SAMSUNG_UA})
    assert galaxy.status_code == 302 and galaxy.headers["Location"] == links["page"]
    chrome = client.get(local(links["smart"]), headers={"User-Agent": CHROME_UA})
    assert chrome.status_code == 302 and chrome.headers["Location"] == links["google_save"]


def test_a_callback_elsewhere_than_samsung_is_refused(client, services, samsung) -> None:  # type: ignore[no-untyped-def]
    # our signed token goes to the callback: only Samsung's servers (or the configured API host) may be named
    member, ref_id = _add_member(client, services, samsung)
    path = f"/samsung/cards/{LOYALTY_CARD}/{ref_id}"
    for callback in ("https://evil.example.com", "http://tsapi-card.walletsvc.samsung.com", "https://samsung.com.evil.io"):
        token = samsung.auth("POST", path)
        r = client.post(f"{path}?cc2=us&event=ADDED", headers={"Authorization": f"Bearer {token}"},
                        data=json.dumps({"callback": callback}).encode())
        assert r.status_code == 400 and r.json["errors"][0]["field"] == "callback", callback
