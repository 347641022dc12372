"""The ``Idempotency-Key`` header of writes (scoped to the API key), and answers that a retry gets again.

A route renders its use case's result with a ``render`` function (status and JSON body); the same function makes
the answer kept for the key, in the transaction of the work, so a retry gets the first answer exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from flask import Response, jsonify, request

from api.auth import current_principal
from walletpass.errors import InvalidInput
from walletpass.ids import sha256_hex
from walletpass.services.idempotency import Replayed, Retry

#: result → (status, JSON body)
Render = Callable[[Any], tuple[int, Mapping[str, Any]]]


def retry_of(render: Render, data: Any = None) -> Retry | None:
    """The request's Idempotency-Key with the hash of its method, path and body, or None without the header."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not (1 <= len(key) <= 255 and key.isprintable()):
        raise InvalidInput("Idempotency-Key", "must be 1–255 printable characters")
    body = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return Retry(current_principal().api_key_id, key, sha256_hex(f"{request.method} {request.path}\n{body}"),
                 render=lambda result: _answer(*render(result)))


def _answer(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": status, "body": dict(body)}


def respond(result: Any, render: Render, location: Callable[[int, Mapping[str, Any]], str | None] | None = None
            ) -> tuple[Response, int, dict[str, str]]:
    """The response of a write: the first answer again for a replay, else *result* rendered; with *location*,
    the ``Location`` header it gives for (status, body)."""
    if isinstance(result, Replayed):
        status, body = int(result.answer["status"]), result.answer["body"]
    else:
        status, body = render(result)
    where = location(status, body) if location is not None else None
    return jsonify(body), status, ({"Location": where} if where else {})
