"""Enrol members: the member row, their pass (serial, tokens, tag) and the links to add it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from walletpass.config import Settings
from walletpass.domain.members import MAX_POINTS
from walletpass.domain.passes import MEMBER_CARD
from walletpass.errors import Conflict, InvalidInput
from walletpass.ids import new_member_number, new_serial, new_token
from walletpass.ports import Clock
from walletpass.storage.repositories import to_program
from walletpass.storage.uow import SqlUnitOfWork


def links(settings: Settings, public_token: str) -> dict[str, str]:
    """The public links of a pass, reached through its unguessable token only."""
    base = settings.base_url.rstrip("/")
    return {
        "page": f"{base}/p/{public_token}",
        "pkpass": f"{base}/p/{public_token}/pass.pkpass",
        "google_save": f"{base}/p/{public_token}/google",
    }


def enrol_member(uow: SqlUnitOfWork, clock: Clock, settings: Settings, program_id: int,
                 data: Mapping[str, Any], *, source: str | None = None) -> dict[str, Any]:
    """Create a member and their member-card pass in one transaction; return the API view."""
    name = data["name"].strip()
    if not name:
        raise InvalidInput("name", "must not be blank")
    points = data.get("points", 0)
    if not 0 <= points <= MAX_POINTS:
        raise InvalidInput("points", f"initial points must be between 0 and {MAX_POINTS}")
    now = clock.now()
    with uow:
        program_row = uow.program(program_id)
        program = to_program(program_row)
        external_id = data.get("external_id")
        if external_id and uow.member_by_external_id(program_id, external_id) is not None:
            raise Conflict(f"a member with external_id {external_id!r} already exists in program {program_id}")
        number = new_member_number()
        while uow.member_number_taken(number):
            number = new_member_number()
        tier = program.tier_for(points)
        member = uow.add_member(program_id=program_id, name=name, email=data.get("email"),
                                external_id=external_id, member_number=number, points=points,
                                tier=tier.name if tier else None, version=1, source=source,
                                created_at=now, updated_at=now)
        if points:
            uow.add_ledger_entry(member.id, points, points, "initial balance", None, now)
        tag = uow.next_tag()
        pass_row = uow.add_pass(serial_number=new_serial(), pass_type_id=settings.member_pass_type_id,
                                kind=MEMBER_CARD, program_id=program_id, member_id=member.id,
                                authentication_token=new_token(24), public_token=new_token(24),
                                update_tag=tag, voided=False, created_at=now,
                                updated_at=now.replace(microsecond=0))
        uow.record_event(program_id, "enrol", now, pass_id=pass_row.id, source=source)
        uow.commit()
        return member_view(uow, member.id, settings=settings)


def member_view(uow: SqlUnitOfWork, member_id: int, *, settings: Settings) -> dict[str, Any]:
    """The API representation of a member (inside or outside an open unit of work)."""
    if uow.session is None:
        with uow:
            return member_view(uow, member_id, settings=settings)
    m = uow.member(member_id)
    passes = uow.member_passes(m.id)
    card = passes[0]
    devices = []
    for p in passes:
        for reg, dev in uow.pass_devices(p.id):
            devices.append({
                "device": dev.device_library_identifier[:8] + "…",
                "registered_at": reg.created_at.isoformat(),
                "last_pushed": reg.last_pushed_at.isoformat() if reg.last_pushed_at else None,
                "last_fetched": reg.last_fetched_at.isoformat() if reg.last_fetched_at else None,
                "up_to_date": reg.fetched_tag is not None and reg.fetched_tag >= p.update_tag,
            })
    return {
        "id": m.id, "program_id": m.program_id, "name": m.name, "email": m.email,
        "external_id": m.external_id, "member_number": m.member_number,
        "serial_number": card.serial_number, "points": m.points, "tier": m.tier,
        "links": links(settings, card.public_token), "devices": devices,
        "google": {"object_id": card.google_object_id, "state": card.google_state},
        "created_at": m.created_at.isoformat(),
    }
