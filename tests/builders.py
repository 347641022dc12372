"""Plain builders for test data, through the real services."""

from __future__ import annotations

from typing import Any

from walletpass.bootstrap import Services
from walletpass.demo import DEMO_PROGRAM
from walletpass.services import enrolment, programs


def make_program(services: Services, **overrides: Any) -> int:
    return programs.create_program(services.uow(), services.clock, {**DEMO_PROGRAM, **overrides})


def make_member(services: Services, program_id: int, **overrides: Any) -> dict[str, Any]:
    data = {"name": "Test Member", **overrides}
    return enrolment.enrol_member(services.uow(), services.clock, services.settings, program_id, data)
