"""Keeping Google's copies current through the outbox, against the fake Google (discovery-validated bodies):
coalesced jobs, one outcome per job (retry / pause / park / re-insert), the shared notification cap, messages,
stale objects after a fat-link save, removed passes, class versions, offers and coupons."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt as pyjwt
import pytest
from sqlalchemy import select, text

from tests.builders import make_member, make_program
from tests.fakes.google_server import FakeGoogle
from tests.helpers import ISSUER, callback_body
from walletpass.demo import DEMO_PROGRAM
from walletpass.domain.jobs import JobOutcome
from walletpass.errors import GoogleApiError
from walletpass.google import schema
from walletpass.google.client import RetryPolicy
from walletpass.google.provider import GoogleWallet, Synced, results_of
from walletpass.jobs.worker import Worker
from walletpass.services.changes import passes_changed
from walletpass.services.points import add_transaction
from walletpass.storage.outbox import Outbox
from walletpass.storage.tables import GoogleMessageRow, OutboxRow

pytestmark = pytest.mark.usefixtures("google")  # settings point at the stand-in

LONG_TERMS = "Long terms. " * 150  # the class must be inserted by REST
LONG_NAME = "晨光會員" * 50  # and then the object too (the demo card's object alone fits)


class StepClock:
    """A clock the test moves forward (jobs rescheduled with backoff come due when it says so)."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def services(settings, clock):  # type: ignore[no-untyped-def]
    from walletpass.bootstrap import bootstrap

    svc = bootstrap(settings, clock=clock)
    yield svc
    svc.close()


def _save(client, member) -> str:  # type: ignore[no-untyped-def]
    r = client.get("/" + member["links"]["google_save"].split("://", 1)[1].split("/", 1)[1])
    assert r.status_code == 302
    return r.headers["Location"]


def _points(services, member, points: int) -> None:  # type: ignore[no-untyped-def]
    add_transaction(services.uow(), services.clock, services.settings, member["id"], points, "test")


def _jobs(services, kind: str = "google_sync") -> list[Any]:  # type: ignore[no-untyped-def]
    with services.engine.connect() as conn:
        return conn.execute(select(OutboxRow).where(OutboxRow.kind == kind).order_by(OutboxRow.id)).all()


def _drain(services) -> None:  # type: ignore[no-untyped-def]
    worker = Worker(services)
    while worker.run_once():
        pass


def _saved_member(client, services, google, **kw: Any) -> tuple[dict, str]:  # type: ignore[no-untyped-def]
    """A member whose object was inserted by REST (long class) and saved by the user (callback)."""
    pid = make_program(services, terms=LONG_TERMS, **kw)
    m = make_member(services, pid, points=10, name=LONG_NAME)
    _save(client, m)
    object_id = f"{ISSUER}.{m['serial_number']}"
    assert ("loyaltyObject", object_id) in google.store
    assert client.post("/google/callback", data=callback_body(object_id)).status_code == 200
    return m, object_id


def _patches(google: FakeGoogle, object_id: str) -> list[Any]:
    return [r for r in google.api_requests("PATCH") if r.path.endswith(object_id)]


def test_changes_within_the_window_become_one_untried_job(client, services, google) -> None:  # type: ignore[no-untyped-def]
    m, object_id = _saved_member(client, services, google)
    for points in (5, 7, 11):
        _points(services, m, points)
    [job] = _jobs(services)
    assert job.attempts == 0 and job.payload["reasons"] == ["points"]
    # A claimed job is never merged into: the next change gets a job of its own.
    claimed = Outbox(services.engine).claim("w1", services.clock.now(), limit=10)
    assert [j.kind for j in claimed] == ["pass_changed", "google_sync"]
    _points(services, m, 1)
    jobs = _jobs(services)
    assert len(jobs) == 2 and jobs[1].attempts == 0 and jobs[1].locked_until is None


