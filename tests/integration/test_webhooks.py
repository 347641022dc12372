"""Webhooks end to end (issue 12 item 4): a real receiver on loopback checks every signature; events are written in
the transaction of their change and delivered by the worker through the outbox, retried after 500s and timeouts,
in order per member, parked after 24 hours; nothing for a rolled-back change. SQLite and PostgreSQL; the worker's
clock is a FixedClock the tests move (the receiver's timestamps are wall-clock, as the spec wants)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from tests.builders import insert_members, make_program
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.helpers import Device, count, drain, make_offer, post
from walletpass.bootstrap import Services
from walletpass.config import Settings
from walletpass.domain.webhooks import Event
from walletpass.ports import FixedClock

START = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def services_clock(clock: FixedClock) -> FixedClock:
    return clock


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Loopback receivers allowed (WALLETPASS_WEBHOOKS_ALLOW_PRIVATE=1), and a short timeout to run into."""
    return settings.replace(webhooks_allow_private=True, webhook_timeout=0.5)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def subscribe(client: Any, auth: dict[str, str], receiver: WebhookReceiver, events: list[str] | None = None) -> int:
    r = post(client, "/api/v1/webhooks", auth, {"url": receiver.url, "events": events or ["*"]})
    assert r.status_code == 201, r.json
    assert r.headers["Location"].endswith(f"/api/v1/webhooks/{r.json['id']}")
    receiver.secret = r.json["secret"]
    return int(r.json["id"])


def enrol(client: Any, auth: dict[str, str], program_id: int, name: str = "Mei", points: int = 0) -> dict[str, Any]:
    r = post(client, f"/api/v1/programs/{program_id}/members", auth, {"name": name, "points": points})
    assert r.status_code == 201, r.json
    return r.json  # type: ignore[no-any-return]


def earn(client: Any, auth: dict[str, str], member_id: int, points: int) -> None:
    r = post(client, f"/api/v1/members/{member_id}/transactions", auth, {"points": points, "reason": "coffee"})
    assert r.status_code == 201, r.json


def deliveries(client: Any, auth: dict[str, str], webhook_id: int, **query: Any) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=auth, query_string=query)
    assert r.status_code == 200, r.json
    return r.json["data"]  # type: ignore[no-any-return]


def settle(services: Services, clock: FixedClock, *, rounds: int = 1, step: timedelta = timedelta(0)) -> None:
    """Run the worker until nothing is due, *rounds* times, moving the clock by *step* before each."""
    for _ in range(rounds):
        clock.advance(seconds=step.total_seconds())
        drain(services)


def types_of(messages: list[dict[str, Any]], member_id: int | None = None) -> list[str]:
    return [m["type"] for m in messages if member_id is None or m["data"].get("member_id") == member_id]


