"""Automations carried out by the real worker, on a clock the test moves (SQLite and PostgreSQL): birthdays once a
year (also with two workers on the same day at the same instant, and 29 February), win-back once per lapse, the
daily run queuing the next day at the program's midnight, messages as campaigns out of the quiet hours."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from tests.builders import make_member, make_program
from tests.helpers import count
from walletpass.bootstrap import Services
from walletpass.domain.jobs import JobKind
from walletpass.domain.offers import Offer
from walletpass.jobs.worker import Worker
from walletpass.ports import FixedClock
from walletpass.services import automations, offers, points
from walletpass.storage.tables import MemberRow, PassRow

pytestmark = pytest.mark.usefixtures("apns")

TAIPEI = ZoneInfo("Asia/Taipei")
#: 14 March 2027, 10:00 in Taipei (02:00 UTC): outside the quiet hours.
START = datetime(2027, 3, 14, 10, 0, tzinfo=TAIPEI).astimezone(UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def services_clock(clock: FixedClock) -> FixedClock:
    """``services``, so the API and the worker, run on the clock the test moves."""
    return clock


def _drain(services: Services) -> int:
    worker, handled = Worker(services), 0
    while n := worker.run_once():
        handled += n
    return handled


def _offer(services: Services, program_id: int, title: str = "Birthday latte") -> int:
    offer = offers.create_offer(services.uow(), services.clock, program_id,
                                {"title": title, "valid_until": "2099-12-31T00:00:00Z"})
    assert isinstance(offer, Offer)
    return offer.id


def _coupons(services: Services, member_id: int, offer_id: int | None = None) -> int:
    of_offer = f" AND offer_id = {offer_id}" if offer_id else ""
    return count(services, f"SELECT count(*) FROM coupons WHERE member_id = {member_id}{of_offer}")


def _at(clock: FixedClock, local: datetime) -> None:
    clock._now = local.astimezone(UTC)  # noqa: SLF001 - the test's own clock: set, not advanced


def _next_run(services: Services, program_id: int) -> datetime | None:
    return automations.get(services.uow(), program_id).next_run_at


def test_a_birthday_gift_once_a_year_and_the_daily_run_at_the_programs_midnight(services, clock) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    today = make_member(services, pid, birthday="1990-03-14", points=2500)     # Gold
    bronze = make_member(services, pid, birthday="1985-03-14")                 # Bronze: outside the segment
    tomorrow = make_member(services, pid, birthday="1992-03-15", points=2500)
    nobody = make_member(services, pid, points=2500)                           # no birthday given
    offer = _offer(services, pid)
    view = automations.put(services.uow(), clock, pid, {"birthday": {
        "offer_id": offer, "message": {"en": "Happy birthday!", "zh-Hant": "生日快樂！"},
        "segment": {"tier": ["Gold", "Diamond"]}}})
    assert view.next_run_at == START  # set at 10:00: today's run is due at once
    _drain(services)
    assert [_coupons(services, m["id"]) for m in (today, bronze, tomorrow, nobody)] == [1, 0, 0, 0]
    # the next run is queued for 00:00 of 15 March in Taipei (16:00 UTC on the 14th), once
    assert _next_run(services, pid) == datetime(2027, 3, 15, tzinfo=TAIPEI).astimezone(UTC)
    assert count(services, f"SELECT count(*) FROM outbox WHERE kind = '{JobKind.AUTOMATIONS_DAILY}'") == 1

    # the same day again: setting the rules again runs today once more, and a duplicate job too — nothing new
    automations.put(services.uow(), clock, pid, {"birthday": {"offer_id": offer, "segment": {"tier": ["Gold"]},
                                                              "message": "Happy birthday!"}})
    with services.uow() as uow:
        uow.outbox.enqueue(JobKind.AUTOMATIONS_DAILY, {"program_id": pid, "day": "2027-03-14"}, clock.now())
        uow.commit()
    _drain(services)
    assert _coupons(services, today["id"]) == 1
    assert count(services, f"SELECT count(*) FROM outbox WHERE kind = '{JobKind.AUTOMATIONS_DAILY}'") == 1

    _at(clock, datetime(2027, 3, 15, 0, 0, 5, tzinfo=TAIPEI))
    _drain(services)
    assert [_coupons(services, m["id"]) for m in (today, tomorrow)] == [1, 1]
    assert _next_run(services, pid) == datetime(2027, 3, 16, tzinfo=TAIPEI).astimezone(UTC)

    # a year later (the worker runs every day it missed, in order): a second gift, once
    _at(clock, datetime(2028, 3, 14, 0, 0, 5, tzinfo=TAIPEI))
    _drain(services)
    assert [_coupons(services, m["id"]) for m in (today, bronze, tomorrow, nobody)] == [2, 0, 1, 0]
    assert count(services, "SELECT count(*) FROM automation_days WHERE state = 'pending'") == 1
    assert automations.get(services.uow(), pid).fired["birthday"].count == 3


def test_birthday_messages_are_campaigns_sent_after_the_quiet_hours(services, clock) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    member = make_member(services, pid, birthday="1990-03-15")
    automations.put(services.uow(), clock, pid, {"birthday": {"message": {"en": "Happy birthday!",
                                                                          "zh-Hant": "生日快樂！"}}})
    _at(clock, datetime(2027, 3, 15, 0, 0, 5, tzinfo=TAIPEI))
    _drain(services)
    with services.engine.connect() as conn:
        campaign = conn.exec_driver_sql("SELECT id, state, send_at, segment, name FROM campaigns").one()
    assert campaign.state == "scheduled" and campaign.name == "birthday 2027-03-15"
    assert _member_ids(campaign.segment) == [member["id"]]
    with services.uow() as uow:  # when the quiet hours (21:00–09:00) end
        assert uow.campaigns.get(campaign.id).send_at == datetime(2027, 3, 15, 9, 0, tzinfo=TAIPEI)
    assert count(services, "SELECT count(*) FROM coupons") == 0  # a message alone
    _at(clock, datetime(2027, 3, 15, 9, 0, 1, tzinfo=TAIPEI))
    _drain(services)
    with services.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT state, total FROM campaigns").one() == ("done", 1)
        news = conn.exec_driver_sql(f"SELECT news_campaign_id FROM passes WHERE member_id = {member['id']}").scalar()
    assert news == campaign.id


def test_29_february_birthdays_fall_on_28_february_in_common_years(services, clock) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services, time_zone="UTC")
    leapling = make_member(services, pid, birthday="2000-02-29")
    feb28 = make_member(services, pid, birthday="1999-02-28")
    mar1 = make_member(services, pid, birthday="1999-03-01")
    offer = _offer(services, pid)
    _at(clock, datetime(2027, 2, 27, 12, 0, tzinfo=UTC))
    automations.put(services.uow(), clock, pid, {"birthday": {"offer_id": offer}})
    seen = []
    for day in (date(2027, 2, 28), date(2027, 3, 1), date(2028, 2, 28), date(2028, 2, 29), date(2028, 3, 1)):
        _at(clock, datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(seconds=5))
        _drain(services)
        seen.append((day.isoformat(), [_coupons(services, m["id"]) for m in (leapling, feb28, mar1)]))
    assert seen == [("2027-02-28", [1, 1, 0]),   # a common year: 29 February's birthdays on the 28th
                    ("2027-03-01", [1, 1, 1]),
                    ("2028-02-28", [1, 2, 1]),   # a leap year: on their own day
                    ("2028-02-29", [2, 2, 1]),
                    ("2028-03-01", [2, 2, 2])]


def test_two_workers_running_the_same_day_at_the_same_instant_give_each_gift_once(services, clock) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    members = _members(services, pid, 250, birthday=date(1990, 3, 14))
    offer = _offer(services, pid)
    automations.put(services.uow(), clock, pid, {"birthday": {"offer_id": offer, "message": "Happy birthday!"}})
    with services.uow() as uow:  # a second job for the same day (a lease that ran out while the first still ran)
        uow.outbox.enqueue(JobKind.AUTOMATIONS_DAILY, {"program_id": pid, "day": "2027-03-14"}, clock.now())
        uow.commit()
    assert count(services, "SELECT count(*) FROM outbox") == 2  # the two daily jobs, nothing else
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work() -> None:
        worker = Worker(services, batch=1)  # one job each: both daily jobs run at once
        try:
            start.wait()
            assert worker.run_once() == 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    _drain(services)
    assert count(services, "SELECT count(*) FROM coupons") == len(members) == 250
    assert count(services, "SELECT count(DISTINCT member_id) FROM coupons") == 250
    assert count(services, "SELECT count(*) FROM automation_runs WHERE coupon_id IS NOT NULL") == 250
    # each member's message is carried by exactly one campaign
    assert count(services, "SELECT count(*) FROM automation_runs WHERE campaign_id IS NULL") == 0
    with services.engine.connect() as conn:
        segments = [s for (s,) in conn.exec_driver_sql("SELECT segment FROM campaigns")]
    reached = [m for s in segments for m in _member_ids(s)]
    assert sorted(reached) == sorted(members)
    assert count(services, "SELECT count(*) FROM automation_days WHERE state = 'pending'") == 1  # tomorrow's


def _members(services: Services, program_id: int, n: int, *, birthday: date) -> list[int]:
    """*n* members with their cards, written in two statements (enrolling each would take seconds)."""
    now, base = services.clock.now(), 10_000
    members = [{"id": base + i, "program_id": program_id, "name": f"M{i}", "member_number": f"{base + i:012d}",
                "points": 0, "version": 1, "birthday": birthday, "created_at": now, "updated_at": now}
               for i in range(n)]
    cards = [{"id": base + i, "serial_number": f"S{base + i}", "pass_type_id": services.settings.member_pass_type_id,
              "kind": "member", "program_id": program_id, "member_id": base + i, "authentication_token": "t" * 24,
              "public_token": f"p{base + i}", "update_tag": 1, "voided": False, "created_at": now, "updated_at": now}
             for i in range(n)]
    with services.engine.begin() as conn:
        conn.execute(insert(MemberRow), members)
        conn.execute(insert(PassRow), cards)
    return [m["id"] for m in members]


def _member_ids(segment: Any) -> list[int]:
    value = json.loads(segment) if isinstance(segment, str) else segment
    return list(value["member_ids"])


def test_win_back_after_n_days_without_a_transaction_once_per_lapse(services, clock) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    away = make_member(services, pid)
    regular = make_member(services, pid)
    offer = _offer(services, pid, "We miss you: a free scone")
    automations.put(services.uow(), clock, pid, {"win_back": {"days": 30, "offer_id": offer}})

    def day(n: int) -> None:  # n days after START, shortly after the program's midnight
        _at(clock, datetime.combine(START.astimezone(TAIPEI).date() + timedelta(days=n), datetime.min.time(),
                                    tzinfo=TAIPEI) + timedelta(minutes=1))
        _drain(services)

    def spend(member: dict[str, Any]) -> None:
        points.add_transaction(services.uow(), clock, services.settings, member["id"], 10, "latte")

    day(20)
    spend(regular)
    day(30)
    assert [_coupons(services, m["id"]) for m in (away, regular)] == [0, 0]  # 30 days less ten hours
    day(31)
    assert [_coupons(services, m["id"]) for m in (away, regular)] == [1, 0]
    day(45)
    assert [_coupons(services, m["id"]) for m in (away, regular)] == [1, 0]  # not again in the same lapse
    day(51)
    assert [_coupons(services, m["id"]) for m in (away, regular)] == [1, 1]
    spend(away)  # came back (day 51) …
    day(80)
    assert _coupons(services, away["id"]) == 1
    day(82)  # … and lapsed again: won back again
    assert [_coupons(services, m["id"]) for m in (away, regular)] == [2, 1]


def test_rules_turned_off_stop_the_daily_run(services, clock) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    member = make_member(services, pid, birthday="1990-03-15")
    offer = _offer(services, pid)
    automations.put(services.uow(), clock, pid, {"birthday": {"offer_id": offer, "enabled": False}})
    assert _next_run(services, pid) is None  # no daily rule on: nothing queued
    automations.put(services.uow(), clock, pid, {"birthday": {"offer_id": offer}})
    _drain(services)
    automations.put(services.uow(), clock, pid, {"welcome": {"offer_id": offer}})  # birthday off
    _at(clock, datetime(2027, 3, 15, 0, 1, tzinfo=TAIPEI))
    _drain(services)
    assert _coupons(services, member["id"]) == 0
    assert _next_run(services, pid) is None
    assert count(services, "SELECT count(*) FROM outbox") == 0


def _waiting_for_locks(services: Services) -> int:
    with services.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                        "AND wait_event_type = 'Lock'").scalar_one())


def test_a_birthday_gift_and_a_campaign_chunk_giving_the_same_offer_at_once_give_one_coupon(services, clock) -> None:  # type: ignore[no-untyped-def]
    """The daily run locks the offer as campaign chunks do: a chunk that comes while the run's coupon is not yet
    committed waits for it and then skips the member, who holds one. (PostgreSQL's foreign key check of the
    coupon also share-locks the offer row, which the chunk's FOR UPDATE waits for; the run now takes the lock
    itself, before it reads whom to reach, instead of relying on that.)"""
    if services.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: the two cannot interleave")
    from sqlalchemy import text

    from walletpass.services import campaigns

    pid = make_program(services)
    [member] = _members(services, pid, 1, birthday=date(1990, 3, 14))
    offer = _offer(services, pid)
    campaigns.create(services.uow(), clock, {"program_id": pid, "message": "A latte on us", "offer_id": offer,
                                             "ignore_quiet_hours": True}, rate=1000.0)
    assert Worker(services, batch=1).run_once() == 1  # the campaign starts: its one chunk is due now
    automations.put(services.uow(), clock, pid, {"birthday": {"offer_id": offer}})  # today's run: due now
    assert count(services, "SELECT count(*) FROM outbox WHERE kind IN ('campaign_chunk', 'automations_daily')") == 2

    errors: list[BaseException] = []

    def work() -> None:
        try:
            assert Worker(services, batch=1).run_once() == 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    # Both block on the tag counter (each coupon's pass takes a tag) while a third transaction holds it: the
    # daily run first, after it has inserted its coupon; then the chunk, after it has checked who holds one.
    with services.engine.connect() as holder:
        holder.execute(text("SELECT value FROM counters WHERE name = 'pass_tag' FOR UPDATE"))
        with services.engine.begin() as conn:  # the chunk is not claimed first
            conn.execute(text("UPDATE outbox SET available_at = available_at + interval '1 hour' "
                              "WHERE kind = 'campaign_chunk'"))
        daily = threading.Thread(target=work)
        daily.start()
        assert wait_for(lambda: _waiting_for_locks(services) == 1)
        with services.engine.begin() as conn:
            conn.execute(text("UPDATE outbox SET available_at = :now WHERE kind = 'campaign_chunk'"),
                         {"now": clock.now()})
        chunk = threading.Thread(target=work)
        chunk.start()
        assert wait_for(lambda: _waiting_for_locks(services) == 2)
        holder.rollback()
    daily.join(60)
    chunk.join(60)
    assert not errors
    assert _coupons(services, member, offer) == 1
    assert count(services, "SELECT count(*) FROM campaign_deliveries WHERE state = 'sent'") == 1


def wait_for(condition: Any, timeout: float = 20.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
