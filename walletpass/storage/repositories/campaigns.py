"""Campaigns and their deliveries (one row per pass reached, written set-based when the campaign starts).

A/B and holdout: the variant of each member — or its holdout — is computed by the database in the INSERT … SELECT
that writes the deliveries (:func:`bucket_sql`, the same integer arithmetic as the domain's ``bucket``), and kept
on the delivery: what the pass shows, what Google is sent and the campaign's stats all read it from there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.expression import FunctionElement

from walletpass.domain.campaigns import (
    BUCKETS,
    CHUNK,
    FAILED,
    HASH_CONSTANTS,
    HASH_PRIME,
    SILENT,
    Backlog,
    Campaign,
    GroupStats,
    Message,
    Progress,
    Split,
    Variant,
)
from walletpass.domain.passes import MEMBER_CARD, News
from walletpass.domain.segments import Segment
from walletpass.storage.repositories._base import SessionRepository
from walletpass.storage.repositories.members import segment_where
from walletpass.storage.tables import (
    CampaignDeliveryRow,
    CampaignRow,
    CouponRow,
    LedgerEntryRow,
    MemberRow,
    PassRow,
    RegistrationRow,
    UTCDateTime,
    WalletObjectRow,
)

PENDING, SENT, SKIPPED, CANCELLED, HELD_OUT = "pending", "sent", "skipped", "cancelled", "held_out"


def to_campaign(row: CampaignRow) -> Campaign:
    variants = tuple(Variant(v["name"], int(v["weight"]), Message(dict(v["message"]))) for v in row.variants or ())
    return Campaign(id=row.id, program_id=row.program_id, name=row.name,
                    message=Message(dict(row.message)) if row.message is not None else None,
                    segment=row.segment, state=row.state, send_at=row.send_at, created_at=row.created_at,
                    offer_id=row.offer_id, total=row.total, started_at=row.started_at, finished_at=row.finished_at,
                    variants=variants, holdout=row.holdout)


def bucket_sql(campaign_id: int, member_id: ColumnElement[Any] | InstrumentedAttribute[int]) -> ColumnElement[int]:
    """The domain's ``bucket(campaign_id, member_id)`` as SQL: BIGINT arithmetic whose every product stays below
    2**63, so PostgreSQL and SQLite compute exactly the Python value (no overflow, no float, no hash function
    that differs between them)."""
    a, b, c, d = (literal(n, BigInteger) for n in HASH_CONSTANTS)
    prime = literal(HASH_PRIME, BigInteger)
    x = (cast(member_id, BigInteger) * a + literal(campaign_id, BigInteger) * b) % prime
    x = (x * x + literal(campaign_id, BigInteger)) % prime
    return ((x * c + d) % prime) % literal(BUCKETS, BigInteger)


def _variant_sql(split: Split, bucket: ColumnElement[int]) -> ColumnElement[Any]:
    """The variant (index) of a member in *bucket* by *split*; NULL when held out."""
    whens: list[tuple[ColumnElement[bool], Any]] = []
    if split.holdout_below:
        whens.append((bucket < split.holdout_below, null()))
    whens += [(bucket < bound, i) for i, bound in enumerate(split.bounds[:-1])]
    if not whens:
        return literal(0)
    return case(*whens, else_=len(split.bounds) - 1)


class days_after(FunctionElement[Any]):  # noqa: N801 - an SQL function, named as one
    """*instant* + *days* whole days, on each dialect (instants are UTC; SQLite keeps them as text)."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(days_after, "postgresql")
def _days_after_pg(element: days_after, compiler: Any, **kw: Any) -> str:
    instant, days = list(element.clauses)
    return f"({compiler.process(instant, **kw)} + make_interval(hours => 24 * {compiler.process(days, **kw)}))"


@compiles(days_after, "sqlite")
def _days_after_sqlite(element: days_after, compiler: Any, **kw: Any) -> str:
    # 'YYYY-MM-DD HH:MM:SS.ffffff': move the date, keep the time of day exactly (whole days, UTC)
    instant, days = (compiler.process(c, **kw) for c in element.clauses)
    return f"(date({instant}, '+' || {days} || ' days') || substr({instant}, 11))"