def test_every_event_of_a_story_reaches_the_receiver_signed_and_in_order(client, auth, services, clock,  # type: ignore[no-untyped-def]
                                                                        receiver) -> None:
    webhook_id = subscribe(client, auth, receiver)
    program_id = make_program(services)
    member = enrol(client, auth, program_id)
    earn(client, auth, member["id"], 600)                         # Bronze → Silver: points.changed, tier.changed
    offer_id = make_offer(client, auth, program_id)
    coupon = post(client, f"/api/v1/offers/{offer_id}/coupons", auth, {"member_id": member["id"]}).json
    assert post(client, f"/api/v1/coupons/{coupon['id']}/redeem", auth).status_code == 200
    with services.uow() as uow:
        card = uow.passes.of_member(member["id"])[0]
    phone, tablet = Device(client, card.pass_type_id), Device(client, card.pass_type_id)
    assert phone.register(card.serial_number, card.authentication_token).status_code == 201  # pass.installed
    assert tablet.register(card.serial_number, card.authentication_token).status_code == 201  # (not again)
    assert phone.unregister(card.serial_number, card.authentication_token).status_code == 200
    assert tablet.unregister(card.serial_number, card.authentication_token).status_code == 200  # pass.removed

    settle(services, clock)

    got = receiver.accepted()
    assert types_of(got) == ["member.enrolled", "points.changed", "tier.changed", "coupon.issued",
                             "coupon.redeemed", "pass.installed", "pass.removed"]
    assert all(r.signature_ok for r in receiver.received), "every message carries a valid v1 signature"
    for r in receiver.received:
        assert r.headers["webhook-id"] == r.message["id"] and r.headers["content-type"] == "application/json"
    enrolled, points, tier, issued, redeemed, installed, removed = got
    assert enrolled["data"] == {"program_id": program_id, "member_id": member["id"], "points": 0, "tier": "Bronze"}
    assert points["data"] == {"program_id": program_id, "member_id": member["id"], "points": 600, "balance": 600,
                              "transaction_id": points["data"]["transaction_id"]}
    assert tier["data"] == {"program_id": program_id, "member_id": member["id"], "tier": "Silver",
                            "previous_tier": "Bronze"}
    assert issued["data"] == redeemed["data"] == {"program_id": program_id, "member_id": member["id"],
                                                  "offer_id": offer_id, "coupon_id": coupon["id"],
                                                  "code": coupon["code"]}
    assert installed["data"] == {"program_id": program_id, "member_id": member["id"], "pass_id": card.id,
                                 "wallet": "apple"}
    assert removed["type"] == "pass.removed" and removed["data"]["wallet"] == "apple"
    assert "name" not in str(got) and "Mei" not in str(got), "no personal data beyond ids"
    assert len({m["id"] for m in got}) == len(got)

    listed = deliveries(client, auth, webhook_id)
    assert [d["type"] for d in listed] == types_of(got)
    assert all(d["state"] == "delivered" and d["attempts"] == 1 and d["last_status"] == 204 for d in listed)
    assert client.get(f"/api/v1/webhooks/{webhook_id}", headers=auth).json["deliveries"] == {
        "pending": 0, "delivered": 7, "parked": 0}
    assert count(services, "SELECT count(*) FROM outbox WHERE kind = 'webhook_deliver'") == 0


def test_a_500_and_a_timeout_are_tried_again_with_the_same_event(client, auth, services, clock,  # type: ignore[no-untyped-def]
                                                                 receiver) -> None:
    webhook_id = subscribe(client, auth, receiver, ["member.enrolled"])
    answers = iter([(500, 0.0, {}), (204, 1.5, {}), (204, 0.0, {})])   # 500, then too slow (timeout 0.5 s), then ok
    receiver.script = lambda message: next(answers)
    member = enrol(client, auth, make_program(services))

    settle(services, clock)
    [first] = deliveries(client, auth, webhook_id)
    assert (first["state"], first["attempts"], first["last_status"]) == ("pending", 1, 500)
    assert first["last_error"].startswith("HTTP 500")
    retry_at = datetime.fromisoformat(first["next_attempt_at"])
    assert START + timedelta(seconds=2) <= retry_at <= START + timedelta(seconds=5)   # 5 s with jitter
    settle(services, clock, step=timedelta(seconds=1))
    assert len(receiver.received) == 1, "not before its time"

    settle(services, clock, step=timedelta(seconds=5))
    [second] = deliveries(client, auth, webhook_id)
    assert (second["state"], second["attempts"], second["last_status"]) == ("pending", 2, None)
    assert "no answer within 0.5 s" in second["last_error"]

    settle(services, clock, step=timedelta(seconds=11))
    [done] = deliveries(client, auth, webhook_id)
    assert (done["state"], done["attempts"], done["last_status"], done["last_error"]) == ("delivered", 3, 204, None)
    ids = {r.headers["webhook-id"] for r in receiver.received}
    bodies = {r.body for r in receiver.received}
    assert len(receiver.received) == 3 and len(ids) == 1 and len(bodies) == 1, "one event, the same bytes each try"
    assert receiver.accepted()[0]["data"]["member_id"] == member["id"]


