"""Push campaigns through the API, against the APNs and Google stand-ins: each targeted pass shows the message once
(its news field, changeMessage %@, the only field that changes), nobody outside the segment is touched, dry runs
send nothing, cancels stop the rest (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.builders import make_member, make_program
from tests.helpers import (
    Device,
    auth_token_of,
    card_fields,
    count,
    drain,
    local,
    make_offer,
    pkpass_files,
    post,
    signatures,
    verify_with_openssl,
)
from walletpass.jobs.worker import Worker

pytestmark = pytest.mark.usefixtures("apns")


def test_a_campaign_reaches_its_segment_once_with_the_message_on_the_lock_screen(  # type: ignore[no-untyped-def]
        client, auth, services, apns, tmp_path) -> None:
    pid = make_program(services)
    gold = [make_member(services, pid, points=2500) for _ in range(3)]
    others = [make_member(services, pid, points=10) for _ in range(2)]
    phones = {}
    for m in gold + others:
        phones[m["id"]] = Device(client, services.settings.member_pass_type_id)
        assert phones[m["id"]].register(m["serial_number"], auth_token_of(client, m)).status_code == 201
    before = {m["id"]: pkpass_files(client.get(local(m["links"]["pkpass"])).data) for m in gold}
    drain(services)
    pushed = len(apns.pushes)
    body = {"program_id": pid, "message": {"en": "Buy one get one free this weekend", "zh-Hant": "週末咖啡買一送一"},
            "segment": {"tier": ["Gold"]}, "name": "Weekend BOGO", "ignore_quiet_hours": True}
    reach = post(client, "/api/v1/campaigns?dry_run=1", auth, body)
    assert reach.status_code == 200 and reach.json["passes"] == 3 and reach.json["apple_devices"] == 3
    assert reach.json["google_objects"] == 0 and count(services, "SELECT count(*) FROM campaigns") == 0
    r = post(client, "/api/v1/campaigns", auth, body, key="camp-1")
    assert r.status_code == 202 and r.json["state"] == "scheduled", r.json
    assert post(client, "/api/v1/campaigns", auth, body, key="camp-1").json == r.json  # a retry: the same
    drain(services)
    got = client.get(r.headers["Location"], headers=auth).json
    assert got["state"] == "done" and got["total"] == got["sent"] == 3 and got["failed"] == 0
    assert got["message"] == {"en": "Buy one get one free this weekend", "zh-Hant": "週末咖啡買一送一"}
    new = [p for p in apns.pushes[pushed:] if p.status == 200]
    assert sorted(p.token for p in new) == sorted(phones[m["id"]].token for m in gold)  # once each, Gold only
    for m in gold:
        data = client.get(local(m["links"]["pkpass"])).data
        verify_with_openssl(data, services.settings.wwdr_path, tmp_path)
        files = pkpass_files(data)
        old, now_ = card_fields(json.loads(before[m["id"]]["pass.json"])), card_fields(json.loads(files["pass.json"]))
        changed = {k for k in now_ if now_[k] != old.get(k)} | (old.keys() - now_.keys())
        assert changed == {"news"}                                     # exactly that field: iOS shows its text
        assert now_["news"]["changeMessage"] == "%@"
        key = now_["news"]["value"]
        zh = files["zh-Hant.lproj/pass.strings"].decode("utf-16")
        en = files["en.lproj/pass.strings"].decode("utf-16")
        assert f'"{key}" = "週末咖啡買一送一";' in zh and f'"{key}" = "Buy one get one free this weekend";' in en
    for m in others:  # nobody outside the segment is touched
        assert "news" not in card_fields(json.loads(pkpass_files(client.get(local(m["links"]["pkpass"])).data)["pass.json"]))
    listed = client.get(f"/api/v1/campaigns?program_id={pid}", headers=auth).json
    assert [c["id"] for c in listed["data"]] == [r.json["id"]] and listed["next"] is None
    assert post(client, f"/api/v1/campaigns/{r.json['id']}/cancel", auth).status_code == 409  # finished


def test_a_chunk_signs_its_passes_ahead_and_pushes_them_once_stored(client, auth, services, apns, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The thundering herd: the devices a campaign pushes all fetch their pass at once; the chunk's passes are
    signed ahead by a worker, the pushes go out once the bytes are stored, and the fetches sign nothing."""
    pid = make_program(services)
    gold = [make_member(services, pid, points=2500) for _ in range(3)]
    make_member(services, pid, points=2500)  # in the segment with no device: nobody will fetch it, nothing to sign
    phones, tokens = {}, {}
    for m in gold:
        tokens[m["id"]] = auth_token_of(client, m)
        phones[m["id"]] = Device(client, services.settings.member_pass_type_id)
        assert phones[m["id"]].register(m["serial_number"], tokens[m["id"]]).status_code == 201
    drain(services)
    r = post(client, "/api/v1/campaigns", auth, {"program_id": pid, "message": "Double points today",
                                                 "segment": {"tier": ["Gold"]}, "ignore_quiet_hours": True})
    assert r.status_code == 202, r.json
    worker, pushed, signed = Worker(services), len(apns.pushes), signatures(services)
    assert worker.run_once() == 1  # the start: deliveries written, chunk 0 queued
    assert worker.run_once() == 1  # chunk 0: the news set, the versions moved, pushes held, one pass_sign job
    held = "SELECT count(*) FROM outbox WHERE kind = 'pass_changed' AND available_at > created_at"
    assert count(services, held) == 4  # every pass of the chunk has its push, not due yet
    assert count(services, "SELECT count(*) FROM outbox WHERE kind = 'pass_sign'") == 1
    assert worker.run_once() == 1  # the sign-ahead job: the three passes a device will fetch, not the fourth
    assert signatures(services) == signed + 3 and len(apns.pushes) == pushed  # signed before anything is pushed
    assert count(services, "SELECT count(*) FROM pass_files WHERE data IS NOT NULL") == 3
    assert worker.run_once() == 4  # its passes' pushes, made due now (the hold is SIGN_AHEAD_HOLD)
    assert sorted(p.token for p in apns.pushes[pushed:] if p.status == 200) == sorted(d.token for d in phones.values())
    for m in gold:  # every device comes back for its pass: served from storage
        fetched = phones[m["id"]].fetch(m["serial_number"], tokens[m["id"]])
        assert fetched.status_code == 200
        verify_with_openssl(fetched.data, services.settings.wwdr_path, tmp_path)
        assert card_fields(json.loads(pkpass_files(fetched.data)["pass.json"]))["news"]["changeMessage"] == "%@"
    assert signatures(services) == signed + 3
    assert client.get(r.headers["Location"], headers=auth).json["state"] == "done"


