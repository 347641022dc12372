"""Change a member's details; the passes that show them are updated on the phones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from walletpass.config import Settings
from walletpass.domain.members import normalize_email, normalize_phone, not_erased, parse_birthday
from walletpass.errors import Conflict, InvalidInput
from walletpass.ports import Clock, UnitOfWork
from walletpass.render.template import PassTemplate
from walletpass.services.changes import passes_changed
from walletpass.services.enrolment import MemberDetails, details_in

#: Member fields Google's objects show whatever the template (the loyalty object's accountName).
ON_GOOGLE_OBJECTS = frozenset({"name"})


def shown_on_passes(templates: Iterable[PassTemplate]) -> frozenset[str]:
    """Member fields the passes show: those *templates* (the ones in use) read as ``${member.<field>}``, and
    those Google's objects show; changing one bumps the member's passes."""
    return ON_GOOGLE_OBJECTS | {name.removeprefix("member.") for t in templates for name in t.variables
                                if name.startswith("member.")}


def update_member(uow: UnitOfWork, clock: Clock, settings: Settings, member_id: int,
                  data: Mapping[str, Any], *, templates: Iterable[PassTemplate]) -> MemberDetails:
    """Apply a validated PATCH (``name``, ``email``, ``phone``, ``external_id``, ``birthday``; null clears an optional one); *templates*
    are the pass templates in use (a change to a field one of them shows bumps the passes)."""
    changes = dict(data)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        if not changes["name"]:
            raise InvalidInput("name", "must not be blank")
    now = clock.now()
    if changes.get("phone") is not None:
        changes["phone"] = normalize_phone(changes["phone"])
    if changes.get("email") is not None:
        changes["email"] = normalize_email(changes["email"])
    if changes.get("birthday") is not None:
        changes["birthday"] = parse_birthday(changes["birthday"], now.date())
    with uow:
        member = not_erased(uow.members.get(member_id, for_update=True))
        external_id = changes.get("external_id")
        if external_id is not None and external_id != member.external_id:
            other = uow.members.by_external_id(member.program_id, external_id)
            if other is not None:
                raise Conflict(f"a member with external_id {external_id!r} already exists in program "
                               f"{member.program_id} (member {other.id})")
        changed = uow.members.update(member.id, changes, now)
        if changed & shown_on_passes(templates):
            passes = [*uow.passes.of_member(member.id), *uow.passes.of_member_coupons(member.id)]
            passes_changed(uow, [p.id for p in passes], now, reason="name",
                           coalesce_seconds=settings.push_coalesce_seconds)
        uow.flush()
        details = details_in(uow, member_id)
        uow.commit()
        return details
