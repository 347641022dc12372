"""Android pkpass apps against the web service, as each app does it (samsung-android.md §2): WalletPasses
(``AndroidPass``, its User-Agent, an FCM token), Pass2U (``ApplePass`` + ``X-Pass-Client: Passes``), PassWallet
(``registrations_attido``, ``AttidoPass``, a ``pushServiceUrl``) and FossWallet (``ApplePass`` with the app's UUID,
never pushed). Each registers, a points change is pushed through its app's relay (a local fake that checks the
request as the relay would), and the device lists and fetches its pass with its own scheme. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from tests.builders import make_member, make_program
from tests.fakes.push_relays import PushRelays
from tests.helpers import auth_token_of, pass_json, points_field, push_token
from walletpass.bootstrap import Services, bootstrap
from walletpass.jobs.worker import Worker
from walletpass.ports import FixedClock
from walletpass.services.points import add_transaction

pytestmark = pytest.mark.usefixtures("apns")  # Apple Wallet devices beside them: the APNs stand-in

WALLETPASSES_UA = "WalletPasses/3.6.1 (Linux; U; Android 14; Pixel 8 Build/AP2A)"


def fcm_token(n: int = 163) -> str:
    """An FCM registration id: letters, digits, '-', '_' and a ':' after the instance id."""
    head = secrets.token_urlsafe(16)[:22]
    return f"{head}:APA91b{secrets.token_urlsafe(n)[: n - len(head) - 7]}"


@pytest.fixture
def relays(settings: Any) -> Iterator[PushRelays]:
    with PushRelays(pass_type_ids=(settings.member_pass_type_id, settings.coupon_pass_type_id),
                    walletpasses_key="wp-key") as fake:
        yield fake


@pytest.fixture
def box(settings: Any, relays: PushRelays) -> Iterator[tuple[Services, Any, FixedClock]]:
    from api import create_app

    clock = FixedClock(datetime.now(UTC))
    relayed = settings.replace(walletpasses_push_url=f"{relays.base}/api/v1/push", walletpasses_api_key="wp-key",
                               pass2u_push_url=relays.base, pass2u_api_key="pass2u-test-key",
                               passwallet_push_hosts_text=f"push.passwallet.net, 127.0.0.1:{relays.port}", relay_timeout=0.5)
    svc = bootstrap(relayed, clock=clock)
    yield svc, create_app(services=svc).test_client(), clock
    svc.close()


class App:
    """An Android app's side of the web service."""

    def __init__(self, client: Any, ptid: str, scheme: str, token: str, headers: dict[str, str] | None = None,
                 route: str = "registrations", extra: dict[str, str] | None = None) -> None:
        self.client, self.ptid, self.scheme, self.token = client, ptid, scheme, token
        self.headers, self.route, self.extra = headers or {}, route, extra or {}
        self.id = secrets.token_hex(16)

    def _auth(self, auth: str) -> dict[str, str]:
        return {"Authorization": f"{self.scheme} {auth}", **self.headers}

    def register(self, serial: str, auth: str) -> Any:
        return self.client.post(f"/v1/devices/{self.id}/{self.route}/{self.ptid}/{serial}",
                                data=json.dumps({"pushToken": self.token, **self.extra}), headers=self._auth(auth),
                                content_type="application/json")

    def list(self, since: str | None = None) -> Any:
        q = {"passesUpdatedSince": since} if since is not None else {}
        return self.client.get(f"/v1/devices/{self.id}/registrations/{self.ptid}", query_string=q,
                               headers=self.headers)

    def fetch(self, serial: str, auth: str) -> Any:
        return self.client.get(f"/v1/passes/{self.ptid}/{serial}", headers=self._auth(auth))


def _member(svc: Services, client: Any) -> tuple[dict[str, Any], str]:
    member = make_member(svc, make_program(svc))
    return member, auth_token_of(client, member)


def _drain(svc: Services) -> None:
    worker = Worker(svc)
    while worker.run_once():
        pass


def _bump(svc: Services, member: dict[str, Any], points: int = 5) -> None:
    add_transaction(svc.uow(), svc.clock, svc.settings, member["id"], points, "coffee")


