"""API keys of the marketer API: what is stored of one (never the key itself), and what a verified key may do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    key_hash: str
    scopes: tuple[str, ...]
    created_at: datetime
    #: the programs the key is limited to; None: every program
    programs: tuple[int, ...] | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
