"""/api/v1/programs/{id}/automations: set and read a program's birthday, welcome and win-back rules; bad input is a
422 naming the field and changes nothing; the welcome fires on enrolment through the API, once, also when the
enrolment is retried with its Idempotency-Key (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.builders import make_program
from tests.helpers import count, make_offer, post
from walletpass.bootstrap import Services
from walletpass.jobs.worker import Worker
from walletpass.ports import FixedClock

pytestmark = pytest.mark.usefixtures("apns")

#: 14 March 2027, 10:00 in Taipei: outside the demo program's quiet hours.
NOW = datetime(2027, 3, 14, 2, 0, tzinfo=UTC)
#: What a PUT writes, to prove that a refused one wrote nothing.
TABLES = ("automations", "automation_days", "automation_runs", "outbox", "coupons", "campaigns")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def services_clock(clock: FixedClock) -> FixedClock:
    """``services``, so the API and the worker, run on the clock the test moves."""
    return clock


def _put(client: Any, auth: dict[str, str], program_id: int, body: object) -> Any:
    return client.put(f"/api/v1/programs/{program_id}/automations", data=json.dumps(body), headers=auth,
                      content_type="application/json")


def _drain(services: Services) -> None:
    worker = Worker(services)
    while worker.run_once():
        pass


def _snapshot(services: Services) -> dict[str, list[Any]]:
    with services.engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))] for t in TABLES}


@pytest.fixture
def program(client, auth, services, clock) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The demo program (Asia/Taipei; en, zh-Hant, zh-Hans) with an offer and one that has ended, and another
    program with an offer."""
    pid, other = make_program(services), make_program(services, locales=["en"], texts={})
    clock.advance(days=-30)
    ended = make_offer(client, auth, pid, valid_until="2027-03-01T00:00:00Z")
    clock.advance(days=30)
    return {"id": pid, "offer": make_offer(client, auth, pid, valid_until="2099-12-31T00:00:00Z"),
            "other_offer": make_offer(client, auth, other, valid_until="2099-12-31T00:00:00Z"), "ended_offer": ended}