def _client_of(svc: Services, device_id: str) -> str | None:
    with svc.engine.connect() as conn:
        return conn.execute(text("SELECT push_client FROM devices WHERE device_library_identifier = :d"),
                            {"d": device_id}).scalar_one()


def _story(svc: Services, client: Any, app: App, relays: PushRelays, relay: str) -> None:
    """Register → a points change → the push reaches the relay → list → fetch the new version."""
    member, auth = _member(svc, client)
    serial = member["serial_number"]
    assert app.register(serial, auth).status_code == 201
    assert app.register(serial, auth).status_code == 200  # the same device again: 200, not an error
    before = app.list()
    assert before.status_code == 200 and before.json["serialNumbers"] == [serial]

    _bump(svc, member, 7)
    _drain(svc)

    assert relays.tokens(relay) == [app.token]
    assert {p.pass_type_id for p in relays.pushes} == {app.ptid}
    changed = app.list(before.json["lastUpdated"])
    assert changed.status_code == 200 and changed.json["serialNumbers"] == [serial]
    fetched = app.fetch(serial, auth)
    assert fetched.status_code == 200 and fetched.mimetype == "application/vnd.apple.pkpass"
    assert points_field(pass_json(fetched.data)) == 7
    with svc.engine.connect() as conn:  # pushed, then fetched: the registration is up to date
        row = conn.execute(text("SELECT pushed_tag, fetched_tag FROM registrations")).one()
    assert row[0] is not None and row[1] == row[0]


def test_walletpasses_registers_with_androidpass_and_is_pushed_through_its_relay(box, relays) -> None:  # type: ignore[no-untyped-def]
    svc, client, _ = box
    app = App(client, svc.settings.member_pass_type_id, "AndroidPass", fcm_token(), {"User-Agent": WALLETPASSES_UA})
    _story(svc, client, app, relays, "walletpasses")
    assert relays.pushes[0].headers["authorization"] == "wp-key"  # the raw key, no scheme
    assert _client_of(svc, app.id) == "walletpasses"


def test_pass2u_registers_with_its_header_and_is_pushed_with_its_api_key(box, relays) -> None:  # type: ignore[no-untyped-def]
    svc, client, _ = box
    app = App(client, svc.settings.member_pass_type_id, "ApplePass", fcm_token(), {"X-Pass-Client": "Passes"})
    _story(svc, client, app, relays, "pass2u")
    assert relays.pushes[0].headers["x-api-key"] == "pass2u-test-key"
    assert _client_of(svc, app.id) == "pass2u"


def test_passwallet_registers_on_its_own_route_and_is_pushed_at_its_push_service_url(box, relays) -> None:  # type: ignore[no-untyped-def]
    svc, client, _ = box
    app = App(client, svc.settings.member_pass_type_id, "AttidoPass", fcm_token(), route="registrations_attido",
              extra={"pushServiceUrl": f"{relays.base}/passwallet/"})  # a trailing '/': not doubled
    _story(svc, client, app, relays, "passwallet")
    assert _client_of(svc, app.id) == "passwallet"
    assert not relays.refused


def test_an_fcm_token_of_4_kb_is_taken(box, relays) -> None:  # type: ignore[no-untyped-def]
    svc, client, _ = box
    member, auth = _member(svc, client)
    app = App(client, svc.settings.member_pass_type_id, "androidpass", fcm_token(4096))
    assert len(app.token) == 4096
    assert app.register(member["serial_number"], auth).status_code == 201
    _bump(svc, member)
    _drain(svc)
    assert relays.tokens("walletpasses") == [app.token]


def test_fosswallet_registers_its_uuid_and_is_never_pushed(box, relays, apns) -> None:  # type: ignore[no-untyped-def]
    svc, client, _ = box
    member, auth = _member(svc, client)
    app = App(client, svc.settings.member_pass_type_id, "ApplePass", str(uuid.uuid4()))
    iphone = App(client, svc.settings.member_pass_type_id, "ApplePass", push_token())
    assert app.register(member["serial_number"], auth).status_code == 201
    assert iphone.register(member["serial_number"], auth).status_code == 201
    _bump(svc, member)
    _drain(svc)
    assert apns.delivered() == [iphone.token]  # the iPhone through APNs; the polling app not at all
    assert not relays.pushes
    with svc.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox")).scalar_one() == 0  # nothing left to retry
    assert _client_of(svc, app.id) == "poll"
    assert app.fetch(member["serial_number"], auth).status_code == 200  # it polls, without If-Modified-Since


