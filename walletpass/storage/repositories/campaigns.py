"""Campaigns and their deliveries (one row per pass reached, written set-based when the campaign starts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, literal, select, update

from walletpass.domain.campaigns import CHUNK, Campaign, Message, Progress
from walletpass.domain.passes import MEMBER_CARD, News
from walletpass.domain.segments import Segment
from walletpass.storage.repositories._base import SessionRepository
from walletpass.storage.repositories.members import segment_where
from walletpass.storage.tables import CampaignDeliveryRow, CampaignRow, MemberRow, PassRow

PENDING, SENT, SKIPPED, CANCELLED = "pending", "sent", "skipped", "cancelled"


def to_campaign(row: CampaignRow) -> Campaign:
    return Campaign(id=row.id, program_id=row.program_id, name=row.name, message=Message(dict(row.message)),
                    segment=row.segment, state=row.state, send_at=row.send_at, created_at=row.created_at,
                    offer_id=row.offer_id, total=row.total, started_at=row.started_at, finished_at=row.finished_at)


class CampaignRepository(SessionRepository):
    def add(self, *, program_id: int, name: str, message: Message, segment: Segment, state: str,
            send_at: datetime, offer_id: int | None, now: datetime) -> Campaign:
        return to_campaign(self._add(CampaignRow(
            program_id=program_id, name=name, message=dict(message.texts), segment=segment.as_json(), state=state,
            send_at=send_at, offer_id=offer_id, total=0, created_at=now)))

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

    def news(self, campaign_id: int) -> News:
        row = self._row(CampaignRow, campaign_id, "campaign")
        return News(campaign_id, dict(row.message))

    # -- deliveries -----------------------------------------------------------------------------------------
    def write_deliveries(self, campaign_id: int, program_id: int, segment: Segment) -> int:
        """One pending delivery per member card of the segment, numbered into chunks of CHUNK by member id: one
        INSERT … SELECT, whether the segment has ten members or a million. Return how many."""
        ranked = (func.row_number().over(order_by=MemberRow.id) - 1) // CHUNK
        rows = (select(literal(campaign_id), PassRow.id, MemberRow.id, ranked, literal(PENDING))
                .select_from(MemberRow).join(PassRow, (PassRow.member_id == MemberRow.id)
                                             & (PassRow.kind == MEMBER_CARD))
                .where(*segment_where(program_id, segment)))
        # preserve_rowcount: SQLAlchemy closes an INSERT's cursor before its rowcount is read (psycopg then says -1)
        result = self._s.execute(insert(CampaignDeliveryRow).from_select(
            ["campaign_id", "pass_id", "member_id", "chunk", "state"], rows).execution_options(preserve_rowcount=True))
        return int(getattr(result, "rowcount", 0) or 0)

    def chunks(self, campaign_id: int) -> list[int]:
        return list(self._s.scalars(select(CampaignDeliveryRow.chunk).where(
            CampaignDeliveryRow.campaign_id == campaign_id).distinct().order_by(CampaignDeliveryRow.chunk)))

    def pending(self, campaign_id: int, chunk: int) -> list[int]:
        """The pass ids of a chunk not handed to the wallets yet."""
        return list(self._s.scalars(select(CampaignDeliveryRow.pass_id).where(
            CampaignDeliveryRow.campaign_id == campaign_id, CampaignDeliveryRow.chunk == chunk,
            CampaignDeliveryRow.state == PENDING).order_by(CampaignDeliveryRow.pass_id)))

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

    def progress(self, campaign_id: int) -> Progress:
        counts: Mapping[str, int] = dict(self._s.execute(
            select(CampaignDeliveryRow.state, func.count()).where(CampaignDeliveryRow.campaign_id == campaign_id)
            .group_by(CampaignDeliveryRow.state)).all())
        total = sum(counts.values())
        return Progress(total=total, sent=counts.get(SENT, 0), skipped=counts.get(SKIPPED, 0) + counts.get(
            CANCELLED, 0), failed=0, pending=counts.get(PENDING, 0))

    def set_news(self, pass_ids: Sequence[int], campaign_id: int) -> None:
        if pass_ids:
            self._s.execute(update(PassRow).where(PassRow.id.in_(list(pass_ids)))
                            .values(news_campaign_id=campaign_id).execution_options(synchronize_session=False))
