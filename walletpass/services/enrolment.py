"""Enrol members: the member, their member-card pass (serial, tokens, tag), and what the API shows of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from walletpass.config import Settings
from walletpass.domain.devices import Device, Registration
from walletpass.domain.members import (
    MAX_POINTS,
    Member,
    normalize_email,
    normalize_phone,
    not_erased,
    parse_birthday,
    parse_source,
)
from walletpass.domain.passes import MEMBER_CARD, Pass
from walletpass.domain.programs import Program
from walletpass.domain.wallets import WalletObject
from walletpass.domain.webhooks import Event
from walletpass.errors import Conflict, InvalidInput
from walletpass.ids import new_member_number, new_serial, new_token
from walletpass.ports import Clock, UnitOfWork
from walletpass.services import automations
from walletpass.services.idempotency import Replayed, Retry, no_lock, once


@dataclass(frozen=True, slots=True)
class MemberDetails:
    """A member as the API shows them: their card, the devices it is on, and Google's copy of it."""

    member: Member
    card: Pass
    devices: tuple[tuple[Registration, Device, Pass], ...]
    google: WalletObject


def enrol_member(uow: UnitOfWork, clock: Clock, settings: Settings, program_id: int, data: Mapping[str, Any], *,
                 source: str | None = None, retry: Retry | None = None) -> MemberDetails | Replayed:
    """Create a member and their member-card pass in one transaction."""
    name = data["name"].strip()
    if not name:
        raise InvalidInput("name", "must not be blank")
    points = data.get("points", 0)
    if not 0 <= points <= MAX_POINTS:
        raise InvalidInput("points", f"initial points must be between 0 and {MAX_POINTS}")
    if source is not None:
        parse_source(source, "source")
    now = clock.now()
    birthday = parse_birthday(data["birthday"], now.date()) if data.get("birthday") is not None else None
    phone = normalize_phone(data["phone"]) if data.get("phone") is not None else None
    email = normalize_email(data["email"]) if data.get("email") is not None else None

    def enrol(u: UnitOfWork) -> MemberDetails:
        program = u.programs.get(program_id)
        external_id = data.get("external_id")
        if external_id and u.members.by_external_id(program_id, external_id) is not None:
            raise Conflict(f"a member with external_id {external_id!r} already exists in program {program_id}")
        member = enrol_in(u, settings, program, now, name=name, email=email, phone=phone, birthday=birthday,
                          points=points, external_id=external_id, source=source)
        return details_in(u, member.id)

    return once(uow, now, retry, no_lock, enrol)


def enrol_in(u: UnitOfWork, settings: Settings, program: Program, now: datetime, *, name: str, email: str | None,
             phone: str | None, birthday: date | None = None, points: int = 0, external_id: str | None = None,
             source: str | None = None, consent: tuple[datetime, str] | None = None) -> Member:
    """Add a member (checked values) and their member card in *u*'s transaction: the enrol event, the welcome.
    *consent* is (when, SHA-256 of the terms shown) for a member who accepted the terms on the enrolment page."""
    number = new_member_number()
    while u.members.number_taken(number):
        number = new_member_number()
    tier = program.tier_for(points)
    member = u.members.add(program_id=program.id, name=name, email=email, external_id=external_id,
                           member_number=number, points=points, tier=tier.name if tier else None,
                           source=source, now=now, birthday=birthday, phone=phone, consent=consent)
    if points:
        u.ledger.add(member.id, points, points, "initial balance", None, now)
    card = u.passes.add(serial_number=new_serial(), pass_type_id=settings.member_pass_type_id,
                        kind=MEMBER_CARD, program_id=program.id, member_id=member.id,
                        authentication_token=new_token(24), public_token=new_token(24),
                        tag=u.passes.next_tag(), now=now)
    u.events.record(program.id, "enrol", now, pass_id=card.id, source=source)
    u.webhooks.emit([Event("member.enrolled", now, {"program_id": program.id, "member_id": member.id,
                                                    "points": points, "tier": member.tier})])
    automations.on_enrolment(u, settings, program, member.id, now)  # the welcome, in this transaction
    return member


def member_details(uow: UnitOfWork, member_id: int) -> MemberDetails:
    """A member, their card and its devices (NotFound for an unknown or erased member)."""
    with uow:
        not_erased(uow.members.get(member_id))
        return details_in(uow, member_id)


def details_in(uow: UnitOfWork, member_id: int) -> MemberDetails:
    member = uow.members.get(member_id)
    passes = uow.passes.of_member(member.id)
    devices = tuple((reg, dev, p) for p in passes for reg, dev in uow.devices.of_pass(p.id))
    return MemberDetails(member, passes[0], devices, uow.wallet_state.object(passes[0].id))