def test_a_relay_that_fails_or_times_out_is_retried_until_it_takes_the_push(box, relays) -> None:  # type: ignore[no-untyped-def]
    svc, client, clock = box
    member, auth = _member(svc, client)
    app = App(client, svc.settings.member_pass_type_id, "AndroidPass", fcm_token())
    assert app.register(member["serial_number"], auth).status_code == 201
    relays.fail, relays.fail_times = 503, 1
    _bump(svc, member)
    _drain(svc)
    assert not relays.pushes and relays.fail_times == 0  # refused once: kept for a retry
    relays.fail, relays.fail_times = "timeout", 1
    for _ in range(6):  # backoff passes on the fixed clock
        clock.advance(minutes=5)
        _drain(svc)
    assert relays.fail_times == 0
    assert relays.tokens("walletpasses") == [app.token]  # delivered once, after the failures
    with svc.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox")).scalar_one() == 0


def test_a_push_service_url_on_a_host_not_allowed_is_400_and_nothing_is_written(box, relays) -> None:  # type: ignore[no-untyped-def]
    svc, client, _ = box
    member, auth = _member(svc, client)
    for url in ("http://169.254.169.254/latest/", "ftp://push.passwallet.net/", "not a url", 42):
        app = App(client, svc.settings.member_pass_type_id, "AttidoPass", fcm_token(), route="registrations_attido",
                  extra={"pushServiceUrl": url})  # type: ignore[dict-item]
        r = app.register(member["serial_number"], auth)
        assert r.status_code == 400 and r.mimetype == "application/problem+json", url
        assert r.json["errors"][0]["field"] == "pushServiceUrl"
    bad_token = App(client, svc.settings.member_pass_type_id, "AndroidPass", "no spaces allowed")
    assert bad_token.register(member["serial_number"], auth).status_code == 400
    with svc.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM devices")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM registrations")).scalar_one() == 0


def test_another_servers_last_updated_is_answered_with_everything(box, relays) -> None:  # type: ignore[no-untyped-def]
    svc, client, _ = box
    member, auth = _member(svc, client)
    app = App(client, svc.settings.member_pass_type_id, "AndroidPass", fcm_token())
    assert app.register(member["serial_number"], auth).status_code == 201
    for since in ("2026-11-30T08:00:00Z", "2026-11-30", "Mon, 30 Nov 2026 08:00:00 GMT", "1764489600000"):
        r = app.list(since)
        assert r.status_code == 200 and r.json["serialNumbers"] == [member["serial_number"]], since
    assert app.list(app.list().json["lastUpdated"]).status_code == 204  # our own tag: nothing new
    assert app.list("yesterday").status_code == 400


def test_a_wrong_scheme_or_token_is_401_for_every_app(box, relays) -> None:  # type: ignore[no-untyped-def]
    svc, client, _ = box
    member, auth = _member(svc, client)
    for scheme, token in (("AndroidPass", "wrong-token-0123456789"), ("Android", auth), ("Bearer", auth)):
        app = App(client, svc.settings.member_pass_type_id, scheme, fcm_token())
        assert app.register(member["serial_number"], token).status_code == 401
        assert app.fetch(member["serial_number"], token).status_code == 401


def test_a_push_service_url_on_another_port_is_400(box, relays) -> None:  # type: ignore[no-untyped-def]
    svc, client, _ = box
    member, auth = _member(svc, client)
    app = App(client, svc.settings.member_pass_type_id, "AttidoPass", fcm_token(), route="registrations_attido",
              extra={"pushServiceUrl": "http://push.passwallet.net:6379/"})
    r = app.register(member["serial_number"], auth)
    assert r.status_code == 400 and r.json["errors"][0]["field"] == "pushServiceUrl"
