"""A coupon's .pkpass shows its offer's texts in each of the program's locales (offers.texts), as downloaded
through the API and checked like Wallet does: openssl cms -verify, the manifest re-hashed, pass.strings decoded
from UTF-16. SQLite and PostgreSQL."""

from __future__ import annotations

import codecs
import io
import json
import zipfile
from typing import Any

from tests.builders import make_member, make_program
from tests.helpers import check_manifest, local, make_offer, post, verify_with_openssl
from walletpass.pkpass.strings import parse_strings

LOCALES = ("en", "zh-Hant", "zh-Hans")
TEXTS = {
    "zh-Hant": {"title": "免費拿鐵", "description": "任何尺寸", "discount": "買一送一", "terms": "每次限用一張"},
    "zh-Hans": {"title": "免费拿铁", "discount": "买一送一"},
}
SHOWN = {"offer": "title", "details": "description", "discount": "discount", "offer_terms": "terms"}


def _download(client, auth, services, tmp_path, offer_fields: dict[str, Any]) -> tuple[dict[str, Any], Any]:  # type: ignore[no-untyped-def]
    program = make_program(services)
    member = make_member(services, program)
    offer = make_offer(client, auth, program, **offer_fields)
    r = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]})
    assert r.status_code == 201, r.json
    return r.json, _opened(client, r.json, services, tmp_path)


def _opened(client, coupon: dict[str, Any], services, tmp_path) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    dl = client.get(local(coupon["links"]["pkpass"]))
    assert dl.status_code == 200 and dl.mimetype == "application/vnd.apple.pkpass"
    verify_with_openssl(dl.data, services.settings.wwdr_path, tmp_path)
    check_manifest(dl.data)
    with zipfile.ZipFile(io.BytesIO(dl.data)) as z:
        pj = json.loads(z.read("pass.json"))
        raw = {loc: z.read(f"{loc}.lproj/pass.strings") for loc in LOCALES}
    for data in raw.values():
        assert data.startswith(codecs.BOM_UTF16_LE)  # UTF-16, as Apple asks for non-ASCII text
        data.decode("utf-16")
    strings = {loc: parse_strings(data) for loc, data in raw.items()}
    assert len({frozenset(t) for t in strings.values()}) == 1  # every pass.strings has the same keys
    return pj, strings


def _fields(pj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["key"]: f for group in pj["coupon"].values() for f in group}


def _shown(pj: dict[str, Any], strings: dict[str, dict[str, str]], locale: str) -> dict[str, str]:
    """What a device set to *locale* shows in the offer's fields: the value, looked up as a pass.strings key."""
    fields = _fields(pj)
    return {key: strings[locale][fields[key]["value"]] for key in SHOWN}


def test_coupon_pass_carries_the_offer_translations(client, auth, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = {"title": "Free latte", "description": "Any size", "discount": "Buy one get one", "terms": "One per visit"}
    coupon, (pj, strings) = _download(client, auth, services, tmp_path, {**base, "texts": TEXTS})
    fields = _fields(pj)
    assert {fields[k]["value"] for k in SHOWN} == {"offer.title", "offer.description", "offer.discount",
                                                    "offer.terms"}  # pass.json holds the keys, not the texts
    assert _shown(pj, strings, "en") == {k: base[v] for k, v in SHOWN.items()}
    assert _shown(pj, strings, "zh-Hant") == {k: TEXTS["zh-Hant"][v] for k, v in SHOWN.items()}
    # zh-Hans has no description or terms: the offer's default text stands in
    assert _shown(pj, strings, "zh-Hans") == {"offer": "免费拿铁", "details": "Any size", "discount": "买一送一",
                                              "offer_terms": "One per visit"}
    # the program's texts are still there, and the coupon still has its code, expiry and no void
    assert strings["zh-Hant"]["organization_name"] != strings["en"]["organization_name"]
    assert pj["barcodes"][0]["message"] == coupon["code"] and fields["code"]["value"] == coupon["code"]
    assert pj["expirationDate"] == "2026-12-31T15:59:00+00:00" and "voided" not in pj

    r = post(client, f"/api/v1/coupons/{coupon['id']}/redeem", auth)
    assert r.status_code == 200
    pj, strings = _opened(client, coupon, services, tmp_path)
    assert pj["voided"] is True and _shown(pj, strings, "zh-Hant")["offer"] == "免費拿鐵"


def test_coupon_of_an_offer_without_texts_shows_its_own_texts_everywhere(client, auth, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, (pj, strings) = _download(client, auth, services, tmp_path, {"description": "Any size"})
    fields = _fields(pj)
    assert "offer_terms" not in fields  # no terms in any language: the field is left out, as before
    for locale in LOCALES:
        assert strings[locale][fields["offer"]["value"]] == "Free latte"
        assert strings[locale][fields["discount"]["value"]] == "100%"
        assert strings[locale][fields["details"]["value"]] == "Any size"
    assert strings["zh-Hant"][fields["discount"]["label"]] == "您的優惠"  # template labels still localized


def test_two_offers_of_one_program_keep_their_own_texts(client, auth, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    member = make_member(services, program)
    shown = {}
    for title, zh in (("Free latte", "免費拿鐵"), ("Free cookie", "免費餅乾")):
        offer = make_offer(client, auth, program, title=title, texts={"zh-Hant": {"title": zh}})
        r = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]})
        pj, strings = _opened(client, r.json, services, tmp_path)
        key = _fields(pj)["offer"]["value"]
        shown[title] = strings["zh-Hant"][key], strings["en"][key]
    assert shown == {"Free latte": ("免費拿鐵", "Free latte"), "Free cookie": ("免費餅乾", "Free cookie")}
