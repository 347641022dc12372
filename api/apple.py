"""/v1: Apple's pass web service, exactly as apple.md §3 (status codes devices expect)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from flask import Blueprint, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState

from api.context import services
from walletpass.errors import MalformedRequest, PayloadTooLarge
from walletpass.services import apple_ws

bp = Blueprint("apple", __name__, url_prefix="/v1")
device_log = logging.getLogger("walletpass.device_log")

MAX_REGISTER_BODY = 8192  # an FCM registration id (up to 4 KB) and PassWallet's pushServiceUrl
MAX_LOG_BODY = 64 * 1024
MAX_LOG_ENTRIES = 50
MAX_LOG_ENTRY_CHARS = 1000
LOG_RATE = 20.0    # device log entries per second, after
LOG_BURST = 200.0  # this many at once


def _small_body(limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge("", f"body must be at most {limit} bytes")
    raw = request.get_data(cache=False)
    if len(raw) > limit:
        raise PayloadTooLarge("", f"body must be at most {limit} bytes")
    return raw


def _small_json(limit: int) -> object:
    try:
        return json.loads(_small_body(limit))
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: '[[[[…' nested too deeply
        raise MalformedRequest("", "the body must be JSON") from None


@bp.post("/devices/<device_id>/registrations/<pass_type_id>/<serial>")
def register(device_id: str, pass_type_id: str, serial: str) -> Response:
    return _register(device_id, pass_type_id, serial, attido_route=False)


@bp.post("/devices/<device_id>/registrations_attido/<pass_type_id>/<serial>")
def register_attido(device_id: str, pass_type_id: str, serial: str) -> Response:
    """PassWallet's registration (samsung-android.md §2.3): Apple's, with the app's relay in ``pushServiceUrl``."""
    return _register(device_id, pass_type_id, serial, attido_route=True)


def _register(device_id: str, pass_type_id: str, serial: str, *, attido_route: bool) -> Response:
    scheme, token = apple_ws.parse_authorization(request.headers.get("Authorization"))
    s = services()
    # apple.md §3: "verify the token first and return 401 at once" — before the body is read or size-checked.
    apple_ws.authorise(s.device_reads, pass_type_id, serial, token)
    hints = apple_ws.ClientHints(scheme, request.headers.get("User-Agent"), request.headers.get("X-Pass-Client"),
                                 attido_route)
    result = apple_ws.register(s.uow(), s.clock, device_id, pass_type_id, serial, token,
                               _small_body(MAX_REGISTER_BODY), hints, s.settings.passwallet_push_hosts)
    return Response(status=201 if result.created else 200)


@bp.delete("/devices/<device_id>/registrations/<pass_type_id>/<serial>")
def unregister(device_id: str, pass_type_id: str, serial: str) -> Response:
    token = apple_ws.parse_auth(request.headers.get("Authorization"))
    s = services()
    apple_ws.unregister(s.uow(), s.clock, device_id, pass_type_id, serial, token)
    return Response(status=200)


@bp.get("/devices/<device_id>/registrations/<pass_type_id>")
def updated(device_id: str, pass_type_id: str) -> Response:
    result = apple_ws.updated_serials(services().device_reads, device_id, pass_type_id,
                                      request.args.get("passesUpdatedSince"))
    if result is None:
        return Response(status=204)
    return jsonify({"serialNumbers": result.serial_numbers, "lastUpdated": result.last_updated})


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(moment: datetime) -> str:
    """*moment* (aware) as an HTTP date, what ``format_datetime(moment, usegmt=True)`` writes for UTC, in a
    fraction of its time (it runs on every 304)."""
    if moment.utcoffset() is None:
        raise ValueError("an HTTP date needs an aware datetime")
    t = moment.astimezone(UTC)
    return (f"{_DAYS[t.weekday()]}, {t.day:02d} {_MONTHS[t.month - 1]} {t.year:04d} "
            f"{t.hour:02d}:{t.minute:02d}:{t.second:02d} GMT")


