"""Webhook subscriptions and their deliveries: written in the transaction of each change (``uow.webhooks.emit``),
and taken one webhook at a time by the worker that holds the webhook's lease."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session, aliased

from walletpass.domain.jobs import JobKind
from walletpass.domain.programs import Tier
from walletpass.domain.webhooks import ALL, DELIVERED, EVENT_COLUMNS, PARKED, PENDING, Delivery, Event, Webhook
from walletpass.ids import new_event_id
from walletpass.storage.repositories._base import SessionRepository, is_id
from walletpass.storage.repositories.members import tier_of_points
from walletpass.storage.tables import CouponRow, MemberRow, PassRow, WebhookDeliveryRow, WebhookRow

#: Outbox writes of the unit of work: enqueue_once(kind, payloads, now, delay_seconds=…)
EnqueueOnce = Callable[..., None]


def to_webhook(row: WebhookRow) -> Webhook:
    return Webhook(id=row.id, url=row.url, events=tuple(row.events), secret=row.secret, created_at=row.created_at)


def to_delivery(row: WebhookDeliveryRow) -> Delivery:
    return Delivery(id=row.id, webhook_id=row.webhook_id, event_id=row.event_id, type=row.type,
                    created_at=row.created_at, values={k: getattr(row, k) for k in EVENT_COLUMNS},
                    state=row.state, attempts=row.attempts, next_attempt_at=row.next_attempt_at,
                    last_status=row.last_status, last_error=row.last_error, delivered_at=row.delivered_at)


class WebhookRepository(SessionRepository):
    def __init__(self, session: Session, enqueue_once: EnqueueOnce | None = None) -> None:
        super().__init__(session)
        self._enqueue_once = enqueue_once
        self._subscribers: dict[str, list[int]] | None = None

    # -- subscriptions --------------------------------------------------------------------------------------
    def add(self, *, url: str, events: Sequence[str], secret: str, now: datetime) -> Webhook:
        return to_webhook(self._add(WebhookRow(url=url, events=list(events), secret=secret, created_at=now)))

    def get(self, webhook_id: int) -> Webhook:
        return to_webhook(self._row(WebhookRow, webhook_id, "webhook"))

    def page(self, *, after_id: int, limit: int) -> list[Webhook]:
        rows = self._s.scalars(select(WebhookRow).where(WebhookRow.id > after_id).order_by(WebhookRow.id)
                               .limit(limit))
        return [to_webhook(r) for r in rows]

    def delete(self, webhook_id: int) -> None:
        """Delete the webhook and its deliveries (NotFound for an unknown one)."""
        self._row(WebhookRow, webhook_id, "webhook")
        self._s.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.webhook_id == webhook_id))
        self._s.execute(delete(WebhookRow).where(WebhookRow.id == webhook_id))

    def deliveries(self, webhook_id: int, *, after_id: int, limit: int, state: str | None = None) -> list[Delivery]:
        """A webhook's deliveries, oldest first, after id *after_id* (of *state* only, when given)."""
        where = [WebhookDeliveryRow.webhook_id == webhook_id, WebhookDeliveryRow.id > after_id]
        if state is not None:
            where.append(WebhookDeliveryRow.state == state)
        rows = self._s.scalars(select(WebhookDeliveryRow).where(*where).order_by(WebhookDeliveryRow.id).limit(limit))
        return [to_delivery(r) for r in rows]

    # -- events, in the transaction of the change ---------------------------------------------------------------
    def subscribed(self, event_type: str) -> list[int]:
        """Ids of the webhooks that want *event_type* (the webhooks are read once per transaction)."""
        if self._subscribers is None:
            found: dict[str, list[int]] = {}
            for wid, events in self._s.execute(select(WebhookRow.id, WebhookRow.events).order_by(WebhookRow.id)):
                for name in events or ():
                    found.setdefault(name, []).append(wid)
            self._subscribers = found
        return sorted({*self._subscribers.get(event_type, ()), *self._subscribers.get(ALL, ())})

    def emit(self, events: Sequence[Event]) -> int:
        """Record *events* for every webhook that wants them (one multi-row INSERT per event type) and make sure
        each such webhook has a delivery job; return how many deliveries were written."""
        by_type: dict[str, list[Event]] = {}
        for event in events:
            by_type.setdefault(event.type, []).append(event)
        written, webhooks = 0, set()
        for event_type, group in by_type.items():
            targets = self.subscribed(event_type)
            if not targets:
                continue
            ids = [new_event_id() for _ in group]
            rows = [{**dict.fromkeys(EVENT_COLUMNS), **e.values, "webhook_id": w, "event_id": eid, "type": e.type,
                     "created_at": e.at, "state": PENDING, "attempts": 0, "next_attempt_at": e.at}
                    for w in targets for e, eid in zip(group, ids, strict=True)]
            self._s.execute(insert(WebhookDeliveryRow), rows)
            written += len(rows)
            webhooks.update(targets)
        self._jobs(webhooks, min((e.at for e in events), default=None))
        return written

    def emit_pass(self, event_type: str, pass_id: int, wallet: str, now: datetime) -> int:
        """A pass event (``pass.installed``, ``pass.removed``) for every webhook that wants it: the pass's program,
        member (a coupon's: its holder) and coupon, read in SQL."""
        targets = self.subscribed(event_type)
        if not targets:
            return 0
        row = self._s.execute(select(PassRow.program_id, PassRow.coupon_id,
                                     func.coalesce(PassRow.member_id, CouponRow.member_id).label("member_id"))
                              .outerjoin(CouponRow, CouponRow.id == PassRow.coupon_id)
                              .where(PassRow.id == pass_id)).one()
        return self.emit([Event(event_type, now, {"program_id": row.program_id, "member_id": row.member_id,
                                                  "pass_id": pass_id, "coupon_id": row.coupon_id,
                                                  "wallet": wallet})])

    def emit_tier_changes(self, program_id: int, tiers: Sequence[Tier], now: datetime) -> int:
        """``tier.changed`` for each member of the program whose tier *tiers* changes: one INSERT … SELECT per
        webhook that wants it (a handful of statements for 100,000 members). Call it before the members' tiers are
        updated: it reads their tier before and after from the same rows."""
        targets = self.subscribed("tier.changed")
        if not targets:
            return 0
        new_tier = tier_of_points(tiers)
        written = 0
        prefix = new_event_id() + "_"
        for webhook_id in targets:
            rows = select(
                literal(webhook_id), literal(prefix, String) + cast(MemberRow.id, String(20)), literal("tier.changed"),
                literal(now, WebhookDeliveryRow.created_at.type), literal(PENDING), literal(0),
                literal(now, WebhookDeliveryRow.created_at.type), MemberRow.program_id, MemberRow.id, new_tier,
                MemberRow.tier,
            ).where(MemberRow.program_id == program_id, MemberRow.tier.is_distinct_from(new_tier))
            result = self._s.execute(insert(WebhookDeliveryRow).from_select(
                ["webhook_id", "event_id", "type", "created_at", "state", "attempts", "next_attempt_at",
                 "program_id", "member_id", "tier", "previous_tier"], rows))
            written += int(getattr(result, "rowcount", 0) or 0)
        if written:
            self._jobs(set(targets), now)
        return written

    def _jobs(self, webhooks: set[int], now: datetime | None) -> None:
        if webhooks and now is not None and self._enqueue_once is not None:
            self._enqueue_once(JobKind.WEBHOOK_DELIVER, [{"webhook_id": w} for w in sorted(webhooks)], now)

    # -- the worker's side -----------------------------------------------------------------------------------
    def lease(self, webhook_id: int, token: str, now: datetime, until: datetime) -> str:
        """Take the webhook's lease for *token* until *until*: "taken", "busy" (another holds it) or "gone"."""
        if not is_id(webhook_id):
            return "gone"
        done = self._s.execute(update(WebhookRow).where(
            WebhookRow.id == webhook_id, or_(WebhookRow.locked_until.is_(None), WebhookRow.locked_until < now,
                                             WebhookRow.locked_by == token))
            .values(locked_until=until, locked_by=token).execution_options(synchronize_session=False))
        if int(getattr(done, "rowcount", 0) or 0):
            return "taken"
        there = self._s.scalar(select(func.count()).select_from(WebhookRow).where(WebhookRow.id == webhook_id))
        return "busy" if there else "gone"

    def release(self, webhook_id: int, token: str) -> None:
        self._s.execute(update(WebhookRow).where(WebhookRow.id == webhook_id, WebhookRow.locked_by == token)
                        .values(locked_until=None, locked_by=None).execution_options(synchronize_session=False))

    def due(self, webhook_id: int, now: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries of the webhook due at *now*, oldest first, leaving out those of a member whose earlier
        delivery waits for its next try (a member's events go out in order)."""
        d, earlier = WebhookDeliveryRow, aliased(WebhookDeliveryRow)
        waiting = exists().where(earlier.webhook_id == d.webhook_id, earlier.member_id == d.member_id,
                                 earlier.state == PENDING, earlier.id < d.id, earlier.next_attempt_at > now)
        rows = self._s.scalars(select(d).where(d.webhook_id == webhook_id, d.state == PENDING,
                                               d.next_attempt_at <= now, ~waiting).order_by(d.id).limit(limit))
        return [to_delivery(r) for r in rows]

    def settle(self, results: Sequence[Mapping[str, Any]]) -> None:
        """Record tries: each of *results* is ``{id, state, attempts, next_attempt_at, last_status, last_error,
        delivered_at}`` (of a delivery still pending: one settled by another worker meanwhile is left alone)."""
        for r in results:
            self._s.execute(update(WebhookDeliveryRow).where(WebhookDeliveryRow.id == r["id"],
                                                             WebhookDeliveryRow.state == PENDING)
                            .values(**{k: v for k, v in r.items() if k != "id"})
                            .execution_options(synchronize_session=False))

    def next_due(self, webhook_id: int) -> datetime | None:
        """When the webhook's next pending delivery can go (None: nothing pending): the earliest next try of the
        deliveries first in their member's line (a later one waits for the earlier, whatever its own time)."""
        d, earlier = WebhookDeliveryRow, aliased(WebhookDeliveryRow)
        behind = exists().where(earlier.webhook_id == d.webhook_id, earlier.member_id == d.member_id,
                                earlier.state == PENDING, earlier.id < d.id)
        return self._s.scalar(select(func.min(d.next_attempt_at)).where(
            d.webhook_id == webhook_id, d.state == PENDING, ~behind))

    def counts(self, webhook_id: int) -> dict[str, int]:
        """The webhook's deliveries by state."""
        rows = self._s.execute(select(WebhookDeliveryRow.state, func.count()).where(
            WebhookDeliveryRow.webhook_id == webhook_id).group_by(WebhookDeliveryRow.state))
        return {PENDING: 0, DELIVERED: 0, PARKED: 0, **{state: int(n) for state, n in rows}}

    def prune(self, webhook_id: int, before: datetime, limit: int = 1000) -> int:
        """Forget up to *limit* deliveries of the webhook delivered before *before* (the list keeps parked ones)."""
        ids = select(WebhookDeliveryRow.id).where(
            WebhookDeliveryRow.webhook_id == webhook_id, WebhookDeliveryRow.state == DELIVERED,
            WebhookDeliveryRow.delivered_at < before).limit(limit).scalar_subquery()
        done = self._s.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.id.in_(ids))
                               .execution_options(synchronize_session=False))
        return int(getattr(done, "rowcount", 0) or 0)

