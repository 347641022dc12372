"""Render: template + program + member/coupon → pass.json and localized pass.strings (real templates)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from walletpass.domain.programs import Program, Tier
from walletpass.errors import InvalidInput, InvalidPass
from walletpass.pass_templates import load_templates
from walletpass.pkpass import passjson
from walletpass.render import RenderContext, coupon_pass_json, localized_strings, member_pass_json, render_member
from walletpass.render.demo import (
    demo_coupon,
    demo_coupon_ref,
    demo_member,
    demo_offer,
    demo_pass_ref,
    demo_program,
)
from walletpass.render.template import PassTemplate
from walletpass.render.texts import strings_for_locale

TEMPLATES = load_templates()
MEMBER_T, COUPON_T = TEMPLATES["member-card"], TEMPLATES["coupon"]
CTX = RenderContext(team_id="DEVTEAM001", web_service_url="https://passes.example.com/")


def fields(p: dict, style: str) -> dict[str, dict]:
    return {f["key"]: f for group in p[style].values() for f in group}


def test_member_pass_identity_and_web_service() -> None:
    p = member_pass_json(MEMBER_T, demo_program(), demo_member(), demo_pass_ref(), CTX)
    assert p["formatVersion"] == 1
    assert p["passTypeIdentifier"] == "pass.dev.walletpass.member"
    assert p["serialNumber"] == "ml-member-0001"
    assert p["teamIdentifier"] == "DEVTEAM001"
    assert p["webServiceURL"] == "https://passes.example.com/"
    assert p["authenticationToken"] == "tok-0123456789abcdef0123"
    assert p["organizationName"] == "organization_name" and p["description"] == "description"
    assert "voided" not in p
    passjson.validate(p, strings=localized_strings(MEMBER_T, demo_program()))


def test_member_fields_points_tier_name_number_back() -> None:
    p = member_pass_json(MEMBER_T, demo_program(), demo_member(points=1250, tier="Silver"), demo_pass_ref(), CTX)
    f = fields(p, "storeCard")
    assert f["points"]["value"] == 1250 and f["points"]["changeMessage"] == "change.points"
    assert f["points"]["label"] == "points_label"
    assert f["tier"]["value"] == "tier.Silver" and f["tier"]["changeMessage"] == "change.tier"
    assert f["member"]["value"] == "Lin Mei-Hua" and f["member_number"]["value"] == "ML00000001"
    assert {g["key"] for g in p["storeCard"]["backFields"]} >= {"terms", "how_to_earn"}


def test_member_barcode_is_qr_of_member_number() -> None:
    p = member_pass_json(MEMBER_T, demo_program(), demo_member(), demo_pass_ref(), CTX)
    assert p["barcodes"] == [{"format": "PKBarcodeFormatQR", "message": "ML00000001",
                              "messageEncoding": "iso-8859-1", "altText": "ML00000001"}]


@pytest.mark.parametrize(("tier", "bg", "label"), [
    ("Bronze", "rgb(120, 72, 40)", "rgb(250, 214, 140)"),
    ("Gold", "rgb(150, 112, 20)", "rgb(255, 236, 170)"),
    (None, "rgb(120, 72, 40)", "rgb(250, 214, 140)"),
])
def test_colours_per_tier(tier: str | None, bg: str, label: str) -> None:
    p = member_pass_json(MEMBER_T, demo_program(), demo_member(tier=tier), demo_pass_ref(), CTX)
    assert (p["backgroundColor"], p["labelColor"]) == (bg, label)
    assert p["foregroundColor"] == "rgb(255, 250, 240)"


def test_member_without_tier_uses_tier_none_key() -> None:
    p = member_pass_json(MEMBER_T, demo_program(), demo_member(tier=None), demo_pass_ref(), CTX)
    assert fields(p, "storeCard")["tier"]["value"] == "tier.none"


def test_voided_member_pass() -> None:
    p = member_pass_json(MEMBER_T, demo_program(), demo_member(), demo_pass_ref(voided=True), CTX)
    assert p["voided"] is True


def test_render_is_deterministic() -> None:
    a = render_member(MEMBER_T, demo_program(), demo_member(), demo_pass_ref(), CTX)
    b = render_member(MEMBER_T, demo_program(), demo_member(), demo_pass_ref(), CTX)
    assert passjson.dump(a.pass_json) == passjson.dump(b.pass_json) and a.strings == b.strings


def test_kind_mismatch_rejected() -> None:
    with pytest.raises(InvalidInput, match="not a 'member' pass"):
        member_pass_json(MEMBER_T, demo_program(), demo_member(), demo_coupon_ref(), CTX)
    with pytest.raises(InvalidInput, match="for coupon passes"):
        member_pass_json(COUPON_T, demo_program(), demo_member(), demo_pass_ref(), CTX)


def test_coupon_fields_expiry_and_code() -> None:
    offer = demo_offer()
    p = coupon_pass_json(COUPON_T, demo_program(), offer, demo_coupon(), demo_member(), demo_coupon_ref(), CTX)
    f = fields(p, "coupon")
    assert p["expirationDate"] == "2026-05-15T09:00:00+00:00"
    assert f["expires"]["value"] == "2026-05-15T09:00:00+00:00"
    strings = localized_strings(COUPON_T, demo_program(), offer)
    assert f["code"]["value"] == "MLC-000001"
    assert strings_for_locale(strings, "en", f["discount"]["value"]) == "Free pastry"
    assert p["barcodes"][0]["message"] == "MLC-000001"
    assert "voided" not in p
    passjson.validate(p, strings=strings)


def test_coupon_without_member_or_end_date_leaves_those_fields_out() -> None:
    offer = dataclasses.replace(demo_offer(), valid_until=None, terms="")
    p = coupon_pass_json(COUPON_T, demo_program(), offer, demo_coupon(), None, demo_coupon_ref(), CTX)
    keys = set(fields(p, "coupon"))
    assert "expires" not in keys and "member" not in keys and "offer_terms" not in keys
    assert "expirationDate" not in p and "code" in keys


@pytest.mark.parametrize("state", ["redeemed", "voided"])
def test_coupon_voided_when_redeemed_or_voided(state: str) -> None:
    p = coupon_pass_json(COUPON_T, demo_program(), demo_offer(), demo_coupon(state=state), None,
                         demo_coupon_ref(), CTX)
    assert p["voided"] is True


def test_coupon_voided_when_expired_at_updated_at() -> None:
    offer = demo_offer()
    ref = dataclasses.replace(demo_coupon_ref(), updated_at=offer.valid_until + timedelta(seconds=1))
    p = coupon_pass_json(COUPON_T, demo_program(), offer, demo_coupon(), None, ref, CTX)
    assert p["voided"] is True


def test_coupon_shows_the_offer_texts_in_each_locale() -> None:
    offer = dataclasses.replace(demo_offer(), texts={
        "zh-Hant": {"title": "拿鐵送糕點", "description": "任選一款糕點", "discount": "免費糕點", "terms": "每次限用一張"},
        "zh-Hans": {"title": "拿铁送糕点", "discount": "免费糕点"},
    })
    p = coupon_pass_json(COUPON_T, demo_program(), offer, demo_coupon(), None, demo_coupon_ref(), CTX)
    strings = localized_strings(COUPON_T, demo_program(), offer)
    f = fields(p, "coupon")
    shown = {loc: {k: strings_for_locale(strings, loc, f[k]["value"]) for k in ("offer", "details", "discount",
                                                                             "offer_terms")}
             for loc in ("en", "zh-Hant", "zh-Hans")}
    assert shown["en"] == {"offer": offer.title, "details": offer.description, "discount": "Free pastry",
                           "offer_terms": offer.terms}
    assert shown["zh-Hant"] == {"offer": "拿鐵送糕點", "details": "任選一款糕點", "discount": "免費糕點",
                                "offer_terms": "每次限用一張"}
    # zh-Hans translated title and discount only: description and terms fall back to the offer's own text
    assert shown["zh-Hans"] == {"offer": "拿铁送糕点", "details": offer.description, "discount": "免费糕点",
                                "offer_terms": offer.terms}
    passjson.validate(p, strings=strings)


def test_coupon_field_of_a_text_only_a_translation_has_is_kept() -> None:
    offer = dataclasses.replace(demo_offer(), terms="", texts={"zh-Hant": {"terms": "每次限用一張"}})
    p = coupon_pass_json(COUPON_T, demo_program(), offer, demo_coupon(), None, demo_coupon_ref(), CTX)
    strings = localized_strings(COUPON_T, demo_program(), offer)
    key = fields(p, "coupon")["offer_terms"]["value"]
    assert strings["zh-Hant"][key] == "每次限用一張" and strings["en"][key] == ""


def test_embedded_offer_placeholder_is_the_default_text() -> None:
    doc = {"kind": "coupon", "pass": {"coupon": {"backFields": [{"key": "t", "value": "Offer: ${offer.title}"}]}}}
    tpl = PassTemplate.create("t", doc, {"en": {"tier.none": "Member"}}, {})
    p = coupon_pass_json(tpl, demo_program(), demo_offer(), demo_coupon(), None, demo_coupon_ref(), CTX)
    assert p["coupon"]["backFields"][0]["value"] == "Offer: Free pastry with any latte"


def test_strings_three_locales_same_keys() -> None:
    strings = localized_strings(MEMBER_T, demo_program())
    assert set(strings) == {"en", "zh-Hant", "zh-Hans"}
    keys = set(strings["en"])
    assert all(set(t) == keys for t in strings.values())
    assert strings["en"]["change.points"] == "You now have %@ points"
    assert strings["zh-Hant"]["change.points"] == "您現在有 %@ 點"
    assert strings["zh-Hans"]["change.tier"] == "欢迎升级为%@会员"


def test_strings_merge_program_translations() -> None:
    program = demo_program()
    strings = localized_strings(MEMBER_T, program)
    assert strings["en"]["organization_name"] == "晨光 Morning Light"
    assert strings["zh-Hant"]["organization_name"] == "晨光咖啡"
    assert strings["zh-Hans"]["program_name"] == "晨光会员"
    assert strings["zh-Hant"]["points_label"] == "點數"  # program kept the default "Points": template text
    assert strings["zh-Hant"]["tier.Gold"] == "金卡"


def test_program_own_label_and_tier_translations_win() -> None:
    program = dataclasses.replace(
        demo_program(), points_label="Beans", tiers=(Tier("Bronze", 0), Tier("Latte Lover", 500)),
        texts={"zh-Hant": {"points_label": "咖啡豆", "tier.Latte Lover": "拿鐵達人"}})
    strings = localized_strings(MEMBER_T, program)
    assert strings["zh-Hant"]["points_label"] == "咖啡豆"
    assert strings["zh-Hans"]["points_label"] == "Beans"  # no translation given: the program's own word
    assert strings["zh-Hant"]["tier.Latte Lover"] == "拿鐵達人"
    assert strings["en"]["tier.Latte Lover"] == "Latte Lover"
    assert len({frozenset(t) for t in strings.values()}) == 1


def test_program_locale_beyond_template_falls_back_to_default() -> None:
    program = dataclasses.replace(demo_program(), locales=("en", "ja"), texts={"ja": {"organization_name": "朝光"}})
    strings = localized_strings(MEMBER_T, program)
    assert strings["ja"]["organization_name"] == "朝光" and strings["ja"]["points_label"] == "Points"
    assert set(strings["ja"]) == set(strings["en"])


def test_template_rejects_unknown_placeholder() -> None:
    doc = {"kind": "member", "pass": {"storeCard": {"primaryFields": [{"key": "p", "value": "${member.pionts}"}]}}}
    with pytest.raises(InvalidPass, match=r"unknown placeholder \$\{member.pionts\}"):
        PassTemplate.create("t", doc, {"en": {}}, {})


def test_template_may_not_set_reserved_keys() -> None:
    doc = {"kind": "member", "pass": {"serialNumber": "x", "storeCard": {}}}
    with pytest.raises(InvalidPass, match="set by walletpass"):
        PassTemplate.create("t", doc, {"en": {}}, {})


def test_embedded_placeholder_is_text() -> None:
    doc = {"kind": "member", "pass": {"storeCard": {"backFields": [
        {"key": "n", "value": "No. ${member.number} (${member.points} pts)"}]}}}
    tpl = PassTemplate.create("t", doc, {"en": {"tier.none": "Member"}}, {})
    p = member_pass_json(tpl, demo_program(), demo_member(), demo_pass_ref(), CTX)
    assert p["storeCard"]["backFields"][0]["value"] == "No. ML00000001 (1250 pts)"


# -- the program's texts (issue 9 item 7): every brand text comes from the program ----------------------------

BRAND_WORDS = ("NT$", "Morning Light", "晨光", "coffee", "咖啡")


def plain_program(**kw: object) -> Program:
    """A program of another brand with no texts but its name: nothing of the demo's may show on its passes."""
    values: dict[str, object] = dict(id=2, name="Harbour Club", organization_name="Harbour Books",
                                     locales=("en", "zh-Hant", "zh-Hans"))
    values.update(kw)
    return Program(**values)  # type: ignore[arg-type]


