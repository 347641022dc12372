"""Plain builders for test data, through the real services (and the API's representation of what they return)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert

from api.representations import member_json
from walletpass.bootstrap import Services
from walletpass.demo import DEMO_PROGRAM
from walletpass.domain.programs import Program
from walletpass.services import enrolment, programs
from walletpass.services.enrolment import MemberDetails
from walletpass.storage.tables import MemberRow, PassRow


def make_program(services: Services, **overrides: Any) -> int:
    program = programs.create_program(services.uow(), services.clock, {**DEMO_PROGRAM, **overrides})
    assert isinstance(program, Program)
    return program.id


def make_member(services: Services, program_id: int, *, source: str | None = None,
                **overrides: Any) -> dict[str, Any]:
    """A member enrolled through the service, as GET /api/v1/members/{id} shows them."""
    data = {"name": "Test Member", **overrides}
    details = enrolment.enrol_member(services.uow(), services.clock, services.settings, program_id, data,
                                     source=source)
    assert isinstance(details, MemberDetails)
    return member_json(details, services.urls)


def insert_members(services: Services, program_id: int, n: int, *, first_id: int, now: datetime) -> list[int]:
    """*n* members with a member card each, written as rows in one transaction (ids *first_id*…): thousands of
    members in a moment, where enrolling each through the service would take minutes."""
    ids = list(range(first_id, first_id + n))
    ptid = services.settings.member_pass_type_id
    with services.engine.begin() as conn:
        conn.execute(insert(MemberRow), [
            {"id": i, "program_id": program_id, "name": f"M{i}", "member_number": f"{i:012d}", "points": 0,
             "version": 1, "created_at": now, "updated_at": now} for i in ids])
        conn.execute(insert(PassRow), [
            {"id": i, "serial_number": f"S{i}", "pass_type_id": ptid, "kind": "member", "program_id": program_id,
             "member_id": i, "authentication_token": f"t{i}", "public_token": f"p{i}", "update_tag": 1,
             "voided": False, "created_at": now, "updated_at": now} for i in ids])
    return ids
