"""The points ledger: transactions are the source of truth; the balance is kept with them under a lock."""

from __future__ import annotations

from typing import Any

from walletpass.config import Settings
from walletpass.domain.members import apply_points
from walletpass.ports import Clock
from walletpass.services.idempotency import Retry, once
from walletpass.storage.repositories import to_program
from walletpass.storage.uow import SqlUnitOfWork


def add_transaction(uow: SqlUnitOfWork, clock: Clock, settings: Settings, member_id: int, points: int,
                    reason: str, *, api_key_id: int | None = None,
                    retry: Retry | None = None) -> tuple[int, dict[str, Any]]:
    """Apply a signed points change; return (status, body). A *retry* (Idempotency-Key) answers the first answer.

    The member row is locked (SELECT … FOR UPDATE on PostgreSQL; BEGIN IMMEDIATE on SQLite) before the
    idempotency check, so concurrent retries and concurrent transactions serialise and none is lost.
    """
    def apply(u: SqlUnitOfWork) -> tuple[int, dict[str, Any]]:
        member = u.member(member_id)  # locked by once() below
        now = clock.now()
        balance = apply_points(member.points, points)
        tier = to_program(u.program(member.program_id)).tier_for(balance)
        old_tier = member.tier
        member.points = balance
        member.tier = tier.name if tier else None
        member.version += 1
        member.updated_at = now
        entry = u.add_ledger_entry(member.id, points, balance, reason, api_key_id, now)
        u.touch_passes(u.member_passes(member.id), now, reason="points" if member.tier == old_tier else "tier",
                       coalesce_seconds=settings.push_coalesce_seconds)
        return 201, {"id": entry.id, "member_id": member.id, "points": points, "balance": balance,
                     "tier": member.tier, "reason": reason, "created_at": now.isoformat()}

    return once(uow, clock.now(), retry, lambda u: u.member(member_id, for_update=True), apply)


def ledger_view(uow: SqlUnitOfWork, member_id: int) -> list[dict[str, Any]]:
    with uow:
        uow.member(member_id)
        return [{"id": e.id, "points": e.points, "balance": e.balance, "reason": e.reason,
                 "created_at": e.created_at.isoformat()} for e in uow.ledger(member_id)]
