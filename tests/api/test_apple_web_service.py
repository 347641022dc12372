"""/v1 edges: the token is checked before the body, HEAD answers, the device log's caps, the stale-device gauge."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from flask import Flask
from sqlalchemy import text

from api import create_app
from api.apple import LOG_BURST, LOG_RATE, MAX_LOG_ENTRIES, MAX_LOG_ENTRY_CHARS, MAX_REGISTER_BODY
from tests.builders import make_member, make_program
from tests.helpers import Device, auth_token_of
from walletpass.bootstrap import Services, bootstrap
from walletpass.config import Settings
from walletpass.ports import FixedClock


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC))


@pytest.fixture
def timed(settings: Settings, clock: FixedClock) -> Iterator[tuple[Services, Flask]]:
    svc = bootstrap(settings, clock=clock)
    yield svc, create_app(services=svc)
    svc.close()


def _registrations(services: Services) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM registrations")).scalar_one())


# -- register: the token before the body -----------------------------------------------------------------------
@pytest.mark.parametrize("authorization", [None, "ApplePass wrong-token-0123456789", "Bearer x"])
def test_an_unauthenticated_oversized_register_body_is_401_not_413(client, services, authorization) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    ptid = services.settings.member_pass_type_id
    r = client.post(f"/v1/devices/DEV/registrations/{ptid}/{m['serial_number']}",
                    data=b"x" * (MAX_REGISTER_BODY * 4), content_type="application/json",
                    headers={"Authorization": authorization} if authorization else {})
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    unknown = client.post(f"/v1/devices/DEV/registrations/{ptid}/NOSUCHSERIAL",
                          data=b"x" * (MAX_REGISTER_BODY * 4), content_type="application/json",
                          headers={"Authorization": authorization} if authorization else {})
    assert (unknown.status_code, unknown.json) == (401, r.json)  # a wrong token and an unknown serial look alike
    assert _registrations(services) == 0


def test_an_authenticated_oversized_register_body_is_413(client, services) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    ptid = services.settings.member_pass_type_id
    r = client.post(f"/v1/devices/DEV/registrations/{ptid}/{m['serial_number']}",
                    data=b"x" * (MAX_REGISTER_BODY + 1), content_type="application/json",
                    headers={"Authorization": f"ApplePass {auth_token_of(client, m)}"})
    assert r.status_code == 413 and r.mimetype == "application/problem+json"
    assert _registrations(services) == 0


# -- HEAD on the latest pass -----------------------------------------------------------------------------------
def test_head_answers_304_when_not_modified_and_records_no_fetch(client, services) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    token, ptid = auth_token_of(client, m), services.settings.member_pass_type_id
    Device(client, ptid).register(m["serial_number"], token)
    path = f"/v1/passes/{ptid}/{m['serial_number']}"
    first = client.head(path, headers={"Authorization": f"ApplePass {token}"})
    assert first.status_code == 200 and not first.data

    r = client.head(path, headers={"Authorization": f"ApplePass {token}",
                                   "If-Modified-Since": first.headers["Last-Modified"]})

    # Werkzeug strips entity headers such as Last-Modified from every 304; the validator ETag stays.
    assert r.status_code == 304 and not r.data and r.headers["ETag"] == first.headers["ETag"]
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT fetched_tag FROM registrations")).scalar_one() is None  # HEAD is no fetch


@pytest.mark.parametrize("authorization", [None, "ApplePass wrong-token-0123456789"])
def test_head_without_the_right_token_is_401(client, services, authorization) -> None:  # type: ignore[no-untyped-def]
    m = make_member(services, make_program(services))
    ptid = services.settings.member_pass_type_id
    since = format_datetime(datetime.now(UTC), usegmt=True)
    headers = {"If-Modified-Since": since} | ({"Authorization": authorization} if authorization else {})
    r = client.head(f"/v1/passes/{ptid}/{m['serial_number']}", headers=headers)
    assert r.status_code == 401 and not r.data and "Last-Modified" not in r.headers


# -- /v1/log: entry cap and rate limit -------------------------------------------------------------------------
def _logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "walletpass.device_log"]


def test_a_log_request_logs_at_most_the_entry_cap_each_cut_to_one_line(timed, caplog) -> None:  # type: ignore[no-untyped-def]
    _, app = timed
    caplog.set_level(logging.WARNING, logger="walletpass.device_log")
    entries = [f"entry {i}\nsecond line" for i in range(MAX_LOG_ENTRIES + 10)] + ["x" * 5000]

    assert app.test_client().post("/v1/log", json={"logs": entries}).status_code == 200

    logged = _logged(caplog)
    assert len(logged) == MAX_LOG_ENTRIES
    assert logged[0] == "device: entry 0 second line"
    long = app.test_client().post("/v1/log", json={"logs": ["y" * 5000]})
    assert long.status_code == 200
    assert _logged(caplog)[-1] == "device: " + "y" * MAX_LOG_ENTRY_CHARS


FORGERIES = {
    "carriage return": ("ok\r2026-01-01 00:00:00,000 INFO walletpass.api: admin logged in", "ok\\r2026-01-01"),
    "ANSI escape": ("\x1b[2K\x1b[1Afake line \x1b[31mred", "\\x1b[2K\\x1b[1Afake line \\x1b[31mred"),
    "line separator": ("a\u2028forged", "a\\u2028forged"),
    "paragraph separator": ("a\u2029forged", "a\\u2029forged"),
    "NEL": ("a\x85forged", "a\\x85forged"),
    "C1 CSI": ("a\x9b31mred", "a\\x9b31mred"),
    "DEL and NUL": ("a\x7f\x00b", "a\\x7f\\x00b"),
    "bidi override": ("user \u202egnp.exe", "user \\u202egnp.exe"),
    "lone surrogate": ("a\ud800b", "a\\ud800b"),
    "tab and vertical tab": ("a\tb\x0bc\x0cd", "a\\tb\\x0bc\\x0cd"),
    "backslash": ("C:\\x1b is text", "C:\\\\x1b is text"),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_device_log_entries_are_logged_with_every_control_character_escaped(timed, caplog, name) -> None:  # type: ignore[no-untyped-def]
    # Unauthenticated callers write here: a raw CR, ANSI sequence or Unicode line break would forge log lines.
    _, app = timed
    caplog.set_level(logging.WARNING, logger="walletpass.device_log")
    entry, escaped = FORGERIES[name]

    assert app.test_client().post("/v1/log", json={"logs": [entry, "plain 晨光 text ok"]}).status_code == 200

    first, second = _logged(caplog)
    assert escaped in first
    assert first.isprintable() and first.encode("utf-8")  # no control, format or separator character left
    assert second == "device: plain 晨光 text ok"


def test_device_logs_are_rate_limited_and_the_budget_refills_with_time(timed, clock, caplog) -> None:  # type: ignore[no-untyped-def]
    _, app = timed
    client = app.test_client()
    caplog.set_level(logging.WARNING, logger="walletpass.device_log")
    batch = {"logs": [f"m{i}" for i in range(MAX_LOG_ENTRIES)]}
    for _ in range(int(LOG_BURST) // MAX_LOG_ENTRIES + 2):      # more than the burst, all at one instant
        assert client.post("/v1/log", json=batch).status_code == 200  # dropped entries are still a 200
    assert len(_logged(caplog)) == LOG_BURST

    clock.advance(seconds=1)                                    # refills LOG_RATE entries
    assert client.post("/v1/log", json=batch).status_code == 200
    assert len(_logged(caplog)) == LOG_BURST + LOG_RATE
    assert app.extensions["walletpass.log_budget"].dropped == 3 * MAX_LOG_ENTRIES - LOG_RATE


# -- the stale-device gauge ------------------------------------------------------------------------------------
def _gauge(app: Flask, name: str) -> float:
    body = app.test_client().get("/metrics").get_data(as_text=True)
    [line] = [x for x in body.splitlines() if x.startswith(name + " ")]
    return float(line.split()[1])


def test_the_stale_device_gauge_counts_devices_not_registrations(tmp_path, pki, db_url, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes.apns_server import FakeApns
    from walletpass.jobs.worker import Worker
    from walletpass.services.points import add_transaction

    with FakeApns(pki) as apns:
        settings = Settings.for_tests(tmp_path, database_url=db_url, certs_dir=pki.certs_dir, apns_url=apns.url,
                                      apns_ca_file=pki.tls_ca_file)
        svc = bootstrap(settings, clock=clock)
        try:
            app = create_app(services=svc)
            client = app.test_client()
            program = make_program(svc)
            first, second, third = (make_member(svc, program) for _ in range(3))
            tokens = {m["id"]: auth_token_of(client, m) for m in (first, second, third)}
            both, one = Device(client, settings.member_pass_type_id), Device(client, settings.member_pass_type_id)
            for device, members in ((both, (first, second)), (one, (third,))):
                for m in members:
                    assert device.register(m["serial_number"], tokens[m["id"]]).status_code == 201
            for m in (first, second, third):
                add_transaction(svc.uow(), svc.clock, settings, m["id"], 1, "bump")
            assert Worker(svc).run_once() == 3
            assert len(apns.delivered()) == 2                        # one push per device
            assert _gauge(app, "walletpass_stale_devices") == 0      # pushed just now

            clock.advance(hours=1, seconds=1)
            assert _gauge(app, "walletpass_registrations") == 3
            assert _gauge(app, "walletpass_stale_devices") == 2      # 3 stale registrations on 2 devices
            assert both.fetch(first["serial_number"], tokens[first["id"]]).status_code == 200
            assert _gauge(app, "walletpass_stale_devices") == 2      # `both` has not fetched `second` yet
            assert both.fetch(second["serial_number"], tokens[second["id"]]).status_code == 200
            assert _gauge(app, "walletpass_stale_devices") == 1      # only `one` is left behind
            help_line = next(x for x in client.get("/metrics").get_data(as_text=True).splitlines()
                             if x.startswith("# HELP walletpass_stale_devices"))
            assert "devices with a registration pushed over an hour ago" in help_line
        finally:
            svc.close()
