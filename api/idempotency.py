"""The ``Idempotency-Key`` header of writes (scoped to the API key), and answers that a retry gets again.

A route renders its use case's result with a ``render`` function (status and JSON body); the same function makes
the answer kept for the key, in the transaction of the work, so a retry gets the first answer exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from flask import Response, jsonify, request

from api.auth import current_principal
from walletpass.errors import InvalidInput
from walletpass.ids import sha256_hex
from walletpass.services.idempotency import Replayed, Retry

#: result → (status, JSON body)
Render = Callable[[Any], tuple[int, Mapping[str, Any]]]

#: 1–255 visible ASCII characters, spaces allowed inside (HTTP strips them at the ends; other bytes read
#: differently from one client or proxy to the next). The same pattern is the header's in the OpenAPI document.
KEY_PATTERN = r"^[!-~](?:[ -~]{0,253}[!-~])?(?![\s\S])"
_KEY = re.compile(KEY_PATTERN)


def retry_of(render: Render, data: Any = None) -> Retry | None:
    """The request's Idempotency-Key with the hash of its method, path and body, or None without the header."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _KEY.search(key):
        raise InvalidInput("Idempotency-Key", "must be 1–255 visible ASCII characters (spaces only inside)")
    body = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return Retry(current_principal().api_key_id, key, sha256_hex(f"{request.method} {request.path}\n{body}"),
                 render=lambda result: _answer(*render(result)))


def _answer(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": status, "body": dict(body)}


def respond(result: Any, render: Render, location: Callable[[int, Mapping[str, Any]], str | None] | None = None
            ) -> tuple[Response, int, dict[str, str]]:
    """The response of a write: the first answer again for a replay (with ``Idempotent-Replayed: true``), else
    *result* rendered; with *location*, the ``Location`` header it gives for (status, body)."""
    headers: dict[str, str] = {}
    if isinstance(result, Replayed):
        status, body = int(result.answer["status"]), result.answer["body"]
        headers["Idempotent-Replayed"] = "true"
    else:
        status, body = render(result)
    where = location(status, body) if location is not None else None
    if where:
        headers["Location"] = where
    return jsonify(body), status, headers
