"""A member's right to be forgotten and to see what is held: erase a member, export everything held about one.

What erasing keeps and why is :mod:`walletpass.domain.privacy`. The passes are voided and get a new version in
the erasure's own transaction (:func:`walletpass.services.changes.passes_changed`): Apple devices are pushed and
fetch the voided pass, Google objects are PATCHed expired, through the outbox like every other pass change.
"""

from __future__ import annotations

from walletpass.config import Settings
from walletpass.domain.members import not_erased
from walletpass.domain.privacy import ERASED_NAME, MemberRecord
from walletpass.ports import Clock, UnitOfWork
from walletpass.services.changes import passes_changed


def erase_member(uow: UnitOfWork, clock: Clock, settings: Settings, member_id: int) -> bool:
    """Erase a member's personal data and void their passes; True if erased now, False if erased before
    (NotFound for no such member)."""
    now = clock.now()
    with uow:
        member = uow.members.get(member_id, for_update=True)
        if member.erased_at is not None:
            return False
        passes = [*uow.passes.of_member(member.id), *uow.passes.of_member_coupons(member.id)]
        uow.privacy.erase(member.id, name=ERASED_NAME, member_number=member.member_number, now=now)
        passes_changed(uow, [p.id for p in passes], now, reason="erased",
                       coalesce_seconds=settings.push_coalesce_seconds)
        uow.commit()
        return True


def member_record(uow: UnitOfWork, member_id: int) -> MemberRecord:
    """Everything held about a member (NotFound for an unknown or erased member)."""
    with uow:
        not_erased(uow.members.get(member_id))
        return uow.privacy.record(member_id)
