"""Build the current pkpass of a pass (download link, Apple's "send an updated pass"), and find passes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from walletpass.domain.members import Member
from walletpass.domain.offers import Coupon, Offer
from walletpass.domain.passes import COUPON, MEMBER_CARD, News
from walletpass.errors import NotFound
from walletpass.ids import is_token
from walletpass.ports import PassBuilder, UnitOfWork


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


def build_pass(uow: UnitOfWork, builder: PassBuilder, pass_id: int) -> BuiltPass:
    """Render and sign the pass as it is now.

    The rows are read in one short transaction (pass a read-only unit of work); rendering and signing happen
    after it, so no database lock or snapshot is held while the pass is signed.
    """
    offer: Offer | None = None
    coupon: Coupon | None = None
    member: Member | None = None
    news: News | None = None
    with uow:
        pass_ = uow.passes.get(pass_id)
        program = uow.programs.get(pass_.program_id)
        images, images_key = uow.programs.images(pass_.program_id)
        if pass_.kind == MEMBER_CARD and pass_.member_id is not None:
            member = uow.members.get(pass_.member_id)
            if pass_.news_campaign_id is not None:
                news = uow.campaigns.news(pass_.news_campaign_id, pass_.id)
        elif pass_.kind == COUPON and pass_.coupon_id is not None:
            coupon = uow.offers.coupon(pass_.coupon_id)
            offer = uow.offers.get(coupon.offer_id)
            member = uow.members.get(coupon.member_id) if coupon.member_id else None
        else:  # pragma: no cover - the schema allows only the two kinds
            raise ValueError(pass_.kind)
    images_key = f"{program.id}:{images_key}"
    if coupon is None or offer is None:
        assert member is not None
        data = builder.build_member_pass(program, member, pass_.ref, images=images, images_key=images_key,
                                         news=news)
    else:
        data = builder.build_coupon_pass(program, offer, coupon, member, pass_.ref, images=images,
                                         images_key=images_key)
    return BuiltPass(data, pass_.serial_number, pass_.pass_type_id, pass_.update_tag, pass_.updated_at)


def pass_id_for_token(uow: UnitOfWork, public_token: str) -> int | None:
    """The pass behind an unguessable public token, or None (also for text no token has, such as NUL)."""
    if not is_token(public_token):
        return None
    with uow:
        found = uow.passes.by_public_token(public_token)
        return found.id if found else None


def pass_id_for_serial(uow: UnitOfWork, *, member_id: int | None = None, serial: str | None = None) -> int:
    """Find a pass by member id (their member card) or by serial number, for the CLI."""
    with uow:
        if member_id is not None:
            passes = uow.passes.of_member(member_id)
            if not passes:
                raise NotFound(f"member {member_id} not found")
            return passes[0].id
        found = uow.passes.by_serial_any(serial or "")
        if found is None:
            raise NotFound(f"no pass with serial {serial!r}")
        return found.id