def test_put_then_get_the_rules(client, auth, program) -> None:  # type: ignore[no-untyped-def]
    pid, offer = program["id"], program["offer"]
    body = {"birthday": {"offer_id": offer, "message": {"en": "Happy birthday!", "zh-Hant": "生日快樂！"},
                         "segment": {"tier": ["Gold", "Diamond"]}},
            "welcome": {"message": "Welcome to Morning Light"},
            "win_back": {"days": 60, "offer_id": offer, "enabled": False}}
    r = _put(client, auth, pid, body)
    assert r.status_code == 200, r.json
    got = client.get(f"/api/v1/programs/{pid}/automations", headers=auth)
    assert got.status_code == 200 and got.json == r.json
    assert got.json["birthday"] == {
        "enabled": True, "offer_id": offer, "message": {"en": "Happy birthday!", "zh-Hant": "生日快樂！"},
        "segment": {"tier": ["Gold", "Diamond"]}, "days": None, "fired": 0, "last_fired_at": None,
        "updated_at": NOW.isoformat()}
    assert got.json["welcome"]["message"] == "Welcome to Morning Light" and got.json["welcome"]["offer_id"] is None
    assert got.json["win_back"]["days"] == 60 and got.json["win_back"]["enabled"] is False
    assert got.json["time_zone"] == "Asia/Taipei" and got.json["next_run_at"] == NOW.isoformat()  # today's, now
    # a PUT replaces: what it leaves out is off
    r = _put(client, auth, pid, {"welcome": {"offer_id": offer}})
    assert r.status_code == 200 and r.json["birthday"] is None and r.json["win_back"] is None
    assert r.json["welcome"]["offer_id"] == offer and r.json["welcome"]["message"] is None
    assert _put(client, auth, pid, {}).json["welcome"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({"birthday": {"offer_id": 4242}}, "birthday.offer_id"),                         # unknown offer
    ({"birthday": {"offer_id": "OTHER"}}, "birthday.offer_id"),                      # another program's offer
    ({"welcome": {"offer_id": "ENDED"}}, "welcome.offer_id"),                        # an offer that has ended
    ({"win_back": {"days": 0, "offer_id": "OFFER"}}, "win_back.days"),
    ({"win_back": {"days": 731, "offer_id": "OFFER"}}, "win_back.days"),
    ({"win_back": {"offer_id": "OFFER"}}, "win_back.days"),                          # days are required
    ({"win_back": {"days": 30.0, "offer_id": "OFFER"}}, "win_back.days"),
    ({"birthday": {}}, "birthday"),                                                  # neither offer nor message
    ({"birthday": {"enabled": True}}, "birthday"),
    ({"welcome": {"message": {"fr": "Bienvenue"}}}, "welcome.message.fr"),           # a locale the program lacks
    ({"welcome": {"message": "   "}}, "welcome.message"),
    ({"welcome": {"message": "x" * 501}}, "welcome.message"),
    ({"birthday": {"offer_id": "OFFER", "segment": {"tier": ["Platinum"]}}}, "birthday.segment.tier[0]"),
    ({"birthday": {"offer_id": "OFFER", "days": 3}}, "birthday.days"),               # days are win-back's
    ({"anniversary": {"offer_id": "OFFER"}}, "anniversary"),
    ({"welcome": {"offer_id": "OFFER"}, "birthday": {"offer_id": 4242}}, "birthday.offer_id"),  # all or nothing
])
def test_bad_rules_are_422_naming_the_field_and_change_nothing(client, auth, services, program, body,  # type: ignore[no-untyped-def]
                                                               field) -> None:
    pid = program["id"]
    assert _put(client, auth, pid, {"win_back": {"days": 30, "offer_id": program["offer"]}}).status_code == 200
    before = _snapshot(services)
    ids = {"OFFER": program["offer"], "OTHER": program["other_offer"], "ENDED": program["ended_offer"]}
    body = {rule: {k: ids.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
            for rule, fields in body.items()}
    r = _put(client, auth, pid, body)
    assert r.status_code == 422 and r.mimetype == "application/problem+json", r.json
    assert r.json["errors"][0]["field"] == field, r.json
    assert _snapshot(services) == before
    assert client.get(f"/api/v1/programs/{pid}/automations", headers=auth).json["win_back"]["days"] == 30


def test_an_unknown_program_is_404(client, auth) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/programs/4242/automations", headers=auth).status_code == 404
    r = _put(client, auth, 4242, {"welcome": {"message": "Hi"}})
    assert r.status_code == 404 and r.mimetype == "application/problem+json"


def test_the_welcome_fires_once_on_enrolment_also_when_the_enrolment_is_retried(  # type: ignore[no-untyped-def]
        client, auth, services, clock, program) -> None:
    pid, offer = program["id"], program["offer"]
    members = f"/api/v1/programs/{pid}/members"
    before = post(client, members, auth, {"name": "Before the rule"}).json["id"]
    assert _put(client, auth, pid, {"welcome": {
        "offer_id": offer, "message": {"en": "Welcome! A latte on us", "zh-Hant": "歡迎！請你喝拿鐵"},
        "segment": {"min_points": 100}}}).status_code == 200
    first = post(client, members, auth, {"name": "Lin Mei", "points": 150}, key="enrol-lin-mei")
    again = post(client, members, auth, {"name": "Lin Mei", "points": 150}, key="enrol-lin-mei")
    assert first.status_code == again.status_code == 201 and first.json == again.json
    no_points = post(client, members, auth, {"name": "Chen Wei"}).json["id"]  # outside the rule's segment
    member = first.json["id"]
    assert [count(services, f"SELECT count(*) FROM coupons WHERE member_id = {m} AND offer_id = {offer}")
            for m in (member, before, no_points)] == [1, 0, 0]
    assert count(services, "SELECT count(*) FROM automation_runs") == 1
    got = client.get(f"/api/v1/programs/{pid}/automations", headers=auth).json["welcome"]
    assert got["fired"] == 1 and got["last_fired_at"] == NOW.isoformat()

    # the message waits five minutes (time to add the card), then goes out as a campaign to the member
    _drain(services)
    assert count(services, "SELECT count(*) FROM campaigns") == 0
    clock.advance(minutes=5, seconds=1)
    _drain(services)
    campaigns = client.get(f"/api/v1/campaigns?program_id={pid}", headers=auth).json["data"]
    assert [(c["segment"], c["state"], c["total"], c["sent"]) for c in campaigns] == [
        ({"member_ids": [member]}, "done", 1, 1)]
    assert campaigns[0]["message"] == {"en": "Welcome! A latte on us", "zh-Hant": "歡迎！請你喝拿鐵"}


def test_a_key_bound_to_another_program_gets_404_and_changes_nothing(client, auth, services, program) -> None:  # type: ignore[no-untyped-def]
    from walletpass.services.api_keys import create_api_key

    other = make_program(services)
    key = create_api_key(services.uow(), services.clock, services.api_keys.hasher, "other", ["campaigns"],
                         programs=[other])
    bound = {"Authorization": f"Bearer {key}"}
    before = _snapshot(services)
    assert _put(client, bound, program["id"], {"welcome": {"message": "Hi"}}).status_code == 404
    assert client.get(f"/api/v1/programs/{program['id']}/automations", headers=bound).status_code == 404
    assert _snapshot(services) == before
    assert _put(client, bound, other, {"welcome": {"message": "Hi"}}).status_code == 200
    points_only = create_api_key(services.uow(), services.clock, services.api_keys.hasher, "till", ["points"])
    assert client.get(f"/api/v1/programs/{other}/automations",
                      headers={"Authorization": f"Bearer {points_only}"}).status_code == 403


def test_a_rule_whose_offer_ended_stops_firing(client, auth, services, clock, program) -> None:  # type: ignore[no-untyped-def]
    pid = program["id"]
    soon = make_offer(client, auth, pid, valid_until=(NOW + timedelta(days=1)).isoformat())
    assert _put(client, auth, pid, {"welcome": {"offer_id": soon}}).status_code == 200
    clock.advance(days=2)
    r = post(client, f"/api/v1/programs/{pid}/members", auth, {"name": "Late"})
    assert r.status_code == 201  # the enrolment goes through; the welcome does not fire
    assert count(services, "SELECT count(*) FROM coupons") == 0
    assert count(services, "SELECT count(*) FROM automation_runs") == 0
