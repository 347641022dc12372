"""GET /api/v1/programs/{id}/stats: the install funnel after a scripted story — visits, enrolments with a source,
device registrations through Apple's web service, signed Google save and delete callbacks, transactions, an
unregistration — by source and by day of the program's time zone, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.builders import make_program
from tests.helpers import ISSUER, Device, callback_body, local, post
from walletpass.ports import FixedClock
from walletpass.services.api_keys import create_api_key

pytestmark = pytest.mark.usefixtures("google")  # settings point at the Google stand-in

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # 18:00 in Taipei, 30 Nov
NIGHT = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 01:00 in Taipei, 1 Dec (UTC's day is still 30 Nov)
LATER = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 in Taipei, 2 Dec


@pytest.fixture
def services_clock() -> FixedClock:
    return FixedClock(T0)


def _visits(services, program_id: int, at: datetime, *sources: str | None) -> None:  # type: ignore[no-untyped-def]
    """Visits of the enrolment page, recorded as the page records them."""
    with services.uow() as uow:
        for src in sources:
            uow.events.record(program_id, "visit", at, source=src)
        uow.commit()


def _enrol(client, auth, program_id: int, source: str | None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {"name": "Customer", **({"source": source} if source else {})}
    r = post(client, f"/api/v1/programs/{program_id}/members", auth, body)
    assert r.status_code == 201, r.json
    return r.json  # type: ignore[no-any-return]


def _card(services, member: dict[str, Any]) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        card = uow.passes.of_member(member["id"])[0]
        return card.pass_type_id, card.serial_number, card.authentication_token


def _callback(client, object_id: str, event: str) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/google/callback", data=callback_body(object_id, event), content_type="application/json")
    assert r.status_code == 200


def _stats(client, auth, program_id: int, query: str = "") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.get(f"/api/v1/programs/{program_id}/stats{query}", headers=auth)
    assert r.status_code == 200, r.json
    return r.json  # type: ignore[no-any-return]


def _counts(row: dict[str, Any]) -> tuple[int, ...]:
    return tuple(row[k] for k in ("visits", "enrolments", "apple_installs", "google_saves", "first_transactions",
                                  "uninstalls"))


def _story(client, auth, services) -> int:  # type: ignore[no-untyped-def]
    """visit → enrol → register (twice) → Google save (twice) → transactions → unregister, Google delete."""
    clock = services.clock
    pid = make_program(services)  # Asia/Taipei
    _visits(services, pid, T0, "flyer-a", "flyer-a", "flyer-a", "flyer-b", None)
    m1, m2 = _enrol(client, auth, pid, "flyer-a"), _enrol(client, auth, pid, "flyer-a")
    m3, m4 = _enrol(client, auth, pid, "flyer-b"), _enrol(client, auth, pid, None)  # m4: "api"

    clock.advance(seconds=(NIGHT - T0).total_seconds())
    ptid, serial1, token1 = _card(services, m1)
    phone, tablet = Device(client, ptid), Device(client, ptid)
    assert phone.register(serial1, token1).status_code == 201
    assert tablet.register(serial1, token1).status_code == 201  # a second device: no second install
    _, serial3, token3 = _card(services, m3)
    assert phone.register(serial3, token3).status_code == 201
    assert client.get(local(m2["links"]["google_save"])).status_code == 302
    object_id = f"{ISSUER}.{m2['serial_number']}"
    _callback(client, object_id, "save")
    _callback(client, object_id, "save")  # saved again (another nonce): still one save
    for member, points in ((m1, 10), (m1, 5), (m4, 1)):
        r = post(client, f"/api/v1/members/{member['id']}/transactions", auth, {"points": points, "reason": "coffee"})
        assert r.status_code == 201

    clock.advance(seconds=(LATER - NIGHT).total_seconds())
    assert phone.unregister(serial1, token1).status_code == 200
    _callback(client, object_id, "del")
    assert phone.register(serial1, token1).status_code == 201  # re-installed: not a first install
    return pid


def test_funnel_by_source_and_by_day(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = _story(client, auth, services)

    by_source = _stats(client, auth, pid, "?from=2026-11-30&to=2026-12-02")
    assert {k: by_source[k] for k in ("program_id", "from", "to", "by", "time_zone")} == {
        "program_id": pid, "from": "2026-11-30", "to": "2026-12-02", "by": "source", "time_zone": "Asia/Taipei"}
    rows = {row["source"]: _counts(row) for row in by_source["rows"]}
    #               visits enrol apple google 1st-tx uninstalls
    assert rows == {"flyer-a": (3, 2, 1, 1, 1, 2),
                    "flyer-b": (1, 1, 1, 0, 0, 0),
                    "api": (0, 1, 0, 0, 1, 0),
                    None: (1, 0, 0, 0, 0, 0)}
    assert [row["source"] for row in by_source["rows"]] == ["api", "flyer-a", "flyer-b", None]
    assert _counts(by_source["totals"]) == (5, 4, 2, 1, 2, 2)
    flyer_a = next(row for row in by_source["rows"] if row["source"] == "flyer-a")
    assert flyer_a["conversion"] == {"visit_to_enrolment": 0.6667, "enrolment_to_wallet": 1.0,
                                     "enrolment_to_first_transaction": 0.5}
    api = next(row for row in by_source["rows"] if row["source"] == "api")
    assert api["conversion"]["visit_to_enrolment"] is None  # no visit before an API enrolment

    by_day = _stats(client, auth, pid, "?from=2026-11-29&to=2026-12-03&by=day")
    days = {row["day"]: _counts(row) for row in by_day["rows"]}
    assert days == {"2026-11-29": (0, 0, 0, 0, 0, 0),
                    "2026-11-30": (5, 4, 0, 0, 0, 0),
                    "2026-12-01": (0, 0, 2, 1, 2, 0),  # 17:00 UTC on 30 Nov is 1 Dec in Taipei
                    "2026-12-02": (0, 0, 0, 0, 0, 2),
                    "2026-12-03": (0, 0, 0, 0, 0, 0)}
    assert [row["day"] for row in by_day["rows"]] == sorted(days)
    assert _counts(by_day["totals"]) == (5, 4, 2, 1, 2, 2)

    one_day = _stats(client, auth, pid, "?from=2026-12-01&to=2026-12-01")  # Taipei's 1 Dec: 16:00–16:00 UTC
    assert _counts(one_day["totals"]) == (0, 0, 2, 1, 2, 0)
    default = _stats(client, auth, pid)  # the last 30 days, ending today in Taipei (2 Dec)
    assert (default["from"], default["to"], default["by"]) == ("2026-11-03", "2026-12-02", "source")
    assert _counts(default["totals"]) == (5, 4, 2, 1, 2, 2)
    other = make_program(services)
    assert _stats(client, auth, other)["rows"] == []  # nothing of another program


@pytest.mark.parametrize(("zone", "events", "expected"), [
    # New York falls back from UTC-4 to UTC-5 at 06:00 UTC on 1 Nov 2026.
    ("America/New_York",
     ["2026-11-01T03:30", "2026-11-01T04:30", "2026-11-02T04:30", "2026-11-02T05:30"],
     {"2026-10-31": 1, "2026-11-01": 2, "2026-11-02": 1}),
    # Kathmandu is UTC+5:45 all year.
    ("Asia/Kathmandu", ["2026-10-31T18:14", "2026-10-31T18:16", "2026-11-01T18:14"],
     {"2026-10-31": 1, "2026-11-01": 2, "2026-11-02": 0}),
])
def test_days_are_the_program_time_zone_days(client, auth, services, zone, events, expected) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services, time_zone=zone)
    for at in events:
        _visits(services, pid, datetime.fromisoformat(at).replace(tzinfo=UTC), "flyer-a")
    got = _stats(client, auth, pid, "?from=2026-10-31&to=2026-11-02&by=day")
    assert {row["day"]: row["visits"] for row in got["rows"]} == expected
    assert got["time_zone"] == zone


@pytest.mark.parametrize(("query", "field"), [
    ("?by=week", "by"), ("?from=2026-13-01", "from"), ("?from=2026-1-01", "from"), ("?to=yesterday", "to"),
    ("?from=2026-12-02&to=2026-12-01", "from"), ("?from=2025-12-01&to=2026-12-02", "to"),
    ("?from=1999-12-31&to=2000-01-01", "from"), ("?to=3000-01-01", "to"), ("?from=%EF%BC%92026-01-01", "from"),
    ("?source=flyer-a", "source"), ("?by=day&by=source", "by"),
])
def test_bad_queries_are_422_naming_the_parameter(client, auth, services, query, field) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    r = client.get(f"/api/v1/programs/{pid}/stats{query}", headers=auth)
    assert r.status_code == 422 and r.mimetype == "application/problem+json", (r.status_code, r.data[:200])
    assert r.json["errors"][0]["field"] == field


def test_366_days_is_the_longest_range_and_the_scope_is_stats(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    assert len(_stats(client, auth, pid, "?from=2025-12-02&to=2026-12-02&by=day")["rows"]) == 366
    r = client.get(f"/api/v1/programs/{pid + 1000}/stats", headers=auth)
    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    for scopes, status in ((["programs"], 403), (["stats"], 200)):
        key = create_api_key(services.uow(), services.clock, services.api_keys.hasher, "k", scopes)
        assert client.get(f"/api/v1/programs/{pid}/stats", headers={"Authorization": f"Bearer {key}"}
                          ).status_code == status


def test_bad_source_on_enrolment_is_422_and_nothing_is_written(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    r = post(client, f"/api/v1/programs/{pid}/members", auth, {"name": "X", "source": "flyer a"})
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "source"
    assert _counts(_stats(client, auth, pid)["totals"]) == (0, 0, 0, 0, 0, 0)
