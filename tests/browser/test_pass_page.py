"""The pass page in a real browser (issue 11): an iPhone adds the card to Apple Wallet, an Android phone goes to
Google's save page, a computer shows both badges and a QR code of the page; coupons; Chinese; weight, keyboard,
labels and contrast. Screenshots go to build/screenshots for a person to look at."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import verify_with_openssl
from walletpass.demo import DEMO_PROGRAM
from walletpass.domain.contrast import contrast_ratio


def _member(live_server: Any, name: str = "Lin Mei", points: int = 1250) -> dict[str, Any]:
    api = httpx.Client(base_url=live_server.url, headers=live_server.auth)
    pid = api.post("/api/v1/programs", json=DEMO_PROGRAM).json()["id"]
    return dict(api.post(f"/api/v1/programs/{pid}/members", json={"name": name, "points": points}).json())


def _weight(page: Any, url: str) -> int:
    """Bytes of the page and every asset it loads (response bodies as sent: no compression in front)."""
    sizes: list[int] = []
    page.on("response", lambda r: sizes.append(len(r.body())) if r.ok else None)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return sum(sizes)


def _badges(page: Any) -> list[str]:
    return [str(a.get_attribute("class")).split("badge-")[1] for a in page.locator("a.badge").all()]


def test_iphone_gets_apple_first_and_the_badge_downloads_a_signed_pass(live_server: Any, new_page: Any,
                                                                      screenshot: Any, tmp_path: Path) -> None:
    member = _member(live_server)
    page = new_page("iphone")
    weight = _weight(page, member["links"]["page"])

    assert _badges(page) == ["apple", "google"]
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("img.card-picture, figure.card-picture img").evaluate("i => i.naturalWidth") == 560
    assert weight < 100_000, weight
    screenshot(page, "iphone")
    with page.expect_download() as download:
        page.get_by_role("link", name="Add to Apple Wallet").click()
    path = tmp_path / "card.pkpass"
    download.value.save_as(path)
    assert download.value.suggested_filename.endswith(".pkpass")
    verify_with_openssl(path.read_bytes(), live_server.services.settings.wwdr_path, tmp_path)


def test_android_gets_google_first_and_the_badge_leads_to_googles_save_page(live_server: Any, new_page: Any,
                                                                           screenshot: Any, google: Any) -> None:
    """(``google``: the fake Google Wallet API the save link's object is written to first.)"""
    member = _member(live_server)
    page = new_page("android")
    seen: list[str] = []

    def google(route: Any) -> None:  # no internet here: Google's page is answered by the test
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>Google Wallet</title>saved")

    page.route("https://pay.google.com/**", google)
    page.goto(member["links"]["page"])
    assert _badges(page) == ["google", "apple"]
    screenshot(page, "android")
    page.get_by_role("link", name="Add to Google Wallet").click()
    page.wait_for_url("https://pay.google.com/**")
    assert seen and seen[0].startswith("https://pay.google.com/gp/v/save/")


def _decode_qr(png: Path) -> str:
    zbarimg = shutil.which("zbarimg")
    if zbarimg is None:
        pytest.skip("no zbarimg: apt-get install zbar-tools (.ci/run installs it)")
    out = subprocess.run([zbarimg, "--quiet", "--raw", str(png)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_a_computer_gets_both_badges_and_a_qr_code_of_the_page(live_server: Any, new_page: Any,
                                                              screenshot: Any) -> None:
    member = _member(live_server)
    page = new_page("desktop")
    weight = _weight(page, member["links"]["page"])

    assert _badges(page) == ["apple", "google"]
    qr = page.get_by_role("img", name="QR code of this page")
    assert qr.is_visible()
    assert weight < 100_000, weight
    screenshot(page, "desktop")
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "qr.png"
        qr.screenshot(path=str(shot))
        assert _decode_qr(shot) == member["links"]["page"]


def test_the_page_is_usable_by_keyboard_labelled_and_readable(live_server: Any, new_page: Any) -> None:
    member = _member(live_server)
    page = new_page("desktop")
    page.goto(member["links"]["page"])

    focused = []
    for _ in range(6):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.getAttribute('class') || "
                                     "document.activeElement.textContent"))
    assert focused[:2] == ["badge badge-apple", "badge badge-google"]  # the badges come first, in order
    for img in page.locator("img").all():  # every picture says what it is (the logo is decoration: alt="")
        assert img.get_attribute("alt") is not None
    assert page.locator("a.badge img").evaluate_all("els => els.map(e => e.getBoundingClientRect().height)") == [
        48, 48]
    # text on the brand colour and the page's body text reach WCAG AA
    for selector in ("header.brand .brand-name", "h1", "p.lead", "footer p"):
        fg, bg = page.locator(selector).first.evaluate(
            """el => { const c = getComputedStyle(el).color; let n = el, b;
                       while (n && (b = getComputedStyle(n).backgroundColor) === 'rgba(0, 0, 0, 0)') n = n.parentElement;
                       return [c, b || 'rgb(255, 255, 255)']; }""")
        assert contrast_ratio(fg.replace("rgba", "rgb"), bg) >= 4.5, (selector, fg, bg)
    assert not page.evaluate("() => [...document.querySelectorAll('[src],[href]')].some("
                             "e => (e.src || e.href || '').startsWith('http:') && !e.src?.startsWith(location.origin)"
                             " && !(e.href || '').startsWith(location.origin))")  # no mixed content


def test_a_chinese_visitor_gets_the_page_in_traditional_chinese(live_server: Any, new_page: Any,
                                                               screenshot: Any) -> None:
    member = _member(live_server, name="林美")
    page = new_page("iphone", locale="zh-TW")
    page.goto(member["links"]["page"])

    assert page.locator("html").get_attribute("lang") == "zh-Hant"
    assert page.get_by_role("heading", level=1).inner_text() == "您的會員卡已準備好"
    assert page.get_by_role("link", name="加入 Apple 錢包").is_visible()
    assert page.get_by_role("link", name="新增至 Google 錢包").is_visible()
    assert "林美" in str(page.locator("figure.card-picture img").get_attribute("alt"))
    screenshot(page, "zh-Hant")


def test_a_coupon_page_shows_its_offer_and_its_state(live_server: Any, new_page: Any, screenshot: Any) -> None:
    api = httpx.Client(base_url=live_server.url, headers=live_server.auth)
    member = _member(live_server)
    pid = member["program_id"]
    offer = api.post(f"/api/v1/programs/{pid}/offers", json={
        "title": "Free latte", "discount": "Any size, on us", "description": "One latte of any size, hot or iced.",
        "valid_until": "2027-03-31T23:59:00+08:00", "terms": "One per visit. Not exchangeable for cash.",
        "texts": {"zh-Hant": {"title": "免費拿鐵", "discount": "任何尺寸", "description": "任選一杯拿鐵，冷熱皆可。"}},
    }).json()["id"]
    coupon = api.post(f"/api/v1/offers/{offer}/coupons", json={"member_id": member["id"]}).json()
    page = new_page("iphone")
    page.goto(coupon["links"]["page"])
    assert page.get_by_role("heading", level=1).inner_text() == "Free latte"
    assert page.get_by_text("31 Mar 2027").is_visible() and page.get_by_text(coupon["code"]).is_visible()
    assert _badges(page) == ["apple", "google"]
    screenshot(page, "coupon")
    zh = new_page("android", locale="zh-TW")
    zh.goto(coupon["links"]["page"])
    assert zh.get_by_role("heading", level=1).inner_text() == "免費拿鐵"
    screenshot(zh, "coupon-zh-Hant")

    assert api.post(f"/api/v1/coupons/{coupon['id']}/redeem").status_code == 200
    page.reload()
    assert page.get_by_role("status").inner_text().startswith("Redeemed")
    assert _badges(page) == []
    screenshot(page, "coupon-redeemed")
