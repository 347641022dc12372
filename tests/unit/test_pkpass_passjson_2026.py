"""pass.json rules for the 2024–2026 keys (apple.md §2.1, §2.4, 2024–2026 additions): relevantDates,
sharingProhibited, iOS 18 colours, posterGeneric with its fallback, featuredActions, the iOS 27 1-D barcodes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_pkpass_passjson import FILES, SIGNER, accepted, good, invalid
from walletpass.errors import DuplicateFieldKey
from walletpass.pkpass import passjson

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
