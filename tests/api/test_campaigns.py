"""Push campaigns through the API, against the APNs and Google stand-ins: each targeted pass shows the message once
(its news field, changeMessage %@, the only field that changes), nobody outside the segment is touched, dry runs
send nothing, cancels stop the rest (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.builders import make_member, make_program
from tests.helpers import Device, auth_token_of, count, local, post, verify_with_openssl
from walletpass.jobs.worker import Worker

pytestmark = pytest.mark.usefixtures("apns")


def _drain(services) -> None:  # type: ignore[no-untyped-def]
    worker = Worker(services)
    while worker.run_once():
        pass


def _files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def _fields(pass_json: dict) -> dict[str, dict]:
    return {f["key"]: f for group in pass_json["storeCard"].values() if isinstance(group, list) for f in group}


def test_a_campaign_reaches_its_segment_once_with_the_message_on_the_lock_screen(  # type: ignore[no-untyped-def]
        client, auth, services, apns, tmp_path) -> None:
    pid = make_program(services)
    gold = [make_member(services, pid, points=2500) for _ in range(3)]
    others = [make_member(services, pid, points=10) for _ in range(2)]
    phones = {}
    for m in gold + others:
        phones[m["id"]] = Device(client, services.settings.member_pass_type_id)
        assert phones[m["id"]].register(m["serial_number"], auth_token_of(client, m)).status_code == 201
    before = {m["id"]: _files(client.get(local(m["links"]["pkpass"])).data) for m in gold}
    _drain(services)
    pushed = len(apns.pushes)
    body = {"program_id": pid, "message": {"en": "Buy one get one free this weekend", "zh-Hant": "週末咖啡買一送一"},
            "segment": {"tier": ["Gold"]}, "name": "Weekend BOGO", "ignore_quiet_hours": True}
    reach = post(client, "/api/v1/campaigns?dry_run=1", auth, body)
    assert reach.status_code == 200 and reach.json["passes"] == 3 and reach.json["apple_devices"] == 3
    assert reach.json["google_objects"] == 0 and count(services, "SELECT count(*) FROM campaigns") == 0
    r = post(client, "/api/v1/campaigns", auth, body, key="camp-1")
    assert r.status_code == 202 and r.json["state"] == "scheduled", r.json
    assert post(client, "/api/v1/campaigns", auth, body, key="camp-1").json == r.json  # a retry: the same
    _drain(services)
    got = client.get(r.headers["Location"], headers=auth).json
    assert got["state"] == "done" and got["total"] == got["sent"] == 3 and got["failed"] == 0
    assert got["message"] == {"en": "Buy one get one free this weekend", "zh-Hant": "週末咖啡買一送一"}
    new = [p for p in apns.pushes[pushed:] if p.status == 200]
    assert sorted(p.token for p in new) == sorted(phones[m["id"]].token for m in gold)  # once each, Gold only
    for m in gold:
        data = client.get(local(m["links"]["pkpass"])).data
        verify_with_openssl(data, services.settings.wwdr_path, tmp_path)
        files = _files(data)
        old, now_ = _fields(json.loads(before[m["id"]]["pass.json"])), _fields(json.loads(files["pass.json"]))
        changed = {k for k in now_ if now_[k] != old.get(k)} | (old.keys() - now_.keys())
        assert changed == {"news"}                                     # exactly that field: iOS shows its text
        assert now_["news"]["changeMessage"] == "%@"
        key = now_["news"]["value"]
        zh = files["zh-Hant.lproj/pass.strings"].decode("utf-16")
        en = files["en.lproj/pass.strings"].decode("utf-16")
        assert f'"{key}" = "週末咖啡買一送一";' in zh and f'"{key}" = "Buy one get one free this weekend";' in en
    for m in others:  # nobody outside the segment is touched
        assert "news" not in _fields(json.loads(_files(client.get(local(m["links"]["pkpass"])).data)["pass.json"]))
    listed = client.get(f"/api/v1/campaigns?program_id={pid}", headers=auth).json
    assert [c["id"] for c in listed["data"]] == [r.json["id"]] and listed["next"] is None
    assert post(client, f"/api/v1/campaigns/{r.json['id']}/cancel", auth).status_code == 409  # finished


def test_a_campaign_that_reaches_nobody_is_done_at_once(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    # On PostgreSQL the deliveries' INSERT … SELECT counted -1 rows (SQLAlchemy closed its cursor before reading
    # the rowcount), so a campaign that reached nobody stayed "sending" and its stored total was -1.
    pid = make_program(services)
    make_member(services, pid, points=10)
    r = post(client, "/api/v1/campaigns", auth, {"program_id": pid, "message": "Hi", "segment": {"tier": ["Diamond"]},
                                                 "ignore_quiet_hours": True})
    _drain(services)
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
    _drain(services)  # not due yet
    assert client.get(r.headers["Location"], headers=auth).json["state"] == "scheduled"
    cancelled = post(client, f"/api/v1/campaigns/{r.json['id']}/cancel", auth)
    assert cancelled.status_code == 200 and cancelled.json["state"] == "cancelled"
    with services.engine.begin() as conn:  # the start comes due: nothing is written or sent
        conn.execute(text("UPDATE outbox SET available_at = created_at"))
    _drain(services)
    got = client.get(r.headers["Location"], headers=auth).json
    assert got["state"] == "cancelled" and got["total"] == 0 and count(services, "SELECT count(*) FROM passes "
                                                                                "WHERE news_campaign_id IS NOT NULL") == 0


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
