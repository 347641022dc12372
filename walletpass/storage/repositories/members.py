"""Members, their points ledger, and segments of a program's members."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, null, select, update
from sqlalchemy.sql.elements import ColumnElement

from walletpass.domain.members import LedgerEntry, Member
from walletpass.domain.programs import Tier
from walletpass.domain.segments import Segment
from walletpass.storage.repositories._base import SessionRepository, is_id
from walletpass.storage.repositories.programs import change_row
from walletpass.storage.tables import CouponRow, LedgerEntryRow, MemberRow


def to_member(row: MemberRow) -> Member:
    return Member(id=row.id, program_id=row.program_id, name=row.name, member_number=row.member_number,
                  points=row.points, tier=row.tier, email=row.email, external_id=row.external_id,
                  created_at=row.created_at, source=row.source, version=row.version, updated_at=row.updated_at)


def _segment(program_id: int, segment: Segment, without_coupon_of: int | None) -> list[ColumnElement[bool]]:
    """WHERE clauses of the program's members in *segment* (who hold no coupon of *without_coupon_of*, if given)."""
    where: list[ColumnElement[bool]] = [MemberRow.program_id == program_id]
    if without_coupon_of is not None:
        holds = select(CouponRow.id).where(CouponRow.offer_id == without_coupon_of,
                                           CouponRow.member_id == MemberRow.id)
        where.append(~holds.exists())
    if segment.tiers is not None:
        where.append(MemberRow.tier.in_(segment.tiers))
    if segment.min_points is not None:
        where.append(MemberRow.points >= segment.min_points)
    return where


class MemberRepository(SessionRepository):
    def add(self, *, program_id: int, name: str, member_number: str, points: int, tier: str | None,
            email: str | None, external_id: str | None, source: str | None, now: datetime) -> Member:
        return to_member(self._add(MemberRow(
            program_id=program_id, name=name, email=email, external_id=external_id, member_number=member_number,
            points=points, tier=tier, version=1, source=source, created_at=now, updated_at=now)))

    def get(self, member_id: int, *, for_update: bool = False) -> Member:
        """The member (its row locked until commit with *for_update*: SELECT … FOR UPDATE on PostgreSQL)."""
        return to_member(self._row(MemberRow, member_id, "member", for_update=for_update))

    def by_external_id(self, program_id: int, external_id: str) -> Member | None:
        row = self._s.scalars(select(MemberRow).where(MemberRow.program_id == program_id,
                                                      MemberRow.external_id == external_id)).first()
        return None if row is None else to_member(row)

    def number_taken(self, number: str) -> bool:
        return bool(self._s.scalar(select(func.count()).where(MemberRow.member_number == number)))

    def update(self, member_id: int, values: Mapping[str, Any], now: datetime) -> frozenset[str]:
        """Apply *values* (name, email, external_id); return the fields that changed."""
        return change_row(self._row(MemberRow, member_id, "member"), values, now)

    def set_balance(self, member_id: int, points: int, tier: str | None, now: datetime) -> None:
        self._s.execute(update(MemberRow).where(MemberRow.id == member_id)
                        .values(points=points, tier=tier, version=MemberRow.version + 1, updated_at=now))

    def recompute_tiers(self, program_id: int, tiers: Sequence[Tier], now: datetime) -> int:
        """Set every member's tier from their points and *tiers* (set-based); return how many changed."""
        ranked = sorted(tiers, key=lambda t: t.min_points, reverse=True)
        tier = case(*[(MemberRow.points >= t.min_points, t.name) for t in ranked]) if ranked else null()
        result = self._s.execute(
            update(MemberRow).where(MemberRow.program_id == program_id, MemberRow.tier.is_distinct_from(tier))
            .values(tier=tier, version=MemberRow.version + 1, updated_at=now)
            .execution_options(synchronize_session=False))
        self._s.expire_all()
        return int(getattr(result, "rowcount", 0) or 0)

    def in_segment(self, program_id: int, segment: Segment, *, without_coupon_of: int | None = None,
                   limit: int) -> list[Member]:
        """Members of the program in *segment*, by id (those holding no coupon of *without_coupon_of*, if given)."""
        stmt = (select(MemberRow).where(*_segment(program_id, segment, without_coupon_of))
                .order_by(MemberRow.id).limit(limit))
        return [to_member(r) for r in self._s.scalars(stmt)]

    def count_in_segment(self, program_id: int, segment: Segment, *, without_coupon_of: int | None = None) -> int:
        return int(self._s.scalar(select(func.count()).select_from(MemberRow).where(
            *_segment(program_id, segment, without_coupon_of))) or 0)


def to_entry(row: LedgerEntryRow) -> LedgerEntry:
    return LedgerEntry(id=row.id, member_id=row.member_id, points=row.points, balance=row.balance, reason=row.reason,
                       created_at=row.created_at, api_key_id=row.api_key_id)


class LedgerRepository(SessionRepository):
    def add(self, member_id: int, points: int, balance: int, reason: str, api_key_id: int | None,
            now: datetime) -> LedgerEntry:
        return to_entry(self._add(LedgerEntryRow(member_id=member_id, points=points, balance=balance, reason=reason,
                                                 api_key_id=api_key_id, created_at=now)))

    def of_member(self, member_id: int) -> list[LedgerEntry]:
        if not is_id(member_id):
            return []
        return [to_entry(r) for r in self._s.scalars(select(LedgerEntryRow).where(
            LedgerEntryRow.member_id == member_id).order_by(LedgerEntryRow.id))]
