"""Every class and object we build validates against Google's walletobjects discovery schema (strict)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from walletpass.domain.members import Member
from walletpass.domain.offers import EXPIRED, ISSUED, REDEEMED, VOIDED, Coupon, Offer
from walletpass.domain.passes import COUPON, MEMBER_CARD, PassRef
from walletpass.domain.programs import Program, Tier
from walletpass.errors import InvalidInput
from walletpass.google import objects, schema

ISSUER = "3388000000022222222"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TIERS = (Tier("Bronze", 0), Tier("Silver", 500, background_color="rgb(192, 192, 192)"), Tier("Gold", 2000),
         Tier("Diamond", 10000))
TEXTS = {
    "zh-Hant": {"name": "晨光會員卡", "organization_name": "晨光咖啡", "points_label": "點數", "terms": "點數一年有效",
                "tier.Bronze": "銅", "tier.Silver": "銀", "tier.Gold": "金", "tier.Diamond": "鑽石"},
    "zh-Hans": {"name": "晨光会员卡", "organization_name": "晨光咖啡", "points_label": "积分",
                "tier.Gold": "金"},
}


def program(translated: bool = True, **kw: object) -> Program:
    values: dict[str, object] = dict(
        id=7, name="Morning Light Rewards", organization_name="Morning Light", background_color="rgb(23, 187, 82)",
        tiers=TIERS, terms="Points expire after one year.", points_label="Points")
    if translated:
        values.update(locales=("en", "zh-Hant", "zh-Hans"), texts=TEXTS)
    values.update(kw)
    return Program(**values)  # type: ignore[arg-type]


def ref(serial: str = "M-0001", kind: str = MEMBER_CARD, voided: bool = False) -> PassRef:
    return PassRef(serial, "pass.dev.walletpass.member", "tok", kind, 1, NOW, voided)


def images(slot: str) -> str | None:
    return {"logo": "https://cdn.example/assets/programs/7/logo.png",
            "hero": "https://cdn.example/assets/programs/7/hero.png"}.get(slot)


def assert_valid(name: str, body: dict) -> None:
    assert schema.errors(name, body, strict=True) == []
    assert schema.lint(name, body) == []


@pytest.mark.parametrize("translated", [True, False])
def test_loyalty_class_is_valid_and_localized(translated: bool) -> None:
    body = objects.loyalty_class(program(translated), issuer_id=ISSUER, images=images,
                                 callback_url="https://shop.example/google/callbacks")
    assert_valid("LoyaltyClass", body)
    assert body["id"] == f"{ISSUER}.program-7"
    assert body["reviewStatus"] == "UNDER_REVIEW"
    assert body["hexBackgroundColor"] == "#17bb52"
    assert body["programLogo"]["sourceUri"]["uri"].endswith("/logo.png")
    assert body["callbackOptions"] == {"url": "https://shop.example/google/callbacks"}
    assert body["programName"] == "Morning Light Rewards"
    if translated:
        name = body["localizedProgramName"]
        assert name["defaultValue"] == {"language": "en", "value": "Morning Light Rewards"}
        assert {"language": "zh-Hant", "value": "晨光會員卡"} in name["translatedValues"]
        assert {"language": "zh-Hant", "value": "會員編號"} in body["localizedAccountIdLabel"]["translatedValues"]
    else:  # nothing to translate: no localized* fields (shorter save links)
        assert not [k for k in body if k.startswith("localized")]


def test_loyalty_class_with_only_a_logo_and_no_terms() -> None:
    body = objects.loyalty_class(program(False, terms=""), issuer_id=ISSUER, images={"logo": "https://x.example/l.png"})
    assert_valid("LoyaltyClass", body)
    assert "heroImage" not in body and "textModulesData" not in body


def values_of(localized: dict) -> dict[str, str]:
    return {t["language"]: t["value"] for t in [localized["defaultValue"], *localized["translatedValues"]]}


def test_program_texts_are_class_text_modules_in_every_locale() -> None:
    """how_to_earn on the loyalty class, how_to_redeem on the offer class (issue 9 item 7), translated."""
    texts = {**TEXTS, "*": {"how_to_earn": "1 point per NT$1.", "how_to_redeem": "Show the code at the till."},
             "zh-Hant": {**TEXTS["zh-Hant"], "how_to_earn": "每 NT$1 一點。", "how_to_redeem": "結帳時出示。"}}
    prog = program(texts=texts)
    loyalty = objects.loyalty_class(prog, issuer_id=ISSUER, images=images)
    assert_valid("LoyaltyClass", loyalty)
    earn, terms = loyalty["textModulesData"]
    assert (earn["id"], earn["header"], earn["body"]) == ("how_to_earn", "How to earn", "1 point per NT$1.")
    assert values_of(earn["localizedBody"]) == {"en": "1 point per NT$1.", "zh-Hant": "每 NT$1 一點。"}
    assert values_of(earn["localizedHeader"]) == {"en": "How to earn", "zh-Hant": "如何累積", "zh-Hans": "如何累积"}
    assert terms["id"] == "terms"
    offer = objects.offer_class(OFFER, prog, issuer_id=ISSUER, images=images)
    assert_valid("OfferClass", offer)
    assert [m["id"] for m in offer["textModulesData"]] == ["discount", "how_to_redeem"]
    assert values_of(offer["textModulesData"][1]["localizedBody"]) == {
        "en": "Show the code at the till.", "zh-Hant": "結帳時出示。"}


def test_program_without_texts_has_no_text_modules() -> None:
    prog = program(False, terms="")
    assert "textModulesData" not in objects.loyalty_class(prog, issuer_id=ISSUER, images=images)
    body = objects.offer_class(dataclasses.replace(OFFER, discount=""), prog, issuer_id=ISSUER, images=images)
    assert_valid("OfferClass", body)
    assert "textModulesData" not in body


def test_loyalty_class_needs_a_logo() -> None:
    with pytest.raises(InvalidInput):
        objects.loyalty_class(program(), issuer_id=ISSUER, images={})


@pytest.mark.parametrize("tier", [None, "Bronze", "Silver", "Gold", "Diamond"])
@pytest.mark.parametrize("translated", [True, False])
def test_loyalty_object_in_every_tier_is_valid(tier: str | None, translated: bool) -> None:
    member = Member(1, 7, "Lin Mei", "ML-000123", points=1250, tier=tier)
    body = objects.loyalty_object(program(translated), member, ref(), issuer_id=ISSUER)
    assert_valid("LoyaltyObject", body)
    assert body["state"] == "ACTIVE"
    assert body["classId"] == f"{ISSUER}.program-7"
    assert body["loyaltyPoints"]["balance"] == {"int": 1250}
    # no alternateText: under the barcode Google shows accountId, the same number
    assert body["barcode"] == {"type": "QR_CODE", "value": "ML-000123"}
    assert (body["accountId"], body["accountName"]) == ("ML-000123", "Lin Mei")
    assert "hexBackgroundColor" not in body
    if tier is None:
        assert "textModulesData" not in body
    else:
        [module] = body["textModulesData"]
        if not translated:
            assert module == {"id": "tier", "body": f"Tier: {tier}"}
        else:  # one localized line; the plain body would be ignored beside it, so it is left out
            assert set(module) == {"id", "localizedBody"} and module["id"] == "tier"
            assert module["localizedBody"]["defaultValue"] == {"language": "en", "value": f"Tier: {tier}"}
            assert {"language": "zh-Hant", "value": f"等級：{program(True).texts['zh-Hant'][f'tier.{tier}']}"} in \
                module["localizedBody"]["translatedValues"]
        if translated and tier == "Gold":
            assert {"language": "zh-Hans", "value": "等级：金"} in module["localizedBody"]["translatedValues"]


def test_points_label_is_clipped_to_nine_characters() -> None:
    body = objects.loyalty_object(program(False, points_label="Reward points"), Member(1, 7, "A", "1"), ref(),
                                  issuer_id=ISSUER)
    assert body["loyaltyPoints"]["label"] == "Reward po"


def test_voided_member_pass_is_expired() -> None:
    """An erased member's card is expired at Google (objects cannot be deleted: google.md §3.1)."""
    body = objects.loyalty_object(program(), Member(1, 7, "A", "1"), ref(voided=True), issuer_id=ISSUER)
    assert body["state"] == "EXPIRED"


