"""Change a member's details; the passes that show them are updated on the phones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from walletpass.config import Settings
from walletpass.errors import Conflict, InvalidInput
from walletpass.ports import Clock
from walletpass.render.template import PassTemplate
from walletpass.services.enrolment import member_view
from walletpass.storage.uow import SqlUnitOfWork

#: Member fields Google's objects show whatever the template (the loyalty object's accountName).
ON_GOOGLE_OBJECTS = frozenset({"name"})


def shown_on_passes(templates: Iterable[PassTemplate]) -> frozenset[str]:
    """Member fields the passes show: those *templates* (the ones in use) read as ``${member.<field>}``, and
    those Google's objects show; changing one bumps the member's passes."""
    return ON_GOOGLE_OBJECTS | {name.removeprefix("member.") for t in templates for name in t.variables
                                if name.startswith("member.")}


def update_member(uow: SqlUnitOfWork, clock: Clock, settings: Settings, member_id: int,
                  data: Mapping[str, Any], *, templates: Iterable[PassTemplate]) -> dict[str, Any]:
    """Apply a validated PATCH (``name``, ``email``, ``external_id``; null clears the optional two); *templates*
    are the pass templates in use (a change to a field one of them shows bumps the passes)."""
    changes = dict(data)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        if not changes["name"]:
            raise InvalidInput("name", "must not be blank")
    now = clock.now()
    with uow:
        member = uow.member(member_id, for_update=True)
        external_id = changes.get("external_id")
        if external_id is not None and external_id != member.external_id:
            other = uow.member_by_external_id(member.program_id, external_id)
            if other is not None:
                raise Conflict(f"a member with external_id {external_id!r} already exists in program "
                               f"{member.program_id} (member {other.id})")
        changed = uow.change_row(member, changes, now)
        if changed & shown_on_passes(templates):
            passes = [*uow.member_passes(member.id), *uow.member_coupon_passes(member.id)]
            uow.touch_passes(passes, now, reason="name", coalesce_seconds=settings.push_coalesce_seconds)
        uow.flush()
        uow.commit()
        return member_view(uow, member_id, settings=settings)
