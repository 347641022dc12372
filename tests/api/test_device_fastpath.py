"""api.fastpath answers the devices' list and not-modified calls exactly as the Flask routes of api.apple do.

Every request is sent twice, to the app as served (fast path in front) and to Flask's own ``wsgi_app`` behind it
(fast path off), and the two answers are compared raw: status line, header list (names, values, order) and body.
On SQLite and PostgreSQL (the ``services`` fixture).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
from flask import Flask, request_started
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder, run_wsgi_app

from api import create_app
from api.apple import http_date
from api.fastpath import DeviceFastPath
from tests.builders import make_member, make_program
from tests.helpers import Device, auth_token_of
from walletpass.bootstrap import Services

Raw = tuple[str, list[tuple[str, str]], bytes]


def _raw(wsgi: Any, method: str, path: str, headers: dict[str, str], query: str = "") -> Raw:
    environ = EnvironBuilder(method=method, path=path, headers=headers, query_string=query or None).get_environ()
    app_iter, status, head = run_wsgi_app(wsgi, environ)
    try:
        body = b"".join(app_iter)
    finally:
        getattr(app_iter, "close", lambda: None)()
    return status, list(head.to_wsgi_list()), body


class _Both:
    """Send a request to the app with and without the fast path; count what reached Flask's dispatching."""

    def __init__(self, app: Flask) -> None:
        assert isinstance(app.wsgi_app, DeviceFastPath)
        self.app, self.flask_only = app, app.wsgi_app.fallback
        self.reached_flask = 0
        request_started.connect(self._started, app)

    def _started(self, _sender: object, **_extra: object) -> None:
        self.reached_flask += 1

    def same(self, method: str, path: str, headers: dict[str, str] | None = None, query: str = "", *,
             fast: bool) -> Raw:
        """Answer of the served app, after checking it equals Flask's; *fast*: whether Flask was skipped."""
        before = self.reached_flask
        served = _raw(self.app, method, path, headers or {}, query)
        skipped = self.reached_flask == before
        flask = _raw(self.flask_only, method, path, headers or {}, query)
        assert served == flask, (method, path, query, headers)
        assert skipped == fast, f"{method} {path}?{query}: fast path {'missed' if fast else 'taken'}"
        return served


@pytest.fixture
def both(services: Services) -> _Both:
    return _Both(create_app(services=services))


def _device_with_pass(both: _Both, services: Services) -> tuple[Device, str, str, str]:
    client = both.app.test_client()
    member = make_member(services, make_program(services))
    serial, token = member["serial_number"], auth_token_of(client, member)
    phone = Device(client, services.settings.member_pass_type_id)
    assert phone.register(serial, token).status_code == 201
    first = phone.fetch(serial, token)
    assert first.status_code == 200
    return phone, serial, token, first.headers["Last-Modified"]


#: (path after the registrations path, query, status) of list calls the fast path leaves to Flask.
LIST_LEFT_TO_FLASK = [
    ("", "passesUpdatedSince=abc", "400 BAD REQUEST"),
    ("", "passesUpdatedSince=9999999999999999999", "400 BAD REQUEST"),    # over the largest tag
    ("", "passesUpdatedSince=99999999999999999999", "400 BAD REQUEST"),   # 20 digits
    ("", "passesUpdatedSince=%30", "200 OK"),                              # "0", escaped: Flask decodes it
    ("", "passesUpdatedSince=0&passesUpdatedSince=99", "200 OK"),          # the first one counts
    ("", "passesUpdatedSince=0&other=2", "200 OK"),
    ("", "passesupdatedsince=99", "200 OK"),                               # another key: ignored
    ("/", "", "404 NOT FOUND"),
]
BAD_DEVICE_PATHS = ["/v1/devices/bad!id/registrations/{ptid}", "/v1/devices/{long}/registrations/{ptid}",
                    "/v1/devices/d%C3%A9v/registrations/{ptid}", "/v1/devices/\u0661/registrations/{ptid}",
                    "/v1/devices//registrations/{ptid}"]


def test_the_list_call_answers_as_flask(both: _Both, services: Services) -> None:
    phone, serial, _, _ = _device_with_pass(both, services)
    path = f"/v1/devices/{phone.id}/registrations/{phone.ptid}"
    status, headers, body = both.same("GET", path, fast=True)
    assert status == "200 OK" and serial.encode() in body and ("X-Content-Type-Options", "nosniff") in headers
    tag = body.split(b'"lastUpdated":"')[1].split(b'"')[0].decode()
    assert both.same("GET", path, query=f"passesUpdatedSince={int(tag) - 1}", fast=True)[0] == "200 OK"
    assert both.same("GET", path, query=f"passesUpdatedSince={tag}", fast=True)[0] == "204 NO CONTENT"
    assert both.same("GET", path, query="passesUpdatedSince=", fast=True)[0] == "200 OK"
    assert both.same("GET", f"/v1/devices/unknown-device/registrations/{phone.ptid}", fast=True)[0] == \
        "204 NO CONTENT"
    assert both.same("GET", f"/v1/devices/{phone.id}/registrations/other.type", fast=True)[0] == "204 NO CONTENT"

    for tail, query, expected in LIST_LEFT_TO_FLASK:
        assert both.same("GET", path + tail, query=query, fast=False)[0] == expected, (tail, query)
    for bad in BAD_DEVICE_PATHS:
        status, headers, _ = both.same("GET", bad.format(ptid=phone.ptid, long="d" * 129), fast=False)
        assert status in ("400 BAD REQUEST", "404 NOT FOUND") and \
            ("Content-Type", "application/problem+json") in headers, bad


