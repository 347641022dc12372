"""The browser harness itself: chromium reaches the live server and follows a member's pass page links."""

from __future__ import annotations

from typing import Any

import httpx

from walletpass.demo import DEMO_PROGRAM


def test_pass_page_opens_and_its_apple_link_answers_a_pkpass(live_server: Any, new_page: Any,
                                                             screenshot: Any) -> None:
    api = httpx.Client(base_url=live_server.url, headers=live_server.auth)
    pid = api.post("/api/v1/programs", json=DEMO_PROGRAM).json()["id"]
    member = api.post(f"/api/v1/programs/{pid}/members", json={"name": "Lin Mei"}).json()
    page = new_page("iphone")
    page.goto(member["links"]["page"])
    assert page.get_by_role("link", name="Add to Apple Wallet").is_visible()
    screenshot(page, "pass-page")
    with page.expect_download() as download:
        page.get_by_role("link", name="Add to Apple Wallet").click()
    assert download.value.suggested_filename.endswith(".pkpass")
