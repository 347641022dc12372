"""Programs and their uploaded images."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select

from walletpass.domain.programs import Benefit, Program, Store, Tier, parse_pass_options
from walletpass.domain.wallets import ProgramImage
from walletpass.storage.repositories._base import SessionRepository
from walletpass.storage.tables import ProgramImageRow, ProgramRow, ProgramStoreRow


def to_program(row: ProgramRow, stores: tuple[Store, ...] = ()) -> Program:
    return Program(
        id=row.id, name=row.name, organization_name=row.organization_name,
        background_color=row.background_color, foreground_color=row.foreground_color,
        label_color=row.label_color, points_label=row.points_label,
        tiers=tuple(Tier(**t) for t in row.tiers), locales=tuple(row.locales), terms=row.terms,
        texts=row.texts, updated_at=row.updated_at, version=row.version, time_zone=row.time_zone,
        quiet_hours=(row.quiet_hours["start"], row.quiet_hours["end"]) if row.quiet_hours else None,
        pass_options=parse_pass_options(row.pass_options),
        benefits=tuple(Benefit(b["header"], b.get("body", ""), b.get("uri")) for b in row.benefits or ()),
        stores=stores,
    )


_STORES = (select(ProgramStoreRow).where(ProgramStoreRow.program_id == bindparam("program_id"))
           .order_by(ProgramStoreRow.position))


_IMAGES = (select(ProgramImageRow).where(ProgramImageRow.program_id == bindparam("program_id"))
           .order_by(ProgramImageRow.slot))


def change_row(row: Any, values: Mapping[str, Any], now: datetime) -> frozenset[str]:
    """Set the *values* that differ on a versioned *row* (bumping ``version`` and ``updated_at`` if any did);
    return the names of those that changed."""
    changed = frozenset(k for k, v in values.items() if getattr(row, k) != v)
    if changed:
        for key in changed:
            setattr(row, key, values[key])
        row.version += 1
        row.updated_at = now
    return changed


class ProgramRepository(SessionRepository):
    def add(self, values: Mapping[str, Any], now: datetime) -> Program:
        return to_program(self._add(ProgramRow(**values, version=1, created_at=now, updated_at=now)))

    def get(self, program_id: int, *, for_update: bool = False) -> Program:
        """The program with its stores."""
        row = self._row(ProgramRow, program_id, "program", for_update=for_update)
        return to_program(row, self.stores(program_id))

    def stores(self, program_id: int) -> tuple[Store, ...]:
        """The program's stores in the operator's order."""
        return tuple(Store(r.name, r.latitude, r.longitude, r.address)
                     for r in self._s.scalars(_STORES, {"program_id": program_id}))

    def set_stores(self, program_id: int, stores: tuple[Store, ...]) -> None:
        """Replace the program's stores (inside the caller's transaction)."""
        self._s.execute(delete(ProgramStoreRow).where(ProgramStoreRow.program_id == program_id))
        self._s.add_all(ProgramStoreRow(program_id=program_id, position=i, name=s.name, latitude=s.latitude,
                                        longitude=s.longitude, address=s.address) for i, s in enumerate(stores))
        self._s.flush()

    def all(self) -> list[Program]:
        return [to_program(r) for r in self._s.scalars(select(ProgramRow).order_by(ProgramRow.id))]

    def exist(self) -> bool:
        return bool(self._s.scalar(select(func.count()).select_from(ProgramRow)))

    def created_at(self, program_id: int) -> datetime:
        return self._row(ProgramRow, program_id, "program").created_at

    def update(self, program_id: int, values: Mapping[str, Any], now: datetime) -> frozenset[str]:
        """Apply *values* (columns of the design); return the fields that changed (version and time move then)."""
        return change_row(self._row(ProgramRow, program_id, "program", for_update=True), values, now)

    def touch(self, program_id: int, now: datetime) -> None:
        """The program's design changed outside its columns (an image): a new version."""
        row = self._row(ProgramRow, program_id, "program", for_update=True)
        row.version += 1
        row.updated_at = now

    def images(self, program_id: int) -> tuple[dict[str, bytes], str]:
        """The program's uploaded source images by slot, and a cache key that changes with them."""
        rows = self._s.scalars(_IMAGES, {"program_id": program_id}).all()
        return {r.slot: r.data for r in rows}, ",".join(f"{r.slot}:{r.sha256[:16]}" for r in rows)

    def image(self, program_id: int, slot: str) -> ProgramImage | None:
        row = self._s.get(ProgramImageRow, (program_id, slot))
        return None if row is None else ProgramImage(row.data, row.content_type, row.sha256)

    def put_image(self, program_id: int, slot: str, content_type: str, data: bytes, sha256: str,
                  now: datetime) -> None:
        row = self._s.get(ProgramImageRow, (program_id, slot))
        if row is None:
            self._s.add(ProgramImageRow(program_id=program_id, slot=slot, content_type=content_type, data=data,
                                        sha256=sha256, updated_at=now))
        else:
            row.content_type, row.data, row.sha256, row.updated_at = content_type, data, sha256, now
        self._s.flush()
