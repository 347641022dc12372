"""A bare Flask app answering 304, served exactly as `walletpass serve` serves walletpass (BENCHMARKS.md,
"webservice"): the yardstick for Apple's web service.

Run by bench/webservice.py beside `walletpass serve`, in the same environment (``WALLETPASS_*``; give it an
instance folder of its own, for gunicorn's control socket)::

    .venv/bin/python bench/bare_flask.py --port 8001 --workers 2 --threads 4

It has one route, ``GET /v1/passes/<pass_type_id>/<serial>``, which answers 304 with the headers walletpass
sends with its 304 (Last-Modified, ETag, Cache-Control, X-Content-Type-Options) and nothing else: no database,
no token, no date parsing. The gunicorn settings (worker class, threads, logger and access log format, keep-alive)
come from :func:`api.server.gunicorn_options`, so what separates the two figures is walletpass's own work.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ is sys.path[0] and bench/google.py would shadow the ``google`` namespace package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from flask import Flask, Response  # noqa: E402

from api.server import gunicorn_options, serve_app, use_fresh_metrics_dir  # noqa: E402
from walletpass.config import Settings  # noqa: E402

LAST_MODIFIED = "Tue, 24 Nov 2026 01:08:00 GMT"


def create_bare_app() -> Flask:
    app = Flask(__name__)

    @app.get("/v1/passes/<pass_type_id>/<serial>")
    def latest(pass_type_id: str, serial: str) -> Response:
        return Response(status=304, headers={"Last-Modified": LAST_MODIFIED, "Cache-Control": "no-cache",
                                             "ETag": f'"{serial}-1"', "X-Content-Type-Options": "nosniff"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    settings = Settings.from_env(os.environ, cwd=ROOT)
    use_fresh_metrics_dir(settings)  # the master's child_exit hook marks dead workers' metrics files there
    serve_app(gunicorn_options(settings, host=args.host, port=args.port, workers=args.workers,
                               threads=args.threads), create_bare_app)


if __name__ == "__main__":
    main()