def test_each_job_has_its_own_outcome_and_failures_retry_with_backoff(client, services, google, clock) -> None:  # type: ignore[no-untyped-def]
    a, obj_a = _saved_member(client, services, google)
    b, obj_b = _saved_member(client, services, google)
    _points(services, a, 5)
    _points(services, b, 5)
    before = len(google.api_requests())
    google.fail_next(503)  # the first PATCH (a's) fails once; b's goes through
    _drain(services)
    assert [r.status for r in google.api_requests()[before:]] == [503, 200]
    [job] = _jobs(services)
    assert job.pass_id is not None and job.attempts == 1 and "503" in job.last_error
    assert job.available_at > clock.now()
    assert len(_patches(google, obj_b)) == 1  # not patched again with a's retry
    clock.at = job.available_at + timedelta(seconds=1)
    _drain(services)
    assert _jobs(services) == [] and len(_patches(google, obj_b)) == 1
    assert google.store[("loyaltyObject", obj_a)]["loyaltyPoints"]["balance"] == {"int": 15}


def test_errors_retrying_cannot_fix_are_parked_and_counted(client, services, google, app) -> None:  # type: ignore[no-untyped-def]
    m, object_id = _saved_member(client, services, google)
    _points(services, m, 5)
    google.fail_next(400)
    _drain(services)
    [job] = _jobs(services)
    assert job.available_at.year == 9999 and "400" in job.last_error and "Scripted failure" in job.last_error
    assert 'walletpass_outbox_parked{kind="google_sync"} 1.0' in client.get("/metrics").get_data(as_text=True)
    before = len(google.api_requests())
    _drain(services)
    assert len(google.api_requests()) == before  # never claimed again
    _points(services, m, 1)  # a later change gets a job of its own; its success retires the parked one
    _drain(services)
    assert _jobs(services) == []
    assert google.store[("loyaltyObject", object_id)]["loyaltyPoints"]["balance"] == {"int": 16}


def test_forbidden_pauses_and_repeated_failures_end_parked(client, services, google, clock) -> None:  # type: ignore[no-untyped-def]
    m, _ = _saved_member(client, services, google)
    _points(services, m, 5)
    google.fail_next(403)
    _drain(services)
    [job] = _jobs(services)
    assert job.available_at >= clock.now() + timedelta(minutes=15) and "403" in job.last_error
    outbox = Outbox(services.engine)
    claimed = outbox.claim("w1", job.available_at + timedelta(seconds=1), limit=10)
    from walletpass.push.policy import GOOGLE_MAX_ATTEMPTS

    tired = [dataclasses.replace(j, attempts=GOOGLE_MAX_ATTEMPTS) for j in claimed]  # same claim, many tries
    outbox.apply(results_of([Synced(tired[0], JobOutcome.RETRY, "Google 503 backendError")], clock.now(),
                            random.Random()))
    assert _jobs(services)[0].available_at.year == 9999  # retries are capped


def test_object_missing_at_google_is_inserted_again(client, services, google) -> None:  # type: ignore[no-untyped-def]
    m, object_id = _saved_member(client, services, google)
    del google.store[("loyaltyObject", object_id)]
    _points(services, m, 5)
    _drain(services)
    assert _jobs(services) == []
    assert google.store[("loyaltyObject", object_id)]["loyaltyPoints"]["balance"] == {"int": 15}


def test_objects_not_at_google_are_skipped(client, services, google) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    m = make_member(services, pid)
    with services.uow() as u:
        [row] = u.passes.of_member(m["id"])
        u.outbox.enqueue("google_sync", {"reasons": ["points"]}, services.clock.now(), pass_id=row.id)
        u.commit()
    _drain(services)
    assert _jobs(services) == [] and google.api_requests() == []


