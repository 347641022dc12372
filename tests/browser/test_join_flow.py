"""The enrolment page in a real browser (Debian's chromium through Playwright), against the app on a real port:
an iPhone in Traditional Chinese from a flyer to a verified .pkpass; an Android phone to Google's save page
(intercepted: no internet here); the keyboard alone; labels, ``lang``, WCAG AA contrast of every text, and the
page's weight with its assets. Screenshots land in build/screenshots for a person to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from tests.helpers import verify_with_openssl
from walletpass.demo import DEMO_PROGRAM
from walletpass.storage.tables import MemberRow, PassEventRow

PKPASS = "application/vnd.apple.pkpass"

#: Every text of the page against the background it is drawn on: WCAG 2.x contrast ratio, AA thresholds
#: (4.5:1, 3:1 for large text: 24px, or 18.66px bold). Backgrounds are the first opaque one up the tree.
CONTRAST_JS = """() => {
  const lum = (c) => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const rgba = (s) => { const m = s.match(/[\\d.]+/g).map(Number); return m.length === 3 ? [...m, 1] : m; };
  const bg = (el) => { for (; el; el = el.parentElement) { const c = rgba(getComputedStyle(el).backgroundColor);
      if (c[3] > 0.99) return c; } return [255, 255, 255, 1]; };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement; if (!n.textContent.trim() || !el) continue;
    const r = el.getBoundingClientRect(); const st = getComputedStyle(el);
    if (r.width < 2 || r.height < 2 || st.visibility === 'hidden' || el.closest('[aria-hidden=true]')) continue;
    const l1 = lum(rgba(st.color)), l2 = lum(bg(el));
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    out.push({text: n.textContent.trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100, need});
  }
  return out;
}"""


def _program(live_server: Any) -> int:
    api = httpx.Client(base_url=live_server.url, headers=live_server.auth)
    return int(api.post("/api/v1/programs", json=DEMO_PROGRAM).json()["id"])


def _contrast_failures(page: Any) -> list[dict[str, Any]]:
    texts = page.evaluate(CONTRAST_JS)
    assert len(texts) > 10
    return [t for t in texts if t["ratio"] < t["need"]]


def _members(live_server: Any) -> list[Any]:
    with live_server.services.engine.connect() as conn:
        return list(conn.execute(select(MemberRow)))


def test_iphone_in_traditional_chinese_from_a_flyer_to_a_verified_pkpass(live_server: Any, new_page: Any,
                                                                         screenshot: Any, tmp_path: Path) -> None:
    pid = _program(live_server)
    page = new_page("iphone", locale="zh-TW")
    loaded: list[Any] = []

    def keep(response: Any) -> None:
        loaded.append(response)

    page.on("response", keep)

    page.goto(f"{live_server.url}/join/{pid}?src=flyer-a")
    page.wait_for_load_state("load")
    page.remove_listener("response", keep)
    weight = [len(r.body()) for r in loaded]

    assert page.locator("html").get_attribute("lang") == "zh-Hant"
    assert page.get_by_role("heading", level=1).inner_text() == "加入晨光會員"
    assert len(weight) >= 4  # the page, pages.css, theme.css, the logo
    assert sum(weight) < 100_000, f"the page and its assets weigh {sum(weight)} bytes"
    assert _contrast_failures(page) == []
    screenshot(page, "join-form-zh-Hant")
    page.get_by_label("姓名").fill("林美")
    page.get_by_label("電子郵件").fill("mei@example.com")
    page.get_by_label("手機號碼").fill("0912 345 678")
    page.get_by_label("生日").fill("1990-05-31")
    page.get_by_label("我同意條款並加入晨光會員。").check()
    page.get_by_role("button", name="領取會員卡").click()

    page.wait_for_url(f"{live_server.url}/p/**")
    screenshot(page, "pass-page")
    answers: list[Any] = []
    page.on("response", lambda r: answers.append(r) if "pass.pkpass" in r.url else None)
    with page.expect_download() as download:
        page.get_by_role("link", name="加入 Apple 錢包").click()  # "Add to Apple Wallet" in zh-Hant
    data = Path(download.value.path()).read_bytes()
    assert answers and answers[0].headers["content-type"] == PKPASS
    verify_with_openssl(data, live_server.services.settings.wwdr_path, tmp_path)
    [member] = _members(live_server)
    assert (member.name, member.source, member.phone) == ("林美", "flyer-a", "0912345678")
    with live_server.services.engine.connect() as conn:
        assert list(conn.execute(select(PassEventRow.kind, PassEventRow.source).order_by(PassEventRow.id))) == [
            ("visit", "flyer-a"), ("enrol", "flyer-a")]


def test_android_the_google_link_leads_to_googles_save_page(google: Any, live_server: Any, new_page: Any,
                                                            screenshot: Any) -> None:
    # google: the Wallet REST stand-in, for the class a long save link inserts first
    pid = _program(live_server)
    page = new_page("android", locale="en-US")
    page.context.route("https://pay.google.com/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><title>Google Wallet</title><p>saved"))
    page.goto(f"{live_server.url}/join/{pid}?src=counter")
    page.get_by_label("Your name").fill("Wang Wei")
    page.get_by_label("Mobile phone").fill("+886 912 000 111")
    page.get_by_label("I accept the terms").check()
    page.get_by_role("button", name="Get my card").click()
    page.wait_for_url(f"{live_server.url}/p/**")

    with page.expect_request(lambda r: r.url.startswith("https://pay.google.com/gp/v/save/")) as saved:
        page.get_by_role("link", name="Add to Google Wallet").click()

    assert saved.value.url.startswith("https://pay.google.com/gp/v/save/") and saved.value.is_navigation_request()
    screenshot(page, "google-save")
    assert [m.source for m in _members(live_server)] == ["counter"]


def test_problems_next_to_their_fields_readable_and_announced(live_server: Any, new_page: Any,
                                                              screenshot: Any) -> None:
    pid = _program(live_server)
    page = new_page("iphone", locale="en-US")
    page.goto(f"{live_server.url}/join/{pid}")
    page.get_by_label("Email").fill("mei@")
    page.get_by_role("button", name="Get my card").click()

    email = page.get_by_label("Email")
    assert email.input_value() == "mei@" and email.get_attribute("aria-invalid") == "true"
    described = [page.locator(f"#{i}").inner_text() for i in email.get_attribute("aria-describedby").split()]
    assert "Enter an email address like name@example.com." in described
    assert page.get_by_role("alert").is_visible()
    assert _contrast_failures(page) == []
    screenshot(page, "join-problems")
    assert _members(live_server) == []


def test_the_keyboard_alone_reaches_every_field_then_the_button_and_sends_with_enter(live_server: Any,
                                                                                   new_page: Any) -> None:
    pid = _program(live_server)
    page = new_page("desktop", locale="en-US")
    page.goto(f"{live_server.url}/join/{pid}")
    order: list[str] = []
    typing = {"f-name": "Chen Jie", "f-email": "jie@example.com"}
    for _ in range(20):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id || document.activeElement.tagName")
        if order and order[-1] == focused:  # the date input's day, month and year segments
            continue
        order.append(focused)
        if focused in typing:
            page.keyboard.type(typing[focused])
        if focused == "f-consent":
            page.keyboard.press("Space")
        if focused == "BUTTON":
            break

    assert order == ["f-name", "f-email", "f-phone", "f-birthday", "f-consent", "BUTTON"]
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/p/**")
    assert [m.email for m in _members(live_server)] == ["jie@example.com"]
