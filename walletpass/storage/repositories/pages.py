"""The read side of the API's lists: one page of a resource, keyset on id, with its filters, set-based.

Every query is ``WHERE <filters> AND id > :after ORDER BY id LIMIT :n`` over an index that starts with the
list's owner and ends with the id (migration 0012: members, offers and coupons by program/offer/member, the
ledger by member), so a page costs an index range scan whatever page it is; the rows a page's items show beside
their own (a member's card, a coupon's pass and offer) come in one more query per page, never one per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from walletpass.domain.api_keys import ApiKey
from walletpass.domain.devices import Device, Registration
from walletpass.domain.members import LedgerEntry, Member
from walletpass.domain.offers import Coupon, Offer
from walletpass.domain.passes import Pass
from walletpass.domain.programs import Program
from walletpass.paging import CouponFilter, MemberFilter
from walletpass.storage.repositories._base import SessionRepository, is_id
from walletpass.storage.repositories.api_keys import to_api_key
from walletpass.storage.repositories.devices import to_device, to_registration
from walletpass.storage.repositories.members import to_entry, to_member
from walletpass.storage.repositories.offers import to_coupon, to_offer
from walletpass.storage.repositories.passes import to_pass
from walletpass.storage.repositories.programs import to_program
from walletpass.storage.tables import (
    ApiKeyRow,
    CouponRow,
    DeviceRow,
    LedgerEntryRow,
    MemberRow,
    OfferRow,
    PassRow,
    ProgramRow,
    RegistrationRow,
)


def _in(column: Any, programs: Sequence[int] | None) -> list[Any]:
    return [] if programs is None else [column.in_(list(programs))]


class PageRepository(SessionRepository):
    def programs(self, *, programs: Sequence[int] | None, after_id: int, limit: int) -> list[Program]:
        stmt = select(ProgramRow).where(ProgramRow.id > after_id, *_in(ProgramRow.id, programs))
        return [to_program(r) for r in self._s.scalars(stmt.order_by(ProgramRow.id).limit(limit))]

    def members(self, f: MemberFilter, *, after_id: int, limit: int) -> list[tuple[Member, Pass | None]]:
        """Members matching *f* after *after_id*, each with their member card (None only while being enrolled)."""
        m = MemberRow
        where: list[Any] = [m.id > after_id, *_in(m.program_id, f.programs)]
        if f.program_id is not None:
            where.append(m.program_id == f.program_id)
        if f.barcode is not None:  # the card's barcode message is the member number (render.passes, google.objects)
            where.append(m.member_number == f.barcode)
        if f.external_id is not None:
            where.append(m.external_id == f.external_id)
        if f.email is not None:
            where.append(func.lower(m.email) == f.email.lower())
        if f.phone is not None:
            where.append(m.phone == f.phone)
        if f.tier is not None:
            where.append(m.tier == f.tier)
        if f.min_points is not None:
            where.append(m.points >= f.min_points)
        if f.max_points is not None:
            where.append(m.points <= f.max_points)
        if f.source is not None:
            where.append(m.source == f.source)
        if f.enrolled_after is not None:
            where.append(m.created_at >= f.enrolled_after)
        if f.enrolled_before is not None:
            where.append(m.created_at < f.enrolled_before)
        members = [to_member(r) for r in self._s.scalars(select(m).where(*where).order_by(m.id).limit(limit))]
        cards: dict[int, Pass] = {}
        if members:
            for row in self._s.scalars(select(PassRow).where(PassRow.member_id.in_([x.id for x in members]),
                                                             PassRow.kind == "member").order_by(PassRow.id)):
                cards.setdefault(row.member_id, to_pass(row))  # type: ignore[arg-type]
        return [(x, cards.get(x.id)) for x in members]

    def offers(self, program_id: int, *, after_id: int, limit: int) -> list[Offer]:
        stmt = select(OfferRow).where(OfferRow.program_id == program_id, OfferRow.id > after_id)
        return [to_offer(r) for r in self._s.scalars(stmt.order_by(OfferRow.id).limit(limit))]

    def coupons(self, f: CouponFilter, *, after_id: int, limit: int) -> list[tuple[Coupon, Offer, Pass | None]]:
        """Coupons matching *f* after *after_id*, each with its offer and its pass."""
        c = CouponRow
        where: list[Any] = [c.id > after_id]
        if f.offer_id is not None:
            where.append(c.offer_id == f.offer_id)
        if f.member_id is not None:
            where.append(c.member_id == f.member_id)
        if f.code is not None:
            where.append(c.code == f.code)
        if f.state is not None:
            where.append(c.state == f.state)
        if f.programs is not None:
            where.append(c.offer_id.in_(select(OfferRow.id).where(OfferRow.program_id.in_(list(f.programs)))))
        coupons = [to_coupon(r) for r in self._s.scalars(select(c).where(*where).order_by(c.id).limit(limit))]
        if not coupons:
            return []
        offers = {r.id: to_offer(r) for r in self._s.scalars(
            select(OfferRow).where(OfferRow.id.in_({x.offer_id for x in coupons})))}
        passes = {r.coupon_id: to_pass(r) for r in self._s.scalars(
            select(PassRow).where(PassRow.coupon_id.in_([x.id for x in coupons])))}
        return [(x, offers[x.offer_id], passes.get(x.id)) for x in coupons]

    def ledger(self, member_id: int, *, after_id: int, limit: int) -> list[LedgerEntry]:
        if not is_id(member_id):
            return []
        stmt = select(LedgerEntryRow).where(LedgerEntryRow.member_id == member_id, LedgerEntryRow.id > after_id)
        return [to_entry(r) for r in self._s.scalars(stmt.order_by(LedgerEntryRow.id).limit(limit))]

    def registrations(self, member_id: int, *, after_id: int, limit: int
                      ) -> list[tuple[Registration, Device, Pass]]:
        """Registrations of the member's own passes (their card) by registration id, with device and pass."""
        stmt = (select(RegistrationRow, DeviceRow, PassRow)
                .join(DeviceRow, DeviceRow.id == RegistrationRow.device_id)
                .join(PassRow, PassRow.id == RegistrationRow.pass_id)
                .where(PassRow.member_id == member_id, RegistrationRow.id > after_id)
                .order_by(RegistrationRow.id).limit(limit))
        return [(to_registration(r), to_device(d), to_pass(p)) for r, d, p in self._s.execute(stmt)]

    def api_keys(self, *, after_id: int, limit: int) -> list[ApiKey]:
        """Keys by id, revoked ones too (they say so)."""
        stmt = select(ApiKeyRow).where(ApiKeyRow.id > after_id).order_by(ApiKeyRow.id).limit(limit)
        return [to_api_key(r) for r in self._s.scalars(stmt)]
