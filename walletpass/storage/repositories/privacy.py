"""Erasing a member's personal data (set-based), and reading everything held about a member."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, cast, delete, or_, select, update

from walletpass.domain.offers import ISSUED, VOIDED
from walletpass.domain.privacy import ERASED_REASON, DeliveryRecord, DeviceRecord, EventRecord, MemberRecord
from walletpass.domain.wallets import WalletObject
from walletpass.storage.repositories._base import SessionRepository
from walletpass.storage.repositories.devices import to_registration
from walletpass.storage.repositories.members import to_entry, to_member
from walletpass.storage.repositories.offers import to_coupon
from walletpass.storage.repositories.passes import to_pass
from walletpass.storage.tables import (
    CampaignDeliveryRow,
    CouponRow,
    DeviceRow,
    IdempotencyKeyRow,
    LedgerEntryRow,
    MemberRow,
    PassEventRow,
    PassFileRow,
    PassRow,
    RegistrationRow,
    WalletObjectRow,
)


class PrivacyRepository(SessionRepository):
    def _pass_ids(self, member_id: int) -> list[int]:
        """The member's passes: the member card and the passes of the member's coupons."""
        coupons = select(CouponRow.id).where(CouponRow.member_id == member_id)
        return list(self._s.scalars(select(PassRow.id).where(
            or_(PassRow.member_id == member_id, PassRow.coupon_id.in_(coupons))).order_by(PassRow.id)))

    def erase(self, member_id: int, *, name: str, member_number: str, now: datetime) -> None:
        """Erase the member's personal data as :mod:`walletpass.domain.privacy` says (the passes' new versions and
        their deliveries are the caller's: services.changes.passes_changed)."""
        self._s.execute(update(MemberRow).where(MemberRow.id == member_id).values(
            name=name, email=None, phone=None, birthday=None, external_id=None, erased_at=now,
            version=MemberRow.version + 1, updated_at=now).execution_options(synchronize_session=False))
        self._s.execute(update(LedgerEntryRow).where(LedgerEntryRow.member_id == member_id)
                        .values(reason=ERASED_REASON).execution_options(synchronize_session=False))
        self._s.execute(update(CouponRow).where(CouponRow.member_id == member_id, CouponRow.state == ISSUED)
                        .values(state=VOIDED, version=CouponRow.version + 1, updated_at=now)
                        .execution_options(synchronize_session=False))
        pass_ids = self._pass_ids(member_id)
        if pass_ids:
            self._s.execute(update(PassRow).where(PassRow.id.in_(pass_ids)).values(voided=True)
                            .execution_options(synchronize_session=False))
            self._s.execute(delete(PassFileRow).where(PassFileRow.pass_id.in_(pass_ids)))
        # The answers kept for Idempotency-Keys that showed the member: those carry the member number.
        self._s.execute(delete(IdempotencyKeyRow).where(
            cast(IdempotencyKeyRow.response, String).like(f'%"{member_number}"%')))
        self._s.expire_all()

    def record(self, member_id: int) -> MemberRecord:
        """Everything held about the member (NotFound for none)."""
        member = to_member(self._row(MemberRow, member_id, "member"))
        pass_ids = self._pass_ids(member_id)
        passes = tuple(to_pass(r) for r in self._s.scalars(select(PassRow).where(PassRow.id.in_(pass_ids))
                                                              .order_by(PassRow.id)))
        objects = tuple(WalletObject(r.pass_id, r.provider, r.object_id, r.state, r.synced_tag)
                        for r in self._s.scalars(select(WalletObjectRow).where(WalletObjectRow.pass_id.in_(pass_ids))
                                                 .order_by(WalletObjectRow.pass_id, WalletObjectRow.provider)))
        devices = tuple(DeviceRecord(to_registration(reg), ident[:8]) for reg, ident in self._s.execute(
            select(RegistrationRow, DeviceRow.device_library_identifier)
            .join(DeviceRow, DeviceRow.id == RegistrationRow.device_id)
            .where(RegistrationRow.pass_id.in_(pass_ids)).order_by(RegistrationRow.id)).all())
        ledger = tuple(to_entry(r) for r in self._s.scalars(
            select(LedgerEntryRow).where(LedgerEntryRow.member_id == member_id).order_by(LedgerEntryRow.id)))
        coupons = tuple(to_coupon(r) for r in self._s.scalars(
            select(CouponRow).where(CouponRow.member_id == member_id).order_by(CouponRow.id)))
        events = tuple(EventRecord(r.pass_id, r.kind, r.source, r.at) for r in self._s.scalars(
            select(PassEventRow).where(PassEventRow.pass_id.in_(pass_ids)).order_by(PassEventRow.id)))
        deliveries = tuple(DeliveryRecord(r.campaign_id, r.pass_id, r.state, r.delivered_at, r.outcome)
                           for r in self._s.scalars(select(CampaignDeliveryRow).where(
                               CampaignDeliveryRow.member_id == member_id).order_by(CampaignDeliveryRow.id)))
        return MemberRecord(member, passes, objects, devices, ledger, coupons, events, deliveries)
