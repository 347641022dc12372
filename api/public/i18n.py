"""The public pages' languages: which one a visitor gets, and the pages' own texts in each.

A visitor gets, in order: the language they picked with the switch (``?lang=``, remembered in no cookie: the
switch's links carry it), else the best of ``Accept-Language`` that the program offers, else the program's first
locale. Chinese is matched by script: ``zh-TW``, ``zh-HK``, ``zh-MO`` and ``zh-Hant`` → ``zh-Hant``; ``zh``,
``zh-CN``, ``zh-SG`` and ``zh-Hans`` → ``zh-Hans``.

Texts are plain dicts per page (``CATALOG[locale][key]``); a key missing in a locale falls back to English, and a
test checks that every key exists in every locale. The program's own strings (its name, terms, tiers) come from
the program's ``texts``, not from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

#: Languages the public pages are written in (BCP 47, as the ``lang`` attribute takes them).
LOCALES: tuple[str, ...] = ("en", "zh-Hant", "zh-Hans")

#: Each language's name in itself, for the switch.
NATIVE_NAMES: Mapping[str, str] = {"en": "English", "zh-Hant": "繁體中文", "zh-Hans": "简体中文"}

_TRADITIONAL_REGIONS = {"tw", "hk", "mo", "hant"}


def canonical(tag: str) -> str | None:
    """The page language for a language tag (``zh-TW`` → ``zh-Hant``), or None when the pages lack it."""
    parts = tag.strip().replace("_", "-").lower().split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] == "zh":
        return "zh-Hant" if _TRADITIONAL_REGIONS & set(parts[1:]) else "zh-Hans"
    return None


def negotiate(accept: Iterable[tuple[str, float]], offered: Sequence[str], picked: str | None = None) -> str:
    """The language of a page: *picked* (``?lang=``) when offered, else the first of *accept* (``(tag,
    quality)`` pairs, best first) that is offered, else the first offered. *offered* are the program's locales
    that the pages have (never empty: English when none of them is)."""
    choices = [loc for loc in offered if loc in LOCALES] or ["en"]
    if picked is not None:
        loc = canonical(picked)
        if loc in choices:
            return loc
    for tag, quality in accept:
        loc = canonical(tag)
        if quality > 0 and loc in choices:
            return loc
    return choices[0]


#: The pages' texts, by locale; pages add their keys (prefixed with the page: ``join.``, ``pass.``).
CATALOG: dict[str, dict[str, str]] = {
    "en": {
        "lang.switch": "Language",
        "page.footer": "Your card lives in your phone's wallet: points and offers appear on your lock screen.",
        "page.not_found": "This link does not lead anywhere. Check that it was copied whole.",
    },
    "zh-Hant": {
        "lang.switch": "語言",
        "page.footer": "會員卡存放在手機的錢包中：點數與優惠會顯示在鎖定畫面上。",
        "page.not_found": "這個連結無法開啟，請確認連結是否完整。",
    },
    "zh-Hans": {
        "lang.switch": "语言",
        "page.footer": "会员卡保存在手机的钱包中：积分与优惠会显示在锁定屏幕上。",
        "page.not_found": "这个链接无法打开，请确认链接是否完整。",
    },
}


def texts(locale: str) -> Mapping[str, str]:
    """The catalog of *locale*, English filling any key it lacks."""
    return {**CATALOG["en"], **CATALOG.get(locale, {})}
