"""Security headers: a strict CSP and no-referrer on HTML pages (their URLs carry capability tokens), nosniff on
every response (issue 9)."""

from __future__ import annotations

import re

from tests.builders import make_member, make_program
from tests.helpers import local


def _directives(csp: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (x.strip() for x in csp.split(";")) if d}


def test_the_pass_page_has_a_strict_csp_and_sends_no_referrer(client, services) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services))

    r = client.get(local(member["links"]["page"]))

    assert r.status_code == 200 and r.mimetype == "text/html"
    csp = _directives(r.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["frame-ancestors"] == ["'none'"]
    for source in ("script-src", "style-src"):  # no inline code at all, nor anything from elsewhere
        assert csp.get(source, csp["default-src"]) == ["'self'"], source
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"  # the page's URL is the member's capability token
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_the_pass_page_renders_under_its_csp(client, services) -> None:  # type: ignore[no-untyped-def]
    """What the CSP forbids is not in the page: inline style/script blocks, style attributes, handlers."""
    member = make_member(services, make_program(services))
    html = client.get(local(member["links"]["page"])).get_data(as_text=True)

    assert "<style" not in html and "<script" not in html
    assert not re.search(r"\sstyle\s*=", html) and not re.search(r"\son\w+\s*=", html)
    hrefs = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert len(hrefs) == 2  # the pages' stylesheet and the program's colours (theme.css)
    for href in hrefs:
        assert href.startswith("/")  # same origin: allowed by style-src 'self'
        css = client.get(href)
        assert css.status_code == 200 and css.mimetype == "text/css"
        assert css.headers["X-Content-Type-Options"] == "nosniff"
    assert b"a.badge" in client.get(hrefs[0]).data


def test_every_response_is_nosniff_and_only_html_carries_the_page_headers(client, services, auth) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services))
    ptid = services.settings.member_pass_type_id
    responses = {
        "api json": client.get(f"/api/v1/members/{member['id']}", headers=auth),
        "problem": client.get("/api/v1/members/999999", headers=auth),
        "pkpass": client.get(local(member["links"]["pkpass"])),
        "device list": client.get(f"/v1/devices/d1/registrations/{ptid}"),
        "device 401": client.get(f"/v1/passes/{ptid}/{member['serial_number']}"),
        "healthz": client.get("/healthz"),
        "unknown page, asked as JSON": client.get("/p/no-such-token", headers={"Accept": "application/json"}),
    }
    for name, r in responses.items():
        assert r.headers["X-Content-Type-Options"] == "nosniff", name
        assert "Content-Security-Policy" not in r.headers, name  # not HTML: nothing to render, nothing to pay
    dead_link = client.get("/p/no-such-token", headers={"Accept": "text/html,*/*;q=0.8"})  # a person's browser: the not-found page, as HTML it gets the CSP
    assert dead_link.mimetype == "text/html" and "frame-ancestors 'none'" in dead_link.headers["Content-Security-Policy"]