def test_a_members_later_events_wait_for_the_earlier_one_others_go_on(client, auth, services, clock,  # type: ignore[no-untyped-def]
                                                                      receiver) -> None:
    webhook_id = subscribe(client, auth, receiver, ["points.changed"])
    program_id = make_program(services)
    slow, other = enrol(client, auth, program_id, "A"), enrol(client, auth, program_id, "B")
    failures = {"left": 2}

    def script(message: dict[str, Any]) -> tuple[int, float, dict[str, str]]:
        if message["data"]["member_id"] == slow["id"] and failures["left"]:
            failures["left"] -= 1
            return 503, 0.0, {}
        return 200, 0.0, {}

    receiver.script = script
    for points in (1, 2, 3):
        earn(client, auth, slow["id"], points)
        earn(client, auth, other["id"], points)

    settle(services, clock)
    got = receiver.accepted()
    assert [m["data"]["points"] for m in got] == [1, 2, 3] and {m["data"]["member_id"] for m in got} == {other["id"]}
    assert [d["state"] for d in deliveries(client, auth, webhook_id)] == ["pending", "delivered"] * 3

    settle(services, clock, rounds=4, step=timedelta(minutes=1))
    got = receiver.accepted()
    assert [m["data"]["points"] for m in got if m["data"]["member_id"] == slow["id"]] == [1, 2, 3]
    tries = [r.message["data"]["points"] for r in receiver.received if r.message["data"]["member_id"] == slow["id"]]
    assert tries == [1, 1, 1, 2, 3], "nothing of the member overtook its first event while that was retried"


def test_a_receiver_down_for_a_while_gets_everything_once_it_is_back(client, auth, services, clock,  # type: ignore[no-untyped-def]
                                                                     receiver) -> None:
    webhook_id = subscribe(client, auth, receiver)
    receiver.stop()
    program_id = make_program(services)
    members = [enrol(client, auth, program_id, name) for name in ("A", "B")]
    for m in members:
        earn(client, auth, m["id"], 10)
        earn(client, auth, m["id"], -5)
    settle(services, clock, rounds=3, step=timedelta(minutes=2))
    listed = deliveries(client, auth, webhook_id)
    assert all(d["state"] == "pending" and "connection failed" in d["last_error"] for d in listed if d["attempts"])
    assert not receiver.received

    receiver.start()                                  # back on the same port, an hour later
    settle(services, clock, rounds=3, step=timedelta(hours=1))
    got = receiver.accepted()
    for m in members:
        assert types_of(got, m["id"]) == ["member.enrolled", "points.changed", "points.changed"]
        assert [e["data"]["balance"] for e in got if e["type"] == "points.changed"
                and e["data"]["member_id"] == m["id"]] == [10, 5]
    assert all(d["state"] == "delivered" for d in deliveries(client, auth, webhook_id))
    assert len({m["id"] for m in got}) == len(got) == 6


def test_nothing_is_sent_for_a_rolled_back_change(client, auth, services, clock, receiver) -> None:  # type: ignore[no-untyped-def]
    webhook_id = subscribe(client, auth, receiver)
    program_id = make_program(services)
    member = enrol(client, auth, program_id)
    settle(services, clock)
    before = len(receiver.received)
    with services.uow() as uow:                       # an event written, then the transaction rolls back
        uow.webhooks.emit([Event("points.changed", clock.now(), {"program_id": program_id,
                                                                 "member_id": member["id"], "points": 5})])
        assert len(uow.webhooks.deliveries(webhook_id, after_id=0, limit=10, state="pending")) == 1
    r = post(client, f"/api/v1/members/{member['id']}/transactions", auth, {"points": -5, "reason": "overdraw"})
    assert r.status_code == 409
    r = post(client, f"/api/v1/programs/{program_id}/members", auth, {"name": "X", "points": -1})
    assert r.status_code == 422
    settle(services, clock, rounds=2, step=timedelta(minutes=1))
    assert len(receiver.received) == before
    assert count(services, "SELECT count(*) FROM webhook_deliveries WHERE state <> 'delivered'") == 0
    assert count(services, "SELECT count(*) FROM outbox WHERE kind = 'webhook_deliver'") == 0