def test_the_not_modified_call_answers_as_flask(both: _Both, services: Services) -> None:
    phone, serial, token, last_modified = _device_with_pass(both, services)
    path = f"/v1/passes/{phone.ptid}/{serial}"
    auth = {"Authorization": f"ApplePass {token}"}
    status, headers, body = both.same("GET", path, {**auth, "If-Modified-Since": last_modified}, fast=True)
    assert status == "304 NOT MODIFIED" and body == b""
    assert [name for name, _ in headers] == ["Cache-Control", "ETag", "X-Content-Type-Options"]
    later = format_datetime(datetime.now(UTC) + timedelta(days=1), usegmt=True)
    assert both.same("GET", path, {**auth, "If-Modified-Since": later}, fast=True)[0] == "304 NOT MODIFIED"
    in_taipei = (datetime.now(UTC) + timedelta(hours=1)).astimezone(timezone(timedelta(hours=8)))
    assert both.same("GET", path, {**auth, "If-Modified-Since": format_datetime(in_taipei)}, fast=True)[0] == \
        "304 NOT MODIFIED"


AUTHORIZATIONS_REFUSED = [None, "ApplePass wrong-token-0123456789", "Bearer x", "ApplePass ", "ApplePass " + "t" * 257,
                          "ApplePasses {token}", "Android {token}"]  # schemes no app sends


def test_the_android_apps_schemes_in_any_case_answer_as_flask(both: _Both, services: Services) -> None:
    # samsung-android.md §2.6: ApplePass, AndroidPass (WalletPasses), AttidoPass (PassWallet), case-insensitively.
    phone, serial, token, last_modified = _device_with_pass(both, services)
    for scheme in ("applepass", "APPLEPASS", "AndroidPass", "androidpass", "AttidoPass", "WalletUnionPass"):
        headers = {"Authorization": f"{scheme} {token}", "If-Modified-Since": last_modified}
        status, _, _ = both.same("GET", f"/v1/passes/{phone.ptid}/{serial}", headers, fast=True)
        assert status == "304 NOT MODIFIED", scheme


def test_a_401_answers_as_flask(both: _Both, services: Services) -> None:
    phone, serial, token, last_modified = _device_with_pass(both, services)
    for authorization in AUTHORIZATIONS_REFUSED:
        headers = {"If-Modified-Since": last_modified}
        if authorization is not None:
            headers["Authorization"] = authorization.format(token=token)
        status, head, body = both.same("GET", f"/v1/passes/{phone.ptid}/{serial}", headers, fast=True)
        assert status == "401 UNAUTHORIZED" and b'"status": 401' in body, authorization
        assert ("WWW-Authenticate", 'Bearer realm="walletpass"') in head
        # An unknown serial looks the same as a wrong token.
        assert both.same("GET", f"/v1/passes/{phone.ptid}/NOSUCHSERIAL", headers, fast=True) == (status, head, body)


#: (method, path after the pass's path, another serial, status) of pass calls the fast path leaves to Flask.
PASS_LEFT_TO_FLASK = [
    ("HEAD", "", None, "304 NOT MODIFIED"),      # HEAD: the route (it records no fetch)
    ("POST", "", None, "405 METHOD NOT ALLOWED"),
    ("GET", "/", None, "404 NOT FOUND"),
    ("GET", "", "bad!serial", "401 UNAUTHORIZED"),
    ("GET", "", "S" * 65, "401 UNAUTHORIZED"),
    ("GET", "", "\u0661", "401 UNAUTHORIZED"),
    ("GET", "", "s%C3%A9rial", "401 UNAUTHORIZED"),
]


def test_pass_calls_the_fast_path_leaves_to_flask(both: _Both, services: Services) -> None:
    phone, own_serial, token, last_modified = _device_with_pass(both, services)
    headers = {"Authorization": f"ApplePass {token}", "If-Modified-Since": last_modified}
    for method, tail, serial, expected in PASS_LEFT_TO_FLASK:
        path = f"/v1/passes/{phone.ptid}/{serial or own_serial}{tail}"
        assert both.same(method, path, headers, fast=False)[0] == expected, (method, path)


def _forget_signed(services: Services) -> None:
    from sqlalchemy import text

    with services.engine.begin() as conn:
        conn.execute(text("DELETE FROM pass_files"))


