"""Every text on the passes comes from the program (issue 9 item 7): how to earn, how to redeem, the pass
descriptions and the terms are program fields (POST/PATCH /api/v1/programs, translated through ``texts``); the
templates carry generic labels only, and the demo's texts live in the demo program. Passes are downloaded through
the API and checked as Wallet would: openssl cms -verify, the manifest re-hashed, pass.strings decoded from UTF-16.
SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from tests.builders import make_member, make_program
from tests.helpers import check_manifest, count, local, make_offer, post, verify_with_openssl
from walletpass.pkpass.strings import parse_strings

LOCALES = ("en", "zh-Hant", "zh-Hans")
#: Words of the demo's texts ("晨光 Morning Light", 1 point per NT$1, a free coffee) that no other brand may get.
DEMO_WORDS = ("NT$", "Morning Light", "晨光", "coffee", "咖啡")
TEXTS = {
    "how_to_earn": "One stamp per book bought.", "description": "Harbour Books card",
    "how_to_redeem": "Show the code at the till.", "coupon_description": "Harbour Books coupon",
    "terms": "Stamps last a year.",
    "texts": {"zh-Hant": {"how_to_earn": "每買一本書蓋一個章。", "description": "港灣書店會員卡",
                          "how_to_redeem": "結帳時出示條碼。", "coupon_description": "港灣書店優惠券"},
              "zh-Hans": {"how_to_earn": "每买一本书盖一个章。", "terms": "印章一年内有效。"}},
}


def _create(client, auth, **fields: Any) -> int:  # type: ignore[no-untyped-def]
    body = {"name": "Harbour Club", "organization_name": "Harbour Books", "locales": list(LOCALES), **fields}
    r = post(client, "/api/v1/programs", auth, body)
    assert r.status_code == 201, r.json
    return int(r.json["id"])


def _passes(client, auth, services, program: int) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    """A member card and a coupon of *program* (an offer with a title and a discount only), as downloaded."""
    member = post(client, f"/api/v1/programs/{program}/members", auth, {"name": "Chen Yi"}).json
    offer = make_offer(client, auth, program, title="10% off", discount="10%")
    coupon = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]}).json
    out = {}
    for kind, links in (("member", member["links"]), ("coupon", coupon["links"])):
        r = client.get(local(links["pkpass"]))
        assert r.status_code == 200 and r.mimetype == "application/vnd.apple.pkpass"
        out[kind] = r.data
    return out


def _opened(data: bytes, services, tmp_path) -> tuple[dict[str, Any], dict[str, dict[str, str]], dict[str, str]]:  # type: ignore[no-untyped-def]
    """(pass.json, locale → pass.strings, file → its text) of a verified pass."""
    verify_with_openssl(data, services.settings.wwdr_path, tmp_path)
    check_manifest(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        files = {name: z.read(name) for name in z.namelist()}
    strings = {loc: parse_strings(files[f"{loc}.lproj/pass.strings"]) for loc in LOCALES}
    texts = {name: body.decode("utf-16") if name.endswith(".strings") else body.decode("latin-1")
             for name, body in files.items()}
    return json.loads(files["pass.json"]), strings, texts


def _back(pj: dict[str, Any]) -> dict[str, str]:
    style = pj.get("storeCard") or pj["coupon"]
    return {f["key"]: f["value"] for f in style.get("backFields", [])}


def test_a_new_programs_passes_carry_none_of_the_demos_texts(client, auth, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    program = _create(client, auth)
    view = client.get(f"/api/v1/programs/{program}", headers=auth).json
    assert {k: view[k] for k in ("description", "how_to_earn", "coupon_description", "how_to_redeem", "terms")} == {
        "description": "", "how_to_earn": "", "coupon_description": "", "how_to_redeem": "", "terms": ""}
    for kind, data in _passes(client, auth, services, program).items():
        pj, strings, texts = _opened(data, services, tmp_path)
        for name, text in texts.items():  # pass.json, every pass.strings (decoded), manifest, images
            found = [w for w in DEMO_WORDS if w in text or w.encode().decode("latin-1") in text]
            assert not found, (kind, name, found)
        # no text, no field: how to earn / redeem and terms are left out, not shown blank
        assert _back(pj) == ({"program": "program_name"} if kind == "member" else {})
        # the description Apple requires: the program's name on the card, the offer's title on the coupon
        assert {t["description"] for t in strings.values()} == {"Harbour Club" if kind == "member" else "10% off"}


def test_program_texts_show_in_each_locale(client, auth, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    program = _create(client, auth, **TEXTS)
    view = client.get(f"/api/v1/programs/{program}", headers=auth).json
    assert (view["how_to_earn"], view["coupon_description"]) == ("One stamp per book bought.", "Harbour Books coupon")
    assert view["texts"] == TEXTS["texts"]  # the own texts are fields of their own, not a locale
    passes = _passes(client, auth, services, program)
    card, card_strings, _ = _opened(passes["member"], services, tmp_path)
    assert _back(card) == {"program": "program_name", "how_to_earn": "how_to_earn", "terms": "terms"}
    assert {loc: (t["how_to_earn"], t["terms"], t["description"]) for loc, t in card_strings.items()} == {
        "en": ("One stamp per book bought.", "Stamps last a year.", "Harbour Books card"),
        "zh-Hant": ("每買一本書蓋一個章。", "Stamps last a year.", "港灣書店會員卡"),
        "zh-Hans": ("每买一本书盖一个章。", "印章一年内有效。", "Harbour Books card"),
    }
    coupon, coupon_strings, _ = _opened(passes["coupon"], services, tmp_path)
    assert _back(coupon) == {"how_to_redeem": "how_to_redeem", "terms": "terms"}
    assert {loc: (t["how_to_redeem"], t["description"]) for loc, t in coupon_strings.items()} == {
        "en": ("Show the code at the till.", "Harbour Books coupon"),
        "zh-Hant": ("結帳時出示條碼。", "港灣書店優惠券"),
        "zh-Hans": ("Show the code at the till.", "Harbour Books coupon"),
    }


def test_the_demo_program_shows_its_texts(client, auth, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)  # what `walletpass init` creates
    member = make_member(services, program)
    offer = make_offer(client, auth, program)
    coupon = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]}).json
    _, card, _ = _opened(client.get(local(member["links"]["pkpass"])).data, services, tmp_path)
    assert card["en"]["how_to_earn"].startswith("Earn 1 point for every NT$1 you spend.")
    assert card["zh-Hant"]["how_to_earn"].startswith("每消費 NT$1 累積 1 點")
    assert [card[loc]["description"] for loc in LOCALES] == ["Morning Light member card", "晨光會員卡", "晨光会员卡"]
    _, strings, _ = _opened(client.get(local(coupon["links"]["pkpass"])).data, services, tmp_path)
    assert [strings[loc]["description"] for loc in LOCALES] == ["Morning Light coupon", "晨光優惠券", "晨光优惠券"]
    assert strings["zh-Hans"]["how_to_redeem"].startswith("结账前请在柜台出示本优惠券")


@pytest.mark.parametrize(("body", "field"), [
    ({"how_to_earn": 5}, "how_to_earn"),
    ({"how_to_redeem": "x" * 2001}, "how_to_redeem"),
    ({"description": "x" * 201}, "description"),
    ({"texts": {"en": {"how_to_earn": None}}}, "texts.en.how_to_earn"),
])
def test_bad_texts_are_rejected(client, auth, services, body, field) -> None:  # type: ignore[no-untyped-def]
    r = post(client, "/api/v1/programs", auth, {"name": "Harbour Club", "organization_name": "Harbour Books", **body})
    assert r.status_code == 422 and r.mimetype == "application/problem+json", r.json
    assert r.json["errors"][0]["field"] == field, r.json
    assert count(services, "SELECT count(*) FROM programs") == 0
