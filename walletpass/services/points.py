"""The points ledger: transactions are the source of truth; the balance is kept with them under a lock."""

from __future__ import annotations

from typing import Any

from walletpass.config import Settings
from walletpass.domain.members import apply_points
from walletpass.errors import Conflict, IdempotencyMismatch
from walletpass.ports import Clock
from walletpass.storage.repositories import to_program
from walletpass.storage.uow import SqlUnitOfWork


def add_transaction(uow: SqlUnitOfWork, clock: Clock, settings: Settings, member_id: int, points: int,
                    reason: str, *, api_key_id: int | None = None, idempotency_key: str | None = None,
                    request_hash: str = "") -> tuple[int, dict[str, Any]]:
    """Apply a signed points change; return (status, body). A retried Idempotency-Key answers the first answer.

    The member row is locked (SELECT … FOR UPDATE on PostgreSQL; BEGIN IMMEDIATE on SQLite) before the
    idempotency check, so concurrent retries and concurrent transactions serialise and none is lost.
    """
    try:
        return _apply(uow, clock, settings, member_id, points, reason, api_key_id, idempotency_key, request_hash)
    except Conflict:
        if not idempotency_key or api_key_id is None:
            raise
        # A concurrent request with the same key committed first: answer what it answered.
        with uow:
            prior = uow.idempotency(api_key_id, idempotency_key)
            if prior is None:
                raise
            if prior.request_hash != request_hash:
                raise IdempotencyMismatch("this Idempotency-Key was used with a different request body") from None
            return prior.status, dict(prior.response)


def _apply(uow: SqlUnitOfWork, clock: Clock, settings: Settings, member_id: int, points: int, reason: str,
           api_key_id: int | None, idempotency_key: str | None, request_hash: str) -> tuple[int, dict[str, Any]]:
    with uow:
        member = uow.member(member_id, for_update=True)
        if idempotency_key and api_key_id is not None:
            prior = uow.idempotency(api_key_id, idempotency_key)
            if prior is not None:
                if prior.request_hash != request_hash:
                    raise IdempotencyMismatch("this Idempotency-Key was used with a different request body")
                return prior.status, dict(prior.response)
        now = clock.now()
        balance = apply_points(member.points, points)
        program = to_program(uow.program(member.program_id))
        tier = program.tier_for(balance)
        old_tier = member.tier
        member.points = balance
        member.tier = tier.name if tier else None
        member.version += 1
        member.updated_at = now
        entry = uow.add_ledger_entry(member.id, points, balance, reason, api_key_id, now)
        reasons = "points" if member.tier == old_tier else "tier"
        uow.touch_passes(uow.member_passes(member.id), now, reason=reasons,
                         coalesce_seconds=settings.push_coalesce_seconds)
        body = {"id": entry.id, "member_id": member.id, "points": points, "balance": balance,
                "tier": member.tier, "reason": reason, "created_at": now.isoformat()}
        if idempotency_key and api_key_id is not None:
            uow.save_idempotency(api_key_id, idempotency_key, request_hash, 201, body, now)
        uow.commit()
        return 201, body


def ledger_view(uow: SqlUnitOfWork, member_id: int) -> list[dict[str, Any]]:
    with uow:
        uow.member(member_id)
        return [{"id": e.id, "points": e.points, "balance": e.balance, "reason": e.reason,
                 "created_at": e.created_at.isoformat()} for e in uow.ledger(member_id)]
