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
        "page.not_found.title": "Link not found",
        "page.not_found": "This link does not lead anywhere. Check that it was copied whole.",
        "join.title": "Join {program}",
        "join.lead": "Get your member card in your phone's wallet: collect points and receive offers.",
        "join.name": "Your name",
        "join.email": "Email",
        "join.phone": "Mobile phone",
        "join.birthday": "Birthday",
        "join.optional": "(optional)",
        "join.hint.contact": "Give your email, your mobile number or both: they find your card again if you lose it.",
        "join.hint.mail": "We send your card's link to this address.",
        "join.hint.birthday": "For a birthday treat.",
        "join.terms": "Terms",
        "join.consent": "I accept the terms and want to join {program}.",
        "join.submit": "Get my card",
        "join.errors": "Please check the form:",
        "join.error.name.missing": "Enter your name.",
        "join.error.name.too_long": "Enter a shorter name (200 characters at most).",
        "join.error.name.invalid": "Enter your name without special characters.",
        "join.error.email.invalid": "Enter an email address like name@example.com.",
        "join.error.email.missing": "Enter your email address: your card's link is sent there.",
        "join.error.email.contact": "Enter an email address or a mobile phone number.",
        "join.error.phone.invalid": "Enter a phone number of 6 to 15 digits, such as +886 912 345 678.",
        "join.error.birthday.invalid": "Enter your birthday as a date, such as 1990-05-31.",
        "join.error.birthday.future": "Your birthday cannot be in the future.",
        "join.error.consent.consent": "Accept the terms to join.",
        "join.error.csrf": "This form was open too long or came from another page. Please send it again.",
        "join.sent.title": "Check your email",
        "join.sent.body": ("We've sent your card's link to that address. Open the "
                           "mail on your phone and add the card to your wallet."),
        "join.sent.hint": "Nothing there? Look in the spam folder, or ask us at the counter.",
        "join.recovered.title": "You already have a card",
        "join.recovered.body": "This address or phone number is already a member of {program}. Here is your card.",
        "join.recovered.open": "Open my card",
        "join.limited.title": "Too many tries",
        "join.limited.body": "Too many sign-ups came from your connection. Please wait a few minutes and try again.",
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
        "page.not_found.title": "找不到這個連結",
        "page.not_found": "這個連結無法開啟，請確認連結是否完整。",
        "join.title": "加入{program}",
        "join.lead": "把會員卡放進手機錢包：累積點數、接收優惠。",
        "join.name": "姓名",
        "join.email": "電子郵件",
        "join.phone": "手機號碼",
        "join.birthday": "生日",
        "join.optional": "（選填）",
        "join.hint.contact": "請填寫電子郵件或手機號碼（或兩者）：遺失會員卡時可用來找回。",
        "join.hint.mail": "我們會把會員卡連結寄到這個地址。",
        "join.hint.birthday": "生日當月有驚喜。",
        "join.terms": "會員條款",
        "join.consent": "我同意條款並加入{program}。",
        "join.submit": "領取會員卡",
        "join.errors": "請檢查以下欄位：",
        "join.error.name.missing": "請輸入姓名。",
        "join.error.name.too_long": "姓名請勿超過 200 個字。",
        "join.error.name.invalid": "姓名請勿包含特殊字元。",
        "join.error.email.invalid": "請輸入有效的電子郵件，例如 name@example.com。",
        "join.error.email.missing": "請輸入電子郵件：會員卡連結會寄到這裡。",
        "join.error.email.contact": "請輸入電子郵件或手機號碼。",
        "join.error.phone.invalid": "請輸入 6 到 15 位數字的電話號碼，例如 0912 345 678。",
        "join.error.birthday.invalid": "請輸入生日日期，例如 1990-05-31。",
        "join.error.birthday.future": "生日不能是未來的日期。",
        "join.error.consent.consent": "請勾選同意條款以加入。",
        "join.error.csrf": "此表單開啟太久或來自其他頁面，請再送出一次。",
        "join.sent.title": "請查看您的電子郵件",
        "join.sent.body": "我們已把會員卡連結寄到該地址。請在手機上開啟郵件，將會員卡加入錢包。",
        "join.sent.hint": "沒收到嗎？請查看垃圾郵件匣，或到櫃檯詢問我們。",
        "join.recovered.title": "您已經有會員卡了",
        "join.recovered.body": "這個電子郵件或手機號碼已是{program}的會員。這是您的會員卡。",
        "join.recovered.open": "開啟我的會員卡",
        "join.limited.title": "嘗試次數過多",
        "join.limited.body": "您的網路連線送出太多次申請，請稍候幾分鐘再試。",
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
        "page.not_found.title": "找不到这个链接",
        "page.not_found": "这个链接无法打开，请确认链接是否完整。",
        "join.title": "加入{program}",
        "join.lead": "把会员卡放进手机钱包：累积积分、接收优惠。",
        "join.name": "姓名",
        "join.email": "电子邮箱",
        "join.phone": "手机号码",
        "join.birthday": "生日",
        "join.optional": "（选填）",
        "join.hint.contact": "请填写电子邮箱或手机号码（或两者）：丢失会员卡时可用来找回。",
        "join.hint.mail": "我们会把会员卡链接发送到这个邮箱。",
        "join.hint.birthday": "生日当月有惊喜。",
        "join.terms": "会员条款",
        "join.consent": "我同意条款并加入{program}。",
        "join.submit": "领取会员卡",
        "join.errors": "请检查以下栏目：",
        "join.error.name.missing": "请输入姓名。",
        "join.error.name.too_long": "姓名请勿超过 200 个字。",
        "join.error.name.invalid": "姓名请勿包含特殊字符。",
        "join.error.email.invalid": "请输入有效的电子邮箱，例如 name@example.com。",
        "join.error.email.missing": "请输入电子邮箱：会员卡链接会发送到这里。",
        "join.error.email.contact": "请输入电子邮箱或手机号码。",
        "join.error.phone.invalid": "请输入 6 到 15 位数字的电话号码，例如 138 0013 8000。",
        "join.error.birthday.invalid": "请输入生日日期，例如 1990-05-31。",
        "join.error.birthday.future": "生日不能是未来的日期。",
        "join.error.consent.consent": "请勾选同意条款以加入。",
        "join.error.csrf": "此表单打开太久或来自其他页面，请再提交一次。",
        "join.sent.title": "请查看您的电子邮箱",
        "join.sent.body": "我们已把会员卡链接发送到该邮箱。请在手机上打开邮件，将会员卡添加到钱包。",
        "join.sent.hint": "没收到吗？请查看垃圾邮件，或到柜台询问我们。",
        "join.recovered.title": "您已经有会员卡了",
        "join.recovered.body": "这个电子邮箱或手机号码已是{program}的会员。这是您的会员卡。",
        "join.recovered.open": "打开我的会员卡",
        "join.limited.title": "尝试次数过多",
        "join.limited.body": "您的网络连接提交了太多次申请，请稍等几分钟再试。",
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
