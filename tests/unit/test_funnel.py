"""The funnel's pure parts: date ranges, a time zone's offsets through a window, rows and rates; QR options."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from walletpass.domain import funnel as f
from walletpass.domain.members import parse_source
from walletpass.errors import InvalidInput
from walletpass.render import qr


def test_range_defaults_to_30_days_ending_today_and_holds_366() -> None:
    today = date(2026, 12, 3)
    assert f.parse_range(None, None, today) == (date(2026, 11, 4), today)
    assert f.parse_range(None, "2026-01-31", today) == (date(2026, 1, 2), date(2026, 1, 31))
    assert f.parse_range("2025-12-03", "2026-12-03", today) == (date(2025, 12, 3), today)  # 366 days
    with pytest.raises(InvalidInput) as e:
        f.parse_range("2025-12-02", "2026-12-03", today)
    assert e.value.field == "to"
    with pytest.raises(InvalidInput) as e:
        f.parse_range("2026-12-04", None, today)
    assert e.value.field == "from"
    for bad in ("2026-02-30", "20261201", "2026-12-1", "１２３４-12-01", "0001-01-01", "9999-12-31"):
        with pytest.raises(InvalidInput):
            f.parse_day(bad, "from")


def test_offsets_through_a_window_find_each_change_to_the_second() -> None:
    first, after = f.utc_window(date(2026, 1, 1), date(2026, 12, 31), "Europe/Berlin")
    assert first == datetime(2025, 12, 31, 23, tzinfo=UTC) and after == datetime(2026, 12, 31, 23, tzinfo=UTC)
    assert f.utc_offsets("Europe/Berlin", first, after) == [
        (first, 3600), (datetime(2026, 3, 29, 1, tzinfo=UTC), 7200), (datetime(2026, 10, 25, 1, tzinfo=UTC), 3600)]
    first, after = f.utc_window(date(2026, 1, 1), date(2026, 12, 31), "Asia/Kathmandu")
    assert f.utc_offsets("Asia/Kathmandu", first, after) == [(first, 5 * 3600 + 45 * 60)]
    assert f.utc_offsets("UTC", first, after) == [(first, 0)]


def test_build_fills_days_sums_totals_and_rates() -> None:
    counted = [("2026-12-01", "visit", 4), ("2026-12-01", "enrol", 2), ("2026-12-03", "apple_install", 1),
               ("2026-12-03", "google_save", 2), ("2026-12-03", "unknown_kind", 9)]
    out = f.build(7, date(2026, 12, 1), date(2026, 12, 3), "day", "UTC", counted)
    assert [r.key for r in out.rows] == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert out.rows[1].counts == f.FunnelCounts()
    assert out.totals == f.FunnelCounts(visits=4, enrolments=2, apple_installs=1, google_saves=2)
    assert out.totals.rates() == {"visit_to_enrolment": 0.5, "enrolment_to_wallet": 1.5,
                                  "enrolment_to_first_transaction": 0.0}
    assert f.FunnelCounts().rates()["visit_to_enrolment"] is None
    by_source = f.build(7, date(2026, 12, 1), date(2026, 12, 1), "source", "UTC",
                        [(None, "visit", 1), ("b", "visit", 1), ("a", "enrol", 1)])
    assert [r.key for r in by_source.rows] == ["a", "b", None]


def test_sources_are_short_slugs() -> None:
    assert parse_source("flyer-a") == "flyer-a" and parse_source("A.b_c-9") == "A.b_c-9"
    for bad in ("", "-a", ".a", "a b", "a\n", "é", "a/b", "a" * 65, None, 5):
        with pytest.raises(InvalidInput):
            parse_source(bad)


def test_qr_options() -> None:
    assert qr.parse_options({}) == qr.QrOptions("svg", None, "Q", 10, 4)
    assert qr.parse_options({"format": "png", "ec": "h", "scale": "40", "border": "0", "src": "x"}) == \
        qr.QrOptions("png", "x", "H", 40, 0)
    assert qr.parse_options({"format": "pdf", "ec": "L"}).content_type == "application/pdf"
    for args in ({"scale": "٣"}, {"scale": "0"}, {"border": "+1"}, {"format": "pdf", "scale": "1"}, {"x": "1"}):
        with pytest.raises(InvalidInput):
            qr.parse_options(args)
