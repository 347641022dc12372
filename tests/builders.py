"""Plain builders for test data, through the real services (and the API's representation of what they return)."""

from __future__ import annotations

from typing import Any

from api.representations import member_json
from walletpass.bootstrap import Services
from walletpass.demo import DEMO_PROGRAM
from walletpass.domain.programs import Program
from walletpass.services import enrolment, programs
from walletpass.services.enrolment import MemberDetails


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
