"""The mail that brings a member their card's link (the enrolment page's welcome and recovery). PURE.

Plain text and HTML alternatives, in the page's language (en / zh-Hant / zh-Hans, English for any other). The
member's name and the program's name are the member's and the marketer's text: escaped in the HTML part, never
put in a header but the subject's program name (which the email package encodes).
"""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from html import escape

#: Texts of the mail, by locale. ``{program}`` and ``{name}`` are filled in.
TEXTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "subject.welcome": "Your {program} card",
        "subject.recovery": "Your {program} card's link",
        "greeting": "Hello {name},",
        "welcome": "Welcome to {program}! Your member card is ready.",
        "recovery": "Someone, probably you, asked for your {program} card on our sign-up page. Here is its link.",
        "action": "Open your card",
        "how": "Open the link on your phone and tap \"Add to Apple Wallet\" or \"Add to Google Wallet\".",
        "ignore": "If you did not ask for this, you can ignore this mail: nothing changes.",
    },
    "zh-Hant": {
        "subject.welcome": "您的{program}會員卡",
        "subject.recovery": "您的{program}會員卡連結",
        "greeting": "{name} 您好：",
        "welcome": "歡迎加入{program}！您的會員卡已經準備好了。",
        "recovery": "有人（應該是您）在我們的加入頁面索取您的{program}會員卡，以下是它的連結。",
        "action": "開啟會員卡",
        "how": "請在手機上開啟連結，點選「加入 Apple 錢包」或「加入 Google 錢包」。",
        "ignore": "如果這不是您的要求，請忽略這封郵件，一切都不會改變。",
    },
    "zh-Hans": {
        "subject.welcome": "您的{program}会员卡",
        "subject.recovery": "您的{program}会员卡链接",
        "greeting": "{name} 您好：",
        "welcome": "欢迎加入{program}！您的会员卡已经准备好了。",
        "recovery": "有人（应该是您）在我们的加入页面索取您的{program}会员卡，以下是它的链接。",
        "action": "打开会员卡",
        "how": "请在手机上打开链接，点击“添加到 Apple 钱包”或“添加到 Google 钱包”。",
        "ignore": "如果这不是您的请求，请忽略这封邮件，一切都不会改变。",
    },
}


def card_link_message(*, to: str, sender: str, program: str, name: str, link: str, locale: str,
                      welcome: bool) -> EmailMessage:
    """The mail to *to* with the card's *link*: a welcome (a new member) or a recovery (an enrolled address).

    *sender* is the From address, shown with the program's name; the Message-ID's domain is the sender's.
    """
    lang = locale if locale in TEXTS else "en"
    t = TEXTS[lang]
    lead = t["welcome" if welcome else "recovery"].format(program=program)
    greeting = t["greeting"].format(name=name)
    msg = EmailMessage()
    msg["Subject"] = t["subject.welcome" if welcome else "subject.recovery"].format(program=program)
    msg["From"] = formataddr((program, sender))
    msg["To"] = to
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(f"{greeting}\n\n{lead}\n\n{t['action']}: {link}\n\n{t['how']}\n\n{t['ignore']}\n")
    html = (f'<!doctype html><html lang="{lang}"><body>'
            f"<p>{escape(greeting)}</p><p>{escape(lead)}</p>"
            f'<p><a href="{escape(link)}">{escape(t["action"])}</a></p>'
            f"<p>{escape(t['how'])}</p><p><small>{escape(t['ignore'])}</small></p></body></html>")
    msg.add_alternative(html, subtype="html")
    msg["Content-Language"] = lang  # after the content: set_content drops every Content-* header
    return msg