def test_a_delivery_failing_for_24_hours_is_parked_and_listed(client, auth, services, clock,  # type: ignore[no-untyped-def]
                                                              receiver) -> None:
    webhook_id = subscribe(client, auth, receiver, ["member.enrolled"])
    receiver.script = lambda message: (503, 0.0, {"Retry-After": "120"})
    enrol(client, auth, make_program(services))
    settle(services, clock)
    [d] = deliveries(client, auth, webhook_id)
    assert datetime.fromisoformat(d["next_attempt_at"]) >= START + timedelta(seconds=120), "Retry-After honoured"
    for _ in range(30):
        settle(services, clock, step=timedelta(hours=1))
    [d] = deliveries(client, auth, webhook_id)
    assert (d["state"], d["parked"], d["last_status"], d["next_attempt_at"]) == ("parked", True, 503, None)
    assert 10 <= d["attempts"] <= 40
    assert deliveries(client, auth, webhook_id, state="parked") == [d]
    assert deliveries(client, auth, webhook_id, state="pending") == []
    assert count(services, "SELECT count(*) FROM outbox WHERE kind = 'webhook_deliver'") == 0
    tries = len(receiver.received)
    settle(services, clock, step=timedelta(hours=1))
    assert len(receiver.received) == tries


def test_a_4xx_parks_at_once_and_the_members_next_event_goes(client, auth, services, clock,  # type: ignore[no-untyped-def]
                                                             receiver) -> None:
    webhook_id = subscribe(client, auth, receiver, ["member.enrolled", "points.changed"])
    receiver.script = lambda m: (400, 0.0, {}) if m["type"] == "member.enrolled" else (200, 0.0, {})
    member = enrol(client, auth, make_program(services))
    earn(client, auth, member["id"], 7)
    settle(services, clock)
    parked, delivered = deliveries(client, auth, webhook_id)
    assert (parked["state"], parked["attempts"], parked["last_status"]) == ("parked", 1, 400)
    assert delivered["state"] == "delivered" and types_of(receiver.accepted()) == ["points.changed"]


def test_a_program_tier_edit_writes_its_events_set_based(client, auth, services, clock, receiver) -> None:  # type: ignore[no-untyped-def]
    subscribe(client, auth, receiver, ["tier.changed"])
    program_id = make_program(services)
    ids = insert_members(services, program_id, 1000, first_id=10_000, now=clock.now())
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE members SET points = id - 10000, tier = 'Bronze' WHERE program_id = :p"),
                     {"p": program_id})
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "webhook_deliveries" in statement and statement.lstrip().upper().startswith("INSERT"):
            statements.append(statement)

    event.listen(services.engine, "before_cursor_execute", seen)
    try:
        r = client.patch(f"/api/v1/programs/{program_id}", headers=auth,
                         json={"tiers": [{"name": "Bronze", "min_points": 0}, {"name": "Silver", "min_points": 500},
                                         {"name": "Gold", "min_points": 2500}, {"name": "Diamond", "min_points": 5000}]})
    finally:
        event.remove(services.engine, "before_cursor_execute", seen)
    assert r.status_code == 200, r.json
    assert len(statements) == 1, "one INSERT … SELECT for 500 members"
    settle(services, clock)
    got = receiver.accepted()
    assert sorted(m["data"]["member_id"] for m in got) == ids[500:]
    assert {(m["data"]["tier"], m["data"]["previous_tier"]) for m in got} == {("Silver", "Bronze")}
    assert len({m["id"] for m in got}) == 500


def test_campaign_finished_and_bulk_coupons(client, auth, services, clock, receiver) -> None:  # type: ignore[no-untyped-def]
    subscribe(client, auth, receiver, ["campaign.finished", "coupon.issued"])
    program_id = make_program(services)
    members = [enrol(client, auth, program_id, name) for name in ("A", "B", "C")]
    offer_id = make_offer(client, auth, program_id)
    r = post(client, "/api/v1/campaigns", auth, {"program_id": program_id, "message": "Hello", "offer_id": offer_id,
                                                "ignore_quiet_hours": True})
    assert r.status_code == 202, r.json
    settle(services, clock, rounds=3, step=timedelta(seconds=5))
    got = receiver.accepted()
    issued = [m for m in got if m["type"] == "coupon.issued"]
    assert sorted(m["data"]["member_id"] for m in issued) == sorted(m["id"] for m in members)
    [finished] = [m for m in got if m["type"] == "campaign.finished"]
    assert finished["data"] == {"program_id": program_id, "campaign_id": r.json["id"], "total": 3}


