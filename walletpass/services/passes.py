"""Build the current pkpass for a pass (download link, Apple's "send an updated pass")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from walletpass.domain.passes import COUPON, MEMBER_CARD
from walletpass.ids import is_token
from walletpass.storage.repositories import to_coupon, to_member, to_offer, to_pass_ref, to_program
from walletpass.storage.uow import SqlUnitOfWork


class PkpassBuilder(Protocol):
    def build_member_pass(self, program: Any, member: Any, pass_ref: Any, *, images: Any = None,
                          images_key: str = "") -> bytes: ...

    def build_coupon_pass(self, program: Any, offer: Any, coupon: Any, member: Any, pass_ref: Any, *,
                          images: Any = None, images_key: str = "") -> bytes: ...


@dataclass(frozen=True, slots=True)
class BuiltPass:
    data: bytes
    serial_number: str
    pass_type_id: str
    update_tag: int
    last_modified: datetime

    @property
    def filename(self) -> str:
        return f"{self.serial_number}.pkpass"


def build_pass(uow: SqlUnitOfWork, builder: PkpassBuilder, pass_id: int) -> BuiltPass:
    """Render and sign the pass as it is now.

    The rows are read in one short transaction (pass a read-only unit of work); rendering and signing happen
    after it, so no database lock or snapshot is held while the pass is signed.
    """
    offer = coupon = member = None
    with uow:
        row = uow.pass_(pass_id)
        program = to_program(uow.program(row.program_id))
        images, images_key = uow.program_images(row.program_id)
        ref = to_pass_ref(row)
        if row.kind == MEMBER_CARD:
            member = to_member(uow.member(row.member_id))  # type: ignore[arg-type]
        elif row.kind == COUPON:
            coupon_row = uow.coupon(row.coupon_id)  # type: ignore[arg-type]
            offer = to_offer(uow.offer(coupon_row.offer_id))
            coupon = to_coupon(coupon_row)
            member = to_member(uow.member(coupon_row.member_id)) if coupon_row.member_id else None
        else:  # pragma: no cover - schema allows only the two kinds
            raise ValueError(row.kind)
        version = (row.serial_number, row.pass_type_id, row.update_tag, row.updated_at)
    images_key = f"{program.id}:{images_key}"
    if coupon is None:
        data = builder.build_member_pass(program, member, ref, images=images, images_key=images_key)  # type: ignore[arg-type]
    else:
        data = builder.build_coupon_pass(program, offer, coupon, member, ref, images=images,  # type: ignore[arg-type]
                                         images_key=images_key)
    return BuiltPass(data, *version)


def pass_id_for_token(uow: SqlUnitOfWork, public_token: str) -> int | None:
    """The pass behind an unguessable public token, or None (also for text no token has, such as NUL)."""
    if not is_token(public_token):
        return None
    with uow:
        row = uow.pass_by_public_token(public_token)
        return row.id if row else None


def pass_id_for_serial(uow: SqlUnitOfWork, *, member_id: int | None = None, serial: str | None = None) -> int:
    """Find a pass by member id (their member card) or by serial number, for the CLI."""
    from walletpass.errors import NotFound

    with uow:
        if member_id is not None:
            passes = uow.member_passes(member_id)
            if not passes:
                raise NotFound(f"member {member_id} not found")
            return passes[0].id
        row = uow.pass_by_serial_any(serial or "")
        if row is None:
            raise NotFound(f"no pass with serial {serial!r}")
        return row.id
