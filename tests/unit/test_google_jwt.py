"""Save links: RS256 JWT verifiable with the service account's public key; long passes go skinny."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.pki import TestPki
from walletpass.domain.members import Member
from walletpass.domain.passes import MEMBER_CARD, PassRef
from walletpass.domain.programs import Program
from walletpass.errors import CredentialError
from walletpass.google import objects, schema
from walletpass.google.jwt import MAX_SAVE_URL_LENGTH, SAVE_URL_PREFIX, NeedsInsert, SaveLink, SaveLinkSigner

ISSUER = "3388000000022222222"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BASE = "https://shop.example/walletpass/"
REF = PassRef("M-0001", "pass.dev.walletpass.member", "tok", MEMBER_CARD, 1, NOW)
MEMBER = Member(1, 7, "Lin Mei", "ML-000123", points=1250, tier="Gold")
LOGO = {"logo": "https://cdn.example/assets/programs/7/logo.png"}


def key_info(pki: TestPki) -> dict:
    return json.loads((pki.certs_dir / "google-service-account.json").read_text())


def public_pem(info: dict) -> bytes:
    key = serialization.load_pem_private_key(info["private_key"].encode(), None)
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def decode(url: str, info: dict) -> dict:
    assert url.startswith(SAVE_URL_PREFIX)
    token = url[len(SAVE_URL_PREFIX):]
    header = pyjwt.get_unverified_header(token)
    assert header == {"typ": "JWT", "alg": "RS256", "kid": info["private_key_id"]}
    return pyjwt.decode(token, public_pem(info), algorithms=["RS256"], audience="google")


def test_fat_save_link_verifies_and_carries_valid_resources(pki: TestPki) -> None:
    info = key_info(pki)
    signer = SaveLinkSigner(info, origins=[BASE])
    program = Program(7, "Morning Light", "Morning Light")
    cls = objects.loyalty_class(program, issuer_id=ISSUER, images=LOGO)
    obj = objects.loyalty_object(program, MEMBER, REF, issuer_id=ISSUER)
    plan = signer.plan_save("loyalty", cls, obj, NOW)
    assert isinstance(plan, SaveLink) and len(plan.url) <= MAX_SAVE_URL_LENGTH
    claims = decode(plan.url, info)
    assert claims["iss"] == info["client_email"]
    assert (claims["typ"], claims["iat"], claims["origins"]) == ("savetowallet", int(NOW.timestamp()),
                                                                 ["https://shop.example"])
    assert claims["payload"] == {"loyaltyClasses": [cls], "loyaltyObjects": [obj]}
    assert schema.errors("Resources", claims["payload"], strict=True) == []


def test_long_localized_program_switches_to_skinny(pki: TestPki) -> None:
    info = key_info(pki)
    signer = SaveLinkSigner.from_json((pki.certs_dir / "google-service-account.json").read_bytes(), origins=[BASE])
    long = "晨光咖啡會員計畫條款：" * 40
    program = Program(7, "Morning Light Coffee Rewards", "Morning Light", terms="Terms " * 80,
                      locales=("en", "zh-Hant", "zh-Hans"),
                      texts={"zh-Hant": {"name": "晨光咖啡會員卡", "terms": long},
                             "zh-Hans": {"name": "晨光咖啡会员卡", "terms": long}})
    cls = objects.loyalty_class(program, issuer_id=ISSUER, images=LOGO)
    obj = objects.loyalty_object(program, MEMBER, REF, issuer_id=ISSUER)
    plan = signer.plan_save("loyalty", cls, obj, NOW)
    assert isinstance(plan, NeedsInsert)
    assert plan.length > MAX_SAVE_URL_LENGTH and plan.class_ == cls and plan.object_ == obj
    url = signer.skinny_url("loyalty", obj["id"], obj["classId"], NOW)
    assert len(url) < MAX_SAVE_URL_LENGTH
    claims = decode(url, info)
    assert claims["payload"] == {"loyaltyObjects": [{"id": obj["id"], "classId": obj["classId"]}]}


def test_offer_link_without_class(pki: TestPki) -> None:
    info = key_info(pki)
    signer = SaveLinkSigner(info, origins=["http://127.0.0.1:8000"])
    obj = {"id": f"{ISSUER}.C-1", "classId": f"{ISSUER}.offer-3", "state": "ACTIVE"}
    plan = signer.plan_save("offer", None, obj, NOW)
    assert isinstance(plan, SaveLink)
    assert decode(plan.url, info)["payload"] == {"offerObjects": [obj]}
    with pytest.raises(ValueError):
        signer.plan_save("generic", None, obj, NOW)  # type: ignore[arg-type]


def test_compact_encoding_keeps_cjk_unescaped(pki: TestPki) -> None:
    signer = SaveLinkSigner(key_info(pki), origins=[BASE])
    token = signer.sign({"loyaltyObjects": [{"accountName": "林美"}]}, NOW)
    import base64
    body = token.split(".")[1]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert "林美".encode() in raw and b'":"' in raw


def test_bad_key_is_a_credential_error() -> None:
    with pytest.raises(CredentialError):
        SaveLinkSigner({"private_key": "not a key", "client_email": "x"}, origins=[BASE])
    with pytest.raises(CredentialError):
        SaveLinkSigner.from_json(b"{nope", origins=[BASE])