def test_a_campaign_that_reaches_nobody_is_done_at_once(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    # On PostgreSQL the deliveries' INSERT … SELECT counted -1 rows (SQLAlchemy closed its cursor before reading
    # the rowcount), so a campaign that reached nobody stayed "sending" and its stored total was -1.
    pid = make_program(services)
    make_member(services, pid, points=10)
    r = post(client, "/api/v1/campaigns", auth, {"program_id": pid, "message": "Hi", "segment": {"tier": ["Diamond"]},
                                                 "ignore_quiet_hours": True})
    drain(services)
    got = client.get(r.headers["Location"], headers=auth).json
    assert got["state"] == "done" and got["total"] == 0
    assert count(services, "SELECT total FROM campaigns") == 0


def test_cancel_stops_what_is_not_sent_and_a_scheduled_campaign_waits(client, auth, services, apns) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    make_member(services, pid)
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    r = post(client, "/api/v1/campaigns", auth, {"program_id": pid, "message": "Tomorrow", "send_at": later,
                                                 "ignore_quiet_hours": True})
    assert r.status_code == 202 and r.json["state"] == "scheduled"
    drain(services)  # not due yet
    assert client.get(r.headers["Location"], headers=auth).json["state"] == "scheduled"
    cancelled = post(client, f"/api/v1/campaigns/{r.json['id']}/cancel", auth)
    assert cancelled.status_code == 200 and cancelled.json["state"] == "cancelled"
    with services.engine.begin() as conn:  # the start comes due: nothing is written or sent
        conn.execute(text("UPDATE outbox SET available_at = created_at"))
    drain(services)
    got = client.get(r.headers["Location"], headers=auth).json
    assert got["state"] == "cancelled" and got["total"] == 0 and count(services, "SELECT count(*) FROM passes "
                                                                                "WHERE news_campaign_id IS NOT NULL") == 0


def test_a_campaign_with_an_offer_gives_each_member_reached_one_coupon_linked_from_the_news(  # type: ignore[no-untyped-def]
        client, auth, services, tmp_path) -> None:
    pid = make_program(services)
    offer = make_offer(client, auth, pid, valid_until="2099-12-31T00:00:00+00:00")
    gold = [make_member(services, pid, points=2500) for _ in range(3)]
    other = make_member(services, pid, points=10)
    held = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": gold[0]["id"]}).json
    before = pkpass_files(client.get(local(gold[1]["links"]["pkpass"])).data)
    r = post(client, "/api/v1/campaigns", auth, {"program_id": pid, "message": "A free latte <3 & more",
                                                 "segment": {"tier": ["Gold"]}, "offer_id": offer,
                                                 "ignore_quiet_hours": True})
    assert r.status_code == 202, r.json
    drain(services)
    assert client.get(r.headers["Location"], headers=auth).json["sent"] == 3
    with services.engine.connect() as conn:
        rows = conn.execute(text("SELECT member_id, count(*) FROM coupons WHERE offer_id = :o GROUP BY member_id"),
                            {"o": offer}).all()
        assert dict(rows) == {m["id"]: 1 for m in gold}           # one each, the holder kept theirs, other none
        tokens = dict(conn.execute(text("SELECT c.member_id, p.public_token FROM coupons c JOIN passes p "
                                        "ON p.coupon_id = c.id WHERE c.offer_id = :o"), {"o": offer}).all())
    assert tokens[gold[0]["id"]] == held["links"]["page"].rsplit("/", 1)[-1]
    for m in gold:
        data = client.get(local(m["links"]["pkpass"])).data
        verify_with_openssl(data, services.settings.wwdr_path, tmp_path)
        files = pkpass_files(data)
        news = card_fields(json.loads(files["pass.json"]))["news"]
        assert news["changeMessage"] == "%@" and news["value"] == f"news.{r.json['id']}"
        en = files["en.lproj/pass.strings"].decode("utf-16")
        link = services.urls.pkpass(tokens[m["id"]])
        assert (f'"{news["attributedValue"]}" = "A free latte &lt;3 &amp; more\\n\\n'
                f"<a href='{link}'>Add your coupon to Wallet</a>\";") in en
        assert client.get(local(link)).status_code == 200              # the link adds the member's own coupon
    old, new = card_fields(json.loads(before["pass.json"])), card_fields(json.loads(pkpass_files(
        client.get(local(gold[1]["links"]["pkpass"])).data)["pass.json"]))
    assert {k for k in new if new[k] != old.get(k)} == {"news"}      # still the only field that changed
    assert "news" not in card_fields(json.loads(pkpass_files(client.get(local(other["links"]["pkpass"])).data)["pass.json"]))

def test_a_send_inside_the_programs_quiet_hours_is_scheduled_for_their_end(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    r = post(client, "/api/v1/programs", auth, {"name": "Tea", "organization_name": "Tea Co",
                                                "time_zone": "Asia/Taipei"})
    assert r.status_code == 201, r.json
    pid = r.json["id"]
    program = client.get(f"/api/v1/programs/{pid}", headers=auth).json
    assert program["time_zone"] == "Asia/Taipei" and program["quiet_hours"] == {"start": "21:00", "end": "09:00"}
    late = "2099-06-01T23:30:00+08:00"  # inside 21:00–09:00 in Taipei
    body = {"program_id": pid, "message": "Good morning", "send_at": late}
    reach = post(client, "/api/v1/campaigns?dry_run=1", auth, body)
    assert reach.json["start_at"] == "2099-06-02T01:00:00+00:00"     # 09:00 in Taipei: the dry run says so too
    deferred = post(client, "/api/v1/campaigns", auth, body)
    assert deferred.status_code == 202 and deferred.json["send_at"] == "2099-06-02T01:00:00+00:00"
    asked = post(client, "/api/v1/campaigns", auth, {**body, "ignore_quiet_hours": True})
    assert asked.json["send_at"] == "2099-06-01T15:30:00+00:00"
    changed = client.patch(f"/api/v1/programs/{pid}", headers=auth, json={"quiet_hours": None})
    assert changed.status_code == 200 and changed.json["quiet_hours"] is None
    assert post(client, "/api/v1/campaigns", auth, body).json["send_at"] == "2099-06-01T15:30:00+00:00"
    for bad, field in [({"time_zone": "Mars/Olympus"}, "time_zone"),
                       ({"quiet_hours": {"start": "25:00", "end": "09:00"}}, "quiet_hours")]:
        r = client.patch(f"/api/v1/programs/{pid}", headers=auth, json=bad)
        assert r.status_code == 422 and r.json["errors"][0]["field"].startswith(field), r.json

@pytest.mark.parametrize(("body", "status", "field"), [
    ({"program_id": 4242, "message": "x"}, 422, "program_id"),
    ({"message": "x"}, 422, "program_id"),
    ({"program_id": "PID", "message": ""}, 422, "message"),
    ({"program_id": "PID", "message": "   "}, 422, "message"),
    ({"program_id": "PID", "message": "x" * 501}, 422, "message"),
    ({"program_id": "PID", "message": {"fr": "Bonjour"}}, 422, "message.fr"),
    ({"program_id": "PID", "message": "x", "send_at": "2020-01-01T00:00:00Z"}, 422, "send_at"),
    ({"program_id": "PID", "message": "x", "segment": {"tier": ["Platinum"]}}, 422, "segment.tier[0]"),
    ({"program_id": "PID", "message": "x", "offer_id": 4242}, 422, "offer_id"),
])
def test_bad_campaigns_change_nothing(client, auth, services, body, status, field) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services, locales=["en"], texts={})
    body = {k: (pid if v == "PID" else v) for k, v in body.items()}
    r = post(client, "/api/v1/campaigns", auth, body)
    assert r.status_code == status and r.mimetype == "application/problem+json", r.json
    assert r.json["errors"][0]["field"].startswith(field), r.json
    assert count(services, "SELECT count(*) FROM campaigns") == 0
    assert count(services, "SELECT count(*) FROM outbox WHERE kind LIKE 'campaign%'") == 0


@pytest.mark.slow
def test_cancel_halfway_stops_the_chunks_not_yet_delivered_and_the_dry_run_counted_right(  # type: ignore[no-untyped-def]
        settings, apns) -> None:
    """1,001 members with a phone each, paced at 5 passes/s: the first chunk (1,000) is delivered at once, the
    second comes due 200 s later; a cancel in between leaves it undelivered, and its pass untouched."""
    import dataclasses

    from api import create_app
    from walletpass.bootstrap import bootstrap
    from walletpass.services.api_keys import create_api_key

    svc = bootstrap(dataclasses.replace(settings, campaign_rate=5.0))
    try:
        client = create_app(services=svc).test_client()
        auth = {"Authorization": "Bearer " + create_api_key(svc.uow(), svc.clock, svc.api_keys.hasher, "t",
                                                            ["admin"])}
        pid = make_program(svc)
        phones = []
        for _ in range(1001):
            m = make_member(svc, pid)
            phones.append(Device(client, settings.member_pass_type_id))
            assert phones[-1].register(m["serial_number"], auth_token_of(client, m)).status_code == 201
        drain(svc)
        pushed = len(apns.pushes)
        body = {"program_id": pid, "message": "Half of you", "ignore_quiet_hours": True}
        reach = post(client, "/api/v1/campaigns?dry_run=1", auth, body).json
        assert (reach["passes"], reach["apple_devices"], reach["estimated_seconds"]) == (1001, 1001, 200.2)
        cid = post(client, "/api/v1/campaigns", auth, body).json["id"]
        drain(svc)  # the start and the first chunk (the second is not due yet)
        got = client.get(f"/api/v1/campaigns/{cid}", headers=auth).json
        assert (got["state"], got["total"], got["sent"]) == ("sending", reach["passes"], 1000)
        assert len([p for p in apns.pushes[pushed:] if p.status == 200]) == 1000
        cancelled = post(client, f"/api/v1/campaigns/{cid}/cancel", auth)
        assert cancelled.status_code == 200 and cancelled.json["state"] == "cancelled"
        with svc.engine.begin() as conn:  # the second chunk comes due: it finds the campaign cancelled
            conn.execute(text("UPDATE outbox SET available_at = created_at"))
        drain(svc)
        got = client.get(f"/api/v1/campaigns/{cid}", headers=auth).json
        assert (got["state"], got["sent"], got["skipped"], got["pending"]) == ("cancelled", 1000, 1, 0)
        assert len([p for p in apns.pushes[pushed:] if p.status == 200]) == 1000
        assert count(svc, f"SELECT count(*) FROM passes WHERE news_campaign_id = {cid}") == 1000
    finally:
        svc.close()


def test_a_member_whose_coupon_is_used_up_gets_a_fresh_one_and_the_news_links_to_it(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    offer = make_offer(client, auth, pid, valid_until="2099-12-31T00:00:00+00:00")
    m = make_member(services, pid, points=2500)
    used = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": m["id"]}).json
    assert post(client, f"/api/v1/coupons/{used['id']}/redeem", auth).status_code == 200
    r = post(client, "/api/v1/campaigns", auth, {"program_id": pid, "message": "Another latte on us",
                                                 "offer_id": offer, "ignore_quiet_hours": True})
    drain(services)
    assert client.get(r.headers["Location"], headers=auth).json["sent"] == 1
    with services.engine.connect() as conn:
        fresh = conn.execute(text("SELECT p.public_token FROM coupons c JOIN passes p ON p.coupon_id = c.id "
                                  "WHERE c.offer_id = :o AND c.state = 'issued'"), {"o": offer}).scalar_one()
    files = pkpass_files(client.get(local(m["links"]["pkpass"])).data)
    link_key = card_fields(json.loads(files["pass.json"]))["news"]["attributedValue"]
    en = files["en.lproj/pass.strings"].decode("utf-16")
    assert f'"{link_key}" = "Another latte on us' in en and services.urls.pkpass(fresh) in en
    assert used["links"]["page"].rsplit("/", 1)[-1] not in en                # not the redeemed one
