"""The points ledger: transactions are the source of truth; the balance is kept with them under a lock."""

from __future__ import annotations

from dataclasses import dataclass

from walletpass.config import Settings
from walletpass.domain.members import LedgerEntry, apply_points, not_erased
from walletpass.domain.webhooks import Event
from walletpass.ports import Clock, UnitOfWork
from walletpass.services.changes import passes_changed
from walletpass.services.idempotency import Replayed, Retry, once


@dataclass(frozen=True, slots=True)
class PointsAdded:
    """A transaction recorded: its ledger entry (with the balance after it) and the member's tier now."""

    entry: LedgerEntry
    tier: str | None


def add_transaction(uow: UnitOfWork, clock: Clock, settings: Settings, member_id: int, points: int,
                    reason: str, *, api_key_id: int | None = None,
                    retry: Retry | None = None) -> PointsAdded | Replayed:
    """Apply a signed points change. A *retry* (Idempotency-Key) answers the first answer.

    The member row is locked (SELECT … FOR UPDATE on PostgreSQL; BEGIN IMMEDIATE on SQLite) before the
    idempotency check, so concurrent retries and concurrent transactions serialise and none is lost.
    """
    def apply(u: UnitOfWork) -> PointsAdded:
        member = not_erased(u.members.get(member_id))  # locked by once() below
        now = clock.now()
        balance = apply_points(member.points, points)
        tier = u.programs.get(member.program_id).tier_for(balance)
        tier_name = tier.name if tier else None
        u.members.set_balance(member.id, balance, tier_name, now)
        entry = u.ledger.add(member.id, points, balance, reason, api_key_id, now)
        cards = u.passes.of_member(member.id)
        if cards:  # the funnel's last step: recorded for the member's first transaction only
            u.events.record_card(cards[0].id, "first_transaction", now)
        ids = {"program_id": member.program_id, "member_id": member.id}
        events = [Event("points.changed", now, {**ids, "transaction_id": entry.id, "points": points,
                                                "balance": balance})]
        if tier_name != member.tier:
            events.append(Event("tier.changed", now, {**ids, "tier": tier_name, "previous_tier": member.tier}))
        u.webhooks.emit(events)
        passes_changed(u, [p.id for p in cards], now,
                       reason="points" if tier_name == member.tier else "tier",
                       coalesce_seconds=settings.push_coalesce_seconds)
        return PointsAdded(entry, tier_name)

    return once(uow, clock.now(), retry, lambda u: u.members.get(member_id, for_update=True), apply)


def ledger(uow: UnitOfWork, member_id: int) -> list[LedgerEntry]:
    """A member's transactions, oldest first (NotFound for an unknown member)."""
    with uow:
        not_erased(uow.members.get(member_id))
        return uow.ledger.of_member(member_id)
