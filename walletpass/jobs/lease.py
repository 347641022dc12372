"""Keep a running batch's lease: renew it while the batch runs, so no other worker claims its jobs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from types import TracebackType

from walletpass.domain.jobs import Job
from walletpass.storage.outbox import Outbox

log = logging.getLogger("walletpass.jobs")


class LeaseKeeper:
    """While a batch runs (``with LeaseKeeper(...)``), renew its lease every third of *lease_seconds*.

    A batch can take longer than its lease; renewing keeps other workers off its jobs for as long as this process
    works on them, while a worker that dies stops renewing and its jobs return within one lease.
    """

    def __init__(self, outbox: Outbox, jobs: Sequence[Job], lease_seconds: float,
                 now: Callable[[], datetime]) -> None:
        self._outbox, self._jobs, self._lease, self._now = outbox, list(jobs), lease_seconds, now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="walletpass-lease", daemon=True)
        self.renewals = 0

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while self._jobs and not self._stop.wait(self._lease / 3):
            try:
                self._jobs = self._outbox.extend(self._jobs, self._now() + timedelta(seconds=self._lease))
            except Exception:  # noqa: BLE001 - a missed renewal is retried; at worst the lease runs out
                log.warning("could not renew the lease of %d job(s)", len(self._jobs), exc_info=True)
            self.renewals += 1
