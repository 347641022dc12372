"""The pass page, its card picture (ETag/304, drawn once per version), the badges and the smart link (issue 11)."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from tests.builders import make_member, make_program
from tests.helpers import local, make_offer, post

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.5 Mobile/15E148 Safari/604.1")
ANDROID = ("Mozilla/5.0 (Linux; Android 15; SM-S928B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 "
           "Chrome/125.0.0.0 Mobile Safari/537.36")
DESKTOP = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
           "Safari/537.36")


def _badge_order(html: str) -> list[str]:
    return re.findall(r'class="badge badge-(apple|google)"', html)


def test_the_page_orders_the_badges_by_platform_and_shows_a_qr_on_a_computer(client, services) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services), name="Lin Mei")
    path = local(member["links"]["page"])

    iphone = client.get(path, headers={"User-Agent": IPHONE}).get_data(as_text=True)
    android = client.get(path, headers={"User-Agent": ANDROID}).get_data(as_text=True)
    desktop = client.get(path, headers={"User-Agent": DESKTOP}).get_data(as_text=True)

    assert _badge_order(iphone) == ["apple", "google"]
    assert _badge_order(android) == ["google", "apple"]
    assert _badge_order(desktop) == ["apple", "google"]
    assert 'alt="Add to Apple Wallet"' in iphone and 'alt="Add to Google Wallet"' in iphone
    assert "data:image/svg+xml" not in iphone and "data:image/svg+xml" in desktop  # the QR of this page
    assert f'href="{member["links"]["pkpass"]}"' in iphone
    assert f'href="{member["links"]["google_save"]}"' in android
    assert 'alt="Your card · Lin Mei · ' in iphone  # the picture says what it shows


def test_the_page_speaks_the_visitors_language(client, services) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services), name="林美")
    path = local(member["links"]["page"])

    html = client.get(path, headers={"Accept-Language": "zh-TW,zh;q=0.9", "User-Agent": IPHONE}).get_data(
        as_text=True)

    assert '<html lang="zh-Hant">' in html
    assert "您的會員卡已準備好" in html and 'alt="加入 Apple 錢包"' in html and 'alt="新增至 Google 錢包"' in html
    assert "晨光會員" in html  # the program's own name in that language
    assert "/assets/badges/apple.zh-Hant.svg" in html
    hans = client.get(path + "?lang=zh-Hans").get_data(as_text=True)
    assert '<html lang="zh-Hans">' in hans and 'alt="添加到 Apple 钱包"' in hans


def test_the_badges_are_our_own_svg_in_each_language(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/assets/badges/apple.en.svg")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    svg = r.get_data(as_text=True)
    assert "Apple Wallet" in svg and 'height="48"' in svg and 'fill="#000"' in svg and 'stroke="#fff"' in svg
    assert "Google 錢包" in client.get("/assets/badges/google.zh-Hant.svg").get_data(as_text=True)
    assert "Samsung Wallet" in client.get("/assets/badges/samsung.en.svg").get_data(as_text=True)
    assert client.get("/assets/badges/huawei.en.svg").status_code == 404
    assert client.get("/assets/badges/apple.fr.svg").status_code == 404


def test_the_card_picture_is_drawn_once_per_version_and_answers_304(client, services, auth) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services), name="林美 Lin Mei", points=1250)
    picture = local(member["links"]["page"]) + "/card.png"

    first = client.get(picture)
    assert first.status_code == 200 and first.mimetype == "image/png"
    img = Image.open(io.BytesIO(first.data))
    assert img.width == 560 and img.height > 500
    etag = first.headers["ETag"]
    assert first.headers["Last-Modified"] and "no-cache" in first.headers["Cache-Control"]
    drawn = services.previews.drawn

    again = client.get(picture)
    assert again.data == first.data and services.previews.drawn == drawn  # kept, not drawn again
    assert client.get(picture, headers={"If-None-Match": etag}).status_code == 304
    assert services.previews.drawn == drawn

    # a change moves the pass's tag: a new ETag, a new picture
    assert post(client, f"/api/v1/members/{member['id']}/transactions", auth,
                {"points": 1000, "reason": "purchase"}).status_code == 201
    changed = client.get(picture, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag and changed.data != first.data
    assert services.previews.drawn == drawn + 1
    page = client.get(local(member["links"]["page"])).get_data(as_text=True)  # the page's kept view moved on too
    assert "2,250 Points" in page and f"v={changed.headers['ETag'].split('-')[2]}" in page
    # another language is another picture
    zh = client.get(picture, headers={"Accept-Language": "zh-TW"})
    assert zh.headers["ETag"] != changed.headers["ETag"] and zh.data != changed.data


def test_a_coupon_page_shows_the_offer_in_the_visitors_language_and_its_state(client, services, auth) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    member = make_member(services, pid)
    offer = make_offer(client, auth, pid, title="Free latte", discount="100%", description="Any size",
                       texts={"zh-Hant": {"title": "免費拿鐵", "description": "任何尺寸"}})
    coupon = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]}).json
    path = local(coupon["links"]["page"])

    html = client.get(path).get_data(as_text=True)
    assert "<h1>Free latte</h1>" in html and "Any size" in html and "Valid until" in html
    assert "31 Dec 2026" in html and coupon["code"] in html
    assert _badge_order(html) == ["apple", "google"]
    zh = client.get(path, headers={"Accept-Language": "zh-TW"}).get_data(as_text=True)
    assert "<h1>免費拿鐵</h1>" in zh and "任何尺寸" in zh and "2026年12月31日" in zh
    before = client.get(path + "/card.png")

    assert post(client, f"/api/v1/coupons/{coupon['id']}/redeem", auth).status_code == 200
    used = client.get(path).get_data(as_text=True)
    assert "Redeemed" in used and "This coupon has been used." in used
    assert _badge_order(used) == []  # nothing to add any more
    after = client.get(path + "/card.png", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.data != before.data  # the picture says so too


@pytest.mark.parametrize(("agent", "target"), [(IPHONE, "pkpass"), (ANDROID, "google_save"), (DESKTOP, "page"),
                                               (None, "page")])
def test_the_smart_link_sends_each_platform_where_its_wallet_is(client, services, agent, target) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services))
    links = member["links"]
    assert links["smart"].endswith("/a/" + links["page"].rsplit("/", 1)[1])

    r = client.get(local(links["smart"]), headers={"User-Agent": agent} if agent else {})

    assert r.status_code == 302 and r.headers["Location"] == links[target]
    assert r.headers["Cache-Control"] == "no-store" and "User-Agent" in r.headers["Vary"]


def test_a_bad_token_is_a_404_that_tells_nothing(client, services) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services))
    token = member["links"]["page"].rsplit("/", 1)[1]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    bodies = set()
    for path in (f"/a/{tampered}", f"/a/{token[:10]}", "/a/x", "/a/%00", f"/p/{tampered}", f"/p/{tampered}/card.png",
                 f"/a/{'a' * 65}"):
        r = client.get(path, headers={"User-Agent": IPHONE})
        assert r.status_code == 404, path
        bodies.add(r.data)
    assert len(bodies) == 1
    assert token not in bodies.pop().decode()


def test_the_theme_keeps_brand_text_readable(client, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services, background_color="#f5d90a", foreground_color="#ffffff", label_color="#fffbe0")
    css = client.get(f"/assets/programs/{pid}/theme.css").get_data(as_text=True)
    assert "--brand-bg:rgb(245, 217, 10)" in css
    assert "--brand-fg:rgb(0, 0, 0)" in css and "--brand-label:rgb(0, 0, 0)" in css  # white on yellow fails AA
    readable = make_program(services)  # the demo: white on brown passes, kept
    assert "--brand-fg:rgb(255, 255, 255)" in client.get(f"/assets/programs/{readable}/theme.css").get_data(as_text=True)


def test_a_person_following_a_dead_link_gets_a_page_in_their_language(client, services) -> None:  # type: ignore[no-untyped-def]
    browser = {"User-Agent": IPHONE, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Language": "zh-TW"}
    pages = [client.get(path, headers=browser) for path in ("/join/999?src=flyer-a", "/p/" + "x" * 32, "/a/x")]
    assert {(r.status_code, r.mimetype) for r in pages} == {(404, "text/html")}
    assert len({r.data for r in pages}) == 1  # the same page whatever was wrong
    html = pages[0].get_data(as_text=True)
    assert '<html lang="zh-Hant">' in html and "這個連結無法開啟" in html and "<script" not in html
    api = client.get("/p/" + "x" * 32, headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.mimetype == "application/problem+json"
