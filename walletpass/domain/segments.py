"""Segments of a program's members: ``{"tier": ["Gold", …]}``, ``{"min_points": 500}``, or both (all must hold)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from walletpass.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Segment:
    """Members in one of ``tiers`` (when given) with at least ``min_points`` (when given); empty: everyone."""

    tiers: tuple[str, ...] | None = None
    min_points: int | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.tiers is not None:
            out["tier"] = list(self.tiers)
        if self.min_points is not None:
            out["min_points"] = self.min_points
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Segment:
        """A Segment from its JSON, not checked against the program: a stored segment naming a tier that was
        renamed or removed since simply matches nobody in that tier."""
        tiers = raw.get("tier")
        return cls(tiers=None if tiers is None else tuple(dict.fromkeys(tiers)), min_points=raw.get("min_points"))


def parse_segment(raw: Mapping[str, Any], tier_names: Sequence[str], field: str = "segment") -> Segment:
    """A Segment from validated JSON; tier names must be the program's."""
    tiers = raw.get("tier")
    if tiers is not None:
        for i, name in enumerate(tiers):
            if name not in tier_names:
                raise InvalidInput(f"{field}.tier[{i}]",
                                   f"{name!r} is not a tier of this program; its tiers are {list(tier_names)}")
    return Segment.from_json(raw)
