"""The default pace holds a campaign's next chunk back while the devices of the earlier ones still wait for their
passes, and delivers it once they have fetched them (domain.campaigns.chunk_delay); SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, text

from tests.builders import insert_members, make_program
from tests.helpers import count, drain, post
from walletpass.bootstrap import Services, bootstrap
from walletpass.config import Settings
from walletpass.domain.campaigns import CHUNK, PROBE_SECONDS
from walletpass.ports import FixedClock
from walletpass.storage.tables import DeviceRow, OutboxRow, RegistrationRow

pytestmark = pytest.mark.usefixtures("apns")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC) - timedelta(hours=2))


@pytest.fixture
def services(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    assert settings.campaign_rate == 0  # the default pace
    with closing(bootstrap(settings, clock=clock)) as svc:
        yield svc


def _with_devices(services: Services, pass_ids: list[int], now: datetime) -> None:
    with services.engine.begin() as conn:
        conn.execute(insert(DeviceRow), [{"id": i, "device_library_identifier": f"dev{i}", "push_token": f"{i:064x}",
                                          "created_at": now, "updated_at": now} for i in pass_ids])
        conn.execute(insert(RegistrationRow), [{"device_id": i, "pass_id": i, "created_at": now, "fetched_tag": None,
                                                "last_fetched_at": None} for i in pass_ids])


def _chunk_due(services: Services) -> datetime:
    with services.engine.connect() as conn:
        return conn.execute(select(OutboxRow.available_at).where(OutboxRow.kind == "campaign_chunk")).scalar_one()


def test_a_chunk_waits_while_the_devices_of_the_last_one_wait_for_their_passes(  # type: ignore[no-untyped-def]
        client, auth, services, clock) -> None:
    pid = make_program(services)
    ids = insert_members(services, pid, CHUNK + 200, first_id=300_000, now=clock.now())
    _with_devices(services, ids, clock.now())
    r = post(client, "/api/v1/campaigns", auth, {"program_id": pid, "message": "Paced", "ignore_quiet_hours": True})
    cid = r.json["id"]
    drain(services)  # the start, the first chunk, its signatures and pushes
    assert count(services, f"SELECT count(*) FROM campaign_deliveries WHERE campaign_id = {cid} "  # noqa: S608
                           "AND state = 'sent'") == CHUNK

    # The second chunk comes due (spaced by the default rate): its first 1,000 devices have fetched nothing yet.
    due = _chunk_due(services)
    clock.advance(seconds=(due - clock.now()).total_seconds())
    drain(services)
    assert count(services, f"SELECT count(*) FROM campaign_deliveries WHERE campaign_id = {cid} "  # noqa: S608
                           "AND state = 'pending'") == 200
    assert (_chunk_due(services) - clock.now()).total_seconds() == pytest.approx(PROBE_SECONDS)

    # The devices fetch their passes (what the fetches record), lately: the chunk goes when next due.
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE registrations SET fetched_tag = (SELECT update_tag FROM passes "
                          "WHERE passes.id = registrations.pass_id), last_fetched_at = :now"), {"now": clock.now()})
    clock.advance(seconds=PROBE_SECONDS)
    drain(services)
    got = client.get(f"/api/v1/campaigns/{cid}", headers=auth).json
    assert (got["state"], got["sent"], got["pending"]) == ("done", CHUNK + 200, 0)


def test_devices_that_never_fetch_hold_a_campaign_back_for_the_backlog_window_at_most(  # type: ignore[no-untyped-def]
        client, auth, services, clock) -> None:
    pid = make_program(services)
    ids = insert_members(services, pid, CHUNK + 10, first_id=400_000, now=clock.now())
    _with_devices(services, ids, clock.now())
    cid = post(client, "/api/v1/campaigns", auth, {"program_id": pid, "message": "Anyone?",
                                                   "ignore_quiet_hours": True}).json["id"]
    drain(services)
    for _ in range(40):  # nobody fetches: probes every PROBE_SECONDS, until the pushes leave the window (60 s)
        clock.advance(seconds=(_chunk_due(services) - clock.now()).total_seconds())
        drain(services)
        if count(services, f"SELECT count(*) FROM campaign_deliveries WHERE campaign_id = {cid} "  # noqa: S608
                           "AND state = 'pending'") == 0:
            break
    got = client.get(f"/api/v1/campaigns/{cid}", headers=auth).json
    assert (got["state"], got["sent"]) == ("done", CHUNK + 10)
