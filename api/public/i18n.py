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
from datetime import datetime

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
        "pass.title": "Your card",
        "pass.heading": "Your card is ready",
        "pass.lead": "Add it to your phone's wallet: your points and offers will show on your lock screen.",
        "pass.coupon_lead": "Add it to your phone's wallet and show it at the counter.",
        "pass.picture": "Your card",
        "pass.coupon_picture": "Your coupon",
        "pass.add": "Add it to your wallet",
        "pass.scan_heading": "On a computer?",
        "pass.scan": "Scan this code with your phone's camera to open this page there, then add the card.",
        "pass.scan_alt": "QR code of this page",
        "pass.points": "points",
        "pass.code": "Code",
        "pass.valid_from": "Valid from",
        "pass.valid_until": "Valid until",
        "pass.no_end": "No end date",
        "pass.terms": "Terms",
        "pass.state.redeemed": "Redeemed",
        "pass.state.expired": "Expired",
        "pass.state.voided": "Withdrawn",
        "pass.note.redeemed": "This coupon has been used.",
        "pass.note.expired": "This coupon has expired.",
        "pass.note.voided": "This coupon has been withdrawn.",
        "pass.note.card_voided": "This card is no longer valid.",
    },
    "zh-Hant": {
        "lang.switch": "語言",
        "page.footer": "會員卡存放在手機的錢包中：點數與優惠會顯示在鎖定畫面上。",
        "page.not_found": "這個連結無法開啟，請確認連結是否完整。",
        "pass.title": "您的會員卡",
        "pass.heading": "您的會員卡已準備好",
        "pass.lead": "將會員卡加入手機的錢包：點數與優惠會顯示在鎖定畫面上。",
        "pass.coupon_lead": "將優惠券加入手機的錢包，結帳時於櫃檯出示即可。",
        "pass.picture": "您的會員卡",
        "pass.coupon_picture": "您的優惠券",
        "pass.add": "加入您的錢包",
        "pass.scan_heading": "正在使用電腦嗎？",
        "pass.scan": "用手機相機掃描這個條碼，在手機上開啟本頁，再將卡片加入錢包。",
        "pass.scan_alt": "本頁的 QR 碼",
        "pass.points": "點",
        "pass.code": "代碼",
        "pass.valid_from": "生效日期",
        "pass.valid_until": "有效期限",
        "pass.no_end": "無期限",
        "pass.terms": "使用條款",
        "pass.state.redeemed": "已使用",
        "pass.state.expired": "已過期",
        "pass.state.voided": "已作廢",
        "pass.note.redeemed": "這張優惠券已經使用過了。",
        "pass.note.expired": "這張優惠券已過期。",
        "pass.note.voided": "這張優惠券已被作廢。",
        "pass.note.card_voided": "這張會員卡已失效。",
    },
    "zh-Hans": {
        "lang.switch": "语言",
        "page.footer": "会员卡保存在手机的钱包中：积分与优惠会显示在锁定屏幕上。",
        "page.not_found": "这个链接无法打开，请确认链接是否完整。",
        "pass.title": "您的会员卡",
        "pass.heading": "您的会员卡已准备好",
        "pass.lead": "将会员卡添加到手机的钱包：积分与优惠会显示在锁定屏幕上。",
        "pass.coupon_lead": "将优惠券添加到手机的钱包，结账时在柜台出示即可。",
        "pass.picture": "您的会员卡",
        "pass.coupon_picture": "您的优惠券",
        "pass.add": "添加到您的钱包",
        "pass.scan_heading": "正在使用电脑吗？",
        "pass.scan": "用手机相机扫描这个二维码，在手机上打开本页，再将卡片添加到钱包。",
        "pass.scan_alt": "本页的二维码",
        "pass.points": "分",
        "pass.code": "代码",
        "pass.valid_from": "生效日期",
        "pass.valid_until": "有效期至",
        "pass.no_end": "无期限",
        "pass.terms": "使用条款",
        "pass.state.redeemed": "已使用",
        "pass.state.expired": "已过期",
        "pass.state.voided": "已作废",
        "pass.note.redeemed": "这张优惠券已经使用过了。",
        "pass.note.expired": "这张优惠券已过期。",
        "pass.note.voided": "这张优惠券已被作废。",
        "pass.note.card_voided": "这张会员卡已失效。",
    },
}


def texts(locale: str) -> Mapping[str, str]:
    """The catalog of *locale*, English filling any key it lacks."""
    return {**CATALOG["en"], **CATALOG.get(locale, {})}


def format_date(value: datetime, locale: str) -> str:
    """A date as the page's language writes it: ``31 Dec 2026``, ``2026年12月31日``."""
    if locale.startswith("zh"):
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {value:%b} {value.year}"
