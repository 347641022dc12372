"""The renderer's pieces for Apple's 2024–2026 keys: coupon relevance from the offer's validity, 1-D barcodes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from walletpass.render.barcodes import barcodes, one_d_message
from walletpass.render.demo import demo_coupon, demo_offer
from walletpass.render.passes import poster_of, relevance_of

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
T1 = datetime(2026, 5, 31, 22, 0, tzinfo=UTC)


def test_relevance_window_single_date_or_none() -> None:
    offer, coupon = demo_offer(), replace(demo_coupon(), created_at=None)
    assert relevance_of(replace(offer, valid_from=T0, valid_until=T1), coupon) == {
        "relevantDate": "2026-05-01T08:00:00+00:00",
        "relevantDates": [{"startDate": "2026-05-01T08:00:00+00:00", "endDate": "2026-05-31T22:00:00+00:00"}]}
    assert relevance_of(replace(offer, valid_from=T0, valid_until=None), coupon) == {
        "relevantDate": "2026-05-01T08:00:00+00:00", "relevantDates": [{"date": "2026-05-01T08:00:00+00:00"}]}
    assert relevance_of(replace(offer, valid_from=None, valid_until=None), coupon) == {}
    issued = replace(coupon, created_at=T0)  # no valid_from: the window starts at the coupon's issue
    assert relevance_of(replace(offer, valid_from=None, valid_until=T1), issued)["relevantDates"] == [
        {"startDate": "2026-05-01T08:00:00+00:00", "endDate": "2026-05-31T22:00:00+00:00"}]


def test_one_d_messages() -> None:
    assert one_d_message("PKBarcodeFormatEAN13", "400638133393") == "4006381333931"
    assert one_d_message("PKBarcodeFormatEAN13", "4006381333931") == "4006381333931"
    assert one_d_message("PKBarcodeFormatEAN13", "4006381333932") is None
    assert one_d_message("PKBarcodeFormatI2of5", "12345") is None
    assert one_d_message("PKBarcodeFormatCode39", "ML7K2Q") == "ML7K2Q"
    assert one_d_message("PKBarcodeFormatCode39", "M1\n") is None
    assert one_d_message("PKBarcodeFormatCodabar", "ML7K2Q") is None


def test_qr_alone_is_as_before() -> None:
    assert barcodes("ML00000001") == [{"format": "PKBarcodeFormatQR", "message": "ML00000001",
                                       "messageEncoding": "iso-8859-1", "altText": "ML00000001"}]
    assert barcodes("會員", "PKBarcodeFormatCode39")[0]["messageEncoding"] == "utf-8"


def test_poster_of_a_store_card() -> None:
    store = {"headerFields": [{"key": "tier", "value": "t"}], "primaryFields": [{"key": "points", "value": 1}],
             "secondaryFields": [{"key": "member", "value": "m"}, {"key": "member_number", "value": "n"}]}
    assert poster_of(store) == {"headerFields": [{"key": "poster_tier", "value": "t"}],
                                "primaryFields": [{"key": "poster_points", "value": 1}],
                                "footerFields": [{"key": "poster_member_number", "value": "n"}]}
