"""The enrolment page /join/<program_id> over HTTP (Flask test client), SQLite and PostgreSQL: the form, visits,
?src= to the member, CSRF, honeypot, validation next to each field, recovery without mail, rate limit, escaping."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests.builders import make_program
from tests.helpers import IPHONE, count, members, open_form, pass_json, submit
from walletpass.storage.tables import PassEventRow


def visits(services: Any) -> list[tuple[str | None]]:
    with services.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(PassEventRow.source).where(PassEventRow.kind == "visit"))]


@pytest.fixture
def program(services: Any) -> int:
    return make_program(services)


def test_the_form_in_the_visitors_language_with_every_field_labelled(client: Any, program: int) -> None:
    r, _ = open_form(client, f"/join/{program}", **{"Accept-Language": "zh-TW,zh;q=0.9,en;q=0.5"})
    html = r.get_data(as_text=True)

    assert '<html lang="zh-Hant">' in html
    assert "晨光會員" in html and "每消費 NT$1 累積 1 點" in html  # the program's name and terms in zh-Hant
    for field in ("name", "email", "phone", "birthday", "consent"):
        assert f'<label for="f-{field}"' in html and f'id="f-{field}"' in html
    assert "<script" not in html and "style=" not in html  # the CSP allows neither
    assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
    cookie = r.headers["Set-Cookie"]
    assert "walletpass_form=" in cookie and "Path=/join/" in cookie and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_each_get_by_a_person_counts_a_visit_with_its_source(client: Any, services: Any, program: int) -> None:
    open_form(client, f"/join/{program}?src=flyer-a")
    open_form(client, f"/join/{program}?src=<script>")  # not a source: a visit from nowhere
    client.get(f"/join/{program}?src=flyer-a", headers={"User-Agent": "facebookexternalhit/1.1"})
    client.get(f"/join/{program}?src=flyer-a", headers={"User-Agent": "curl/8.5.0"})
    client.get(f"/join/{program}?src=flyer-a")  # no user agent
    client.head(f"/join/{program}?src=flyer-a", headers={"User-Agent": IPHONE})
    client.get(f"/join/{program}?src=flyer-a", headers={"User-Agent": IPHONE, "Sec-Purpose": "prefetch"})

    assert sorted(visits(services), key=str) == [("flyer-a",), (None,)]


def test_a_submitted_form_enrols_the_member_from_the_source_and_shows_their_card(
        client: Any, services: Any, program: int) -> None:
    _, token = open_form(client, f"/join/{program}?src=flyer-a")

    r = submit(client, f"/join/{program}?src=flyer-a", token, phone="+886 912-345-678", birthday="1990-05-31")

    assert r.status_code == 303
    assert re.fullmatch(r"/p/[A-Za-z0-9_-]+", urlsplit(r.headers["Location"]).path)
    [m] = members(services)
    assert (m.name, m.email, m.phone, m.source, str(m.birthday)) == (
        "Lin Mei", "mei@example.com", "+886912345678", "flyer-a", "1990-05-31")
    assert m.consented_at is not None and len(m.consent_terms_sha256) == 64
    assert count(services, "SELECT count(*) FROM pass_events WHERE kind = 'enrol' AND source = 'flyer-a'") == 1


def test_without_a_csrf_token_or_with_a_wrong_one_400_and_nothing_written(client: Any, services: Any,
                                                                          program: int) -> None:
    _, token = open_form(client, f"/join/{program}")

    missing = submit(client, f"/join/{program}", None)
    wrong = submit(client, f"/join/{program}", token[:-4] + "AAAA")
    other_browser = submit(program_client(client), f"/join/{program}", token)

    for r in (missing, wrong, other_browser):
        assert r.status_code == 400
        assert 'value="Lin Mei"' in r.get_data(as_text=True)  # the form again, values kept, a fresh token
    assert members(services) == []


def program_client(client: Any) -> Any:
    """Another browser: the same app, no cookie."""
    return client.application.test_client()


def test_a_filled_honeypot_looks_like_success_and_writes_nothing(client: Any, services: Any, program: int) -> None:
    _, token = open_form(client, f"/join/{program}")

    r = submit(client, f"/join/{program}", token, website="http://spam.example")

    assert r.status_code == 200 and "Check your email" in r.get_data(as_text=True)
    assert members(services) == []


def test_problems_are_shown_next_to_their_fields_with_the_values_kept(client: Any, services: Any,
                                                                      program: int) -> None:
    _, token = open_form(client, f"/join/{program}")

    r = submit(client, f"/join/{program}", token, name=" ", email="mei@", phone="12", birthday="2999-01-01",
               consent=None)

    assert r.status_code == 422
    html = r.get_data(as_text=True)
    inputs = {i["id"]: i for i in _inputs(html)}
    for field, message in (("name", "Enter your name."), ("email", "Enter an email address like"),
                           ("phone", "6 to 15 digits"), ("birthday", "cannot be in the future"),
                           ("consent", "Accept the terms")):
        assert message in re.search(f'<p class="field-error" id="e-{field}">([^<]*)</p>', html).group(1)  # type: ignore[union-attr]
        assert f"e-{field}" in inputs[f"f-{field}"]["aria-describedby"].split()
        assert inputs[f"f-{field}"]["aria-invalid"] == "true"
    assert inputs["f-email"]["value"] == "mei@" and inputs["f-phone"]["value"] == "12"
    assert members(services) == []


def test_neither_email_nor_phone_is_a_problem_of_the_email_field(client: Any, services: Any, program: int) -> None:
    _, token = open_form(client, f"/join/{program}")

    r = submit(client, f"/join/{program}", token, email="")

    assert r.status_code == 422 and "Enter an email address or a mobile phone number." in r.get_data(as_text=True)
    assert submit(client, f"/join/{program}", token, email="", phone="0912345678").status_code == 303


def test_the_same_email_or_phone_twice_is_one_member_and_shows_their_card(client: Any, services: Any,
                                                                        program: int) -> None:
    _, token = open_form(client, f"/join/{program}")
    first = submit(client, f"/join/{program}", token, phone="0912 345 678")

    again = submit(client, f"/join/{program}", token, email="MEI@Example.com", name="Someone")
    by_phone = submit(client, f"/join/{program}", token, email="", phone="0912-345-678")

    assert len(members(services)) == 1
    for r in (again, by_phone):
        assert r.status_code == 200
        html = r.get_data(as_text=True)
        assert "You already have a card" in html and f'href="{first.headers["Location"]}"' in html


def test_script_in_a_name_is_escaped_on_the_page_and_plain_text_in_the_pass(client: Any, services: Any,
                                                                          program: int) -> None:
    _, token = open_form(client, f"/join/{program}")
    name = "<script>alert(1)</script>"

    bad = submit(client, f"/join/{program}", token, name=name, email="nope")
    good = submit(client, f"/join/{program}", token, name=name)

    assert "<script>" not in bad.get_data(as_text=True) and "&lt;script&gt;" in bad.get_data(as_text=True)
    page = urlsplit(good.headers["Location"]).path
    pj = pass_json(client.get(page + "/pass.pkpass").data)
    assert name in str(pj)  # the name as typed, not entities: Wallet shows text, not HTML
    assert "&lt;" not in str(pj)


def test_a_burst_from_one_address_gets_the_429_page_in_the_visitors_language(services: Any, program: int) -> None:
    from api import create_app

    app = create_app(services=_with(services, join_rate_limit="3/minute"))
    client = app.test_client()
    _, token = open_form(client, f"/join/{program}")

    answers = [submit(client, f"/join/{program}", token, email=f"m{i}@example.com", ip="203.0.113.9").status_code
               for i in range(4)]
    other_ip = submit(client, f"/join/{program}", token, email="other@example.com", ip="203.0.113.10")
    zh = client.post(f"/join/{program}?lang=zh-Hant", data={}, environ_base={"REMOTE_ADDR": "203.0.113.9"})

    assert answers == [303, 303, 303, 429] and other_ip.status_code == 303
    assert zh.status_code == 429 and "嘗試次數過多" in zh.get_data(as_text=True)
    assert 1 <= int(zh.headers["Retry-After"]) <= 60
    assert len(members(services)) == 4


def test_an_unknown_program_is_404(client: Any) -> None:
    assert client.get("/join/999", headers={"User-Agent": IPHONE}).status_code == 404


def _with(services: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(services, settings=services.settings.replace(**changes))


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            self.found.append({k: v or "" for k, v in attrs})


def _inputs(html: str) -> list[dict[str, str]]:
    parser = _Inputs()
    parser.feed(html)
    return [i for i in parser.found if "id" in i]


@pytest.mark.redis
def test_with_a_broker_the_limit_is_counted_in_redis_for_every_process(services: Any, program: int,
                                                                       redis_url: str) -> None:
    import secrets

    from api import create_app

    shared = _with(services, broker_url=redis_url, join_rate_limit="2/minute")
    one, two = create_app(services=shared).test_client(), create_app(services=shared).test_client()
    ip = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"  # a key of this run
    _, t1 = open_form(one, f"/join/{program}")
    _, t2 = open_form(two, f"/join/{program}")

    answers = [submit(one, f"/join/{program}", t1, email="a@example.com", ip=ip).status_code,
               submit(two, f"/join/{program}", t2, email="b@example.com", ip=ip).status_code,
               submit(one, f"/join/{program}", t1, email="c@example.com", ip=ip).status_code]

    assert answers == [303, 303, 429]


def test_when_the_limits_storage_is_down_enrolments_go_on(services: Any, program: int) -> None:
    from api import create_app

    client = create_app(services=_with(services, broker_url="redis://127.0.0.1:9/0")).test_client()
    _, token = open_form(client, f"/join/{program}")

    assert submit(client, f"/join/{program}", token).status_code == 303


def test_the_page_with_its_assets_weighs_under_100_kb_and_loads_nothing_from_elsewhere(client: Any, services: Any,
                                                                                      program: int) -> None:
    page, _ = open_form(client, f"/join/{program}?src=flyer-a")
    html = page.get_data(as_text=True)
    assets = re.findall(r'<(?:link rel="stylesheet"|img[^>]*) (?:href|src)="([^"]+)"', html)
    base = services.settings.base_url  # https outside loopback (Settings.check): no mixed content
    assert assets and all(a.startswith(("/", base + "/")) for a in assets), assets  # only our own
    sizes = {a: len(client.get(a.removeprefix(base)).data) for a in dict.fromkeys(assets)}

    total = len(page.data) + sum(sizes.values())

    assert len(sizes) >= 3 and all(sizes.values()), sizes  # pages.css, theme.css, the logo
    assert total < 100_000, (total, sizes)
    print(f"join page {len(page.data)} B + assets {sizes} = {total} B")
    assert f'action="/join/{program}?src=flyer-a"' in html  # the source rides along with the form


def test_the_form_cookie_is_the_only_one_and_the_api_needs_no_csrf_token(client: Any, services: Any, auth: Any,
                                                                         program: int) -> None:
    open_form(client, f"/join/{program}")  # the browser now holds the form's cookie (path /join/)

    created = client.post(f"/api/v1/programs/{program}/members", json={"name": "Till"}, headers=auth)
    page = client.get(urlsplit(created.json["links"]["page"]).path)

    assert created.status_code == 201 and page.status_code == 200
    assert "Set-Cookie" not in created.headers and "Set-Cookie" not in page.headers


def test_the_api_shows_where_a_member_came_from_and_when_they_agreed_to_the_terms(
        client: Any, services: Any, program: int, auth: Any) -> None:
    _, token = open_form(client, f"/join/{program}?src=flyer-b")
    submit(client, f"/join/{program}?src=flyer-b", token)
    [m] = members(services)

    body = client.get(f"/api/v1/members/{m.id}", headers=auth).get_json()

    assert body["source"] == "flyer-b"
    assert body["consent"]["at"].startswith(m.consented_at.date().isoformat())
    assert body["consent"]["terms_sha256"] == m.consent_terms_sha256
    made = client.post(f"/api/v1/programs/{program}/members", json={"name": "Chen Wei"}, headers=auth).get_json()
    assert made["consent"] is None