def test_batch_stays_within_the_lease(client, services, google) -> None:  # type: ignore[no-untyped-def]
    a, _ = _saved_member(client, services, google)
    b, _ = _saved_member(client, services, google)
    _points(services, a, 5)
    _points(services, b, 5)
    claimed = Outbox(services.engine).claim("w1", services.clock.now(), limit=10)
    jobs = [j for j in claimed if j.kind == "google_sync"]
    ticks = iter(range(100))
    client_ = services.google_client().with_retry(RetryPolicy(attempts=1))
    google_ = GoogleWallet(services.settings, services.clock, services.uow, monotonic=lambda: float(next(ticks)))
    outcomes = google_.sync_objects(jobs, client_, budget_seconds=1.5)
    assert [o.outcome for o in outcomes] == ["done", "released"]
    Outbox(services.engine).apply(results_of(outcomes, services.clock.now(), random.Random()))
    [left] = _jobs(services)
    assert left.id == jobs[1].id and left.attempts == 0 and left.locked_until is None
    _points(services, b, 1)  # an untried job again: it absorbs the next change
    assert len(_jobs(services)) == 1


def test_updates_and_messages_share_three_notifications_a_day(client, services, google, clock) -> None:  # type: ignore[no-untyped-def]
    m, object_id = _saved_member(client, services, google)
    for _ in range(2):
        _points(services, m, 5)
        _drain(services)
    sent = [p.body.get("notifyPreference") for p in _patches(google, object_id)]
    assert sent == ["NOTIFY_ON_UPDATE"] * 2
    with services.uow() as u:
        pass_id = u.wallet_state.object_by_id(object_id).pass_id
    send = lambda i: services.google.send_message(pass_id,  # noqa: E731
                                                f"News {i}", "20% off this week", message_id=f"m{i}")
    assert send(1) == "TEXT_AND_NOTIFY"
    assert send(2) == "TEXT"  # 2 updates + 1 message: the cap is reached, known before sending
    _points(services, m, 5)
    _drain(services)
    assert "notifyPreference" not in _patches(google, object_id)[-1].body
    assert google.notify_count(object_id) == 3
    assert all(r.status == 200 for r in google.api_requests()[-4:])
    with services.engine.connect() as conn:
        rows = conn.execute(select(GoogleMessageRow.kind, GoogleMessageRow.notify)
                            .order_by(GoogleMessageRow.id)).all()
    assert [tuple(r) for r in rows] == [("update", True), ("update", True), ("message", True),
                                        ("message", False), ("update", False)]
    # A day later a slot is free by our records, but Google (the fake's real clock) still counts three: the
    # refused buzz is not retried, the message goes as TEXT and the record says so.
    clock.at += timedelta(hours=24, seconds=1)
    assert send(3) == "TEXT"
    assert google.store[("loyaltyObject", object_id)]["messages"][-1]["messageType"] == "TEXT"
    with services.engine.connect() as conn:
        assert conn.execute(select(GoogleMessageRow.notify).order_by(GoogleMessageRow.id.desc())).first() == (False,)


def test_four_messages_three_notify_and_the_fourth_is_text(client, services, google, clock) -> None:  # type: ignore[no-untyped-def]
    m, object_id = _saved_member(client, services, google)
    with services.uow() as u:
        pass_id = u.wallet_state.object_by_id(object_id).pass_id
    types = [services.google.send_message(pass_id, f"News {i}", "Hi")
             for i in range(4)]
    assert types == ["TEXT_AND_NOTIFY"] * 3 + ["TEXT"]
    assert [r.body["message"]["messageType"] for r in google.api_requests("POST")[-4:]] == types
    assert all(r.status == 200 for r in google.api_requests()) and google.notify_count(object_id) == 3
    pid = make_program(services)
    never_saved = make_member(services, pid)
    with services.uow() as u:
        other = u.passes.of_member(never_saved["id"])[0].id
    assert services.google.send_message(other, "x", "y") == "skipped"


