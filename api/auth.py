"""Bearer API keys for the marketer API (hashed at rest, scoped, optionally bound to programs)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from api.context import services
from walletpass.errors import Forbidden, Unauthorized
from walletpass.services.api_keys import Principal, ensure_unbound, ensure_visible

F = TypeVar("F", bound=Callable[..., Any])

#: URL argument → the resource it names, for keys bound to programs.
OWNERS = {"program_id": "program", "member_id": "member", "offer_id": "offer", "coupon_id": "coupon",
          "issue_id": "coupon issue", "campaign_id": "campaign", "transaction_id": "transaction",
          "import_id": "member import"}

#: require_key(owner=IN_REQUEST): the view checks the program named in the body or the query itself.
IN_REQUEST = "in request"


def current_principal() -> Principal:
    return g.principal  # type: ignore[no-any-return]


def require_key(scope: str, *more: str, owner: str | None = None) -> Callable[[F], F]:
    """Reject the request with 401/403 unless it carries a valid key with *scope*, one of *more* (e.g. ``pos``
    for a till's routes), or admin.

    *owner*: the URL argument naming the program's resource the route touches (``program_id``, ``member_id``,
    ``offer_id``, ``coupon_id``, ``issue_id``). A key bound to programs gets 404 for a resource of another
    program, exactly as for one that does not exist, before the view runs (nothing is parsed or written).
    ``IN_REQUEST``: the program comes in the body or the query, and the view checks it with ``ensure_visible``
    before it writes anything. A route without *owner* concerns every program (creating one), so such a key
    gets 403 there.
    """
    if owner is not None and owner != IN_REQUEST and owner not in OWNERS:
        raise ValueError(f"owner must be one of {sorted(OWNERS)}, not {owner!r}")

    scopes = (scope, *more)

    def deco(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, key = header.partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise Unauthorized("send your API key as 'Authorization: Bearer <key>'")
            svc = services()
            principal = svc.api_keys.verify(key.strip())
            if not any(principal.allows(s) for s in scopes):
                raise Forbidden(f"this API key lacks the {scope!r} scope"
                                + (f" (or {' or '.join(repr(m) for m in more)})" if more else ""))
            if principal.programs is not None:
                if owner is None:
                    ensure_unbound(principal)
                elif owner != IN_REQUEST:
                    ensure_visible(principal, svc.read_uow, OWNERS[owner], kwargs[owner])
            g.principal = principal
            return view(*args, **kwargs)

        wrapper.api_key_scope = scope  # type: ignore[attr-defined]  # read by tests that walk the routes
        wrapper.api_key_scopes = scopes  # type: ignore[attr-defined]
        wrapper.api_key_owner = owner  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return deco
