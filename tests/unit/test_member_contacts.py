"""Phone numbers and email addresses as stored and looked up."""

from __future__ import annotations

import pytest

from walletpass.domain.members import normalize_email, normalize_phone
from walletpass.errors import InvalidInput


@pytest.mark.parametrize(("typed", "stored"), [
    ("+886 912-345-678", "+886912345678"), ("(02) 2345.6789", "0223456789"), (" 0912345678 ", "0912345678"),
    ("+1 (415) 555 0100", "+14155550100"), ("123456", "123456"),
])
def test_phone_separators_are_dropped(typed: str, stored: str) -> None:
    assert normalize_phone(typed) == stored


@pytest.mark.parametrize("bad", ["12345", "+1234567890123456", "0912-abc", "+", "", "＋886912345678", "٠١٢٣٤٥٦٧"])
def test_not_a_phone(bad: str) -> None:
    with pytest.raises(InvalidInput, match="phone"):
        normalize_phone(bad)


def test_email_domain_is_lower_case_and_local_part_kept() -> None:
    assert normalize_email("  Mei.Lin@Example.COM ") == "Mei.Lin@example.com"
