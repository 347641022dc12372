"""A program's install funnel (walletpass.domain.funnel) over a range of days of its time zone."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from walletpass.domain import funnel as f
from walletpass.ports import Clock, UnitOfWork


def program_funnel(uow: UnitOfWork, clock: Clock, program_id: int, *, since: str | None = None,
                   until: str | None = None, by: str | None = None) -> f.Funnel:
    """Counts from *since* to *until* (ISO dates of the program's time zone, both included; default: the last
    30 days ending today), by ``source`` (the default) or ``day``. NotFound for an unknown program."""
    grouping = f.parse_grouping(by)
    with uow:
        program = uow.programs.get(program_id)
        zone = program.time_zone
        start, end = f.parse_range(since, until, clock.now().astimezone(ZoneInfo(zone)).date())
        first, after = f.utc_window(start, end, zone)
        offsets = f.utc_offsets(zone, first, after) if grouping == "day" else []
        counted = uow.events.funnel(program_id, first, after, grouping, zone, offsets)
    return f.build(program_id, start, end, grouping, zone, counted)
