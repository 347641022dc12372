"""/healthz and /metrics (Prometheus text format)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from api.context import services
from walletpass.services.health import health

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    s = services()
    extra: dict[str, dict[str, Any]] = {}
    hook = getattr(s, "health_checks", None)
    if callable(hook):
        extra = hook()
    ok, report = health(s.read_uow(), s.settings, s.clock.now(), extra)
    return jsonify(report), 200 if ok else 503


class _DbCollector:
    """Gauges read from the database at scrape time."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def collect(self) -> Any:
        s = self._app.extensions["walletpass"]
        with s.read_uow() as uow:
            backlog = uow.outbox_backlog()
            regs = uow.registration_count()
            stale = uow.stale_registrations(s.clock.now() - timedelta(hours=1))
        g = GaugeMetricFamily("walletpass_outbox_backlog", "jobs waiting in the outbox")
        g.add_metric([], backlog)
        yield g
        r = GaugeMetricFamily("walletpass_registrations", "Apple device registrations")
        r.add_metric([], regs)
        yield r
        st = GaugeMetricFamily("walletpass_stale_devices",
                               "registrations pushed over an hour ago whose device has not fetched that version")
        st.add_metric([], stale)
        yield st


def init_app(app: Flask) -> None:
    registry: CollectorRegistry = app.extensions["walletpass"].registry
    registry.register(_DbCollector(app))
    _ = app.extensions["walletpass"].metrics  # push counters exist (at 0) before the first push
    app.extensions["walletpass.metrics"] = registry

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    app.register_blueprint(bp)
