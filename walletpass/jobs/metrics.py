"""Prometheus metrics of the push pipeline, one registry per Services (process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from walletpass.push.policy import Outcome


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
