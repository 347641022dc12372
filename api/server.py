"""`walletpass serve`: gunicorn (a real WSGI server) running the app factory in each worker process.

Metrics: every worker process (and the job worker embedded in it) counts pushes, so prometheus_client runs in
multiprocess mode. Before forking, `serve` empties ``<instance>/prometheus-multiproc`` and points
``PROMETHEUS_MULTIPROC_DIR`` at it — prometheus_client reads that variable when it is first imported, which
is why this module must not import it at the top — and the master's ``child_exit`` hook marks a dead worker's
files; /metrics in any worker adds up the files of all of them (see walletpass.jobs.metrics).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from walletpass.config import Settings

log = logging.getLogger("walletpass.server")


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any], metrics_dir: Path) -> None:
        self._settings = settings
        self._options = options
        self._metrics_dir = metrics_dir
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from api import create_app
        from walletpass.bootstrap import bootstrap

        services = bootstrap(self._settings, metrics_dir=self._metrics_dir)
        app = create_app(services=services)
        if self._settings.embedded_worker:
            from walletpass.jobs.worker import start_embedded_worker

            start_embedded_worker(services)
        return app


def fresh_metrics_dir(instance_path: Path) -> Path:
    """Create ``<instance>/prometheus-multiproc`` and delete what a previous run left there (its counts)."""
    folder = instance_path / "prometheus-multiproc"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.db"):
        old.unlink()
    return folder


def _child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook (master): a worker exited; its live gauges no longer count (prometheus_client docs)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def run(settings: Settings, *, host: str, port: int, workers: int, threads: int) -> None:
    metrics_dir = fresh_metrics_dir(settings.instance_path)
    if "prometheus_client" in sys.modules:  # too late: its metrics would stay per process
        raise RuntimeError("prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "accesslog": "-" if settings.access_log else None,
        "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s',
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 5,
        "child_exit": _child_exit,
    }
    log.info("walletpass serving on http://%s:%s", host, port)
    _Gunicorn(settings, options, metrics_dir).run()
