"""/healthz (can this process serve? see walletpass.services.health) and /metrics (Prometheus text format;
every process's push counters under `walletpass serve`: see walletpass.jobs.metrics)."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.context import services
from walletpass.jobs.metrics import DatabaseGauges, scrape_registry
from walletpass.services.health import health

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 while this process can serve (status ok or degraded, with details); 503 when the database is down."""
    s = services()
    report = health(s.read_uow(), s.settings, s.clock.now(), s.push_status.all)
    return jsonify({"status": report.status, "checks": report.checks}), 200 if report.serving else 503


def init_app(app: Flask) -> None:
    s = app.extensions["walletpass"]
    _ = s.metrics  # push counters exist (at 0) before the first push
    registry = scrape_registry(s.registry, s.metrics_dir, DatabaseGauges(s.read_uow, s.clock.now))
    app.extensions["walletpass.metrics"] = registry

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    app.register_blueprint(bp)
