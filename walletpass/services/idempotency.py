"""Idempotency-Key on writes: a retried request answers what the first one answered, and changes nothing again.

The answer kept is the shell's (``Retry.render`` turns the use case's result into it, inside the transaction of
the work): services never choose status codes, and a retry gets exactly the bytes of the first answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from walletpass.errors import Conflict, IdempotencyMismatch
from walletpass.ports import UnitOfWork

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Retry:
    """An ``Idempotency-Key`` (scoped to the API key), the hash of the request it came with, and how the shell
    renders a result into the answer to keep (e.g. ``{"status": 201, "body": {…}}``)."""

    api_key_id: int
    key: str
    request_hash: str
    render: Callable[[Any], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Replayed:
    """The request was made before with this key: the answer it got then, as the shell rendered it."""

    answer: Mapping[str, Any]


def _prior(uow: UnitOfWork, retry: Retry) -> Replayed | None:
    prior = uow.idempotency.get(retry.api_key_id, retry.key)
    if prior is None:
        return None
    request_hash, answer = prior
    if request_hash != retry.request_hash:
        raise IdempotencyMismatch("this Idempotency-Key was used with a different request body")
    return Replayed(answer)


def once(uow: UnitOfWork, now: datetime, retry: Retry | None, lock: Callable[[UnitOfWork], object],
         work: Callable[[UnitOfWork], T]) -> T | Replayed:
    """Run *work* in one transaction, at most once per *retry* key; return its result, or the first answer.

    *lock* takes the row lock of the resource first (SELECT … FOR UPDATE on PostgreSQL; SQLite writers hold
    the database lock from BEGIN IMMEDIATE), so concurrent retries serialise and the second finds the first's
    answer. A retry that still races past (the unique key refuses the second insert) answers the first's too.
    """
    try:
        with uow:
            lock(uow)
            if retry is not None:
                answered = _prior(uow, retry)
                if answered is not None:
                    return answered
            result = work(uow)
            if retry is not None:
                uow.idempotency.save(retry.api_key_id, retry.key, retry.request_hash, retry.render(result), now)
            uow.commit()
            return result
    except Conflict:
        if retry is None:
            raise
        with uow:
            answered = _prior(uow, retry)
        if answered is None:
            raise
        return answered


def no_lock(uow: UnitOfWork) -> None:
    """For :func:`once` when the work creates a resource (nothing to lock: the key's unique index decides)."""