def test_object_id_is_sanitized() -> None:
    assert objects.object_id(ISSUER, "a/b c:é-1.x_y") == f"{ISSUER}.a_b_c__-1.x_y"
    body = objects.loyalty_object(program(), Member(1, 7, "A", "1"), ref("weird/serial#1"), issuer_id=ISSUER)
    assert_valid("LoyaltyObject", body)


OFFER = Offer(3, 7, "Free coffee", description="Any size, any blend", discount="100%",
              valid_from=NOW - timedelta(days=1), valid_until=NOW + timedelta(days=30), terms="One per visit.")


@pytest.mark.parametrize("translated", [True, False])
def test_offer_class_is_valid(translated: bool) -> None:
    body = objects.offer_class(OFFER, program(translated), issuer_id=ISSUER, images=images)
    assert_valid("OfferClass", body)
    assert body["id"] == f"{ISSUER}.offer-3"
    assert (body["title"], body["provider"], body["redemptionChannel"]) == ("Free coffee", "Morning Light", "INSTORE")
    assert body["finePrint"] == "One per visit." and body["details"] == "Any size, any blend"
    assert body["reviewStatus"] == "UNDER_REVIEW"


def test_offer_texts_become_localized_values() -> None:
    """offers.texts {locale: {title, description, discount, terms}} → localizedTitle / Details / FinePrint and the
    discount module's localizedBody, for en / zh-Hant / zh-Hans, strictly valid against the discovery schema."""
    texts = {"zh-Hant": {"title": "免費咖啡", "description": "任何尺寸", "discount": "全免", "terms": "每次一張"},
             "zh-Hans": {"title": "免费咖啡", "description": "任何尺寸", "discount": "全免"}}
    offer = dataclasses.replace(OFFER, texts=texts)
    body = objects.offer_class(offer, program(), issuer_id=ISSUER, images=images)
    assert_valid("OfferClass", body)

    def values(localized: dict) -> dict[str, str]:
        return {t["language"]: t["value"] for t in [localized["defaultValue"], *localized["translatedValues"]]}

    assert values(body["localizedTitle"]) == {"en": "Free coffee", "zh-Hant": "免費咖啡", "zh-Hans": "免费咖啡"}
    assert values(body["localizedDetails"]) == {"en": "Any size, any blend", "zh-Hant": "任何尺寸", "zh-Hans": "任何尺寸"}
    assert values(body["localizedFinePrint"]) == {"en": "One per visit.", "zh-Hant": "每次一張"}  # no zh-Hans given
    [discount] = body["textModulesData"]
    assert values(discount["localizedBody"]) == {"en": "100%", "zh-Hant": "全免", "zh-Hans": "全免"}
    assert values(discount["localizedHeader"]) == {"en": "Discount", "zh-Hant": "優惠", "zh-Hans": "优惠"}
    plain = objects.offer_class(OFFER, program(), issuer_id=ISSUER, images=images)  # no texts: no localized*
    assert not {"localizedTitle", "localizedDetails"} & set(plain)
    assert "localizedBody" not in plain["textModulesData"][0]


