"""Idempotency-Key on writes: a retried request answers what the first one answered, and changes nothing again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from walletpass.errors import Conflict, IdempotencyMismatch
from walletpass.storage.uow import SqlUnitOfWork

Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Retry:
    """An ``Idempotency-Key`` (scoped to the API key) and the hash of the request it came with."""

    api_key_id: int
    key: str
    request_hash: str


def _prior(uow: SqlUnitOfWork, retry: Retry) -> Answer | None:
    prior = uow.idempotency(retry.api_key_id, retry.key)
    if prior is None:
        return None
    if prior.request_hash != retry.request_hash:
        raise IdempotencyMismatch("this Idempotency-Key was used with a different request body")
    return prior.status, dict(prior.response)


def once(uow: SqlUnitOfWork, now: datetime, retry: Retry | None, lock: Callable[[SqlUnitOfWork], object],
         work: Callable[[SqlUnitOfWork], Answer]) -> Answer:
    """Run *work* in one transaction, at most once per *retry* key; return (status, body).

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
            status, body = work(uow)
            if retry is not None:
                uow.save_idempotency(retry.api_key_id, retry.key, retry.request_hash, status, body, now)
            uow.commit()
            return status, body
    except Conflict:
        if retry is None:
            raise
        with uow:
            answered = _prior(uow, retry)
        if answered is None:
            raise
        return answered
