"""/api/v1/programs/{id}/stats: the install funnel by source or by day."""

from __future__ import annotations

from flask import Response, jsonify, request

from api.admin import bp
from api.auth import require_key
from api.context import services
from api.representations import funnel_json
from walletpass.errors import InvalidInput
from walletpass.services.stats import program_funnel

PARAMETERS = ("from", "to", "by")


@bp.get("/programs/<int:program_id>/stats")
@require_key("stats", owner="program_id")
def program_stats(program_id: int) -> Response:
    """Visits → enrolments → Apple installs and Google saves → first transactions, and uninstalls: ?from=, ?to=
    (ISO dates of the program's time zone, included; default the last 30 days), ?by=source|day."""
    for name, values in request.args.lists():
        if name not in PARAMETERS:
            raise InvalidInput(name, f"unknown query parameter; use some of {', '.join(PARAMETERS)}")
        if len(values) > 1:
            raise InvalidInput(name, "give each parameter once")
    s = services()
    found = program_funnel(s.read_uow(), s.clock, program_id, since=request.args.get("from"),
                           until=request.args.get("to"), by=request.args.get("by"))
    return jsonify(funnel_json(found))
