"""Prometheus metrics: the push pipeline's and the signer's counters (per process) and the gauges read from the
database.

Two kinds, gathered differently:

* **Push counters and latency, and pass signatures** are counted by the process that pushed or signed. Under
  ``walletpass serve`` that is any of the gunicorn workers (each serves passes and runs an embedded job worker),
  so they run in prometheus_client's multiprocess mode:
  ``walletpass serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder in the instance before forking, each
  process writes its values there, and a scrape of /metrics in any worker adds up every process's files — the
  same answer whichever worker the scrape reaches. A ``walletpass worker --metrics-port`` process serves its own.
* **Gauges from the database** (outbox backlog, registrations, stale devices) describe shared state: they are
  computed at scrape time by :class:`DatabaseGauges`, never written to those files, so they are not summed over
  processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from walletpass.domain.jobs import FAILING_ATTEMPTS
from walletpass.push.policy import Outcome

#: A device is stale once a push it got is this old and it has not fetched the pass since.
STALE_AFTER = timedelta(hours=1)


class PushMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.pushes = Counter("walletpass_pushes", "APNs pushes by outcome", ["outcome"], registry=registry)
        self.latency = Histogram("walletpass_push_latency_seconds", "from the change's commit to the APNs answer",
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300), registry=registry)
        for o in Outcome:
            self.pushes.labels(o.value)

    def pushed(self, outcome: Outcome, latency_seconds: float) -> None:
        self.pushes.labels(outcome.value).inc()
        if outcome is Outcome.OK:
            self.latency.observe(latency_seconds)


class SigningMetrics:
    """Passes signed by this process (each is an RSA signature): with every version signed once, this grows by
    one per pass version whatever the number of devices that fetch it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.signatures = Counter("walletpass_pass_signatures", "passes signed (one RSA signature each)",
                                  registry=registry)

    def signed(self) -> None:
        self.signatures.inc()


class DatabaseGauges:
    """Gauges read from the database at each scrape (one read-only transaction)."""

    def __init__(self, read_uow: Callable[[], Any], now: Callable[[], datetime]) -> None:
        self._read_uow = read_uow
        self._now = now

    def collect(self) -> Iterator[Metric]:
        with self._read_uow() as uow:
            backlog = uow.outbox.backlog()
            regs = uow.devices.count()
            stale = uow.devices.stale(self._now() - STALE_AFTER)
            parked = uow.outbox.parked()
            oldest = uow.outbox.oldest()
            failing = uow.outbox.failing(FAILING_ATTEMPTS)
        yield _gauge("walletpass_outbox_backlog", "jobs waiting in the outbox", backlog)
        yield _gauge("walletpass_outbox_oldest_job_seconds", "age of the oldest job in the outbox (0 when empty)",
                     max(0.0, (self._now() - oldest).total_seconds()) if oldest else 0.0)
        yield _gauge("walletpass_outbox_failing_jobs", f"jobs tried {FAILING_ATTEMPTS} times or more and still not "
                     "done (devices unreachable, or APNs refusing the certificate); outbox.last_error says why",
                     failing)
        yield _gauge("walletpass_registrations", "Apple device registrations", regs)
        yield _gauge("walletpass_stale_devices", "devices with a registration pushed over an hour ago whose pass "
                                                 "they have not fetched since", stale)
        kept = GaugeMetricFamily("walletpass_outbox_parked", "jobs kept aside because retrying cannot fix them "
                                 "(e.g. Google answered 400); outbox.last_error says why", labels=["kind"])
        for kind, n in sorted(parked.items()):
            kept.add_metric([kind], n)
        yield kept


class _Forward:
    """Collect another registry's metrics (this process's push counters) into a scrape registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()


def scrape_registry(own: CollectorRegistry, multiprocess_dir: Path | None, *extra: Any) -> CollectorRegistry:
    """The registry a /metrics endpoint renders: the push metrics of every process writing to
    *multiprocess_dir* (or this process's *own* when None), plus the *extra* collectors."""
    registry = CollectorRegistry()
    if multiprocess_dir is not None:
        MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    else:
        registry.register(_Forward(own))
    for collector in extra:
        registry.register(collector)
    return registry


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation)
    gauge.add_metric([], value)
    return gauge