def test_a_failed_message_frees_its_notification(client, services, google, clock) -> None:  # type: ignore[no-untyped-def]
    m, object_id = _saved_member(client, services, google)
    with services.uow() as u:
        pass_id = u.wallet_state.object_by_id(object_id).pass_id
    google.fail_next(400)
    with pytest.raises(GoogleApiError):
        services.google.send_message(pass_id, "x", "y")
    with services.engine.connect() as conn:
        assert conn.execute(select(GoogleMessageRow)).all() == []


def test_a_save_of_a_stale_fat_link_queues_a_sync(client, services, google) -> None:  # type: ignore[no-untyped-def]
    texts = {loc: {k: v for k, v in t.items() if k != "points_label"} for loc, t in DEMO_PROGRAM["texts"].items()}
    pid = make_program(services, texts=texts)  # the object alone fits in a link (see test_google_flow)
    stale, fresh = make_member(services, pid, points=10), make_member(services, pid, points=10)
    for m in (stale, fresh):
        _save(client, m)  # fat links (class inserted once; the objects travel in the links)
    _points(services, stale, 90)  # not at Google yet as far as we know: nothing to patch
    assert _jobs(services) == []
    for m in (stale, fresh):
        body = callback_body(f"{ISSUER}.{m['serial_number']}")
        assert client.post("/google/callback", data=body).status_code == 200
    [job] = _jobs(services)
    google.store[("loyaltyObject", f"{ISSUER}.{stale['serial_number']}")] = {  # what the save created
        "id": f"{ISSUER}.{stale['serial_number']}", "classId": f"{ISSUER}.program-{pid}", "state": "ACTIVE"}
    _drain(services)
    obj = google.store[("loyaltyObject", f"{ISSUER}.{stale['serial_number']}")]
    assert obj["loyaltyPoints"]["balance"] == {"int": 100}
    assert "notifyPreference" not in _patches(google, obj["id"])[-1].body


def test_a_removed_pass_gets_current_data_before_a_new_link(client, services, google) -> None:  # type: ignore[no-untyped-def]
    m, object_id = _saved_member(client, services, google)
    assert client.post("/google/callback", data=callback_body(object_id, event="del")).status_code == 200
    _points(services, m, 90)  # removed: no sync job, Google's copy goes stale
    assert _jobs(services) == []
    url = _save(client, m)
    assert google.store[("loyaltyObject", object_id)]["loyaltyPoints"]["balance"] == {"int": 100}
    claims = pyjwt.decode(url.rsplit("/", 1)[1], options={"verify_signature": False})
    assert claims["payload"]["loyaltyObjects"] == [{"id": object_id, "classId": f"{ISSUER}.program-{m['program_id']}"}]
    before = len(google.api_requests())
    _save(client, m)  # up to date now: no REST call
    assert len(google.api_requests()) == before


def test_design_change_patches_the_class_and_records_its_version(client, services, google) -> None:  # type: ignore[no-untyped-def]
    m, object_id = _saved_member(client, services, google)
    pid = m["program_id"]
    with services.uow() as u:
        u.programs.update(pid, {"name": "Morning Light Club"}, services.clock.now())  # a new version too
        services.google.request_class_sync(u, services.clock.now(), program_id=pid)
        u.commit()
    _drain(services)
    assert google.store[("loyaltyClass", f"{ISSUER}.program-{pid}")]["programName"] == "Morning Light Club"
    assert _jobs(services, "google_class_sync") == []
    with services.uow() as u:
        rendered = services.google.render(u, u.wallet_state.object_by_id(object_id).pass_id)
    assert rendered.class_current_at_google
    before = len(google.api_requests())
    with services.uow() as u:  # no change: nothing sent
        services.google.request_class_sync(u, services.clock.now(), program_id=pid)
        u.commit()
    _drain(services)
    assert len(google.api_requests()) == before


