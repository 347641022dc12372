"""pass.json validation: one test per rule, each asserting the field and what the message tells the user."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest

from walletpass.errors import DuplicateFieldKey, InvalidPass
from walletpass.pkpass import passjson

SIGNER = SimpleNamespace(pass_type_identifier="pass.dev.walletpass.member", team_identifier="DEVTEAM001")
FILES = {"icon.png": "x", "icon@2x.png": "y", "icon@3x.png": "z"}


def good() -> dict[str, Any]:
    return {
        "formatVersion": 1,
        "passTypeIdentifier": "pass.dev.walletpass.member",
        "serialNumber": "s-1",
        "teamIdentifier": "DEVTEAM001",
        "organizationName": "organization_name",
        "description": "description",
        "webServiceURL": "https://passes.example.com/",
        "authenticationToken": "0123456789abcdef",
        "backgroundColor": "rgb(1, 2, 3)",
        "barcodes": [{"format": "PKBarcodeFormatQR", "message": "M1", "messageEncoding": "iso-8859-1",
                      "altText": "M1"}],
        "storeCard": {
            "headerFields": [{"key": "tier", "label": "tier_label", "value": "tier.Gold",
                              "changeMessage": "change.tier"}],
            "primaryFields": [{"key": "points", "value": 10, "changeMessage": "You now have %@ points"}],
            "backFields": [{"key": "terms", "value": "terms"}],
        },
    }


STRINGS = {"en": {"change.tier": "Welcome to %@"}, "zh-Hant": {"change.tier": "歡迎升級為%@會員"}}


def invalid(p: dict[str, Any], **kw: Any) -> InvalidPass:
    with pytest.raises(InvalidPass) as info:
        passjson.validate(p, **kw)
    return info.value


def accepted(p: dict[str, Any], **kw: Any) -> None:
    """Assert that validation accepts *p* (the counterpart of :func:`invalid`) and leaves it as it was."""
    before = copy.deepcopy(p)
    try:
        passjson.validate(p, **kw)
    except InvalidPass as exc:
        pytest.fail(f"a valid pass was refused: {exc.field}: {exc.detail}")
    assert p == before


def test_good_pass_passes() -> None:
    accepted(good(), signer=SIGNER, files=FILES, strings=STRINGS)


def test_dump_is_deterministic_compact_utf8() -> None:
    p = good()
    p["organizationName"] = "晨光"
    again = dict(reversed(list(copy.deepcopy(p).items())))
    assert passjson.dump(p) == passjson.dump(again)
    assert "晨光".encode() in passjson.dump(p) and b": " not in passjson.dump(p)


@pytest.mark.parametrize("value", [2, "1", True, None])
def test_format_version_must_be_1(value: object) -> None:
    p = good()
    p["formatVersion"] = value
    err = invalid(p)
    assert err.field == "formatVersion" and "number 1" in err.detail


def test_format_version_missing() -> None:
    p = good()
    del p["formatVersion"]
    assert "set formatVersion to 1" in invalid(p).detail


@pytest.mark.parametrize("key", passjson.REQUIRED_STRINGS)
def test_required_string_keys(key: str) -> None:
    p = good()
    del p[key]
    err = invalid(p)
    assert err.field == key and f"every pass needs {key}" in err.detail
    p[key] = ""
    assert "non-empty string" in invalid(p).detail


def test_exactly_one_style_none() -> None:
    p = good()
    del p["storeCard"]
    err = invalid(p)
    assert err.field == "style" and "exactly one style key" in err.detail and "found none" in err.detail


def test_exactly_one_style_two() -> None:
    p = good()
    p["coupon"] = {}
    assert "found coupon, storeCard" in invalid(p).detail


def test_boarding_pass_needs_transit_type() -> None:
    p = good()
    p["boardingPass"] = p.pop("storeCard")
    err = invalid(p)
    assert err.field == "boardingPass.transitType" and "PKTransitTypeAir" in err.detail


def test_duplicate_field_keys_across_groups() -> None:
    p = good()
    p["storeCard"]["backFields"].append({"key": "points", "value": "again"})
    with pytest.raises(DuplicateFieldKey) as info:
        passjson.validate(p)
    assert info.value.key == "points" and "must be unique across all field groups" in info.value.detail


def test_field_needs_key_and_value() -> None:
    p = good()
    p["storeCard"]["backFields"].append({"label": "x", "value": "y"})
    err = invalid(p)
    assert err.field == "storeCard.backFields[1].key" and "every field needs a non-empty string key" in err.detail
    p = good()
    p["storeCard"]["backFields"].append({"key": "x", "value": None})
    err = invalid(p)
    assert err.field == "storeCard.backFields[1].value" and "string, number or date" in err.detail


@pytest.mark.parametrize("value", ["", "  \n"])
def test_field_with_an_empty_value_is_left_out_not_shown_blank(value: str) -> None:
    p = good()
    p["storeCard"]["backFields"].append({"key": "how_to_earn", "label": "how_to_earn_label", "value": value})
    err = invalid(p)
    assert err.field == "storeCard.backFields[1].value" and "leave the field out" in err.detail


def test_unknown_field_group() -> None:
    p = good()
    p["storeCard"]["frontFields"] = []
    err = invalid(p)
    assert err.field == "storeCard.frontFields" and "primaryFields" in err.detail


def test_too_many_primary_fields() -> None:
    p = good()
    p["storeCard"]["primaryFields"].append({"key": "p2", "value": 1})
    err = invalid(p)
    assert err.field == "storeCard.primaryFields" and "at most 1" in err.detail


def test_square_barcode_limits_secondary_plus_auxiliary() -> None:
    p = good()
    p["storeCard"]["secondaryFields"] = [{"key": f"s{i}", "value": "v"} for i in range(3)]
    p["storeCard"]["auxiliaryFields"] = [{"key": f"a{i}", "value": "v"} for i in range(2)]
    err = invalid(p)
    assert "at most 4 together" in err.detail and "backFields" in err.detail


def test_change_message_needs_placeholder() -> None:
    p = good()
    p["storeCard"]["primaryFields"][0]["changeMessage"] = "Points changed"
    err = invalid(p, strings=STRINGS)
    assert err.field == "storeCard.primaryFields[0].changeMessage" and "%@" in err.detail


def test_change_message_key_whose_translation_lacks_placeholder() -> None:
    strings = {"en": {"change.tier": "Welcome to %@"}, "zh-Hans": {"change.tier": "欢迎"}}
    err = invalid(good(), strings=strings)
    assert "zh-Hans.lproj/pass.strings" in err.detail and "must contain %@" in err.detail


@pytest.mark.parametrize("color", ["rgb(255-255-255)", "rgb(256, 0, 0)", "#ffffff", "red", 3])
def test_colors_must_be_rgb_0_255(color: object) -> None:
    p = good()
    p["foregroundColor"] = color
    err = invalid(p)
    assert err.field == "foregroundColor" and "rgb(r, g, b)" in err.detail and "0 to 255" in err.detail


@pytest.mark.parametrize("key", ["expirationDate", "relevantDate"])
@pytest.mark.parametrize("value", ["2026-05-01", "2026-05-01T10:00:00", "01/05/2026 10:00", "2026-13-01T10:00Z"])
def test_dates_need_time_and_zone(key: str, value: str) -> None:
    p = good()
    p[key] = value
    err = invalid(p)
    assert err.field == key and "ISO 8601" in err.detail and "zone" in err.detail


def test_dates_with_zone_accepted() -> None:
    p = good()
    p["expirationDate"] = "2026-05-01T10:00:00+08:00"
    p["relevantDate"] = "2026-05-01T10:00Z"
    p["relevantDates"] = [{"startDate": "2026-05-01T10:00:00Z", "endDate": "2026-05-02T10:00:00.5Z"}]
    accepted(p)


def test_relevant_dates_entries_checked() -> None:
    p = good()
    p["relevantDates"] = [{"date": "tomorrow"}]
    err = invalid(p)
    assert err.field == "relevantDates[0].date"
    assert "'tomorrow' is not a date Wallet accepts" in err.detail and "ISO 8601" in err.detail and "zone" in err.detail


def test_date_field_value_needs_zone() -> None:
    p = good()
    p["storeCard"]["backFields"].append({"key": "d", "value": "2026-05-01T10:00", "dateStyle": "PKDateStyleShort"})
    err = invalid(p)
    assert err.field == "storeCard.backFields[1].value" and "zone" in err.detail


@pytest.mark.parametrize("fmt", ["PKBarcodeFormatCode39", "PKBarcodeFormatEAN13", "QR", None])
def test_barcode_format_rejected_with_allowed_list(fmt: object) -> None:
    p = good()
    p["barcodes"][0]["format"] = fmt
    err = invalid(p)
    assert err.field == "barcodes[0].format"
    allowed = "PKBarcodeFormatQR, PKBarcodeFormatPDF417, PKBarcodeFormatAztec, PKBarcodeFormatCode128"
    assert f"use one of {allowed}" in err.detail


@pytest.mark.parametrize("fmt", passjson.BARCODE_FORMATS)
def test_barcode_formats_accepted(fmt: str) -> None:
    p = good()
    p["barcodes"][0]["format"] = fmt
    accepted(p)


def test_barcode_message_and_encoding_required() -> None:
    p = good()
    del p["barcodes"][0]["messageEncoding"]
    err = invalid(p)
    assert err.field == "barcodes[0].messageEncoding" and "an IANA charset name such as 'iso-8859-1'" in err.detail
    p = good()
    p["barcodes"][0]["message"] = "會員"
    err = invalid(p)
    assert err.field == "barcodes[0].message" and "utf-8" in err.detail


def test_deprecated_barcode_key_checked() -> None:
    p = good()
    p["barcode"] = {"format": "PKBarcodeFormatEAN13", "message": "1", "messageEncoding": "iso-8859-1"}
    err = invalid(p)
    assert err.field == "barcode.format" and "'PKBarcodeFormatEAN13' is not supported" in err.detail
    assert "use one of PKBarcodeFormatQR, PKBarcodeFormatPDF417" in err.detail


def test_authentication_token_at_least_16_chars() -> None:
    p = good()
    p["authenticationToken"] = "short"
    err = invalid(p)
    assert err.field == "authenticationToken" and "at least 16 characters" in err.detail


def test_web_service_url_without_token() -> None:
    p = good()
    del p["authenticationToken"]
    err = invalid(p)
    assert err.field == "authenticationToken" and "set both or neither" in err.detail


def test_token_without_web_service_url() -> None:
    p = good()
    del p["webServiceURL"]
    err = invalid(p)
    assert err.field == "webServiceURL" and "set both or neither" in err.detail


def test_neither_web_service_key_is_fine() -> None:
    p = good()
    del p["webServiceURL"], p["authenticationToken"]
    accepted(p)


@pytest.mark.parametrize("url", ["http://passes.example.com/", "ftp://x/", "passes.example.com",
                                 "http://127.example.com/", "http://127.0.0.1.example.com/", "http://localhost.example/",
                                 "http://[::2]/", "http://128.0.0.1/"])
def test_web_service_url_must_be_https(url: str) -> None:
    p = good()
    p["webServiceURL"] = url
    err = invalid(p)
    assert err.field == "webServiceURL" and "https" in err.detail


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/", "http://localhost:5000/", "http://[::1]:8000/",
                                 "http://127.1.2.3/", "http://LOCALHOST/"])
def test_http_allowed_on_loopback(url: str) -> None:
    p = good()
    p["webServiceURL"] = url
    accepted(p)


def test_at_most_10_locations() -> None:
    p = good()
    p["locations"] = [{"latitude": 25.03, "longitude": 121.56}] * 11
    err = invalid(p)
    assert err.field == "locations" and "at most 10" in err.detail
    p["locations"] = [{"latitude": 25.03}]
    err = invalid(p)
    assert err.field == "locations[0].longitude" and "required: a number in degrees" in err.detail


def test_flags_must_be_boolean() -> None:
    p = good()
    p["voided"] = "yes"
    err = invalid(p)
    assert err.field == "voided" and "true or false" in err.detail


def test_pass_type_id_must_match_certificate_uid() -> None:
    p = good()
    p["passTypeIdentifier"] = "pass.other"
    err = invalid(p, signer=SIGNER)
    assert err.field == "passTypeIdentifier" and "certificate's UID" in err.detail


def test_team_id_must_match_certificate_ou() -> None:
    p = good()
    p["teamIdentifier"] = "OTHERTEAM1"
    err = invalid(p, signer=SIGNER)
    assert err.field == "teamIdentifier" and "OU 'DEVTEAM001'" in err.detail and "WALLETPASS_TEAM_ID" in err.detail


def test_icon_required() -> None:
    err = invalid(good(), files={"logo.png": "x"})
    assert err.field == "icon.png" and "every pass needs icon.png" in err.detail


def test_every_pass_strings_has_same_keys() -> None:
    strings = {"en": {"change.tier": "Welcome to %@", "a": "A"}, "zh-Hant": {"change.tier": "%@"}}
    err = invalid(good(), strings=strings)
    assert err.field == "zh-Hant.lproj/pass.strings" and "lacks the keys a" in err.detail


# -- pass.json rules for the 2024–2026 keys (apple.md §2.1, §2.4, 2024–2026 additions): relevantDates,

QR = {"format": "PKBarcodeFormatQR", "message": "400638133393", "messageEncoding": "iso-8859-1"}


def poster() -> dict[str, Any]:
    p = good()
    p["posterGeneric"] = {
        "headerFields": [{"key": "poster_tier", "value": "tier.Gold"}],
        "primaryFields": [{"key": "poster_points", "value": 10}],
        "footerFields": [{"key": "poster_number", "value": "M1"}],
    }
    return p


def test_all_new_keys_together_pass() -> None:
    p = poster()
    p.update({
        "relevantDate": "2026-05-01T00:00:00+00:00",
        "relevantDates": [{"startDate": "2026-05-01T00:00:00+00:00", "endDate": "2026-05-31T23:59:00+00:00"},
                          {"date": "2026-06-01T10:00Z"}],
        "sharingProhibited": True, "footerBackgroundColor": "rgb(10, 20, 30)", "useAutomaticColors": True,
        "suppressHeaderDarkening": False,
        "featuredActions": [{"identifier": "benefits", "type": "membershipBenefits",
                             "url": "https://example.com/benefits"}],
        "barcodes": [{"format": "PKBarcodeFormatEAN13", "message": "4006381333931", "messageEncoding": "iso-8859-1"},
                     QR],
    })
    accepted(p, signer=SIGNER, files=FILES)
    assert passjson.problems(p, files=FILES) == []


# -- relevantDates ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("dates", "field", "words"), [
    ([], "relevantDates", "non-empty list"),
    ("2026-05-01T00:00Z", "relevantDates", "non-empty list"),
    (["2026-05-01T00:00Z"], "relevantDates[0]", "must be an object"),
    ([{"startDate": "2026-05-01T00:00Z"}], "relevantDates[0]", "give either date, or startDate and endDate"),
    ([{"date": "2026-05-01T00:00Z", "endDate": "2026-05-02T00:00Z"}], "relevantDates[0]", "give either date"),
    ([{"relevantDate": "2026-05-01T00:00Z"}], "relevantDates[0]", "give either date"),
    ([{"startDate": "2026-05-02T00:00Z", "endDate": "2026-05-01T00:00Z"}], "relevantDates[0].endDate",
     "before startDate"),
    ([{"startDate": "2026-05-01T00:00Z", "endDate": "31 May"}], "relevantDates[0].endDate", "not a date"),
])
def test_relevant_dates_rules(dates: object, field: str, words: str) -> None:
    p = good()
    p["relevantDates"] = dates
    err = invalid(p)
    assert err.field == field and words in err.detail


# -- flags and iOS 18 colours -----------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["sharingProhibited", "useAutomaticColors", "suppressHeaderDarkening"])
def test_flags_must_be_booleans(key: str) -> None:
    p = good()
    p[key] = "yes"
    err = invalid(p)
    assert err.field == key and "true or false" in err.detail


def test_footer_background_color_is_rgb() -> None:
    p = good()
    p["footerBackgroundColor"] = "#102030"
    err = invalid(p)
    assert err.field == "footerBackgroundColor" and "rgb(r, g, b)" in err.detail
    p["footerBackgroundColor"] = "rgb(256, 0, 0)"
    assert invalid(p).field == "footerBackgroundColor"


def test_misspelt_automatic_colours_key() -> None:
    p = good()
    p["useAutomaticColor"] = True
    err = invalid(p)
    assert err.field == "useAutomaticColor" and "useAutomaticColors" in err.detail


# -- posterGeneric ----------------------------------------------------------------------------------------------

def test_poster_without_fallback_is_refused() -> None:
    p = poster()
    del p["storeCard"]
    err = invalid(p)
    assert err.field == "posterGeneric" and "generic or storeCard style beside it" in err.detail


def test_poster_fallback_must_be_generic_or_store_card() -> None:
    p = poster()
    p["coupon"] = p.pop("storeCard")
    err = invalid(p)
    assert err.field == "posterGeneric" and "must be generic or storeCard, not coupon" in err.detail
    p = poster()
    p["generic"] = p.pop("storeCard")
    accepted(p)


def test_poster_shows_one_footer_field() -> None:
    p = poster()
    p["posterGeneric"]["footerFields"].append({"key": "poster_more", "value": "x"})
    err = invalid(p)
    assert err.field == "posterGeneric.footerFields" and "one footer field" in err.detail


def test_poster_group_names_and_keys() -> None:
    p = poster()
    p["posterGeneric"]["sideFields"] = []
    err = invalid(p)
    assert err.field == "posterGeneric.sideFields" and "footerFields" in err.detail
    p = poster()
    p["posterGeneric"]["footerFields"][0]["key"] = "points"  # the fallback's key
    with pytest.raises(DuplicateFieldKey):
        passjson.validate(p)
    p = poster()
    p["posterGeneric"] = []
    assert invalid(p).field == "posterGeneric"


def test_footer_fields_only_on_a_poster() -> None:
    p = good()
    p["storeCard"]["footerFields"] = [{"key": "f", "value": "x"}]
    assert invalid(p).field == "storeCard.footerFields"


# -- featuredActions --------------------------------------------------------------------------------------------

def _action(**kw: object) -> dict[str, object]:
    return {"identifier": "benefits", "type": "membershipBenefits", "url": "https://example.com/b", **kw}


@pytest.mark.parametrize(("actions", "field", "words"), [
    ([], "featuredActions", "non-empty list"),
    ([_action(identifier="a"), _action(identifier="b"), _action(identifier="c")], "featuredActions", "at most 2"),
    (["https://example.com"], "featuredActions[0]", "must be an object"),
    ([_action(type="")], "featuredActions[0].type", "non-empty string"),
    ([_action(identifier=None)], "featuredActions[0].identifier", "non-empty string"),
    ([_action(), _action()], "featuredActions[1].identifier", "unique"),
    ([_action(url="http://example.com/b")], "featuredActions[0].url", "https URL"),
    ([_action(url="benefits")], "featuredActions[0].url", "https URL"),
    ([_action(url="https://[zz]/b")], "featuredActions[0].url", "https URL"),
    ([_action(label="x")], "featuredActions[0].label", "unknown key"),
])
def test_featured_actions_rules(actions: object, field: str, words: str) -> None:
    p = good()
    p["featuredActions"] = actions
    err = invalid(p)
    assert err.field == field and words in err.detail


# -- iOS 27 barcodes --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "message"), [
    ("PKBarcodeFormatEAN13", "4006381333931"), ("PKBarcodeFormatCode39", "M-1 $/+%."),
    ("PKBarcodeFormatCodabar", "A40156B"), ("PKBarcodeFormatCodabar", "123-45"),
    ("PKBarcodeFormatI2of5", "123456"),
])
def test_new_barcodes_accepted_with_a_fallback(fmt: str, message: str) -> None:
    p = good()
    p["barcodes"] = [{"format": fmt, "message": message, "messageEncoding": "iso-8859-1"}, QR]
    accepted(p)


@pytest.mark.parametrize(("fmt", "message", "words"), [
    ("PKBarcodeFormatEAN13", "400638133393", "13 digits"),
    ("PKBarcodeFormatEAN13", "4006381333932", "the 13th digit of 400638133393 is 1"),
    ("PKBarcodeFormatEAN13", "40063813339３", "13 digits"),
    ("PKBarcodeFormatCode39", "m1", "capitals"),
    ("PKBarcodeFormatCodabar", "ABC", "Codabar"),
    ("PKBarcodeFormatI2of5", "12345", "even number of digits"),
    ("PKBarcodeFormatI2of5", "12AB", "even number of digits"),
])
def test_new_barcode_contents_checked(fmt: str, message: str, words: str) -> None:
    p = good()
    p["barcodes"] = [{"format": fmt, "message": message, "messageEncoding": "utf-8"}, QR]
    err = invalid(p)
    assert err.field == "barcodes[0].message" and words in err.detail


@pytest.mark.parametrize("fmt", passjson.NEW_BARCODE_FORMATS)
def test_new_barcode_needs_a_fallback_older_ios_shows(fmt: str) -> None:
    p = good()
    p["barcodes"] = [{"format": fmt, "message": "12345670", "messageEncoding": "iso-8859-1"},
                     {"format": "PKBarcodeFormatCode39", "message": "12", "messageEncoding": "iso-8859-1"}]
    err = invalid(p)
    assert err.field == "barcodes[0].format" and "only on iOS 27" in err.detail
    assert "PKBarcodeFormatQR" in err.detail


def test_ean13_check_digit() -> None:
    assert passjson.ean13_check_digit("400638133393") == "1"
    assert passjson.ean13_check_digit("978030640615") == "7"


def test_square_limit_follows_the_barcode_older_ios_shows() -> None:
    p = good()
    p["storeCard"]["secondaryFields"] = [{"key": f"s{i}", "value": "x"} for i in range(3)]
    p["storeCard"]["auxiliaryFields"] = [{"key": f"a{i}", "value": "x"} for i in range(2)]
    p["barcodes"] = [{"format": "PKBarcodeFormatI2of5", "message": "1234", "messageEncoding": "iso-8859-1"}, QR]
    assert invalid(p).field == "storeCard.auxiliaryFields"


def test_doctor_lists_each_new_problem() -> None:
    p = poster()
    del p["storeCard"]
    p["featuredActions"] = [_action(url="ftp://x")]
    p["relevantDates"] = [{"date": "soon"}]
    fields = {e.field for e in passjson.problems(p)}
    assert {"posterGeneric", "featuredActions[0].url", "relevantDates[0].date"} <= fields


def test_a_bracketed_host_that_is_no_address_is_refused_not_a_crash() -> None:
    p = good()
    p["webServiceURL"] = "https://[zz]/"
    assert invalid(p).field == "webServiceURL"
    assert [e.field for e in passjson.problems(p)] == ["webServiceURL"]
