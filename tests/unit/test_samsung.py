"""Samsung Wallet's pure parts: JOSE (JWE RSA1_5 + A128GCM, JWS RS256), PKCS#1 and PKCS#8 partner keys, card data
and Samsung's limits, AUTH tokens bound to a request, settings checks, the Samsung browser and badge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from api.public.platforms import samsung_browser
from walletpass.config import Settings
from walletpass.domain.members import Member
from walletpass.domain.offers import Coupon, Offer
from walletpass.domain.programs import Program
from walletpass.errors import ConfigurationError
from walletpass.render.badges import badge
from walletpass.samsung import cards
from walletpass.samsung.jose import (
    JoseError,
    jwe_decrypt,
    jwe_encrypt,
    jws_header,
    jws_sign,
    jws_verify,
    load_private_key,
    load_public_key,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
LINKS = cards.CardLinks("https://w.example/assets/programs/1/logo.png", "https://w.example/assets/programs/1/hero.png",
                        "https://w.example/p/tok")


@pytest.fixture(scope="module")
def partner() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def samsung() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def who(partner: rsa.RSAPrivateKey, samsung: rsa.RSAPrivateKey) -> cards.PartnerIdentity:
    return cards.PartnerIdentity("wpPartner0001", "YMtt", partner, samsung.public_key())


def test_jwe_round_trip_and_shape(samsung: rsa.RSAPrivateKey) -> None:
    token = jwe_encrypt(b'{"card":{}}', samsung.public_key())
    parts = token.split(".")
    assert len(parts) == 5
    header, plain = jwe_decrypt(token, samsung)
    assert header == {"alg": "RSA1_5", "enc": "A128GCM"} and plain == b'{"card":{}}'
    tampered = ".".join([*parts[:3], parts[3][:-2] + ("AA" if parts[3][-2:] != "AA" else "BB"), parts[4]])
    with pytest.raises(JoseError, match="authenticate"):
        jwe_decrypt(tampered, samsung)


def test_jws_round_trip_and_wrong_key(partner: rsa.RSAPrivateKey, samsung: rsa.RSAPrivateKey) -> None:
    token = jws_sign(b"payload", {"cty": "CARD"}, partner)
    assert jws_header(token) == {"alg": "RS256", "cty": "CARD"}
    assert jws_verify(token, partner.public_key())[1] == b"payload"
    with pytest.raises(JoseError, match="signature"):
        jws_verify(token, samsung.public_key())


@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8])
def test_partner_keys_in_pkcs1_and_pkcs8(partner: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat) -> None:
    pem = partner.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    assert load_private_key(pem).private_numbers() == partner.private_numbers()
    with pytest.raises(JoseError):
        load_private_key(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    public = partner.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    assert load_public_key(public).public_numbers() == partner.public_key().public_numbers()


def test_cdata_is_a_jws_around_a_jwe(who: cards.PartnerIdentity, partner: rsa.RSAPrivateKey,
                                     samsung: rsa.RSAPrivateKey) -> None:
    card = cards.loyalty_card(Program(1, "Morning Light", "Morning Light Café"),
                              Member(1, 1, "Mei", "ML-0001", points=1200, tier="Gold", created_at=NOW), "a" * 32,
                              LINKS, updated=NOW)
    token = cards.cdata_token(card, who, NOW)
    header = jws_header(token)
    assert header == {"alg": "RS256", "cty": "CARD", "ver": "3", "certificateId": "YMtt",
                      "partnerId": "wpPartner0001", "utc": int(NOW.timestamp() * 1000)}
    assert cards.read_cdata(token, partner.public_key(), samsung)[1] == card
    link = cards.add_link("3gljl0iagsd00", token)
    assert link == f"https://a.swallet.link/atw/v3/3gljl0iagsd00#Clip?cdata={token}"


def test_card_data_fits_samsungs_limits() -> None:
    program = Program(1, "晨光會員計畫" * 10, "Morning Light Café and Bakery of the Harbour District")
    member = Member(1, 1, "Mei", "ML-0001", points=1_234_567, tier="Platinum", created_at=NOW)
    attrs = cards.loyalty_card(program, member, "r" * 32, LINKS, updated=NOW)["card"]["data"][0]["attributes"]
    assert len(attrs["title"]) == 32 and len(attrs["providerName"]) == 32 and attrs["bgColor"].startswith("#")
    assert attrs["barcode.value"] == "ML-0001" and attrs["barcode.serialType"] == "QRCODE"
    offer = Offer(1, 1, "Free latte", discount="100%", valid_until=NOW + timedelta(days=3))
    coupon = Coupon(1, 1, "CODE-1", created_at=NOW)
    c = cards.coupon_card(program, offer, coupon, "c" * 32, LINKS, updated=NOW, now=NOW)["card"]
    assert c["type"] == "coupon" and c["data"][0]["attributes"]["expiry"] == cards.ms(NOW + timedelta(days=3))
    assert c["data"][0]["attributes"]["redeemYn"] == "N"


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["attributes"].update(title="x" * 33), "title: at most 32"),
    (lambda d: d["attributes"].pop("appLinkData"), "appLinkData is required"),
    (lambda d: d.update(refId="r" * 33), "refId"),
    (lambda d: d.update(updatedAt=1700000000), "updatedAt"),
    (lambda d: d["attributes"].update({"barcode.serialType": "NFC"}), "serialType"),
    (lambda d: d["attributes"].update(barcode={"value": "x"}), "flat"),
])
def test_check_card_refuses_what_samsung_refuses(change, message) -> None:  # type: ignore[no-untyped-def]
    card = cards.loyalty_card(Program(1, "P", "O"), Member(1, 1, "M", "N-1", created_at=NOW), "r", LINKS,
                              updated=NOW)
    change(card["card"]["data"][0])
    with pytest.raises(cards.CardError, match=message):
        cards.check_card(card)


def test_auth_tokens_are_bound_to_the_request(who: cards.PartnerIdentity, partner: rsa.RSAPrivateKey) -> None:
    path = "/samsung/cards/c/r"
    token = cards.auth_token(who, "get", path, NOW, ref_id="r")
    key = partner.public_key()
    payload = cards.verify_auth_token(f"Bearer {token}", key, "GET", path, NOW)
    assert payload == {"API": {"method": "GET", "path": path}, "refId": "r"}
    assert cards.verify_auth_token(token, key, "GET", path, NOW + timedelta(seconds=299))  # no "Bearer" is fine
    for method, p, at, message in (("POST", path, NOW, "not POST"), ("GET", path + "x", NOW, "not GET"),
                                   ("GET", path, NOW + timedelta(minutes=6), "utc")):
        with pytest.raises(JoseError, match=message):
            cards.verify_auth_token(token, key, method, p, at)
    card_token = jws_sign(json.dumps({"API": {"method": "GET", "path": path}}).encode(), who.header("CARD", NOW),
                          partner)
    with pytest.raises(JoseError, match="cty AUTH"):
        cards.verify_auth_token(card_token, key, "GET", path, NOW)
    with pytest.raises(JoseError, match="no Authorization"):
        cards.verify_auth_token("Bearer ", key, "GET", path, NOW)


def test_samsung_settings_are_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = Settings.for_tests(tmp_path, samsung_partner_id="p1", samsung_certificate_id="YMtt",
                              samsung_loyalty_card_id="card1")
    base.check()
    for changes, message in (({"samsung_certificate_id": None}, "CERTIFICATE_ID"),
                             ({"samsung_loyalty_card_id": None}, "CARD_ID"),
                             ({"samsung_partner_id": "p" * 17}, "PARTNER_ID: at most 16"),
                             ({"samsung_api_url": "ftp://x"}, "SAMSUNG_API_URL")):
        with pytest.raises(ConfigurationError, match=message):
            base.replace(**changes).check()
    Settings.for_tests(tmp_path, samsung_certificate_id="unused").check()  # Samsung off: nothing else needed


def test_the_samsung_browser_and_badge() -> None:
    assert samsung_browser("Mozilla/5.0 (Linux; Android 14; SM-S928B) AppleWebKit/537.36 SamsungBrowser/27.0 "
                           "Chrome/125.0.0.0 Mobile Safari/537.36")
    assert not samsung_browser("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/125.0.0.0 Mobile Safari/537.36")
    assert not samsung_browser(None)
    b = badge("samsung", "zh-Hant")
    assert b.label == "新增至 Samsung 錢包" and b.height == 48 and b.svg.startswith("<svg")
