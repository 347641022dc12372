"""The enrolment page with mail configured (WALLETPASS_SMTP_URL → a real SMTP server on loopback): the same page
for a new and an enrolled address, the card's link mailed from the outbox to the address on file, localized, in
plain text and HTML; a server that refuses or is down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.builders import make_program
from tests.fakes.smtp_server import FakeSmtp
from tests.helpers import count, drain, members, open_form, submit
from walletpass.config import Settings


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, smtp: FakeSmtp) -> Settings:
    return settings.replace(smtp_url=smtp.url, mail_from="cards@morning-light.example")


@pytest.fixture
def program(services: Any) -> int:
    return make_program(services)


def _card_link(services: Any) -> str:
    [m] = members(services)
    with services.engine.connect() as conn:
        from sqlalchemy import text

        token = conn.execute(text("SELECT public_token FROM passes WHERE member_id = :m"), {"m": m.id}).scalar_one()
    return str(services.urls.page(token))


def test_new_and_enrolled_addresses_get_the_same_page_and_the_link_by_mail(client: Any, services: Any,
                                                                           program: int, smtp: FakeSmtp) -> None:
    path = f"/join/{program}?src=flyer-a&lang=zh-Hant"  # the switch's choice, kept by the form's action
    _, token = open_form(client, path)

    new = submit(client, path, token, phone="0912345678")
    assert smtp.received == []  # the request only wrote the job
    drain(services)
    known = submit(client, path, token, email="MEI@example.com", name="A Stranger")
    by_phone = submit(client, path, token, email="stranger@example.com", phone="0912-345-678")
    drain(services)

    assert new.status_code == known.status_code == by_phone.status_code == 200
    assert new.get_data() == known.get_data() == by_phone.get_data()
    assert "請查看您的電子郵件" in new.get_data(as_text=True)
    assert len(members(services)) == 1 and members(services)[0].source == "flyer-a"
    link = _card_link(services)
    assert [rcpt for rcpt, _ in smtp.received] == [["mei@example.com"]] * 3  # never the stranger's address
    welcome, recovery, _ = (msg for _, msg in smtp.received)
    assert welcome["Subject"] == "您的晨光會員會員卡" and "歡迎加入" in welcome.get_body(("plain",)).get_content()
    assert "索取" in recovery.get_body(("plain",)).get_content()
    for msg in (welcome, recovery):
        assert msg["From"] == "晨光會員 <cards@morning-light.example>"
        assert link in msg.get_body(("plain",)).get_content()
        assert f'href="{link}"' in msg.get_body(("html",)).get_content()
    assert count(services, "SELECT count(*) FROM outbox") == 0


def test_with_mail_the_email_is_required(client: Any, services: Any, program: int) -> None:
    _, token = open_form(client, f"/join/{program}")

    r = submit(client, f"/join/{program}", token, email="", phone="0912345678")

    assert r.status_code == 422 and "your card&#39;s link is sent there" in r.get_data(as_text=True)
    assert members(services) == []


def test_a_name_with_markup_is_text_in_the_mail(client: Any, services: Any, program: int, smtp: FakeSmtp) -> None:
    _, token = open_form(client, f"/join/{program}")
    submit(client, f"/join/{program}", token, name="<b>Mei</b>")
    drain(services)

    [(_, msg)] = smtp.received
    assert "Hello <b>Mei</b>," in msg.get_body(("plain",)).get_content()
    assert "&lt;b&gt;Mei&lt;/b&gt;" in msg.get_body(("html",)).get_content()


def test_a_busy_server_is_tried_again_and_a_refusal_parks_the_mail(client: Any, services: Any, program: int,
                                                                   smtp: FakeSmtp) -> None:
    _, token = open_form(client, f"/join/{program}")
    smtp.refuse = "451 4.3.0 try again later"
    submit(client, f"/join/{program}", token)
    drain(services)

    assert count(services, "SELECT count(*) FROM outbox WHERE attempts = 1 AND last_error LIKE '%451%'") == 1
    smtp.refuse = "550 5.1.1 no such mailbox"
    with services.engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE outbox SET available_at = created_at"))
    drain(services)

    assert smtp.received == []
    assert count(services, "SELECT count(*) FROM outbox WHERE last_error LIKE '%550%'") == 1  # parked, kept