def test_a_pass_to_send_is_built_by_the_route(both: _Both, services: Services) -> None:
    """No If-Modified-Since, or an older one, and no signed bytes stored for the version: the pass is signed and
    sent by the Flask route (the fast path falls through)."""
    phone, serial, token, last_modified = _device_with_pass(both, services)
    path = f"/v1/passes/{phone.ptid}/{serial}"
    earlier = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    for headers in ({}, {"If-Modified-Since": earlier}, {"If-Modified-Since": "not a date"}):
        headers["Authorization"] = f"ApplePass {token}"
        _forget_signed(services)  # the route keeps what it signs: gone again for each round
        before = both.reached_flask
        served = _raw(both.app, "GET", path, headers)
        assert both.reached_flask == before + 1  # once: the fast path read, then left the answer to the route
        assert served[0] == "200 OK"
        assert ("Content-Type", "application/vnd.apple.pkpass") in served[1]
        assert ("Last-Modified", last_modified) in served[1]


def test_a_stored_pass_answers_as_flask(both: _Both, services: Services) -> None:
    """A version signed and stored already (here by the first fetch) is sent by the fast path: the route's
    status, headers in order, and bytes."""
    phone, serial, token, last_modified = _device_with_pass(both, services)
    path = f"/v1/passes/{phone.ptid}/{serial}"
    earlier = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    for extra in ({}, {"If-Modified-Since": earlier}, {"If-Modified-Since": "not a date"}):
        status, headers, body = both.same("GET", path, {"Authorization": f"ApplePass {token}", **extra}, fast=True)
        assert status == "200 OK" and body[:2] == b"PK"
        assert [name for name, _ in headers] == ["Last-Modified", "Cache-Control", "ETag", "Content-Type",
                                                 "Content-Length", "X-Content-Type-Options"]
        assert ("Last-Modified", last_modified) in headers
    # A wrong token still gets the 401, before anything stored is looked at.
    status, _, body = both.same("GET", path, {"Authorization": "ApplePass wrong-token-0123456789"}, fast=True)
    assert status == "401 UNAUTHORIZED" and b"PK" not in body


def test_bytes_of_another_build_go_to_the_route(both: _Both, services: Services) -> None:
    """Stored bytes made by another build (other templates or certificates) serve nobody: the route signs again."""
    from sqlalchemy import text

    phone, serial, token, _ = _device_with_pass(both, services)
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE pass_files SET build_key = 'another build'"))
    before = both.reached_flask
    served = _raw(both.app, "GET", f"/v1/passes/{phone.ptid}/{serial}", {"Authorization": f"ApplePass {token}"})
    assert served[0] == "200 OK" and both.reached_flask == before + 1
    assert services.device_reads.stored_pass(  # the route kept its own signature
        services.device_reads.pass_for_device(phone.ptid, serial).id, 0,  # type: ignore[union-attr]
        services.pass_builder.fingerprint) is not None


def test_a_stored_pass_sent_by_the_fast_path_records_the_delivery(both: _Both, services: Services) -> None:
    """The 200 from storage marks the registration fetched, in the process's next batch of fetch records."""
    from sqlalchemy import text

    phone, serial, token, _ = _device_with_pass(both, services)
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE registrations SET fetched_tag = NULL, last_fetched_at = NULL"))
    status, _, _ = _raw(both.app, "GET", f"/v1/passes/{phone.ptid}/{serial}", {"Authorization": f"ApplePass {token}"})
    assert status == "200 OK"
    services.device_reads.flush_fetches()  # what its thread does within FETCH_LOG_SECONDS
    found = services.device_reads.pass_for_device(phone.ptid, serial)
    assert found is not None and not found.lagging
    with services.engine.connect() as conn:
        fetched_tag, fetched_at = conn.execute(text("SELECT fetched_tag, last_fetched_at FROM registrations")).one()
    assert fetched_tag == found.update_tag and fetched_at is not None


def test_a_fetch_through_the_fast_path_records_the_delivery(both: _Both, services: Services) -> None:
    """A registration behind the pass's version is marked fetched by the 304 as by the route (one write)."""
    from sqlalchemy import text

    phone, serial, token, last_modified = _device_with_pass(both, services)
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE registrations SET fetched_tag = NULL"))
    found = services.device_reads.pass_for_device(phone.ptid, serial)
    assert found is not None and found.lagging
    status, _, _ = _raw(both.app, "GET", f"/v1/passes/{phone.ptid}/{serial}",
                        {"Authorization": f"ApplePass {token}", "If-Modified-Since": last_modified})
    assert status == "304 NOT MODIFIED"
    found = services.device_reads.pass_for_device(phone.ptid, serial)
    assert found is not None and not found.lagging


@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))])))
def test_http_date_is_what_the_email_module_writes(moment: datetime) -> None:
    assert http_date(moment) == format_datetime(moment.astimezone(UTC), usegmt=True)


def test_http_date_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        http_date(datetime(2026, 1, 1))