def test_templates_hold_no_brand_text() -> None:
    for template in (MEMBER_T, COUPON_T):
        shown = repr(dict(template.strings)) + template.document
        assert not [w for w in BRAND_WORDS if w in shown], template.name
        for table in template.strings.values():
            assert not {"description", "how_to_earn", "how_to_redeem", "terms"} & set(table)


def test_program_without_texts_leaves_its_back_fields_out() -> None:
    program = plain_program()
    member = member_pass_json(MEMBER_T, program, demo_member(), demo_pass_ref(), CTX)
    offer = dataclasses.replace(demo_offer(), title="10% off", description="", terms="", discount="10%")
    coupon = coupon_pass_json(COUPON_T, program, offer, demo_coupon(), None, demo_coupon_ref(), CTX)
    assert {f["key"] for f in member["storeCard"]["backFields"]} == {"program"}
    assert {f["key"] for f in coupon["coupon"]["backFields"]} == set()
    member_strings = localized_strings(MEMBER_T, program)
    coupon_strings = localized_strings(COUPON_T, program, offer)
    for strings in (member_strings, coupon_strings):
        assert not {"how_to_earn", "how_to_redeem", "terms"} & set(strings["en"])
        assert not [w for w in BRAND_WORDS if w in repr(strings)]
    passjson.validate(member, strings=member_strings)
    passjson.validate(coupon, strings=coupon_strings)
    # the description Apple requires: the program's name on the card, the offer's title on a coupon
    assert member["description"] == coupon["description"] == "description"
    assert {t["description"] for t in member_strings.values()} == {"Harbour Club"}
    assert {t["description"] for t in coupon_strings.values()} == {"10% off"}