def test_offer_without_terms_takes_the_programs_translated_terms() -> None:
    body = objects.offer_class(dataclasses.replace(OFFER, terms=""), program(), issuer_id=ISSUER, images=images)
    assert_valid("OfferClass", body)
    assert body["finePrint"] == program().terms and "localizedFinePrint" in body


def test_minimal_offer_class_is_valid() -> None:
    body = objects.offer_class(Offer(4, 7, "Hello"), program(False, terms=""), issuer_id=ISSUER, images={},
                               redemption_channel="BOTH")
    assert_valid("OfferClass", body)
    with pytest.raises(InvalidInput):
        objects.offer_class(OFFER, program(), issuer_id=ISSUER, images={}, redemption_channel="instore")


@pytest.mark.parametrize(("state", "now", "expected"), [
    (ISSUED, NOW, "ACTIVE"),
    (REDEEMED, NOW, "COMPLETED"),
    (VOIDED, NOW, "INACTIVE"),
    (EXPIRED, NOW, "EXPIRED"),
    (ISSUED, NOW + timedelta(days=31), "EXPIRED"),  # effective state: past valid_until
])
def test_offer_object_in_every_state_is_valid(state: str, now: datetime, expected: str) -> None:
    coupon = Coupon(9, 3, "CPN-7Q2X", state=state, member_id=1)
    body = objects.offer_object(coupon, OFFER, ref("C-9", COUPON), issuer_id=ISSUER, now=now)
    assert_valid("OfferObject", body)
    assert body["state"] == expected
    assert body["barcode"]["value"] == "CPN-7Q2X"
    assert body["validTimeInterval"] == {"start": {"date": "2026-02-28T12:00:00+00:00"},
                                         "end": {"date": "2026-03-31T12:00:00+00:00"}}


