"""Lists of the API: ``{data: [...], next}`` pages, and the query parameters they take.

Every list route does the same three things, so that a new list (webhooks, their deliveries, …) is three lines::

    only_args("state", *PAGE_ARGS)                   # unknown query parameters → 422, as unknown body fields
    req = page_request()                             # limit (1–200, default 50) and the signed cursor
    rows = service.page(..., after_id=req.after_id, limit=req.limit + 1)   # one row more than the page
    return page_response(rows, req, render, id_of=lambda r: r.id)

``next`` is the full URL of the next page (the same route, query and filters, a new cursor), or null on the last
page. Cursors are signed per list and filters (``walletpass.paging``): one that was altered or that belongs to
another list or other filters is a 422 on ``cursor``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from flask import Response, jsonify, request, url_for

from api.context import services
from walletpass.domain.offers import parse_instant
from walletpass.errors import InvalidInput
from walletpass.paging import DEFAULT_LIMIT, MAX_LIMIT, PageRequest, check_limit

T = TypeVar("T")

#: The query parameters of every list.
PAGE_ARGS = ("limit", "cursor")

#: Largest integer a query parameter may carry (the id columns are 32-bit on PostgreSQL).
MAX_INT = 2**31 - 1


def only_args(*names: str) -> None:
    """Unknown query parameters are refused (422), as unknown body fields are."""
    for name in request.args:
        if name not in names:
            raise InvalidInput(name, f"unknown query parameter; use some of {', '.join(names)}")
        if len(request.args.getlist(name)) > 1:
            raise InvalidInput(name, "give this query parameter once")


def int_arg(name: str, *, minimum: int = 1, maximum: int = MAX_INT) -> int | None:
    """The integer query parameter *name* (decimal ASCII digits, *minimum*–*maximum*), or None when absent."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and minimum <= int(raw) <= maximum):
        raise InvalidInput(name, f"must be an integer {minimum}–{maximum}")
    return int(raw)


def str_arg(name: str, *, max_length: int = 200) -> str | None:
    """The text query parameter *name* (1–*max_length* characters, no NUL), or None when absent."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw or len(raw) > max_length or "\x00" in raw:
        raise InvalidInput(name, f"must be 1–{max_length} characters (no NUL)")
    return raw


def instant_arg(name: str) -> datetime | None:
    """The RFC 3339 date-time query parameter *name*, or None when absent."""
    raw = request.args.get(name)
    if raw is not None and len(raw) > 64:
        raise InvalidInput(name, "must be an RFC 3339 date and time of at most 64 characters")
    return None if raw is None else parse_instant(raw, name)


def _scope() -> str:
    """What a cursor is bound to: the route, its path arguments and every query parameter but the paging ones."""
    view_args = sorted((request.view_args or {}).items())
    args = sorted((k, v) for k, v in request.args.items(multi=True) if k not in PAGE_ARGS)
    return f"{request.endpoint}|{view_args}|{args}"


def page_request() -> PageRequest:
    """``limit`` (default 50, at most 200) and ``cursor`` (from a next link) of the request."""
    limit = int_arg("limit", maximum=MAX_LIMIT)
    cursor = request.args.get("cursor")
    after_id = 0 if cursor is None else services().cursors.decode(_scope(), cursor)
    return PageRequest(after_id=after_id, limit=check_limit(DEFAULT_LIMIT if limit is None else limit))


def page_json(rows: Sequence[T], req: PageRequest, render: Callable[[T], Mapping[str, Any]],
              id_of: Callable[[T], int]) -> dict[str, Any]:
    """``{data, next}`` of *rows* (fetched with ``limit + 1``: the extra row says whether a next page exists)."""
    shown = rows[:req.limit]
    nxt = None
    if len(rows) > req.limit:
        args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "cursor"}
        cursor = services().cursors.encode(_scope(), id_of(shown[-1]))
        path = url_for(request.endpoint or "", **(request.view_args or {}), **args, cursor=cursor)
        nxt = services().urls.api(path)
    return {"data": [dict(render(r)) for r in shown], "next": nxt}


def page_response(rows: Sequence[T], req: PageRequest, render: Callable[[T], Mapping[str, Any]],
                  id_of: Callable[[T], int]) -> Response:
    return jsonify(page_json(rows, req, render, id_of))
