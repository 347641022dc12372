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
    # 300 fetches/s: 10 s serve 3,000; 4,000 waiting + 1,000 → 2,000 too many, 6.67 s at 300/s
    assert chunk_delay(Backlog(waiting=4000, fetched=3000, span=10.0), 1000) == pytest.approx(6.67)
    # the rate counts over the span actually seen (a campaign 2 s old: 600 fetched is 300/s)
    assert chunk_delay(Backlog(waiting=4000, fetched=600, span=2.0), 1000) == pytest.approx(6.67)
    assert chunk_delay(Backlog(waiting=4000, fetched=3000, span=10.0), 1000, max_wait=FETCH_WAIT * 1.5) == \
        pytest.approx(1.67)


def test_waiting_devices_and_no_fetch_lately_look_again_shortly() -> None:
    assert chunk_delay(Backlog(waiting=1000, fetched=0, span=10.0), 1000) == PROBE_SECONDS
    assert chunk_delay(Backlog(waiting=1000, fetched=0, span=0.0), 1000) == PROBE_SECONDS


def test_a_hold_is_bounded_so_the_backlog_is_read_again() -> None:
    assert chunk_delay(Backlog(waiting=100_000, fetched=10, span=10.0), 1000) == MAX_DEFER_SECONDS
    # 300 fetches/s: one device too many is 0.003 s, held 0.1 s at least
    assert chunk_delay(Backlog(waiting=2001, fetched=3000, span=10.0), 1000) == 0.1


@pytest.mark.parametrize("fetched", [1, 10, 100, 1000, 10_000])
def test_the_hold_shrinks_as_the_web_tier_serves_faster(fetched: int) -> None:
    slower = chunk_delay(Backlog(waiting=5000, fetched=fetched, span=10.0), 1000)
    faster = chunk_delay(Backlog(waiting=5000, fetched=fetched * 2, span=10.0), 1000)
    assert faster <= slower


def test_a_web_tier_slower_than_a_chunk_per_wait_gets_the_next_chunk_at_half_a_chunk_left() -> None:
    # 40 fetches/s serve 400 in 10 s, less than a chunk: the next goes once 500 are left, so its signing overlaps
    assert chunk_delay(Backlog(waiting=500, fetched=400, span=10.0), 1000) == 0.0
    assert chunk_delay(Backlog(waiting=600, fetched=400, span=10.0), 1000) == pytest.approx(2.5)
