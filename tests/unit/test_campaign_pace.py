"""The default pace of campaigns (domain.campaigns): the spacing from the measured cost of a pass, and the
feedback that holds a chunk back while the devices of the earlier ones still wait for their passes."""

from __future__ import annotations

import pytest

from walletpass.domain.campaigns import (
    FETCH_WAIT,
    MAX_DEFER_SECONDS,
    PROBE_SECONDS,
    Backlog,
    chunk_delay,
    default_rate,
)


def test_the_default_rate_counts_the_whole_fetch_not_the_signature_alone() -> None:
    # 1,000 signatures/s alone would say 1,000 passes/s per core; with 2 ms of the rest per pass, 2 cores serve 666.7
    assert default_rate(1000.0, 2, fetch_cpu_seconds=0.002) == pytest.approx(2 / 0.003, abs=0.1)
    assert default_rate(1000.0, 1, fetch_cpu_seconds=0.0) == 1000.0
    assert default_rate(1000.0, 4, fetch_cpu_seconds=0.002) == pytest.approx(
        2 * default_rate(1000.0, 2, fetch_cpu_seconds=0.002), abs=0.2)


def test_the_default_rate_is_at_least_one_pass_a_second() -> None:
    assert default_rate(0.5, 1, fetch_cpu_seconds=10.0) == 1.0
    assert default_rate(0.0, 0, fetch_cpu_seconds=0.0) == 1.0


def test_nobody_waiting_delivers_at_once() -> None:
    assert chunk_delay(Backlog(waiting=0, fetched=0, span=10.0), 1000) == 0.0


def test_a_backlog_the_web_tier_serves_within_the_wait_delivers_at_once() -> None:
    # 300 fetches/s: 10 s serve 3,000; 1,900 waiting + this chunk's 1,000 fit
    assert chunk_delay(Backlog(waiting=1900, fetched=3000, span=10.0), 1000) == 0.0


def test_a_backlog_beyond_the_wait_holds_the_chunk_until_it_would_fit() -> None:
    # 100 fetches/s: 10 s serve 1,000; 1,500 waiting + 1,000 → 1,500 too many, 15 s at 100/s
    assert chunk_delay(Backlog(waiting=1500, fetched=1000, span=10.0), 1000) == pytest.approx(15.0)
    # the rate counts over the span actually seen (a campaign 2 s old: 200 fetched is 100/s)
    assert chunk_delay(Backlog(waiting=1500, fetched=200, span=2.0), 1000) == pytest.approx(15.0)
    assert chunk_delay(Backlog(waiting=1500, fetched=1000, span=10.0), 1000, max_wait=FETCH_WAIT * 2) == \
        pytest.approx(5.0)


def test_waiting_devices_and_no_fetch_lately_look_again_shortly() -> None:
    assert chunk_delay(Backlog(waiting=1000, fetched=0, span=10.0), 1000) == PROBE_SECONDS
    assert chunk_delay(Backlog(waiting=1000, fetched=0, span=0.0), 1000) == PROBE_SECONDS


def test_a_hold_is_bounded_so_the_backlog_is_read_again() -> None:
    assert chunk_delay(Backlog(waiting=100_000, fetched=10, span=10.0), 1000) == MAX_DEFER_SECONDS
    # 100 fetches/s: one device too many is 0.01 s, held 0.1 s at least
    assert chunk_delay(Backlog(waiting=1, fetched=1000, span=10.0), 1000) == 0.1


@pytest.mark.parametrize("fetched", [1, 10, 100, 1000, 10_000])
def test_the_hold_shrinks_as_the_web_tier_serves_faster(fetched: int) -> None:
    slower = chunk_delay(Backlog(waiting=5000, fetched=fetched, span=10.0), 1000)
    faster = chunk_delay(Backlog(waiting=5000, fetched=fetched * 2, span=10.0), 1000)
    assert faster <= slower
