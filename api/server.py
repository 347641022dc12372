"""`walletpass serve`: gunicorn (a real WSGI server) running the app factory in each worker process."""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.app.base import BaseApplication

from walletpass.config import Settings

log = logging.getLogger("walletpass.server")


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from api import create_app
        from walletpass.bootstrap import bootstrap

        services = bootstrap(self._settings)
        app = create_app(services=services)
        if self._settings.embedded_worker:
            from walletpass.jobs.worker import start_embedded_worker

            start_embedded_worker(services)
        return app


def run(settings: Settings, *, host: str, port: int, workers: int, threads: int) -> None:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "accesslog": "-" if settings.access_log else None,
        "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 5,
    }
    log.info("walletpass serving on http://%s:%s", host, port)
    _Gunicorn(settings, options).run()
