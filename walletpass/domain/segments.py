"""Segments of a program's members: who a campaign or a bulk coupon issue reaches. PURE.

A segment is an object of conditions that must all hold, or a list of such objects of which any may hold::

    {"tier": ["Gold", "Diamond"], "min_points": 500}
    [{"tier": ["Gold"]}, {"source": ["flyer-a"], "enrolled_after": "2026-11-01T00:00:00+08:00"}]

Conditions: ``tier`` (names), ``min_points`` / ``max_points`` (inclusive), ``enrolled_after`` / ``enrolled_before``
(ISO 8601 with a zone; after is inclusive, before exclusive), ``source`` (the ``src`` members enrolled from),
``has_coupon`` (an offer id: holds a coupon of it; ``true``: holds any coupon; ``false``: holds none),
``birthday_month`` (1–12), ``installed`` (``apple``, ``google``, ``any``, ``none``: where the member card is),
``external_ids`` (the CRM's ids), ``member_ids`` (a list of members). ``{}`` is everyone. Storage compiles a segment to one SQL query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from walletpass.domain.members import MAX_POINTS
from walletpass.domain.offers import parse_instant
from walletpass.errors import InvalidInput

INSTALLED = ("apple", "google", "any", "none")
#: Most conditions objects in one segment (a list), and most values in one list condition.
MAX_ALTERNATIVES, MAX_VALUES = 20, 1000


@dataclass(frozen=True, slots=True)
class Conditions:
    """Conditions that must all hold; a None condition does not restrict."""

    tiers: tuple[str, ...] | None = None
    min_points: int | None = None
    max_points: int | None = None
    enrolled_after: datetime | None = None
    enrolled_before: datetime | None = None
    sources: tuple[str, ...] | None = None
    has_coupon: int | bool | None = None
    birthday_month: int | None = None
    installed: str | None = None
    external_ids: tuple[str, ...] | None = None
    member_ids: tuple[int, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            key = _JSON_KEY.get(f.name, f.name)
            out[key] = list(value) if isinstance(value, tuple) else value.isoformat() if isinstance(
                value, datetime) else value
        return out


#: attribute → JSON key, where they differ
_JSON_KEY = {"tiers": "tier", "sources": "source"}
_ATTR = {v: k for k, v in _JSON_KEY.items()}
_KEYS = ("tier", "min_points", "max_points", "enrolled_after", "enrolled_before", "source", "has_coupon",
         "birthday_month", "installed", "external_ids", "member_ids")


@dataclass(frozen=True, slots=True)
class Segment:
    """Members matching any of *any_of* (each a :class:`Conditions`); ``Segment()`` is everyone."""

    any_of: tuple[Conditions, ...] = (Conditions(),)

    @property
    def everyone(self) -> bool:
        return any(c == Conditions() for c in self.any_of)

    def as_json(self) -> dict[str, Any] | list[dict[str, Any]]:
        if len(self.any_of) == 1:
            return self.any_of[0].as_json()
        return [c.as_json() for c in self.any_of]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Segment:
        """A Segment from its stored JSON, not checked against the program: a stored segment naming a tier
        renamed or removed since simply matches nobody in that tier."""
        return _parse(raw, None, "segment")


def parse_segment(raw: object, tier_names: Sequence[str], field: str = "segment") -> Segment:
    """A Segment from request JSON; every condition is checked (tier names must be the program's)."""
    return _parse(raw, tier_names, field)


def _parse(raw: object, tier_names: Sequence[str] | None, field: str) -> Segment:
    if isinstance(raw, Mapping):
        return Segment((_conditions(raw, tier_names, field),))
    if isinstance(raw, list | tuple):
        if not raw:
            raise InvalidInput(field, "an empty list matches nobody; send {} for everyone, or conditions")
        if len(raw) > MAX_ALTERNATIVES:
            raise InvalidInput(field, f"at most {MAX_ALTERNATIVES} alternatives")
        return Segment(tuple(_conditions(c, tier_names, f"{field}[{i}]") for i, c in enumerate(raw)))
    raise InvalidInput(field, "a segment is an object of conditions, or a list of such objects")


def _conditions(raw: object, tier_names: Sequence[str] | None, field: str) -> Conditions:
    if not isinstance(raw, Mapping):
        raise InvalidInput(field, "must be an object of conditions")
    for key in raw:
        if key not in _KEYS:
            raise InvalidInput(f"{field}.{key}", f"unknown condition; use some of {', '.join(_KEYS)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{field}.{key}"
        if value is None:
            continue
        if key in ("tier", "source", "external_ids"):
            values[_ATTR.get(str(key), str(key))] = _strings(value, where)
        elif key in ("min_points", "max_points"):
            values[key] = _integer(value, where, 0, MAX_POINTS)
        elif key == "birthday_month":
            values[key] = _integer(value, where, 1, 12)
        elif key in ("enrolled_after", "enrolled_before"):
            if not isinstance(value, str):
                raise InvalidInput(where, "must be an ISO 8601 date and time with its zone")
            values[key] = parse_instant(value, where)
        elif key == "installed":
            if value not in INSTALLED:
                raise InvalidInput(where, f"must be one of {', '.join(INSTALLED)}")
            values[key] = value
        elif key == "member_ids":
            values[key] = _ids(value, where)
        elif key == "has_coupon":
            if isinstance(value, bool):
                values[key] = value
            else:
                values[key] = _integer(value, where, 1, 2**31 - 1)
    c = Conditions(**values)
    if tier_names is not None and c.tiers is not None:
        for i, name in enumerate(c.tiers):
            if name not in tier_names:
                raise InvalidInput(f"{field}.tier[{i}]",
                                   f"{name!r} is not a tier of this program; its tiers are {list(tier_names)}")
    if c.min_points is not None and c.max_points is not None and c.min_points > c.max_points:
        raise InvalidInput(f"{field}.max_points", "must not be below min_points")
    if c.enrolled_after is not None and c.enrolled_before is not None and c.enrolled_before <= c.enrolled_after:
        raise InvalidInput(f"{field}.enrolled_before", "must be later than enrolled_after")
    return c


def _strings(value: object, field: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidInput(field, "must be a non-empty list of strings")
    if len(value) > MAX_VALUES:
        raise InvalidInput(field, f"at most {MAX_VALUES} values")
    if not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(field, "must be a non-empty list of strings")
    return tuple(dict.fromkeys(value))


def _ids(value: object, field: str) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidInput(field, "must be a non-empty list of member ids")
    if len(value) > MAX_VALUES:
        raise InvalidInput(field, f"at most {MAX_VALUES} values")
    return tuple(dict.fromkeys(_integer(v, f"{field}[{i}]", 1, 2**31 - 1) for i, v in enumerate(value)))


def _integer(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(field, f"must be an integer from {low} to {high}")
    return value
