"""`walletpass serve`: gunicorn (a real WSGI server) running the app factory in each worker process.

Metrics: every worker process (and the job worker embedded in it) counts pushes, so prometheus_client runs in
multiprocess mode. Before forking, `serve` empties ``<instance>/prometheus-multiproc`` and points
``PROMETHEUS_MULTIPROC_DIR`` at it — prometheus_client reads that variable when it is first imported, which
is why this module must not import it at the top — and the master's ``child_exit`` hook marks a dead worker's
files; /metrics in any worker adds up the files of all of them (see walletpass.jobs.metrics).

gunicorn is adjusted in three places: its workers answer what they refuse themselves (bad bytes in a header, a
header over 8 KB) in problem+json like the app does (:class:`ProblemThreadWorker`); its logger cuts the tokens of
public links short (:class:`RedactingLogger`); its control socket lives in the instance folder.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from walletpass.config import Settings

log = logging.getLogger("walletpass.server")


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], load: Callable[[], Any]) -> None:
        self._options = options
        self._load = load
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._load()  # in each worker process, after the fork


def serve_app(options: dict[str, Any], load: Callable[[], Any]) -> None:
    """Run gunicorn with *options*; each worker gets its WSGI app from *load*."""
    _Gunicorn(options, load).run()


def _load_walletpass(settings: Settings, metrics_dir: Path) -> Any:
    from api import create_app
    from walletpass.bootstrap import bootstrap

    services = bootstrap(settings, metrics_dir=metrics_dir)
    app = create_app(services=services)
    if settings.embedded_worker:
        from walletpass.jobs.worker import start_embedded_worker

        start_embedded_worker(services)
    return app


class _CapturedPage:
    """Stands in for the client socket while gunicorn writes its own error page: keeps the bytes instead."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0  # "already non-blocking": gunicorn's write_nonblock then just calls sendall

    def sendall(self, data: bytes) -> None:
        self.data += data


class _ProblemErrorPages:
    """Answer the requests gunicorn itself refuses (bad header bytes, a header over 8 KB, a request line over
    4 KB…) with application/problem+json like every other error, not gunicorn's text/html page.

    gunicorn still decides the status, logs the warning and writes the access log line (``handle_error``); only
    the page it writes is captured and replaced.
    """

    cfg: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        page = _CapturedPage()
        super().handle_error(req, page, addr, exc)  # type: ignore[misc]
        status_line = page.data.split(b"\r\n", 1)[0].decode("latin-1")
        try:
            _, status_text, reason = status_line.split(" ", 2)
            status = int(status_text)
        except ValueError:  # not the page we know: pass it on as it is
            answer = page.data
        else:
            answer = _problem_answer(status, reason, self._detail(status, exc))
        with contextlib.suppress(OSError):  # the client has gone: nobody to tell
            util.write_nonblock(client, answer)

    def _detail(self, status: int, exc: BaseException) -> str:
        if isinstance(exc, LimitRequestHeaders):
            return (f"request headers too large: send at most {self.cfg.limit_request_fields} header fields of "
                    f"at most {self.cfg.limit_request_field_size} bytes each")
        if isinstance(exc, LimitRequestLine):
            return f"the request line (method, path and query) must be at most {self.cfg.limit_request_line} bytes"
        if status >= 500:
            return "an unexpected error occurred; it has been logged"
        text = str(exc)  # gunicorn's own words, with the offending bytes escaped (repr), e.g. the header's name
        return redact_tokens(text if len(text) <= 200 else text[:200] + "…")


def _problem_answer(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"type": "about:blank", "title": reason, "status": status, "detail": detail}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
            f"X-Content-Type-Options: nosniff\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


class ProblemSyncWorker(_ProblemErrorPages, SyncWorker):  # type: ignore[misc]
    """gunicorn's sync worker (``--threads 1``), with problem+json error pages."""


