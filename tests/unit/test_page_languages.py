"""The public pages' language: the switch, then Accept-Language by script, then the program's first locale."""

from __future__ import annotations

import pytest

from api.public.i18n import CATALOG, LOCALES, canonical, negotiate

ALL = ("en", "zh-Hant", "zh-Hans")


@pytest.mark.parametrize(("tag", "page"), [
    ("zh-TW", "zh-Hant"), ("zh-hk", "zh-Hant"), ("zh_MO", "zh-Hant"), ("zh-Hant-TW", "zh-Hant"),
    ("zh", "zh-Hans"), ("zh-CN", "zh-Hans"), ("zh-Hans-SG", "zh-Hans"), ("en-GB", "en"), ("EN", "en"),
    ("fr-FR", None), ("", None),
])
def test_canonical(tag: str, page: str | None) -> None:
    assert canonical(tag) == page


def test_accept_language_in_order_of_quality_among_the_programs_locales() -> None:
    assert negotiate([("zh-TW", 1.0), ("en", 0.8)], ALL) == "zh-Hant"
    assert negotiate([("fr", 1.0), ("zh-CN", 0.5)], ALL) == "zh-Hans"
    assert negotiate([("zh-TW", 1.0)], ("en", "zh-Hans")) == "en"  # the program lacks Traditional Chinese
    assert negotiate([("zh-TW", 0.0)], ALL) == "en"


def test_the_switch_wins_when_the_program_has_it() -> None:
    assert negotiate([("zh-TW", 1.0)], ALL, picked="zh-Hans") == "zh-Hans"
    assert negotiate([("zh-TW", 1.0)], ("en", "zh-Hant"), picked="zh-Hans") == "zh-Hant"
    assert negotiate([], ("ja", "fr"), picked="ja") == "en"  # no locale the pages are written in: English


def test_every_text_in_every_language() -> None:
    assert set(CATALOG) == set(LOCALES)
    for locale in LOCALES:
        assert set(CATALOG[locale]) == set(CATALOG["en"]), locale
        assert all(CATALOG[locale].values()), locale
