"""The URL map: numeric ids in paths are ASCII digits only (issue 9, D1)."""

from __future__ import annotations

import re

import pytest
from werkzeug.exceptions import NotFound

from tests.helpers import post

#: Decimal digits that are not ASCII: Python's int() and a regex \d accept every one of them.
UNICODE_DIGITS = {
    "arabic-indic": "٠١٢٣٤٥٦٧٨٩",
    "fullwidth": "０１２３４５６７８９",
    "nko": "߀߁߂߃߄߅߆߇߈߉",
    "devanagari": "०१२३४५६७८९",
    "mathematical bold": "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗",
}
_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _int_rules(app):  # type: ignore[no-untyped-def]
    rules = [r for r in app.url_map.iter_rules() if "<int:" in r.rule]
    assert len(rules) >= 10, "the app's integer routes were not found"
    return rules


def _path(rule: str, number: str) -> str:
    return _ARG.sub(lambda m: number if m.group(1) == "int" else "x", rule)


@pytest.mark.parametrize("script", sorted(UNICODE_DIGITS))
def test_no_integer_route_matches_non_ascii_digits(app, script: str) -> None:  # type: ignore[no-untyped-def]
    adapter = app.url_map.bind("localhost")
    digits = UNICODE_DIGITS[script]
    for rule in _int_rules(app):
        method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        assert adapter.match(_path(rule.rule, "17"), method)[0] == rule.endpoint  # ASCII still matches
        for number in (digits[1], digits[1] + digits[7], "1" + digits[7]):
            with pytest.raises(NotFound):
                adapter.match(_path(rule.rule, number), method)


def test_a_coupon_named_in_arabic_indic_digits_is_404_and_stays_issued(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    from tests.builders import make_member, make_program
    from tests.helpers import make_offer

    program = make_program(services)
    member = make_member(services, program)
    coupon = post(client, f"/api/v1/offers/{make_offer(client, auth, program)}/coupons", auth,
                  {"member_id": member["id"]}).json
    arabic = str(coupon["id"]).translate(str.maketrans("0123456789", UNICODE_DIGITS["arabic-indic"]))

    r = post(client, f"/api/v1/coupons/{arabic}/redeem", auth)

    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    assert client.get(f"/api/v1/coupons/{coupon['id']}", headers=auth).json["state"] == "issued"