def not_modified_since(header: str | None, version: apple_ws.PassVersion, last_modified: str) -> bool:
    """Does an ``If-Modified-Since`` *header* say the device holds *version* (Last-Modified *last_modified*)?"""
    if not header:
        return False
    if header == last_modified:  # what devices send: our own Last-Modified, echoed back
        return True
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        return False
    return version.last_modified <= since


@bp.route("/passes/<pass_type_id>/<serial>", methods=["GET", "HEAD"])
def latest(pass_type_id: str, serial: str) -> Response:
    token = apple_ws.parse_auth(request.headers.get("Authorization"))
    s = services()
    version = apple_ws.latest_version(s.device_reads, s.clock, pass_type_id, serial, token,
                                      record_fetch=request.method == "GET")
    last_modified = http_date(version.last_modified)
    headers = {"Last-Modified": last_modified, "Cache-Control": "no-cache", "ETag": f'"{serial}-{version.update_tag}"'}
    if not_modified_since(request.headers.get("If-Modified-Since"), version, last_modified):
        return Response(status=304, headers=headers)
    built = s.signed_passes.latest(version.pass_id)
    headers["Last-Modified"] = format_datetime(built.last_modified, usegmt=True)
    headers["ETag"] = f'"{serial}-{built.update_tag}"'
    return Response(built.data, mimetype="application/vnd.apple.pkpass", headers=headers)


class LogBudget:
    """A token bucket for device log entries (one per app, i.e. per process): logs are a debug aid, not a
    firehose. *now* is the app's clock, so tests decide when the bucket refills."""

    def __init__(self, now: Callable[[], datetime], rate: float = LOG_RATE, burst: float = LOG_BURST) -> None:
        self._now = now
        self._rate, self._burst = rate, burst
        self._tokens, self._at = burst, now()
        self._lock = threading.Lock()
        self.dropped = 0

    def take(self, n: int) -> int:
        """Return how many of *n* entries may be logged now (the rest are dropped and counted)."""
        with self._lock:
            now = self._now()
            elapsed = max(0.0, (now - self._at).total_seconds())  # a clock set back refills nothing
            self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
            self._at = now
            allowed = min(n, int(self._tokens))
            self._tokens -= allowed
            self.dropped += n - allowed
            return allowed


@bp.record_once
def _make_log_budget(state: BlueprintSetupState) -> None:
    state.app.extensions["walletpass.log_budget"] = LogBudget(state.app.extensions["walletpass"].clock.now)


@bp.post("/log")
def log() -> Response:
    body = _small_json(MAX_LOG_BODY)
    logs = body.get("logs") if isinstance(body, dict) else None
    if not isinstance(logs, list) or not all(isinstance(x, str) for x in logs):
        raise MalformedRequest("logs", "send {\"logs\": [\"message\", …]}")
    budget: LogBudget = current_app.extensions["walletpass.log_budget"]
    for entry in logs[: budget.take(min(len(logs), MAX_LOG_ENTRIES))]:
        device_log.warning("device: %s", _loggable(entry[:MAX_LOG_ENTRY_CHARS]))
    return Response(status=200)


#: Kept readable: a newline is a space (one entry, one line); a backslash doubles so escapes stay unambiguous.
_ESCAPES = {"\n": " ", "\\": "\\\\"}


def _loggable(text: str) -> str:
    """Return *text* as one log line that shows every character it holds and can forge none.

    Anyone may post here, so a raw CR, an ANSI/C1 escape sequence, U+2028/U+2029 or NEL (line breaks to many
    log viewers), a bidi override or a lone surrogate (which the UTF-8 log stream cannot even encode) would
    let them fake or hide log lines. Newlines become spaces (an entry stays one line, as before); every other
    character that ``str.isprintable`` refuses — C0, DEL, C1, Unicode separators and format controls,
    surrogates, unassigned code points — is written as its Python escape (``\\x1b``, ``\\u2028``), and a
    backslash as ``\\\\``, so an escape in the log always stands for one character the device sent.
    """
    if text.isprintable() and "\\" not in text:
        return text  # the usual entry: one C-speed check
    return "".join(_ESCAPES.get(c) or (c if c.isprintable() else c.encode("unicode_escape").decode("ascii"))
                   for c in text)