class ProblemThreadWorker(_ProblemErrorPages, ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker, with problem+json error pages."""


#: The public links' capability tokens: /p/<token>… (pass page, pkpass, Google) and /a/<token> (smart link).
_TOKEN_PATH = re.compile(r"(/[pa]/)([^/]+)")
_TOKEN_ANYWHERE = re.compile(r"(/(?:[pa]|%70|%61)/)([A-Za-z0-9_-]{9,})")


def _shorten(match: re.Match[str]) -> str:
    token = match.group(2)
    return match.group(1) + (token[:4] if len(token) > 8 else "") + "…"


def redact_uri(uri: str) -> str:
    """*uri* (a request target or a URL) with the token of a public link cut to its first 4 characters.

    Matched on the decoded path, as the app routes it: ``/%70/<token>`` is the same page as ``/p/<token>``.
    """
    origin = ""
    if not uri.startswith("/"):  # absolute form, from a proxy's request line or a Referer
        scheme, sep, rest = uri.partition("://")
        if not sep:
            return uri
        host, slash, path = rest.partition("/")
        origin, uri = f"{scheme}://{host}", slash + path
    path, q, query = uri.partition("?")
    decoded = unquote(path) if "%" in path else path
    match = _TOKEN_PATH.match(decoded)
    if match is None:
        return origin + uri
    return origin + _shorten(match) + decoded[match.end():] + q + query


def redact_tokens(text: str) -> str:
    """*text* (a log message) with anything that looks like a public link's token cut short."""
    return _TOKEN_ANYWHERE.sub(_shorten, text)


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, minus the capability tokens of public links (a /p/ link opens a member's pass page,
    and the pkpass behind it holds the pass's authentication token: whoever reads the log could use them).

    Apple's /v1 paths keep their pass type ids, serials and device ids: not secrets, and what an operator
    needs to follow a device.
    """

    _URIS = ("{raw_uri}e", "{path_info}e", "{referer}i", "{http_referer}e")
    _SECRETS = ("{authorization}i", "{http_authorization}e", "{cookie}i", "{http_cookie}e")

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        atoms["r"] = f"{environ['REQUEST_METHOD']} {redact_uri(environ['RAW_URI'])} {environ['SERVER_PROTOCOL']}"
        atoms["U"] = redact_uri(atoms["U"] or "")
        atoms["f"] = redact_uri(atoms["f"])
        for name in self._URIS:
            if name in atoms:
                atoms[name] = redact_uri(atoms[name])
        for name in self._SECRETS:
            if name in atoms:
                atoms[name] = "-"
        return atoms

    # gunicorn's own messages quote the request: "Invalid request from ip=…: Invalid HTTP request line: 'GET
    # /p/<token>…'", "Error handling request GET /p/<token>".
    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        super().warning(redact_tokens(msg), *map(_redact_arg, args), **kwargs)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        super().error(redact_tokens(msg), *map(_redact_arg, args), **kwargs)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        super().exception(redact_tokens(msg), *map(_redact_arg, args), **kwargs)


def _redact_arg(arg: Any) -> Any:
    return redact_tokens(arg) if isinstance(arg, str) else arg


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

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def gunicorn_options(settings: Settings, *, host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """The gunicorn settings of `walletpass serve` (also what bench/bare_flask.py runs its app under, so the
    web service is measured against a bare app on the very same server setup)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": ProblemThreadWorker if threads > 1 else ProblemSyncWorker,
        "logger_class": RedactingLogger,
        # gunicorn 25+ listens for `gunicornc` on $XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl: one
        # path for every instance on the machine, so a second `serve` took it over and the first one's exit
        # removed it. Each instance gets its own, beside its data (`gunicornc -s <instance>/gunicorn.ctl`).
        "control_socket": str(settings.instance_path.resolve() / "gunicorn.ctl"),
        "accesslog": "-" if settings.access_log else None,
        "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s',
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 5,
        "child_exit": _child_exit,
    }


def use_fresh_metrics_dir(settings: Settings) -> Path:
    """Empty ``<instance>/prometheus-multiproc`` and point ``PROMETHEUS_MULTIPROC_DIR`` at it (before forking)."""
    metrics_dir = fresh_metrics_dir(settings.instance_path)
    if "prometheus_client" in sys.modules:  # too late: its metrics would stay per process
        raise RuntimeError("prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    return metrics_dir


def run(settings: Settings, *, host: str, port: int, workers: int, threads: int) -> None:
    metrics_dir = use_fresh_metrics_dir(settings)
    options = gunicorn_options(settings, host=host, port=port, workers=workers, threads=threads)
    log.info("walletpass serving on http://%s:%s", host, port)
    serve_app(options, functools.partial(_load_walletpass, settings, metrics_dir))