class CampaignRepository(SessionRepository):
    def add(self, *, program_id: int, name: str, message: Message | None, segment: Segment, state: str,
            send_at: datetime, offer_id: int | None, now: datetime, variants: Sequence[Variant] = (),
            holdout: float = 0.0) -> Campaign:
        stored = [{"name": v.name, "weight": v.weight, "message": dict(v.message.texts)} for v in variants] or None
        return to_campaign(self._add(CampaignRow(
            program_id=program_id, name=name, message=dict(message.texts) if message is not None else None,
            variants=stored, holdout=holdout, segment=segment.as_json(), state=state, send_at=send_at,
            offer_id=offer_id, total=0, created_at=now)))

    def get(self, campaign_id: int, *, for_update: bool = False) -> Campaign:
        return to_campaign(self._row(CampaignRow, campaign_id, "campaign", for_update=for_update))

    def page(self, *, program_id: int | None, state: str | None, after_id: int, limit: int,
             programs: Sequence[int] | None = None) -> list[Campaign]:
        """Campaigns by id (cursor: the last id seen), newest last."""
        stmt = select(CampaignRow).where(CampaignRow.id > after_id)
        if programs is not None:
            stmt = stmt.where(CampaignRow.program_id.in_(list(programs)))
        if program_id is not None:
            stmt = stmt.where(CampaignRow.program_id == program_id)
        if state is not None:
            stmt = stmt.where(CampaignRow.state == state)
        return [to_campaign(r) for r in self._s.scalars(stmt.order_by(CampaignRow.id).limit(limit))]

    def set_state(self, campaign_id: int, state: str, now: datetime, *, total: int | None = None) -> None:
        values: dict[str, Any] = {"state": state}
        if total is not None:
            values.update(total=total, started_at=now)
        if state in ("done", "cancelled"):
            values["finished_at"] = now
        self._s.execute(update(CampaignRow).where(CampaignRow.id == campaign_id).values(**values)
                        .execution_options(synchronize_session=False))

    def news(self, campaign_id: int, pass_id: int) -> News:
        """The message *pass_id* shows for the campaign: its variant's (as its delivery records), or the one; and
        the member's usable coupon of the campaign's offer (its newest issued one), which the field links to."""
        campaign = self.get(campaign_id)
        token = None
        if campaign.offer_id is not None:
            token = self._s.scalar(select(PassRow.public_token).join(CouponRow, CouponRow.id == PassRow.coupon_id)
                                   .where(CouponRow.offer_id == campaign.offer_id, CouponRow.state == "issued",
                                          CouponRow.member_id == select(PassRow.member_id).where(
                                              PassRow.id == pass_id).scalar_subquery())
                                   .order_by(CouponRow.id.desc()).limit(1))
        if not campaign.variants:
            return News(campaign_id, dict(campaign.message_of(None).texts), coupon_token=token)
        variant = self._s.scalar(select(CampaignDeliveryRow.variant).where(
            CampaignDeliveryRow.campaign_id == campaign_id, CampaignDeliveryRow.pass_id == pass_id))
        variant = variant or 0  # a pass shows a campaign it was sent, so it has a delivery with a variant
        return News(campaign_id, dict(campaign.message_of(variant).texts), variant=variant, coupon_token=token)

    def news_of(self, campaign_id: int, pass_ids: Sequence[int]) -> dict[int, News]:
        """:meth:`news` of each of *pass_ids* (member cards), in three queries however many there are."""
        if not pass_ids:
            return {}
        campaign = self.get(campaign_id)
        ids = list(pass_ids)
        tokens: dict[int, str] = {}
        if campaign.offer_id is not None:  # each member's newest issued coupon of the offer
            mine = select(PassRow.id.label("card"), PassRow.member_id).where(PassRow.id.in_(ids)).subquery()
            coupon_pass = PassRow.__table__.alias("coupon_pass")
            rows = self._s.execute(
                select(mine.c.card, coupon_pass.c.public_token)
                .select_from(mine.join(CouponRow, CouponRow.member_id == mine.c.member_id)
                             .join(coupon_pass, coupon_pass.c.coupon_id == CouponRow.id))
                .where(CouponRow.offer_id == campaign.offer_id, CouponRow.state == "issued")
                .order_by(mine.c.card, CouponRow.id.desc()))
            for card, token in rows:
                tokens.setdefault(card, token)
        if not campaign.variants:
            texts = dict(campaign.message_of(None).texts)
            return {p: News(campaign_id, texts, coupon_token=tokens.get(p)) for p in ids}
        variants = dict(self._s.execute(select(CampaignDeliveryRow.pass_id, CampaignDeliveryRow.variant).where(
            CampaignDeliveryRow.campaign_id == campaign_id, CampaignDeliveryRow.pass_id.in_(ids))).all())
        out = {}
        for p in ids:
            variant = variants.get(p) or 0
            out[p] = News(campaign_id, dict(campaign.message_of(variant).texts), variant=variant,
                          coupon_token=tokens.get(p))
        return out

    # -- deliveries -----------------------------------------------------------------------------------------
    def write_deliveries(self, campaign_id: int, program_id: int, segment: Segment, split: Split,
                         now: datetime) -> int:
        """One delivery per member card of the segment: pending with its variant, or held out (by *split* of the
        member's bucket); the pending ones numbered into chunks of CHUNK by member id. One INSERT … SELECT, whether
        the segment has ten members or a million. Return how many."""
        cards = (select(PassRow.id.label("pass_id"), MemberRow.id.label("member_id"),
                        bucket_sql(campaign_id, MemberRow.id).label("bucket"))
                 .select_from(MemberRow).join(PassRow, (PassRow.member_id == MemberRow.id)
                                              & (PassRow.kind == MEMBER_CARD))
                 .where(*segment_where(program_id, segment)).subquery())
        if split.holdout_below:
            held = cards.c.bucket < split.holdout_below
            state: ColumnElement[Any] = case((held, HELD_OUT), else_=PENDING)
            delivered_at: ColumnElement[Any] = case((held, literal(now, UTCDateTime())), else_=null())
            number = func.row_number().over(partition_by=state, order_by=cards.c.member_id)
        else:
            state, delivered_at = literal(PENDING), null()
            number = func.row_number().over(order_by=cards.c.member_id)
        rows = select(literal(campaign_id), cards.c.pass_id, cards.c.member_id, (number - 1) // CHUNK, state,
                      _variant_sql(split, cards.c.bucket), delivered_at)
        self._s.execute(insert(CampaignDeliveryRow).from_select(
            ["campaign_id", "pass_id", "member_id", "chunk", "state", "variant", "delivered_at"], rows))
        # counted, not the statement's rowcount: through the ORM session PostgreSQL's driver reports -1 for it
        return int(self._s.scalar(select(func.count()).select_from(CampaignDeliveryRow).where(
            CampaignDeliveryRow.campaign_id == campaign_id)) or 0)

    def assignments(self, campaign_id: int) -> dict[int, int | None]:
        """member id → the variant it was assigned (None: held out)."""
        return {m: v for m, v in self._s.execute(select(CampaignDeliveryRow.member_id, CampaignDeliveryRow.variant)
                                                 .where(CampaignDeliveryRow.campaign_id == campaign_id))}

    def chunks(self, campaign_id: int) -> list[int]:
        """The chunks that have deliveries to hand to the wallets."""
        return list(self._s.scalars(select(CampaignDeliveryRow.chunk).where(
            CampaignDeliveryRow.campaign_id == campaign_id, CampaignDeliveryRow.state == PENDING)
            .distinct().order_by(CampaignDeliveryRow.chunk)))

    def pending(self, campaign_id: int, chunk: int) -> list[int]:
        """The pass ids of a chunk not handed to the wallets yet."""
        return list(self._s.scalars(select(CampaignDeliveryRow.pass_id).where(
            CampaignDeliveryRow.campaign_id == campaign_id, CampaignDeliveryRow.chunk == chunk,
            CampaignDeliveryRow.state == PENDING).order_by(CampaignDeliveryRow.pass_id)))

    def pending_members(self, campaign_id: int, chunk: int) -> list[int]:
        """The member ids of a chunk's deliveries not handed to the wallets yet."""
        return list(self._s.scalars(select(CampaignDeliveryRow.member_id).where(
            CampaignDeliveryRow.campaign_id == campaign_id, CampaignDeliveryRow.chunk == chunk,
            CampaignDeliveryRow.state == PENDING).order_by(CampaignDeliveryRow.member_id)))

    def mark(self, campaign_id: int, pass_ids: Sequence[int], state: str, now: datetime) -> None:
        if pass_ids:
            self._s.execute(update(CampaignDeliveryRow).where(
                CampaignDeliveryRow.campaign_id == campaign_id, CampaignDeliveryRow.pass_id.in_(list(pass_ids)),
                CampaignDeliveryRow.state == PENDING).values(state=state, delivered_at=now)
                .execution_options(synchronize_session=False))

    def cancel_pending(self, campaign_id: int, now: datetime) -> int:
        result = self._s.execute(update(CampaignDeliveryRow).where(
            CampaignDeliveryRow.campaign_id == campaign_id, CampaignDeliveryRow.state == PENDING)
            .values(state=CANCELLED, delivered_at=now).execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)

    def set_outcome(self, campaign_id: int, outcome: str, pass_ids: Sequence[int] | None = None, *,
                    held_by_wallet: tuple[str, Sequence[str]] | None = None) -> int:
        """Record what a wallet reported of deliveries (domain.campaigns.OUTCOMES): those of *pass_ids*, or with
        None every delivery of the campaign (whose pass the wallet holds, with *held_by_wallet* = (provider,
        states)); return how many."""
        where = [CampaignDeliveryRow.campaign_id == campaign_id]
        if pass_ids is not None:
            if not pass_ids:
                return 0
            where.append(CampaignDeliveryRow.pass_id.in_(list(pass_ids)))
        if held_by_wallet is not None:
            provider, states = held_by_wallet
            where.append(exists().where(WalletObjectRow.pass_id == CampaignDeliveryRow.pass_id,
                                        WalletObjectRow.provider == provider,
                                        WalletObjectRow.state.in_(list(states))))
        result = self._s.execute(update(CampaignDeliveryRow).where(*where).values(outcome=outcome)
                                 .execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)

    def backlog(self, campaign_id: int, now: datetime, *, window: timedelta, span: timedelta) -> Backlog:
        """The devices still to fetch what the campaign's chunks of the last *window* changed, and how many
        fetched in the last *span* (domain.campaigns.chunk_delay); one query over those chunks' deliveries."""
        since = now - window
        fetched_since = now - span
        regs, passes = RegistrationRow, PassRow
        behind = or_(regs.fetched_tag.is_(None), regs.fetched_tag < passes.update_tag)
        waiting, fetched, first = self._s.execute(
            select(func.coalesce(func.sum(case((behind, 1), else_=0)), 0),
                   func.coalesce(func.sum(case((regs.last_fetched_at >= fetched_since, 1), else_=0)), 0),
                   func.min(CampaignDeliveryRow.delivered_at))
            .select_from(CampaignDeliveryRow)
            .join(passes, passes.id == CampaignDeliveryRow.pass_id)
            .join(regs, regs.pass_id == CampaignDeliveryRow.pass_id)
            .where(CampaignDeliveryRow.campaign_id == campaign_id, CampaignDeliveryRow.state == SENT,
                   CampaignDeliveryRow.delivered_at >= since)).one()
        seconds = span.total_seconds()
        if first is not None:  # a campaign that began within the span has fetched for less than it
            seconds = min(seconds, max(1.0, (now - first).total_seconds()))
        return Backlog(int(waiting), int(fetched), seconds)

    def progress(self, campaign_id: int) -> Progress:
        counts: Mapping[str, int] = dict(self._s.execute(
            select(CampaignDeliveryRow.state, func.count()).where(CampaignDeliveryRow.campaign_id == campaign_id)
            .group_by(CampaignDeliveryRow.state)).all())
        outcomes: Mapping[str | None, int] = dict(self._s.execute(  # the partial index: wallets' reports only
            select(CampaignDeliveryRow.outcome, func.count()).where(
                CampaignDeliveryRow.campaign_id == campaign_id, CampaignDeliveryRow.outcome.is_not(None))
            .group_by(CampaignDeliveryRow.outcome)).all())
        total = sum(counts.values())
        return Progress(total=total, sent=counts.get(SENT, 0), skipped=counts.get(SKIPPED, 0) + counts.get(
            CANCELLED, 0), failed=outcomes.get(FAILED, 0), pending=counts.get(PENDING, 0),
            skipped_notification=outcomes.get(SILENT, 0), held_out=counts.get(HELD_OUT, 0))

    def stats(self, campaign_id: int, offer_id: int | None, window_days: int) -> dict[int | None, GroupStats]:
        """Variant (None: the holdout) → its members, how many were sent, and how many of those sent or held out
        redeemed a coupon of *offer_id* / made a transaction / either, from their delivery to *window_days* days
        after it. One grouped query; each member's coupons and ledger entries are found by their member_id
        indexes."""
        d = CampaignDeliveryRow
        since, until = d.delivered_at, days_after(d.delivered_at, literal_column(str(int(window_days))))
        counted = d.state.in_((SENT, HELD_OUT))
        transacted = exists().where(LedgerEntryRow.member_id == d.member_id, LedgerEntryRow.created_at >= since,
                                    LedgerEntryRow.created_at < until)
        redeemed = (exists().where(CouponRow.member_id == d.member_id, CouponRow.offer_id == offer_id,
                                   CouponRow.redeemed_at >= since, CouponRow.redeemed_at < until)
                    if offer_id is not None else None)

        def how_many(condition: ColumnElement[bool]) -> Any:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        either = transacted if redeemed is None else (transacted | redeemed)
        stmt = (select(d.variant, func.count(), how_many(d.state == SENT),
                       how_many(and_(counted, redeemed)) if redeemed is not None else null(),
                       how_many(and_(counted, transacted)), how_many(and_(counted, either)))
                .where(d.campaign_id == campaign_id).group_by(d.variant))
        return {variant: GroupStats(members=int(members), sent=int(sent),
                                    redeemed=int(red) if red is not None else None, transacted=int(tx),
                                    converted=int(conv))
                for variant, members, sent, red, tx, conv in self._s.execute(stmt)}

    def set_news(self, pass_ids: Sequence[int], campaign_id: int) -> None:
        if pass_ids:
            self._s.execute(update(PassRow).where(PassRow.id.in_(list(pass_ids)))
                            .values(news_campaign_id=campaign_id).execution_options(synchronize_session=False))
