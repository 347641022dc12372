"""Campaigns on Google Wallet, through the API and the worker against the Google stand-in (OAuth, discovery-validated
bodies): one addMessage per object Google holds — TEXT_AND_NOTIFY under the 3-a-day cap, TEXT over it (counted as
skipped_notification) — or one class message for a whole program; lost answers and refusals; the dry run's
figures against what the run did; a campaign's coupon linked beside the card (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.builders import make_member, make_program
from tests.fakes.google_server import FakeGoogle
from tests.helpers import ISSUER, callback_body, count, local, make_offer, post
from walletpass.bootstrap import Services, bootstrap
from walletpass.config import Settings
from walletpass.jobs.worker import Worker
from walletpass.ports import FixedClock
from walletpass.storage.tables import OutboxRow

pytestmark = pytest.mark.usefixtures("google", "apns")

LONG_TERMS = "Long terms. " * 150  # the class is inserted by REST with the first link
LONG_NAME = "晨光會員" * 50  # the object alone is too long for a link: inserted by REST, never saved
GOLD, BRONZE = 2500, 10
MESSAGE = {"en": "Buy one get one free this weekend", "zh-Hant": "週末咖啡買一送一"}
VALID_UNTIL = "2099-12-31T23:59:00+08:00"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC))


@pytest.fixture
def services(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    svc = bootstrap(settings, clock=clock)
    yield svc
    svc.close()


def _drain(services: Services) -> None:
    worker = Worker(services)
    while worker.run_once():
        pass


def _program(services: Services) -> int:
    return make_program(services, terms=LONG_TERMS)


def _member(services: Services, pid: int, points: int = GOLD, **kw: Any) -> dict[str, Any]:
    return make_member(services, pid, points=points, **kw)


def _at_google(client, google: FakeGoogle, member: dict[str, Any], *, saved: bool = True) -> str:  # type: ignore[no-untyped-def]
    """Put the member's card at Google: saved by the user from its link (Google creates the object from the link
    and calls back), or — a card too long for a link — inserted by REST when the link was asked for."""
    r = client.get(local(member["links"]["google_save"]))
    assert r.status_code == 302
    object_id = f"{ISSUER}.{member['serial_number']}"
    if saved:
        google.save_link(r.headers["Location"])
        assert client.post("/google/callback", data=callback_body(object_id)).status_code == 200
    assert ("loyaltyObject", object_id) in google.store
    return object_id


def _card(services: Services, member: dict[str, Any]) -> int:
    with services.uow() as u:
        return u.passes.of_member(member["id"])[0].id


def _messages(google: FakeGoogle, since: int) -> list[Any]:
    return [q for q in google.api_requests()[since:] if q.method == "POST" and q.path.endswith("/addMessage")]


def _target(request: Any) -> str:
    return str(request.path.split("/")[-2])


def _campaign(client, auth, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:  # type: ignore[no-untyped-def]
    """(the dry run's reach, the campaign scheduled) for *body*."""
    body = {"message": MESSAGE, "name": "Weekend BOGO", "ignore_quiet_hours": True, **body}
    reach = post(client, "/api/v1/campaigns?dry_run=1", auth, body)
    assert reach.status_code == 200, reach.json
    r = post(client, "/api/v1/campaigns", auth, body)
    assert r.status_code == 202, r.json
    return reach.json, r.json


def _outcomes(services: Services, campaign_id: int) -> dict[str | None, int]:
    with services.engine.connect() as conn:
        return {o: n for o, n in conn.execute(text(
            "SELECT outcome, count(*) FROM campaign_deliveries WHERE campaign_id = :c GROUP BY outcome"),
            {"c": campaign_id})}


def test_a_segment_campaign_adds_one_message_per_object_google_holds(client, auth, services, google) -> None:  # type: ignore[no-untyped-def]
    pid = _program(services)
    saved, busy, removed, never = (_member(services, pid) for _ in range(4))
    inserted = _member(services, pid, name=LONG_NAME)
    outside = _member(services, pid, points=BRONZE)
    objects = {m["id"]: _at_google(client, google, m) for m in (saved, busy, removed, outside)}
    objects[inserted["id"]] = _at_google(client, google, inserted, saved=False)
    assert client.post("/google/callback", data=callback_body(objects[removed["id"]], event="del")).status_code == 200
    for i in range(3):  # busy's 3 notifications of the day are used up
        assert services.google.send_message(_card(services, busy), f"News {i}", "Hi") == "TEXT_AND_NOTIFY"
    _drain(services)
    before = len(google.api_requests())

    reach, campaign = _campaign(client, auth, {"program_id": pid, "segment": {"tier": ["Gold"]}})
    assert reach["google_path"] == "objects" and reach["passes"] == 5
    assert reach["google_objects"] == 3 and reach["google_over_quota"] == 1  # saved, busy, inserted; busy
    assert google.api_requests()[before:] == []  # the dry run and the POST send nothing
    _drain(services)

    sent = {_target(q): q.body["message"] for q in _messages(google, before)}
    assert len(_messages(google, before)) == 3  # one each: nobody removed, never saved or outside the segment
    assert sent.keys() == {objects[m["id"]] for m in (saved, busy, inserted)}
    assert {o: m["messageType"] for o, m in sent.items()} == {
        objects[saved["id"]]: "TEXT_AND_NOTIFY", objects[inserted["id"]]: "TEXT_AND_NOTIFY",
        objects[busy["id"]]: "TEXT"}
    msg = sent[objects[saved["id"]]]
    assert msg["header"] == "Weekend BOGO" and msg["id"] == f"campaign-{campaign['id']}"
    assert msg["body"] == MESSAGE["en"] and msg["localizedBody"] == {
        "defaultValue": {"language": "en", "value": MESSAGE["en"]},
        "translatedValues": [{"language": "zh-Hant", "value": MESSAGE["zh-Hant"]},
                             {"language": "zh-Hans", "value": MESSAGE["en"]}]}  # no zh-Hans text: the default
    assert all(q.status == 200 for q in google.api_requests()[before:])
    assert google.notify_count(objects[busy["id"]]) == 3

    got = client.get(f"/api/v1/campaigns/{campaign['id']}", headers=auth).json
    assert got["state"] == "done" and got["total"] == got["sent"] == 5 and got["failed"] == 0
    assert got["skipped_notification"] == reach["google_over_quota"] == 1
    outcomes = _outcomes(services, campaign["id"])  # what the run did, against the dry run
    assert outcomes.get("notified", 0) + outcomes.get("silent", 0) == reach["google_objects"]
    assert outcomes.get("silent") == reach["google_over_quota"] and outcomes[None] == 2


def test_a_whole_program_campaign_is_one_class_message(client, auth, services, google) -> None:  # type: ignore[no-untyped-def]
    pid = _program(services)
    saved, other = _member(services, pid), _member(services, pid, points=BRONZE)
    inserted = _member(services, pid, name=LONG_NAME)
    _member(services, pid)  # never saved: reached (its news), not at Google
    _at_google(client, google, saved)
    _at_google(client, google, other)
    _at_google(client, google, inserted, saved=False)
    _drain(services)
    before = len(google.api_requests())
    reach, campaign = _campaign(client, auth, {"program_id": pid})
    assert reach["google_path"] == "class" and reach["passes"] == 4 and reach["google_objects"] == 3
    _drain(services)

    [call] = _messages(google, before)  # one request, however many objects the class has
    class_id = f"{ISSUER}.program-{pid}"
    assert call.path == f"/walletobjects/v1/loyaltyClass/{class_id}/addMessage" and call.status == 200
    assert call.body["message"]["messageType"] == "TEXT_AND_NOTIFY"
    assert call.body["message"]["localizedBody"]["translatedValues"][0]["value"] == MESSAGE["zh-Hant"]
    assert not [q for q in google.api_requests()[before:] if "/loyaltyObject/" in q.path]
    assert google.store[("loyaltyClass", class_id)]["messages"][-1]["id"] == f"campaign-{campaign['id']}"
    got = client.get(f"/api/v1/campaigns/{campaign['id']}", headers=auth).json
    assert got["state"] == "done" and got["sent"] == 4 and got["failed"] == got["skipped_notification"] == 0

    # The class message failing for good fails every pass Google holds (not the one never saved).
    google.fail_next(400)
    _, failing = _campaign(client, auth, {"program_id": pid})
    _drain(services)
    got = client.get(f"/api/v1/campaigns/{failing['id']}", headers=auth).json
    assert got["sent"] == 4 and got["failed"] == 3


def test_lost_answers_refusals_and_failures(client, auth, services, google, clock) -> None:  # type: ignore[no-untyped-def]
    pid = _program(services)
    lost, dup, bad, refused = (_member(services, pid, external_id=n) for n in ("lost", "dup", "bad", "refused"))
    objects = {m["external_id"]: _at_google(client, google, m) for m in (lost, dup, bad, refused)}
    _drain(services)

    def run(who: str) -> dict[str, Any]:
        _, campaign = _campaign(client, auth, {"program_id": pid, "segment": {"external_ids": [who]}})
        _drain(services)
        return campaign

    # The answer is lost after Google added the message: the retry finds it there and does not send it again.
    google.lose_next_answer()
    before = len(google.api_requests())
    campaign = run("lost")
    [job] = _google_jobs(services, "google_message")
    assert job.attempts == 1 and "unreachable" in job.last_error
    clock.advance(seconds=(job.available_at - clock.now()).total_seconds() + 1)
    _drain(services)
    assert _google_jobs(services, "google_message") == []
    assert [(q.method, q.status) for q in google.api_requests()[before:]] == [("POST", 0), ("GET", 200)]
    stored = google.store[("loyaltyObject", objects["lost"])]["messages"]
    assert [m["id"] for m in stored] == [f"campaign-{campaign['id']}"] and google.notify_count(objects["lost"]) == 1
    assert _notify_records(services, _card(services, lost)) == [True]  # our count agrees with Google's
    got = client.get(f"/api/v1/campaigns/{campaign['id']}", headers=auth).json
    assert got["sent"] == 1 and got["failed"] == got["skipped_notification"] == 0

    # 409 "already exists" for the message: delivered.
    google.fail_next(409)
    campaign = run("dup")
    assert _google_jobs(services, "google_message") == []
    assert _outcomes(services, campaign["id"]) == {"notified": 1}

    # A permanent error: parked, and the campaign counts the pass failed.
    google.fail_next(400)
    campaign = run("bad")
    [parked] = _google_jobs(services, "google_message")
    assert parked.available_at.year == 9999 and "400" in parked.last_error
    got = client.get(f"/api/v1/campaigns/{campaign['id']}", headers=auth).json
    assert got["sent"] == 1 and got["failed"] == 1
    with services.engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox"))

    # Google counts notifications ours does not (a day later by our clock, not by Google's): refused, the
    # message goes again as TEXT and counts as skipped_notification.
    for i in range(3):
        assert services.google.send_message(_card(services, refused), f"News {i}", "Hi") == "TEXT_AND_NOTIFY"
    clock.advance(hours=24, seconds=1)
    before = len(google.api_requests())
    campaign = run("refused")
    types = [(q.status, q.body["message"]["messageType"]) for q in _messages(google, before)]
    assert types == [(429, "TEXT_AND_NOTIFY"), (200, "TEXT")]
    got = client.get(f"/api/v1/campaigns/{campaign['id']}", headers=auth).json
    assert got["failed"] == 0 and got["skipped_notification"] == 1
    assert _notify_records(services, _card(services, refused))[-1] is False


def _google_jobs(services: Services, kind: str) -> list[Any]:
    with services.engine.connect() as conn:
        return list(conn.execute(select(OutboxRow).where(OutboxRow.kind == kind).order_by(OutboxRow.id)))


def _notify_records(services: Services, pass_id: int) -> list[bool]:
    with services.engine.connect() as conn:
        return [bool(n) for (n,) in conn.execute(text(
            "SELECT notify FROM google_messages WHERE pass_id = :p AND kind = 'message' ORDER BY id"), {"p": pass_id})]


def _coupon_object(services: Services, member: dict[str, Any]) -> str:
    with services.uow() as u:
        [coupon] = u.passes.of_member_coupons(member["id"])
        return f"{ISSUER}.{coupon.serial_number}"


def test_a_campaign_coupon_is_linked_beside_the_card(client, auth, services, google) -> None:  # type: ignore[no-untyped-def]
    pid = _program(services)
    offer = make_offer(client, auth, pid, valid_until=VALID_UNTIL)
    saved, never, outside = _member(services, pid), _member(services, pid), _member(services, pid, points=BRONZE)
    inserted = _member(services, pid, name=LONG_NAME)
    cards = {m["id"]: _at_google(client, google, m) for m in (saved, outside)}
    cards[inserted["id"]] = _at_google(client, google, inserted, saved=False)
    _drain(services)
    before = len(google.api_requests())
    _, campaign = _campaign(client, auth, {"program_id": pid, "segment": {"tier": ["Gold"]}, "offer_id": offer})
    _drain(services)

    assert count(services, f"SELECT count(*) FROM coupons WHERE offer_id = {offer}") == 3  # every member reached
    offer_class = f"{ISSUER}.offer-{offer}"
    assert ("offerClass", offer_class) in google.store
    for m in (saved, inserted):
        coupon = _coupon_object(services, m)
        assert google.store[("offerObject", coupon)]["state"] == "ACTIVE"
        assert google.store[("loyaltyObject", cards[m["id"]])]["linkedObjectIds"] == [coupon]
    assert ("offerObject", _coupon_object(services, never)) not in google.store  # the card is not at Google
    assert "linkedObjectIds" not in google.store[("loyaltyObject", cards[outside["id"]])]
    links = [q for q in google.api_requests()[before:] if q.method == "PATCH" and "linkedObjectIds" in q.body]
    assert len(links) == 2 and not any("notifyPreference" in q.body for q in links)  # no buzz: no cap used
    with services.engine.connect() as conn:
        states = dict(conn.execute(text("SELECT p.serial_number, w.state FROM wallet_objects w JOIN passes p "
                                        "ON p.id = w.pass_id WHERE p.kind = 'coupon'")).all())
    assert sorted(states.values()) == ["inserted", "inserted"]
    assert _google_jobs(services, "google_offer_link") == []

    # Again with the same offer: no new coupon, nothing inserted, the links are there already (read, not sent).
    before = len(google.api_requests())
    _campaign(client, auth, {"program_id": pid, "segment": {"tier": ["Gold"]}, "offer_id": offer})
    _drain(services)
    assert count(services, f"SELECT count(*) FROM coupons WHERE offer_id = {offer}") == 3
    calls = [(q.method, q.path.split("/")[3]) for q in google.api_requests()[before:] if "addMessage" not in q.path]
    assert sorted(calls) == [("GET", "loyaltyObject")] * 2


def test_the_link_follows_the_chunk_that_issued_the_coupon_and_a_link_google_ignores_is_parked(  # type: ignore[no-untyped-def]
        client, auth, services, google) -> None:
    pid = _program(services)
    first, second = (make_offer(client, auth, pid, valid_until=VALID_UNTIL, title=t) for t in ("Latte", "Scone"))
    m = _member(services, pid)
    card = _at_google(client, google, m)
    _drain(services)
    _campaign(client, auth, {"program_id": pid, "offer_id": first})
    _drain(services)  # the chunk issued the coupon in its own transaction: the link never has to wait for it
    assert google.store[("loyaltyObject", card)]["linkedObjectIds"] == [_coupon_object(services, m)]
    assert _google_jobs(services, "google_offer_link") == []

    google.link_limit = 1  # Google's limit of linked objects is reached: the new link is silently ignored
    _campaign(client, auth, {"program_id": pid, "offer_id": second})
    _drain(services)
    [parked] = _google_jobs(services, "google_offer_link")
    assert parked.available_at.year == 9999 and "limit of linked objects" in parked.last_error
    assert len(google.store[("loyaltyObject", card)]["linkedObjectIds"]) == 1