def test_program_texts_show_in_each_locale() -> None:
    program = plain_program(
        terms="Points last a year.",
        texts={"*": {"how_to_earn": "1 point per book.", "description": "Harbour Books card",
                     "how_to_redeem": "Show it at the till.", "coupon_description": "Harbour Books coupon"},
               "zh-Hant": {"how_to_earn": "每本書 1 點。", "description": "港灣書店會員卡", "terms": "點數一年有效。"},
               "zh-Hans": {"how_to_earn": "每本书 1 分。", "coupon_description": "港湾书店优惠券"}})
    p = member_pass_json(MEMBER_T, program, demo_member(), demo_pass_ref(), CTX)
    back = {f["key"]: f for f in p["storeCard"]["backFields"]}
    assert back["how_to_earn"]["value"] == "how_to_earn" and back["how_to_earn"]["label"] == "how_to_earn_label"
    assert back["terms"]["value"] == "terms"
    strings = localized_strings(MEMBER_T, program)
    shown = {loc: (strings_for_locale(strings, loc, "how_to_earn"), strings_for_locale(strings, loc, "terms"),
                   strings_for_locale(strings, loc, "description")) for loc in strings}
    assert shown == {"en": ("1 point per book.", "Points last a year.", "Harbour Books card"),
                     "zh-Hant": ("每本書 1 點。", "點數一年有效。", "港灣書店會員卡"),
                     "zh-Hans": ("每本书 1 分。", "Points last a year.", "Harbour Books card")}
    assert strings["zh-Hant"]["how_to_earn_label"] == "如何累積點數"  # the template's generic label, translated
    passjson.validate(p, strings=strings)
    offer = demo_offer()
    c = coupon_pass_json(COUPON_T, program, offer, demo_coupon(), None, demo_coupon_ref(), CTX)
    assert {f["key"]: f["value"] for f in c["coupon"]["backFields"]}["how_to_redeem"] == "how_to_redeem"
    cs = localized_strings(COUPON_T, program, offer)
    assert [cs[loc]["description"] for loc in ("en", "zh-Hant", "zh-Hans")] == [
        "Harbour Books coupon", "Harbour Books coupon", "港湾书店优惠券"]
    assert cs["zh-Hant"]["how_to_redeem"] == "Show it at the till."
    passjson.validate(c, strings=cs)


