"""Kicks: tell the Celery workers that outbox jobs were committed, without making a request wait on the broker.

The outbox row is the job; a kick is only a hint that makes a worker drain it now instead of at its next sweep.
So a kick may be lost (broker down, process killed) and nothing is lost with it: the workers' sweep finds the
row. That is why :meth:`Kicker.kick` never raises and never blocks: a sender thread talks to the broker.

Debouncing: a job committed at *t* is due at *t + delay* (the coalescing window). The kick asks for a drain at
that moment rounded *up* to the next multiple of ``bucket`` seconds, and one kick per bucket is sent. A drain at
the end of the bucket sees every job committed during it as due, so a burst of 1,000 transactions over two
seconds costs about four kicks (bucket 0.5 s), and no commit is left waiting for the sweep.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

log = logging.getLogger("walletpass.kick")

#: How often a still-unreachable broker is reported again (first failure: at once).
_WARN_EVERY = 60.0


class Kicker:
    """Send at most one "drain at *eta*" per *bucket* seconds, from a daemon thread started on first use."""

    def __init__(self, send: Callable[[float], None], *, delay: float, bucket: float = 0.5,
                 clock: Callable[[], float] = time.time) -> None:
        """*send(eta)* asks the workers to drain at *eta* (seconds since the epoch); it may raise."""
        self._send = send
        self.delay = max(0.0, delay)
        self.bucket = bucket
        self._clock = clock
        self._cond = threading.Condition()
        self._latest = 0.0          # the latest eta asked for (sent or waiting to be sent)
        self._pending: float | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._failing_since: float | None = None
        self._warned_at = 0.0
        self.sent = 0
        self.failed = 0

    def kick(self) -> None:
        """Record that jobs were committed just now (cheap; called after every commit that wrote the outbox)."""
        eta = math.ceil((self._clock() + self.delay) / self.bucket) * self.bucket
        with self._cond:
            if eta <= self._latest or self._closed:
                return
            self._latest = self._pending = eta
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="walletpass-kick", daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self, timeout: float = 2.0) -> None:
        """Send what is waiting (within *timeout*) and stop the sender thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                eta, self._pending = self._pending, None
            if eta is None:
                return
            self._deliver(eta)

    def _deliver(self, eta: float) -> None:
        try:
            self._send(eta)
        except Exception as exc:  # noqa: BLE001 - any broker failure: the row is committed, the sweep delivers
            now = self._clock()
            if self._failing_since is None or now - self._warned_at >= _WARN_EVERY:
                log.warning("could not kick the workers (%s); committed jobs go out with the next worker sweep",
                            exc)
                self._warned_at = now
            self._failing_since = self._failing_since or now
            self.failed += 1  # last: whoever watches the count finds the warning already logged
            return
        self.sent += 1
        if self._failing_since is not None:
            log.info("broker reachable again after %.0f s", self._clock() - self._failing_since)
            self._failing_since = None
