"""Kicker: one kick per bucket whatever the burst, every commit covered, a failing broker never raises."""

from __future__ import annotations

import logging
import math
import threading

import pytest

from walletpass.jobs.kick import Kicker


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    """The send port: records the etas it was asked for, or fails like an unreachable broker."""

    def __init__(self, fail: bool = False) -> None:
        self.etas: list[float] = []
        self.fail = fail
        self.called = threading.Event()
        self.gate = threading.Event()          # cleared: the broker is slow, sends wait
        self.gate.set()
        self._cond = threading.Condition()

    def __call__(self, eta: float) -> None:
        self.called.set()
        self.gate.wait(5)
        if self.fail:
            raise ConnectionRefusedError("Connection refused")
        with self._cond:
            self.etas.append(eta)
            self._cond.notify_all()

    def wait_for(self, eta: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: eta in self.etas, timeout=5)


def test_a_burst_of_commits_costs_a_handful_of_kicks_and_none_is_left_waiting() -> None:
    clock, send = Clock(), Recorder()
    kicker = Kicker(send, delay=2.0, bucket=0.5, clock=clock)
    for _ in range(1000):                     # 1,000 transactions over two seconds
        clock.now += 0.002
        kicker.kick()
        due = clock.now + 2.0
        drain_at = math.ceil(due / 0.5) * 0.5  # the end of this commit's bucket ...
        assert send.wait_for(drain_at)        # ... has a drain asked for it (once per bucket)
        assert due <= drain_at < due + 0.5
    kicker.close()
    assert 4 <= len(send.etas) <= 5 and send.etas == sorted(set(send.etas)) and kicker.sent == len(send.etas)


def test_kicks_made_while_the_broker_is_slow_become_one() -> None:
    clock, send = Clock(), Recorder()
    send.gate.clear()
    kicker = Kicker(send, delay=0.0, bucket=0.5, clock=clock)
    kicker.kick()
    assert send.called.wait(5)                # the first send is stuck in the broker
    for _ in range(10):
        clock.now += 0.5
        kicker.kick()
    send.gate.set()
    kicker.close()
    assert send.etas == [1_000_000.0, 1_000_005.0]   # the first, then only the latest: it covers the others


def test_close_sends_what_is_waiting_and_later_kicks_are_ignored() -> None:
    clock, send = Clock(), Recorder()
    kicker = Kicker(send, delay=0.0, clock=clock)
    kicker.kick()
    kicker.close()
    assert len(send.etas) == 1
    clock.now += 10
    kicker.kick()
    assert len(send.etas) == 1 and kicker.sent == 1


def test_an_unreachable_broker_is_logged_once_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    clock, send = Clock(), Recorder(fail=True)
    kicker = Kicker(send, delay=0.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="walletpass.kick"):
        for _ in range(3):
            clock.now += 1
            send.called.clear()
            kicker.kick()                     # returns at once: the sender thread meets the failure
            assert send.called.wait(5)
        kicker.close()
    assert kicker.failed == 3 and kicker.sent == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Connection refused" in warnings[0].getMessage()
