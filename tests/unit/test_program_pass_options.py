"""PassOptions: parsed from API fields or the stored dict, each bad value named; only non-defaults stored."""

from __future__ import annotations

import pytest

from walletpass.domain.programs import PassOptions, parse_pass_options
from walletpass.errors import InvalidInput


def test_defaults_store_nothing() -> None:
    assert parse_pass_options(None) == PassOptions() and PassOptions().stored() is None


def test_round_trip_of_the_stored_dict() -> None:
    opts = parse_pass_options({"member_card_style": "posterGeneric", "footer_background_color": "#fff",
                               "benefits_url": " https://example.com/b ", "barcode_format": "itf"})
    assert opts.footer_background_color == "rgb(255, 255, 255)" and opts.benefits_url == "https://example.com/b"
    assert opts.stored() == {"member_card_style": "posterGeneric", "footer_background_color": "rgb(255, 255, 255)",
                             "benefits_url": "https://example.com/b", "barcode_format": "itf"}
    assert parse_pass_options(opts.stored()) == opts


@pytest.mark.parametrize(("raw", "field"), [
    ({"member_card_style": "eventTicket"}, "member_card_style"),
    ({"barcode_format": "PKBarcodeFormatEAN13"}, "barcode_format"),
    ({"footer_background_color": "red"}, "footer_background_color"),
    ({"benefits_url": "http://example.com"}, "benefits_url"),
    ({"benefits_url": "https://"}, "benefits_url"),
    ({"benefits_url": "https://[::::]/b"}, "benefits_url"),
    ({"use_automatic_colors": "true"}, "use_automatic_colors"),
    ({"coupon_relevant_dates": 1}, "coupon_relevant_dates"),
    ({"coupon_sharing_prohibited": None}, "coupon_sharing_prohibited"),
    ({"poster": True}, "poster"),
])
def test_each_bad_value_named(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_pass_options(raw)
    assert info.value.field == field
