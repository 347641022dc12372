"""Segments compiled to one SQL query: each condition and combinations, on SQLite and PostgreSQL, against a
brute-force filter over 2,000 generated members (their coupons, Apple registrations and Google saves)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from tests.builders import make_program
from walletpass.domain.segments import parse_segment
from walletpass.storage.tables import (
    CouponRow,
    DeviceRow,
    MemberRow,
    OfferRow,
    PassRow,
    RegistrationRow,
    WalletObjectRow,
)

TIERS = ["Bronze", "Silver", "Gold", "Diamond"]
SOURCES = ["flyer-a", "flyer-b", "api", None]
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Facts:
    id: int
    tier: str | None
    points: int
    created_at: datetime
    source: str | None
    birthday: date | None
    external_id: str | None
    offers: set[int]
    apple: bool
    google: str | None


def _generate(services: Any, program_id: int, n: int = 2000, seed: int = 7) -> dict[int, Facts]:
    rng = random.Random(seed)
    now = START
    facts: dict[int, Facts] = {}
    with services.engine.begin() as conn:
        offers = [conn.execute(insert(OfferRow).values(program_id=program_id, title=f"O{i}", description="",
                                                       discount="", terms="", texts={}, created_at=now,
                                                       updated_at=now).returning(OfferRow.id)).scalar_one()
                  for i in range(3)]
        members, passes, coupons, devices, regs, objects = [], [], [], [], [], []
        base = 100_000
        for i in range(n):
            mid = base + i
            f = Facts(mid, rng.choice([*TIERS, None]), rng.randrange(0, 6000),
                      START + timedelta(hours=rng.randrange(0, 24 * 300)), rng.choice(SOURCES),
                      rng.choice([None, date(1980 + rng.randrange(30), rng.randrange(1, 13), rng.randrange(1, 29))]),
                      rng.choice([None, f"crm-{i}"]), set(), rng.random() < 0.3,
                      rng.choice([None, None, "saved", "deleted", "inserted"]))
            facts[mid] = f
            members.append({"id": mid, "program_id": program_id, "name": f"M{i}", "member_number": f"{mid:012d}",
                            "points": f.points, "tier": f.tier, "version": 1, "source": f.source,
                            "birthday": f.birthday, "external_id": f.external_id, "created_at": f.created_at,
                            "updated_at": f.created_at})
            passes.append({"id": mid, "serial_number": f"S{mid}", "pass_type_id": "pass.x", "kind": "member",
                           "program_id": program_id, "member_id": mid, "authentication_token": "t",
                           "public_token": f"p{mid}", "update_tag": 1, "voided": False, "created_at": now,
                           "updated_at": now})
            for offer in offers:
                if rng.random() < 0.15:
                    f.offers.add(offer)
                    coupons.append({"offer_id": offer, "member_id": mid, "code": f"C{mid}-{offer}",
                                    "state": "issued", "version": 1, "created_at": now, "updated_at": now})
            if f.apple:
                devices.append({"id": mid, "device_library_identifier": f"d{mid}", "push_token": "ab",
                                "created_at": now, "updated_at": now})
                regs.append({"device_id": mid, "pass_id": mid, "created_at": now})
            if f.google is not None:
                objects.append({"pass_id": mid, "provider": "google", "object_id": f"o{mid}", "state": f.google})
        for table, rows in ((MemberRow, members), (PassRow, passes), (CouponRow, coupons), (DeviceRow, devices),
                            (RegistrationRow, regs), (WalletObjectRow, objects)):
            if rows:
                conn.execute(insert(table), rows)
    return facts


def _matches(f: Facts, c: dict[str, Any]) -> bool:
    """The brute force: each condition as the API documents it."""
    if "tier" in c and f.tier not in c["tier"]:
        return False
    if "min_points" in c and f.points < c["min_points"]:
        return False
    if "max_points" in c and f.points > c["max_points"]:
        return False
    if "enrolled_after" in c and f.created_at < datetime.fromisoformat(c["enrolled_after"]):
        return False
    if "enrolled_before" in c and f.created_at >= datetime.fromisoformat(c["enrolled_before"]):
        return False
    if "source" in c and f.source not in c["source"]:
        return False
    if "external_ids" in c and f.external_id not in c["external_ids"]:
        return False
    if "member_ids" in c and f.id not in c["member_ids"]:
        return False
    if "birthday_month" in c and (f.birthday is None or f.birthday.month != c["birthday_month"]):
        return False
    if "has_coupon" in c:
        want = c["has_coupon"]
        if want is True and not f.offers or want is False and f.offers:
            return False
        if not isinstance(want, bool) and want not in f.offers:
            return False
    installed = {"apple": f.apple, "google": f.google == "saved"}
    if "installed" in c:
        where = c["installed"]
        if where in ("apple", "google") and not installed[where]:
            return False
        if where == "any" and not any(installed.values()):
            return False
        if where == "none" and any(installed.values()):
            return False
    return True


SEGMENTS: list[Any] = [
    {},
    {"tier": ["Gold"]},
    {"tier": ["Gold", "Diamond"], "min_points": 2000},
    {"min_points": 500},
    {"max_points": 499},
    {"min_points": 100, "max_points": 200},
    {"enrolled_after": "2026-05-01T00:00:00+08:00"},
    {"enrolled_before": "2026-03-01T00:00:00Z"},
    {"enrolled_after": "2026-02-01T00:00:00Z", "enrolled_before": "2026-04-01T00:00:00Z", "source": ["flyer-a"]},
    {"source": ["flyer-a", "flyer-b"]},
    {"has_coupon": "OFFER"},
    {"has_coupon": True},
    {"has_coupon": False},
    {"birthday_month": 5},
    {"birthday_month": 12, "tier": ["Silver"]},
    {"installed": "apple"},
    {"installed": "google"},
    {"installed": "any"},
    {"installed": "none"},
    {"external_ids": ["crm-1", "crm-2", "crm-3", "crm-1999", "nobody"]},
    {"member_ids": [100_000, 100_007, 101_999, 5]},
    [{"member_ids": [100_001, 100_002]}, {"tier": ["Gold"], "min_points": 5000}],
    [{"tier": ["Gold"]}, {"source": ["flyer-a"], "min_points": 3000}],
    [{"installed": "none", "has_coupon": False}, {"birthday_month": 1}, {"max_points": 10}],
]


def test_segments_select_exactly_the_members_a_brute_force_filter_does(services) -> None:  # type: ignore[no-untyped-def]
    program_id = make_program(services)
    facts = _generate(services, program_id)
    with services.engine.connect() as conn:
        offer = conn.exec_driver_sql("SELECT min(id) FROM offers").scalar_one()
    for raw in SEGMENTS:
        raw = _fill(raw, offer)
        segment = parse_segment(raw, TIERS)
        alternatives = raw if isinstance(raw, list) else [raw]
        expected = {f.id for f in facts.values() if any(_matches(f, c) for c in alternatives)}
        with services.read_uow() as uow:
            got = {m.id for m in uow.members.in_segment(program_id, segment, limit=10**6)}
            counted = uow.members.count_in_segment(program_id, segment)
        assert got == expected, raw
        assert counted == len(expected), raw
        assert 0 < len(expected) <= len(facts) or raw in ([], {"external_ids": []}), raw


def _fill(raw: Any, offer: int) -> Any:
    if isinstance(raw, list):
        return [_fill(c, offer) for c in raw]
    return {k: (offer if v == "OFFER" else v) for k, v in raw.items()}


@pytest.mark.parametrize(("raw", "field"), [
    ({"tier": ["Platinum"]}, "segment.tier[0]"),
    ({"colour": "red"}, "segment.colour"),
    ({"min_points": 10, "max_points": 5}, "segment.max_points"),
    ({"enrolled_after": "2026-05-01T00:00:00Z", "enrolled_before": "2026-04-01T00:00:00Z"}, "segment.enrolled_before"),
    ({"enrolled_after": "yesterday"}, "segment.enrolled_after"),
    ({"birthday_month": 13}, "segment.birthday_month"),
    ({"installed": "samsung"}, "segment.installed"),
    ({"has_coupon": "7"}, "segment.has_coupon"),
    ({"source": []}, "segment.source"),
    ({"member_ids": [0]}, "segment.member_ids[0]"),
    ({"member_ids": ["7"]}, "segment.member_ids[0]"),
    ({"member_ids": []}, "segment.member_ids"),
    ([], "segment"),
    ([{"tier": ["Gold"]}, {"tier": ["Nope"]}], "segment[1].tier[0]"),
    ("Gold", "segment"),
])
def test_an_invalid_segment_names_the_condition(raw: Any, field: str) -> None:
    from walletpass.errors import InvalidInput

    with pytest.raises(InvalidInput) as info:
        parse_segment(raw, TIERS)
    assert info.value.field == field
