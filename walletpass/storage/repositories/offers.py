"""Offers, their coupons, and bulk issues of coupons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from walletpass.domain import offers as rules
from walletpass.domain.offers import Coupon, CouponIssue, Offer
from walletpass.storage.repositories._base import SessionRepository
from walletpass.storage.tables import CouponIssueRow, CouponRow, OfferRow


def to_offer(row: OfferRow) -> Offer:
    return Offer(id=row.id, program_id=row.program_id, title=row.title, description=row.description,
                 discount=row.discount, valid_from=row.valid_from, valid_until=row.valid_until, terms=row.terms,
                 texts=row.texts or {}, created_at=row.created_at, updated_at=row.updated_at,
                 rotating_barcode=bool(row.rotating_barcode))


def to_coupon(row: CouponRow) -> Coupon:
    return Coupon(id=row.id, offer_id=row.offer_id, code=row.code, state=row.state, member_id=row.member_id,
                  redeemed_at=row.redeemed_at, created_at=row.created_at, version=row.version)


def to_issue(row: CouponIssueRow) -> CouponIssue:
    return CouponIssue(id=row.id, offer_id=row.offer_id, segment=row.segment, state=row.state,
                       total=row.total, issued=row.issued, created_at=row.created_at, finished_at=row.finished_at)


class OfferRepository(SessionRepository):
    # -- offers --------------------------------------------------------------------------------------
    def add(self, values: Mapping[str, Any], now: datetime) -> Offer:
        return to_offer(self._add(OfferRow(**values, created_at=now, updated_at=now)))

    def get(self, offer_id: int, *, for_update: bool = False) -> Offer:
        return to_offer(self._row(OfferRow, offer_id, "offer", for_update=for_update))

    def of_program(self, program_id: int) -> list[Offer]:
        return [to_offer(r) for r in self._s.scalars(select(OfferRow).where(OfferRow.program_id == program_id)
                                                      .order_by(OfferRow.id))]

    # -- coupons -------------------------------------------------------------------------------------
    def add_coupon(self, *, offer_id: int, member_id: int | None, code: str, now: datetime) -> Coupon:
        return to_coupon(self._add(CouponRow(offer_id=offer_id, member_id=member_id, code=code, state=rules.ISSUED,
                                             version=1, created_at=now, updated_at=now)))

    def coupon(self, coupon_id: int, *, for_update: bool = False) -> Coupon:
        return to_coupon(self._row(CouponRow, coupon_id, "coupon", for_update=for_update))

    def holders(self, offer_id: int, member_ids: Sequence[int]) -> set[int]:
        """Those of *member_ids* who hold a usable coupon of the offer (issued: not redeemed, voided or expired)."""
        if not member_ids:
            return set()
        return set(self._s.scalars(select(CouponRow.member_id).where(
            CouponRow.offer_id == offer_id, CouponRow.member_id.in_(list(member_ids)),
            CouponRow.state == rules.ISSUED).distinct()))

    def code_taken(self, code: str) -> bool:
        return bool(self._s.scalar(select(func.count()).where(CouponRow.code == code)))

    def coupon_counts(self, offer_id: int) -> dict[str, int]:
        """The offer's coupons by stored state."""
        rows = self._s.execute(select(CouponRow.state, func.count()).where(CouponRow.offer_id == offer_id)
                               .group_by(CouponRow.state)).all()
        return {state: int(n) for state, n in rows}

    def set_coupon_state(self, coupon_id: int, state: str, now: datetime) -> Coupon:
        """Move the coupon to *state* (a redemption records when); return it as it is now."""
        row = self._row(CouponRow, coupon_id, "coupon")
        row.state, row.version, row.updated_at = state, row.version + 1, now
        if state == rules.REDEEMED:
            row.redeemed_at = now
        return to_coupon(row)

    def expire_due(self, now: datetime, limit: int) -> list[int]:
        """Mark up to *limit* issued coupons whose offer ended by *now* expired (rows another sweep holds locked
        are skipped); return their ids."""
        ids = list(self._s.scalars(
            select(CouponRow.id).join(OfferRow, OfferRow.id == CouponRow.offer_id)
            .where(CouponRow.state == rules.ISSUED, OfferRow.valid_until <= now)
            .order_by(CouponRow.id).limit(limit).with_for_update(of=CouponRow, skip_locked=True)))
        if ids:
            self._s.execute(update(CouponRow).where(CouponRow.id.in_(ids))
                            .values(state=rules.EXPIRED, version=CouponRow.version + 1, updated_at=now)
                            .execution_options(synchronize_session=False))
            self._s.expire_all()
        return ids

    # -- bulk issues ---------------------------------------------------------------------------------
    def add_issue(self, *, offer_id: int, segment: Mapping[str, Any] | Sequence[Mapping[str, Any]], total: int,
                  now: datetime) -> CouponIssue:
        stored = dict(segment) if isinstance(segment, Mapping) else [dict(c) for c in segment]
        return to_issue(self._add(CouponIssueRow(offer_id=offer_id, segment=stored, state="queued",
                                                 total=total, issued=0, created_at=now, updated_at=now)))

    def issue(self, issue_id: int, *, for_update: bool = False) -> CouponIssue:
        return to_issue(self._row(CouponIssueRow, issue_id, "coupon issue", for_update=for_update))

    def issues(self, offer_id: int) -> list[CouponIssue]:
        return [to_issue(r) for r in self._s.scalars(select(CouponIssueRow).where(CouponIssueRow.offer_id == offer_id)
                                                      .order_by(CouponIssueRow.id))]

    def advance_issue(self, issue_id: int, issued: int, now: datetime, *, finished: bool) -> None:
        """*issued* more coupons of the issue went out; *finished*: nobody left to issue to."""
        row = self._row(CouponIssueRow, issue_id, "coupon issue")
        row.issued += issued
        row.state, row.updated_at = ("done" if finished else "running"), now
        if finished:
            row.finished_at = now
