"""The enrolment page ``/join/<program_id>``: a server-rendered form in the program's brand and the visitor's
language, that works with no script.

GET counts a visit (no robot, no HEAD, no prefetch; ``?src=`` kept when well formed) and shows the form. POST is
checked in this order: the per-IP rate limit (429 page), the CSRF token (Flask-WTF's signed token against the
form's cookie session: 400, the form again with its values), the honeypot (filled: the "sent" page, nothing
written), the fields (422, the form again with each problem next to its field), then
:func:`walletpass.services.join.join` enrols or recovers (see its docstring for who sees what) and the visitor
lands on their card (303 to its pass page), on "you already have a card", or on "check your email".

The rate limit counts POSTs per client address with the ``limits`` library (Flask-Limiter's engine, without its
app-wide before-request hook on every other route): in Redis when ``WALLETPASS_BROKER_URL`` is set (every process
and machine shares the count), else in this process's memory. The client address is the connection's; behind a
proxy, make the proxy pass it (e.g. gunicorn's ``--forwarded-allow-ips`` with ``X-Forwarded-For``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, current_app, redirect, render_template, request, url_for
from flask_wtf.csrf import generate_csrf, validate_csrf
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import ValidationError

from api.context import services
from api.public import bp
from api.public.frame import frame, page_locale
from walletpass.config import Settings
from walletpass.domain.programs import Program
from walletpass.domain.visits import counts_as_visit, parse_source
from walletpass.services.join import JoinOutcome, check_form, join, record_visit
from walletpass.services.programs import get_program

log = logging.getLogger(__name__)

#: The honeypot: a field people never see (off-screen, out of the tab order, hidden from screen readers) and
#: form-filling robots fill in.
HONEYPOT = "website"
#: The form's fields, in page order.
FIELDS = ("name", "email", "phone", "birthday", "consent")


class JoinLimiter:
    """Enrolment submissions per client address: ``WALLETPASS_JOIN_RATE_LIMIT`` (e.g. ``10/minute;50/hour``)."""

    def __init__(self, settings: Settings) -> None:
        self.limits: list[RateLimitItem] = parse_many(settings.join_rate_limit)
        storage = storage_from_string(settings.broker_url or "memory://")
        assert isinstance(storage, Storage)  # the synchronous storage of that scheme
        self._limiter = MovingWindowRateLimiter(storage)

    def hit(self, client: str) -> int | None:
        """Count a submission from *client*: None when it is within every limit, else the seconds to wait.

        A storage that does not answer (Redis down) lets the submission through: losing the limit for a while
        beats losing every enrolment.
        """
        try:
            for item in self.limits:
                if not self._limiter.hit(item, "join", client):
                    reset = self._limiter.get_window_stats(item, "join", client).reset_time
                    return max(1, int(reset - time.time()) + 1)
        except Exception as exc:  # noqa: BLE001 - any storage failure (redis.ConnectionError, timeouts …)
            log.warning("the enrolment rate limit is not counted: %s", exc)
        return None


def init_app(app: Flask) -> None:
    """Give the app its enrolment rate limiter (create_app calls this after the services are in place)."""
    app.extensions["walletpass_join_limiter"] = JoinLimiter(app.extensions["walletpass"].settings)


@bp.route("/join/<int:program_id>", methods=["GET", "POST"])
def join_page(program_id: int) -> Response | WerkzeugResponse | tuple[str, int] | tuple[str, int, dict[str, str]]:
    s = services()
    program = get_program(s.read_uow(), program_id)
    locale = page_locale(program)
    source = parse_source(request.args.get("src"))
    if request.method != "POST":
        purpose = request.headers.get("Sec-Purpose") or request.headers.get("Purpose")
        if counts_as_visit(request.method, request.headers.get("User-Agent"), purpose):
            record_visit(s.uow(), s.clock, program.id, source)
        return _form(program, locale, source, {}, {}), 200

    limiter: JoinLimiter = current_app.extensions["walletpass_join_limiter"]
    wait = limiter.hit(request.remote_addr or "unknown")
    if wait is not None:
        return _message(program, locale, "limited"), 429, {"Retry-After": str(wait)}
    values = {name: request.form.get(name, "") for name in FIELDS}
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return _form(program, locale, source, values, {}, csrf_failed=True), 400
    if request.form.get(HONEYPOT):
        log.info("enrolment honeypot filled on program %s: answered as sent, nothing written", program.id)
        return _message(program, locale, "sent"), 200
    email_required = s.settings.smtp_url is not None
    checked, problems = check_form(request.form, s.clock.now().date(), email_required=email_required,
                                   terms=program.text_in(locale, "terms"), locale=locale, source=source)
    if checked is None:
        return _form(program, locale, source, values, problems), 422
    result = join(s.uow(), s.clock, s.settings, program.id, checked)
    if result.outcome is JoinOutcome.CREATED:
        assert result.token is not None
        return redirect(s.urls.page(result.token), code=303)
    if result.outcome is JoinOutcome.RECOVERED:
        assert result.token is not None
        return _message(program, locale, "recovered", card_url=s.urls.page(result.token)), 200
    return _message(program, locale, "sent"), 200


def _program_name(program: Program, locale: str) -> str:
    return program.text(locale, "name", program.name)


def _form(program: Program, locale: str, source: str | None, values: dict[str, str], problems: dict[str, str], *,
          csrf_failed: bool = False) -> str:
    s = services()
    args: dict[str, Any] = {"program_id": program.id}
    if source:
        args["src"] = source
    if request.args.get("lang"):
        args["lang"] = locale
    return render_template(
        "public/join.html", **frame(program, locale), program=_program_name(program, locale), values=values,
        problems=problems, csrf_failed=csrf_failed, csrf_token=generate_csrf(), action=url_for("public.join_page",
                                                                                                **args),
        terms=program.text_in(locale, "terms"), email_required=s.settings.smtp_url is not None,
        fields=FIELDS, honeypot=HONEYPOT)


def _message(program: Program, locale: str, kind: str, **extra: Any) -> str:
    return render_template("public/join_message.html", **frame(program, locale), kind=kind,
                           program=_program_name(program, locale), **extra)
