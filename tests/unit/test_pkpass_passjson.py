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