def test_offer_object_without_validity_window() -> None:
    body = objects.offer_object(Coupon(9, 4, "X"), Offer(4, 7, "Hello"), ref("C-1", COUPON), issuer_id=ISSUER,
                                now=NOW)
    assert_valid("OfferObject", body)
    assert "validTimeInterval" not in body


def test_messages_are_valid() -> None:
    for notify in (True, False):
        msg = objects.message("New offer", "20% off this week", notify=notify, message_id="campaign:12",
                              display_until=NOW + timedelta(days=7), now=NOW)
        assert schema.errors("Message", msg, strict=True) == []
        assert msg["messageType"] == ("TEXT_AND_NOTIFY" if notify else "TEXT")
        assert msg["id"] == "campaign_12"


def test_message_type_for_allows_three_notifications_per_24_hours() -> None:
    sent = [NOW - timedelta(hours=h) for h in (1, 5, 23)]
    assert objects.message_type_for([], NOW) == "TEXT_AND_NOTIFY"
    assert objects.message_type_for(sent[:2], NOW) == "TEXT_AND_NOTIFY"
    assert objects.message_type_for(sent, NOW) == "TEXT"
    assert objects.message_type_for(sent, NOW + timedelta(hours=1, seconds=1)) == "TEXT_AND_NOTIFY"


def test_schema_catches_real_mistakes() -> None:
    obj = objects.loyalty_object(program(), Member(1, 7, "A", "1"), ref(), issuer_id=ISSUER)
    assert schema.errors("LoyaltyObject", {**obj, "hexBackgroundColor": "#000000"})  # class-level only
    assert schema.errors("LoyaltyObject", {**obj, "state": "active"}, strict=True)  # deprecated alias
    assert schema.errors("LoyaltyObject", {**obj, "barcode": {"type": "QRCODE", "value": "1"}})
    assert schema.errors("LoyaltyObject", {**obj, "loyaltyPoints": {"balance": {"int": "many"}}})
    missing = {k: v for k, v in obj.items() if k != "state"}
    assert schema.errors("LoyaltyObject", missing)
    assert schema.errors("LoyaltyObject", missing, partial=True) == []
    assert schema.lint("LoyaltyObject", {**obj, "id": "abc.def"})
