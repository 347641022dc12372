"""Apple web service + outbox worker + our APNs client against the fake APNs (HTTP/2, TLS, client cert)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import text

from tests.builders import make_member, make_program
from tests.helpers import Device, auth_token_of, pass_json, points_field, push_token
from walletpass.bootstrap import bootstrap
from walletpass.jobs.worker import Worker

pytestmark = pytest.mark.usefixtures("apns")  # settings point at the stand-in


def test_the_whole_device_story(client, auth, services, apns) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services), points=100)
    serial, ptid = member["serial_number"], services.settings.member_pass_type_id
    token = auth_token_of(client, member)
    phone = Device(client, ptid)

    assert phone.register(serial, token).status_code == 201
    assert phone.register(serial, token).status_code == 200          # already registered
    listed = phone.list()
    assert listed.status_code == 200 and listed.json["serialNumbers"] == [serial]
    old_tag = listed.json["lastUpdated"]
    first = phone.fetch(serial, token)
    assert first.status_code == 200 and first.mimetype == "application/vnd.apple.pkpass"
    assert points_field(pass_json(first.data)) == 100
    last_modified = first.headers["Last-Modified"]
    assert phone.fetch(serial, token, last_modified).status_code == 304
    assert phone.list(old_tag).status_code == 204

    r = client.post(f"/api/v1/members/{member['id']}/transactions", json={"points": 1150, "reason": "latte"},
                    headers=auth)
    assert r.status_code == 201
    # The 2xx means the tag already moved: a list call right now sees the pass.
    assert phone.list(old_tag).json["serialNumbers"] == [serial]

    assert Worker(services).run_once() == 1
    pushes = [p for p in apns.pushes if p.token == phone.token]
    assert len(pushes) == 1 and pushes[0].status == 200 and pushes[0].topic == ptid
    assert pushes[0].body == b"{}"
    assert pushes[0].headers["apns-push-type"] == "background" and pushes[0].headers["apns-priority"] == "5"

    new = phone.list(old_tag)
    assert new.status_code == 200 and new.json["serialNumbers"] == [serial]
    assert int(new.json["lastUpdated"]) > int(old_tag)
    second = phone.fetch(serial, token, last_modified)
    assert second.status_code == 200
    pj = pass_json(second.data)
    assert points_field(pj) == 1250
    assert second.headers["Last-Modified"] != last_modified
    assert phone.fetch(serial, token, second.headers["Last-Modified"]).status_code == 304

    view = client.get(f"/api/v1/members/{member['id']}", headers=auth).json
    assert view["devices"][0]["last_pushed"] and view["devices"][0]["last_fetched"]

    assert phone.unregister(serial, token).status_code == 200
    assert phone.list().status_code == 204
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM devices")).scalar_one() == 0


def test_head_answers_like_get(client, services) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services))
    token = auth_token_of(client, member)
    ptid = services.settings.member_pass_type_id
    r = client.head(f"/v1/passes/{ptid}/{member['serial_number']}", headers={"Authorization": f"ApplePass {token}"})
    assert r.status_code == 200 and r.headers["Last-Modified"] and not r.data


def test_changes_in_the_same_second_are_all_listed(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    a, b = make_member(services, pid), make_member(services, pid)
    phone = Device(client, services.settings.member_pass_type_id)
    for m in (a, b):
        assert phone.register(m["serial_number"], auth_token_of(client, m)).status_code == 201
    tag = phone.list().json["lastUpdated"]
    for m in (a, b):  # two changes well within one second
        assert client.post(f"/api/v1/members/{m['id']}/transactions", json={"points": 5, "reason": "x"},
                           headers=auth).status_code == 201
    assert sorted(phone.list(tag).json["serialNumbers"]) == sorted([a["serial_number"], b["serial_number"]])


def test_two_changes_in_one_second_get_distinct_last_modified(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    token = auth_token_of(client, m)
    phone = Device(client, services.settings.member_pass_type_id)
    client.post(f"/api/v1/members/{m['id']}/transactions", json={"points": 5, "reason": "x"}, headers=auth)
    lm1 = phone.fetch(m["serial_number"], token).headers["Last-Modified"]
    client.post(f"/api/v1/members/{m['id']}/transactions", json={"points": 5, "reason": "x"}, headers=auth)
    r = phone.fetch(m["serial_number"], token, lm1)
    assert r.status_code == 200 and points_field(pass_json(r.data)) == 10


@pytest.mark.parametrize("script,expected_status,expected_requests,gone", [
    ([410], 410, 1, True),
    ([(400, "BadDeviceToken")], 400, 1, True),
    ([429], 200, 2, False),
    ([500, 503], 200, 3, False),
])
def test_push_outcomes(client, services, apns, script, expected_status, expected_requests, gone) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    phone = Device(client, services.settings.member_pass_type_id)
    phone.register(m["serial_number"], auth_token_of(client, m))
    apns.script(phone.token, script)
    _bump(services, m)
    Worker(services).run_once()
    reqs = apns.requests_for(phone.token)
    assert len(reqs) == expected_requests and reqs[-1].status == expected_status
    with services.engine.connect() as conn:
        regs = conn.execute(text("SELECT count(*) FROM registrations")).scalar_one()
        jobs = conn.execute(text("SELECT count(*) FROM outbox")).scalar_one()
    assert regs == (0 if gone else 1)
    assert jobs == 0


def test_forbidden_does_not_loop_and_shows_in_healthz(client, services, apns) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    phone = Device(client, services.settings.member_pass_type_id)
    phone.register(m["serial_number"], auth_token_of(client, m))
    apns.script(phone.token, [403, 403, 403, 403])
    _bump(services, m)
    worker = Worker(services)
    worker.run_once()
    assert worker.run_once() == 0                       # parked, not retried at once
    assert len(apns.requests_for(phone.token)) == 1
    health = client.get("/healthz")
    assert health.status_code == 200                    # the web process still serves: reported, not down
    assert health.json["status"] == "degraded"
    assert health.json["checks"][f"apns:{services.settings.member_pass_type_id}"]["status"] == "degraded"
    assert "403" in json.dumps(health.json)
    with services.engine.connect() as conn:
        row = conn.execute(text("SELECT available_at, last_error FROM outbox")).one()
    assert "403" in row.last_error


def test_a_new_change_does_not_wait_behind_another_devices_backoff(client, services, apns) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    token = auth_token_of(client, m)
    slow, fine = Device(client, services.settings.member_pass_type_id), Device(client, services.settings.member_pass_type_id)
    slow.register(m["serial_number"], token)
    fine.register(m["serial_number"], token)
    apns.script(slow.token, [500, 500, 500, 500, 500, 500])   # fails this batch's attempts: backoff
    _bump(services, m)
    worker = Worker(services)
    assert worker.run_once() == 1
    assert [p.status for p in apns.requests_for(fine.token)] == [200]
    with services.engine.connect() as conn:
        retry = conn.execute(text("SELECT id, payload, available_at FROM outbox")).one()
    assert slow.token in json.dumps(retry.payload) and fine.token not in json.dumps(retry.payload)

    _bump(services, m)  # a new version: it must reach `fine` now, not after `slow`'s backoff
    with services.engine.connect() as conn:
        jobs = conn.execute(text("SELECT id, attempts FROM outbox ORDER BY id")).all()
    assert len(jobs) == 2 and jobs[0].id == retry.id and jobs[1].attempts == 0
    assert worker.run_once() == 1                                # the new job only; the retry is not due
    assert [p.status for p in apns.requests_for(fine.token)] == [200, 200]
    with services.engine.connect() as conn:
        left = conn.execute(text("SELECT id, payload FROM outbox ORDER BY id")).all()
    # `slow` failed again, so the new job waits too — for `slow` alone; `fine` has both versions already.
    assert left[0].id == retry.id
    assert all(slow.token in json.dumps(j.payload) and fine.token not in json.dumps(j.payload) for j in left)


def test_after_a_403_new_changes_are_parked_without_sending(client, services, apns) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    phone = Device(client, services.settings.member_pass_type_id)
    phone.register(m["serial_number"], auth_token_of(client, m))
    apns.script(phone.token, [403] * 10)
    worker = Worker(services)
    _bump(services, m)
    assert worker.run_once() == 1
    assert len(apns.requests_for(phone.token)) == 1
    for _ in range(3):                   # a stream of changes while the certificate is refused
        _bump(services, m)
        worker.run_once()
    assert len(apns.requests_for(phone.token)) == 1   # nothing more was sent
    with services.engine.connect() as conn:
        errors = conn.execute(text("SELECT last_error FROM outbox")).scalars().all()
    assert errors and all("403" in e for e in errors)
    # /metrics counts the one 403 APNs gave, not the pushes held back.
    assert 'walletpass_pushes_total{outcome="forbidden"} 1.0' in client.get("/metrics").get_data(as_text=True)
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json["status"] == "degraded" and "403" in json.dumps(health.json)


def test_many_passes_changed_from_many_threads(app, auth, services, apns) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    pid = make_program(services)
    members = [make_member(services, pid) for _ in range(50)]
    phones = {}
    for m in members:
        phone = Device(client, services.settings.member_pass_type_id)
        assert phone.register(m["serial_number"], auth_token_of(client, m)).status_code == 201
        phones[m["id"]] = phone
    errors: list[int] = []

    def run(chunk: list[dict]) -> None:
        c = app.test_client()
        for m in chunk:
            for pts in (3, 4):
                r = c.post(f"/api/v1/members/{m['id']}/transactions", json={"points": pts, "reason": "x"},
                           headers=auth)
                if r.status_code != 201:
                    errors.append(r.status_code)

    threads = [threading.Thread(target=run, args=(members[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    worker = Worker(services)
    while worker.run_once():
        pass
    delivered = {p.token for p in apns.pushes if p.status == 200}
    assert delivered == {p.token for p in phones.values()}
    for m in members:
        phone = phones[m["id"]]
        r = phone.fetch(m["serial_number"], auth_token_of(client, m))
        assert points_field(pass_json(r.data)) == 7


@pytest.mark.parametrize("path,body,headers,status", [
    ("/v1/devices/DEV/registrations/{ptid}/{serial}", b"not json", "good", 400),
    ("/v1/devices/DEV/registrations/{ptid}/{serial}", b"[]", "good", 400),
    ("/v1/devices/DEV/registrations/{ptid}/{serial}", b'{"pushToken": 5}', "good", 400),
    ("/v1/devices/DEV/registrations/{ptid}/{serial}", b'{"pushToken": "zz"}', "good", 400),
    ("/v1/devices/DEV/registrations/{ptid}/{serial}", b"{}", "good", 400),
    ("/v1/devices/" + "D" * 300 + "/registrations/{ptid}/{serial}", b'{"pushToken": "ab"}', "good", 400),
    ("/v1/devices/DEV/registrations/pass.unknown.type/{serial}", b'{"pushToken": "abcd"}', "good", 401),
    ("/v1/devices/DEV/registrations/{ptid}/NOSUCHSERIAL", b'{"pushToken": "abcd"}', "good", 401),
    ("/v1/devices/DEV/registrations/{ptid}/{serial}", b'{"pushToken": "abcd"}', "Bearer {token}", 401),
    ("/v1/devices/DEV/registrations/{ptid}/{serial}", b'{"pushToken": "abcd"}', "ApplePass wrongtoken", 401),
    ("/v1/devices/DEV/registrations/{ptid}/{serial}", b'{"pushToken": "abcd"}', "", 401),
    ("/v1/devices/DEV/registrations/{ptid}/{serial}", b"not json", "ApplePass wrongtoken", 401),
    ("/v1/devices/DEV/registrations/{ptid}/{serial}", b"[" * 4000 + b"]" * 4, "good", 400),  # was a 500 (fuzzing)
])
def test_bad_register_requests(client, services, path, body, headers, status) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    token = auth_token_of(client, m)
    ptid = services.settings.member_pass_type_id
    auth_header = {"good": f"ApplePass {token}"}.get(headers, headers.format(token=token))
    r = client.post(path.format(ptid=ptid, serial=m["serial_number"]), data=body,
                    headers={"Authorization": auth_header} if auth_header else {}, content_type="application/json")
    assert r.status_code == status
    assert r.mimetype == "application/problem+json"
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM registrations")).scalar_one() == 0


def test_wrong_token_and_unknown_serial_get_the_same_401(client, services) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    ptid = services.settings.member_pass_type_id
    a = client.get(f"/v1/passes/{ptid}/{m['serial_number']}", headers={"Authorization": "ApplePass " + "x" * 32})
    b = client.get(f"/v1/passes/{ptid}/NOSUCH", headers={"Authorization": "ApplePass " + "x" * 32})
    assert a.status_code == b.status_code == 401 and a.json == b.json


def test_bad_list_and_log_requests(client, services) -> None:  # type: ignore[no-untyped-def]
    ptid = services.settings.member_pass_type_id
    assert client.get(f"/v1/devices/DEV/registrations/{ptid}?passesUpdatedSince=yesterday").status_code == 400
    assert client.get(f"/v1/devices/DEV/registrations/{ptid}").status_code == 204
    assert client.post("/v1/log", json={"logs": ["Request to fetch pass failed", "x" * 5000]}).status_code == 200
    assert client.post("/v1/log", data=b"nope", content_type="application/json").status_code == 400
    assert client.post("/v1/log", json={"logs": "not a list"}).status_code == 400
    assert client.post("/v1/log", data=b"x" * 70000, content_type="application/json").status_code == 413
    nested = client.post("/v1/log", data=b"[" * 5000, content_type="application/json")  # was a 500 (fuzzing)
    assert nested.status_code == 400 and nested.mimetype == "application/problem+json"


@pytest.mark.parametrize("since", ["²", "١٢", "9223372036854775808", "9999999999999999999", "1" * 20])
def test_passes_updated_since_that_no_tag_can_be_is_400(client, services, since) -> None:  # type: ignore[no-untyped-def]
    # Found by fuzzing: str.isdigit() let '²' reach int() and 19-digit values past BIGINT reach the driver → 500.
    ptid = services.settings.member_pass_type_id
    r = client.get(f"/v1/devices/DEV/registrations/{ptid}", query_string={"passesUpdatedSince": since})
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert r.json["errors"][0]["field"] == "passesUpdatedSince"
    ok = client.get(f"/v1/devices/DEV/registrations/{ptid}", query_string={"passesUpdatedSince": str(2**63 - 1)})
    assert ok.status_code == 204


def test_doubled_slashes_are_404_not_a_redirect(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    # Found by fuzzing: Werkzeug merged "//" with a 308 (HTML body) to another path — serial "/log" became "log".
    ptid = services.settings.member_pass_type_id
    for r in (client.get(f"/v1/passes/{ptid}//log", headers={"Authorization": "ApplePass " + "x" * 32}),
              client.get(f"/v1/devices/DEV/registrations//{ptid}"),
              client.post("/v1//log", json={"logs": []}),
              client.get("/api/v1//members/1", headers=auth)):
        assert r.status_code == 404 and r.mimetype == "application/problem+json", r.request.path


def test_identifiers_with_a_trailing_newline_are_400_and_not_stored(client, services) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    token, ptid = auth_token_of(client, m), services.settings.member_pass_type_id
    r = client.post(f"/v1/devices/DEV%0A/registrations/{ptid}/{m['serial_number']}",
                    json={"pushToken": push_token()}, headers={"Authorization": f"ApplePass {token}"})
    assert r.status_code == 400 and r.json["errors"][0]["field"] == "deviceLibraryIdentifier"
    assert client.get(f"/v1/devices/DEV%0A/registrations/{ptid}").status_code == 400
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM devices")).scalar_one() == 0


def test_metrics_show_pushes_backlog_and_registrations(client, services, apns) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    phone = Device(client, services.settings.member_pass_type_id)
    phone.register(m["serial_number"], auth_token_of(client, m))
    _bump(services, m)
    body = client.get("/metrics").get_data(as_text=True)
    assert "walletpass_outbox_backlog 1.0" in body and "walletpass_registrations 1.0" in body
    Worker(services).run_once()
    body = client.get("/metrics").get_data(as_text=True)
    assert 'walletpass_pushes_total{outcome="ok"} 1.0' in body
    assert "walletpass_push_latency_seconds_count 1.0" in body
    assert "walletpass_outbox_backlog 0.0" in body


def test_stale_devices_metric(client, settings, apns) -> None:  # type: ignore[no-untyped-def]
    from walletpass.ports import FixedClock

    clock = FixedClock(datetime.now(UTC))
    svc = bootstrap(settings, clock=clock)
    from api import create_app

    c = create_app(services=svc).test_client()
    m = make_member(svc, make_program(svc))
    Device(c, settings.member_pass_type_id).register(m["serial_number"], auth_token_of(c, m))
    _bump(svc, m)
    Worker(svc).run_once()
    assert "walletpass_stale_devices 0.0" in c.get("/metrics").get_data(as_text=True)
    clock.advance(hours=2)
    assert "walletpass_stale_devices 1.0" in c.get("/metrics").get_data(as_text=True)
    svc.close()


def _bump(services, member) -> None:  # type: ignore[no-untyped-def]
    from walletpass.services.points import add_transaction

    add_transaction(services.uow(), services.clock, services.settings, member["id"], 1, "bump")


def test_if_modified_since_garbage_is_ignored(client, services) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    token = auth_token_of(client, m)
    phone = Device(client, services.settings.member_pass_type_id)
    assert phone.fetch(m["serial_number"], token, "not a date").status_code == 200
    future = format_datetime(datetime.now(UTC) + timedelta(days=1), usegmt=True)
    assert phone.fetch(m["serial_number"], token, future).status_code == 304


def _fetch_state(services, serial: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    """The registrations' fetch marks once the fetches are written (a stored version's fetch is written within
    FETCH_LOG_SECONDS by a thread of the process; flushing does now what that thread does then)."""
    services.device_reads.flush_fetches()
    with services.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT r.fetched_tag, r.last_fetched_at FROM registrations r JOIN passes p ON p.id = r.pass_id "
            "WHERE p.serial_number = :s ORDER BY r.id"), {"s": serial})]


def test_a_fetch_marks_lagging_registrations_once_and_repeat_checks_only_read(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services), points=5)
    serial, ptid = member["serial_number"], services.settings.member_pass_type_id
    token = auth_token_of(client, member)
    phones = [Device(client, ptid), Device(client, ptid)]
    for phone in phones:
        assert phone.register(serial, token).status_code == 201
    assert _fetch_state(services, serial) == [(None, None), (None, None)]

    first = phones[0].fetch(serial, token)
    assert first.status_code == 200
    marked = _fetch_state(services, serial)
    tag = int(phones[0].list().json["lastUpdated"])
    assert [t for t, _ in marked] == [tag, tag] and all(at is not None for _, at in marked)

    # The same version again (200 or 304): nothing is behind, so nothing is written.
    assert phones[1].fetch(serial, token, first.headers["Last-Modified"]).status_code == 304
    assert phones[1].fetch(serial, token).status_code == 200
    assert _fetch_state(services, serial) == marked

    # A change puts both behind; the next GET hands out the new version and marks both again.
    assert client.post(f"/api/v1/members/{member['id']}/transactions", json={"points": 1, "reason": "x"},
                       headers=auth).status_code == 201
    new_tag = int(phones[0].list(str(tag)).json["lastUpdated"])
    assert new_tag > tag and _fetch_state(services, serial) == marked
    assert phones[0].fetch(serial, token, first.headers["Last-Modified"]).status_code == 200
    assert [t for t, _ in _fetch_state(services, serial)] == [new_tag, new_tag]


def test_if_modified_since_in_another_spelling_of_the_same_instant_is_304(client, services) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services))
    serial, ptid = member["serial_number"], services.settings.member_pass_type_id
    token = auth_token_of(client, member)
    phone = Device(client, ptid)
    last_modified = phone.fetch(serial, token).headers["Last-Modified"]          # "Mon, 23 Nov 2026 21:00:00 GMT"
    other = last_modified.replace("GMT", "+0000")
    assert phone.fetch(serial, token, other).status_code == 304
    earlier = format_datetime(datetime.strptime(last_modified, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
                              - timedelta(seconds=1), usegmt=True)
    assert phone.fetch(serial, token, earlier).status_code == 200
