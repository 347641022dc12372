"""Bearer API keys for the marketer API (hashed at rest, scoped)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from api.context import services
from walletpass.errors import Forbidden, Unauthorized
from walletpass.services.api_keys import Principal

F = TypeVar("F", bound=Callable[..., Any])


def current_principal() -> Principal:
    return g.principal  # type: ignore[no-any-return]


def require_key(scope: str) -> Callable[[F], F]:
    """Reject the request with 401/403 unless it carries a valid key with *scope* (or admin)."""

    def deco(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, key = header.partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise Unauthorized("send your API key as 'Authorization: Bearer <key>'")
            svc = services()
            principal = svc.api_keys.verify(key.strip())
            if not principal.allows(scope):
                raise Forbidden(f"this API key lacks the {scope!r} scope")
            g.principal = principal
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco
