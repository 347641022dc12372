"""The pure rules of automations: which birthdays a day celebrates, a program's midnight, periods, catching up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from walletpass.domain.automations import (
    CATCH_UP_DAYS,
    birthday_period,
    birthdays_on,
    local_day,
    midnight,
    next_day,
    stale,
    win_back_period,
)


@pytest.mark.parametrize(("day", "celebrated"), [
    (date(2027, 2, 28), ((2, 28), (2, 29))),   # a common year: 29 February's birthdays too
    (date(2028, 2, 28), ((2, 28),)),           # a leap year: they have their own day
    (date(2028, 2, 29), ((2, 29),)),
    (date(2100, 2, 28), ((2, 28), (2, 29))),   # 2100 is not a leap year
    (date(2000, 2, 28), ((2, 28),)),           # 2000 is
    (date(2027, 3, 1), ((3, 1),)),
    (date(2027, 12, 31), ((12, 31),)),
])
def test_the_birthdays_a_day_celebrates(day: date, celebrated: tuple[tuple[int, int], ...]) -> None:
    assert birthdays_on(day) == celebrated


def test_a_programs_day_and_its_midnight() -> None:
    assert midnight(date(2027, 3, 15), "Asia/Taipei") == datetime(2027, 3, 14, 16, 0, tzinfo=UTC)
    assert local_day(datetime(2027, 3, 14, 16, 0, tzinfo=UTC), "Asia/Taipei") == date(2027, 3, 15)
    assert local_day(datetime(2027, 3, 14, 15, 59, tzinfo=UTC), "Asia/Taipei") == date(2027, 3, 14)
    # São Paulo's clocks went from 00:00 to 01:00 on 4 November 2018: the day began at 03:00 UTC (01:00 there)
    assert midnight(date(2018, 11, 4), "America/Sao_Paulo") == datetime(2018, 11, 4, 3, 0, tzinfo=UTC)
    assert local_day(midnight(date(2018, 11, 4), "America/Sao_Paulo"), "America/Sao_Paulo") == date(2018, 11, 4)


def test_periods() -> None:
    assert birthday_period(date(2027, 2, 28)) == "2027"
    taipei = timezone(timedelta(hours=8))
    assert win_back_period(datetime(2027, 3, 14, 10, 0, 0, 999, tzinfo=taipei)) == "2027-03-14T02:00:00Z"


def test_a_late_run_catches_up_a_week_and_skips_older_days() -> None:
    today = date(2027, 3, 14)
    assert next_day(date(2027, 3, 13), today) == today
    assert next_day(date(2027, 3, 10), today) == date(2027, 3, 11)
    assert next_day(date(2026, 3, 14), today) == today - timedelta(days=CATCH_UP_DAYS)
    assert not stale(today - timedelta(days=CATCH_UP_DAYS), today)
    assert stale(today - timedelta(days=CATCH_UP_DAYS + 1), today)
