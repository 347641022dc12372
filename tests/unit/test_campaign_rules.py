"""Campaign rules, pure: when a send lands inside a program's quiet hours, messages per locale, estimates."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from walletpass.domain.campaigns import DEFAULT, QuietHours, estimated_seconds, parse_message, start_time
from walletpass.errors import InvalidInput

TAIPEI = "Asia/Taipei"  # UTC+8, no daylight saving


@pytest.mark.parametrize(("wanted", "expected"), [
    ("2026-12-03T12:59:00+00:00", "2026-12-03T12:59:00+00:00"),  # 20:59 in Taipei: before the quiet hours
    ("2026-12-03T13:00:00+00:00", "2026-12-04T01:00:00+00:00"),  # 21:00: waits for 09:00 the next morning
    ("2026-12-03T17:30:00+00:00", "2026-12-04T01:00:00+00:00"),  # 01:30 after midnight: 09:00 the same day
    ("2026-12-04T00:59:59+00:00", "2026-12-04T01:00:00+00:00"),  # 08:59:59
    ("2026-12-04T01:00:00+00:00", "2026-12-04T01:00:00+00:00"),  # 09:00: the quiet hours are over
])
def test_a_send_inside_the_quiet_hours_waits_for_their_end_in_the_programs_time_zone(wanted, expected) -> None:  # type: ignore[no-untyped-def]
    assert start_time(datetime.fromisoformat(wanted), TAIPEI, QuietHours()) == datetime.fromisoformat(expected)


def test_quiet_hours_within_one_day_and_none_and_empty() -> None:
    lunch = QuietHours(time(12, 0), time(14, 0))
    noon_utc = datetime(2026, 12, 3, 12, 30, tzinfo=UTC)
    assert start_time(noon_utc, "UTC", lunch) == datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    assert start_time(noon_utc, "UTC", None) == noon_utc                        # ignore_quiet_hours
    assert start_time(noon_utc, "UTC", QuietHours(time(9), time(9))) == noon_utc  # empty: never quiet


def test_a_message_is_a_text_or_one_per_program_locale() -> None:
    assert parse_message("  Hi  ", ["en"]).texts == {DEFAULT: "Hi"}
    m = parse_message({"zh-Hant": "週末買一送一", "en": "BOGO"}, ["zh-Hant", "en"])
    assert m.text("en") == "BOGO" and m.text("zh-Hant") == "週末買一送一" and m.text("fr") == "週末買一送一"
    for bad, field in [({}, "message"), ({"fr": "x"}, "message.fr"), ({"en": " "}, "message.en"), (3, "message"),
                       ("x" * 501, "message")]:
        with pytest.raises(InvalidInput) as e:
            parse_message(bad, ["zh-Hant", "en"])
        assert e.value.field == field


def test_the_estimate_follows_the_pace() -> None:
    assert estimated_seconds(100_000, 2_500.0) == 40.0
    assert estimated_seconds(0, 2_500.0) == 0.0