def test_webhook_api_bad_input_is_422_and_writes_nothing(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    bad = [
        ({"url": "ftp://example.com/x", "events": ["*"]}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data", "events": ["*"]}, "url"),
        ({"url": "http://[fe80::1]/", "events": ["*"]}, "url"),
        ({"url": "http://metadata.google.internal/", "events": ["*"]}, "url"),
        ({"url": "http://user:pw@example.com/", "events": ["*"]}, "url"),
        ({"url": "http://example.com:99999/", "events": ["*"]}, "url"),
        ({"url": "https://example.com/", "events": []}, "events"),
        ({"url": "https://example.com/", "events": ["member.deleted"]}, "events[0]"),
        ({"url": "https://example.com/", "events": ["*"], "secret": "hunter2"}, "secret"),
        ({"url": "https://example.com/", "events": ["*"], "secret": "whsec_" + "A" * 20}, "secret"),
        ({"url": "https://example.com/", "events": ["*"], "colour": "red"}, "colour"),
        ({"events": ["*"]}, "url"),
    ]
    for body, field in bad:
        r = post(client, "/api/v1/webhooks", auth, body)
        assert r.status_code == 422 and r.mimetype == "application/problem+json", (body, r.json)
        assert field in [e["field"] for e in r.json["errors"]], (body, r.json)
    assert post(client, "/api/v1/webhooks", auth, b"{not json").status_code == 400
    assert count(services, "SELECT count(*) FROM webhooks") == 0
    assert client.get("/api/v1/webhooks/1", headers=auth).status_code == 404
    assert client.delete("/api/v1/webhooks/1", headers=auth).status_code == 404
    assert client.get("/api/v1/webhooks/1/deliveries", headers=auth).status_code == 404
    r = client.get("/api/v1/webhooks?limit=0", headers=auth)
    assert r.status_code == 422 and r.mimetype == "application/problem+json"


def test_webhooks_list_get_delete_and_scope(client, auth, services, receiver) -> None:  # type: ignore[no-untyped-def]
    from walletpass.services.api_keys import create_api_key

    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes
    made = [post(client, "/api/v1/webhooks", auth, {"url": f"https://crm{i}.example.com/hook", "events": ["*"],
                                                    **({"secret": secret} if i == 0 else {})}).json
            for i in range(3)]
    assert "secret" not in made[0], "a secret given is not echoed back"
    assert all(m["secret"].startswith("whsec_") for m in made[1:])
    first = client.get("/api/v1/webhooks?limit=2", headers=auth).json
    assert [w["id"] for w in first["data"]] == [made[0]["id"], made[1]["id"]] and first["next"]
    assert all("secret" not in w for w in first["data"])
    rest = client.get(first["next"], headers=auth).json
    assert [w["id"] for w in rest["data"]] == [made[2]["id"]] and rest["next"] is None
    assert client.delete(f"/api/v1/webhooks/{made[1]['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/v1/webhooks/{made[1]['id']}", headers=auth).status_code == 404
    only_webhooks = create_api_key(services.uow(), services.clock, services.api_keys.hasher, "crm", ["webhooks"])
    members_only = create_api_key(services.uow(), services.clock, services.api_keys.hasher, "till", ["members"])
    assert client.get("/api/v1/webhooks", headers={"Authorization": f"Bearer {only_webhooks}"}).status_code == 200
    r = client.get("/api/v1/webhooks", headers={"Authorization": f"Bearer {members_only}"})
    assert r.status_code == 403 and r.mimetype == "application/problem+json"


def test_a_webhook_another_worker_holds_waits_for_it(client, auth, services, clock, receiver) -> None:  # type: ignore[no-untyped-def]
    webhook_id = subscribe(client, auth, receiver, ["member.enrolled"])
    with services.uow() as uow:                       # another worker is delivering this webhook
        assert uow.webhooks.lease(webhook_id, "other", clock.now(), clock.now() + timedelta(seconds=60)) == "taken"
        uow.commit()
    enrol(client, auth, make_program(services))
    settle(services, clock, rounds=3, step=timedelta(seconds=3))
    assert receiver.received == []
    assert count(services, "SELECT max(attempts) FROM outbox WHERE kind = 'webhook_deliver'") == 0, \
        "a fresh job each time: waiting is not failing"
    settle(services, clock, step=timedelta(seconds=60))  # the other worker's lease ran out (it died)
    assert types_of(receiver.accepted()) == ["member.enrolled"]
    assert deliveries(client, auth, webhook_id)[0]["state"] == "delivered"