def test_a_text_only_a_translation_has_shows_its_field() -> None:
    program = plain_program(texts={"zh-Hant": {"how_to_earn": "每本書 1 點。"}})
    p = member_pass_json(MEMBER_T, program, demo_member(), demo_pass_ref(), CTX)
    assert "how_to_earn" in {f["key"] for f in p["storeCard"]["backFields"]}
    strings = localized_strings(MEMBER_T, program)
    assert strings["zh-Hant"]["how_to_earn"] == "每本書 1 點。" and strings["en"]["how_to_earn"] == ""


def test_program_text_placeholders() -> None:
    doc = {"kind": "member", "pass": {"storeCard": {"backFields": [
        {"key": "earn", "value": "${program.how_to_earn}"},
        {"key": "inline", "value": "Terms: ${program.terms}"},
        {"key": "redeem", "value": "${program.how_to_redeem_key}"}]}}}
    tpl = PassTemplate.create("t", doc, {"en": {"tier.none": "Member"}}, {})
    assert {"program.how_to_earn", "program.terms", "program.how_to_redeem_key"} <= tpl.variables
    program = plain_program(terms="Be kind.", texts={"*": {"how_to_earn": "Buy books."}})
    p = member_pass_json(tpl, program, demo_member(), demo_pass_ref(), CTX)
    assert p["storeCard"]["backFields"] == [{"key": "earn", "value": "Buy books."},
                                            {"key": "inline", "value": "Terms: Be kind."}]
    with pytest.raises(InvalidPass, match=r"unknown placeholder \$\{program.slogan\}"):
        PassTemplate.create("t", {"kind": "member", "pass": {"storeCard": {"backFields": [
            {"key": "s", "value": "${program.slogan}"}]}}}, {"en": {}}, {})


def test_demo_program_shows_the_morning_light_texts() -> None:
    strings = localized_strings(MEMBER_T, demo_program())
    assert strings["en"]["how_to_earn"].startswith("Earn 1 point for every NT$1 you spend.")
    assert strings["zh-Hant"]["how_to_earn"].startswith("每消費 NT$1 累積 1 點")
    assert [strings[loc]["description"] for loc in ("en", "zh-Hant", "zh-Hans")] == [
        "Morning Light member card", "晨光會員卡", "晨光会员卡"]
    coupon = localized_strings(COUPON_T, demo_program(), demo_offer())
    assert coupon["zh-Hans"]["description"] == "晨光优惠券"
    assert coupon["en"]["how_to_redeem"].startswith("Show this coupon at the counter")
