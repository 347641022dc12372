"""The ``Idempotency-Key`` header of writes (scoped to the API key), checked and hashed with the request."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request

from api.auth import current_principal
from walletpass.errors import InvalidInput
from walletpass.ids import sha256_hex
from walletpass.services.idempotency import Retry

#: 1–255 visible ASCII characters, spaces allowed inside (HTTP strips them at the ends; other bytes read
#: differently from one client or proxy to the next). The same pattern is the header's in the OpenAPI document.
KEY_PATTERN = r"^[!-~](?:[ -~]{0,253}[!-~])?(?![\s\S])"
_KEY = re.compile(KEY_PATTERN)


def retry_of(data: Any = None) -> Retry | None:
    """The request's Idempotency-Key with the hash of its method, path and body, or None without the header."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _KEY.search(key):
        raise InvalidInput("Idempotency-Key", "must be 1–255 visible ASCII characters (spaces only inside)")
    body = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return Retry(current_principal().api_key_id, key, sha256_hex(f"{request.method} {request.path}\n{body}"))