def _coupon_pass(services, pid: int, member_id: int, texts: dict) -> int:  # type: ignore[no-untyped-def]
    from walletpass.domain.passes import COUPON
    from walletpass.ids import new_serial, new_token

    now = services.clock.now()
    with services.uow() as u:
        offer = u.offers.add({"program_id": pid, "title": "Free coffee", "description": "Any size",
                              "discount": "100%", "terms": "One per visit", "texts": texts,
                              "valid_until": now + timedelta(days=30)}, now)
        coupon = u.offers.add_coupon(offer_id=offer.id, member_id=member_id, code="CPN-0001", now=now)
        row = u.passes.add(serial_number=new_serial(), pass_type_id=services.settings.coupon_pass_type_id,
                           kind=COUPON, program_id=pid, coupon_id=coupon.id, authentication_token=new_token(24),
                           public_token=new_token(24), tag=u.passes.next_tag(), now=now)
        u.commit()
        return row.id


def test_offer_and_coupon_sync(client, services, google) -> None:  # type: ignore[no-untyped-def]
    texts = {"zh-Hant": {"title": "免費咖啡", "description": "任何尺寸", "discount": "全免", "terms": "每次一張"},
             "zh-Hans": {"title": "免费咖啡", "description": "任何尺寸", "discount": "全免", "terms": "每次一张"}}
    pid = make_program(services, terms=LONG_TERMS)
    m = make_member(services, pid)
    pass_id = _coupon_pass(services, pid, m["id"], texts)
    url = services.google.save_link(pass_id)
    claims = pyjwt.decode(url.rsplit("/", 1)[1], options={"verify_signature": False})
    [obj] = claims["payload"]["offerObjects"]
    assert not schema.errors("OfferObject", obj, strict=True)
    [cls] = [v for (res, _), v in google.store.items() if res == "offerClass"] or claims["payload"]["offerClasses"]
    assert {t["language"]: t["value"] for t in cls["localizedTitle"]["translatedValues"]} == {
        "zh-Hant": "免費咖啡", "zh-Hans": "免费咖啡"}
    assert cls["localizedFinePrint"]["translatedValues"][0]["value"] == "每次一張"
    assert client.post("/google/callback", data=callback_body(obj["id"])).status_code == 200
    google.store[("offerObject", obj["id"])] = obj  # the save created it from the link
    with services.uow() as u:
        u.offers.set_coupon_state(u.passes.get(pass_id).coupon_id, "redeemed", services.clock.now())
        passes_changed(u, [pass_id], services.clock.now(), reason="redeemed")
        u.commit()
    _drain(services)
    assert google.store[("offerObject", obj["id"])]["state"] == "COMPLETED"
    [patch] = _patches(google, obj["id"])
    assert "notifyPreference" not in patch.body


def test_nonces_of_expired_messages_are_pruned(client, services, google, clock) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/google/callback", data=callback_body(f"{ISSUER}.X", nonce="n-1")).status_code == 200
    assert services.google.prune_callback_nonces() == 0
    clock.at += timedelta(minutes=10)  # the message expired 5 minutes after it was sent
    assert services.google.prune_callback_nonces() == 1
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM google_callback_nonces")).scalar_one() == 0


def test_record_callback_race_is_a_replay(services, clock) -> None:  # type: ignore[no-untyped-def]
    """Two deliveries of one callback at the same moment: the second waits for the first's insert and is a
    replay (before: the nonce's primary key raised IntegrityError → 500 on PostgreSQL)."""
    import threading

    from walletpass.google.callbacks import CallbackEvent

    event = CallbackEvent(f"{ISSUER}.program-1", f"{ISSUER}.X", "save", "same-nonce", clock.now() + timedelta(minutes=5))
    first = services.uow()
    first.__enter__()
    assert first.wallet_state.claim_nonce(event.nonce, clock.now(), event.exp)
    results: list[str] = []
    second = threading.Thread(target=lambda: results.append(services.google.record_callback(event)))
    second.start()
    second.join(timeout=0.5)  # blocked on the first's row (PostgreSQL) or the write lock (SQLite)
    first.commit()
    first.__exit__(None, None, None)
    second.join(timeout=30)
    assert results == ["duplicate"]
