"""Create and design loyalty programs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from walletpass.domain.programs import OWN_TEXTS, PASS_TEXTS, SUPPORTED_LOCALES, Tier, parse_color, validate_tiers
from walletpass.errors import InvalidInput
from walletpass.ids import sha256_hex
from walletpass.ports import Clock
from walletpass.services.google_wallet import request_class_sync
from walletpass.storage.uow import SqlUnitOfWork

IMAGE_SLOTS = ("icon", "logo", "strip", "hero")

_TRANSLATABLE = {"organization_name", "name", "points_label", "terms", *PASS_TEXTS}


def _tiers(raw: Sequence[Mapping[str, Any]]) -> tuple[Tier, ...]:
    tiers = []
    for i, t in enumerate(raw):
        colors = {k: parse_color(t[k], f"tiers[{i}].{k}") for k in
                  ("background_color", "foreground_color", "label_color") if t.get(k) is not None}
        tiers.append(Tier(name=t["name"], min_points=t["min_points"], **colors))
    return validate_tiers(tiers)


def _texts(raw: Mapping[str, Mapping[str, str]], locales: Sequence[str], tiers: Sequence[Tier]) -> dict:
    allowed = _TRANSLATABLE | {f"tier.{t.name}" for t in tiers}
    for locale, entries in raw.items():
        if locale not in locales:
            raise InvalidInput(f"texts.{locale}", f"locale {locale!r} is not in the program's locales {list(locales)}")
        for key in entries:
            if key not in allowed:
                raise InvalidInput(f"texts.{locale}.{key}",
                                   f"unknown text key; translatable keys are {sorted(allowed)}")
    return {k: dict(v) for k, v in raw.items()}


def _design(data: Mapping[str, Any]) -> dict[str, Any]:
    """The program's columns from validated API data (a new program's, or a program with a PATCH applied)."""
    locales = list(dict.fromkeys(data.get("locales") or ["en"]))
    for i, loc in enumerate(locales):
        if loc not in SUPPORTED_LOCALES:
            raise InvalidInput(f"locales[{i}]", f"{loc!r} is not supported; use some of {list(SUPPORTED_LOCALES)}")
    tiers = _tiers(data.get("tiers") or [])
    texts = _texts(data.get("texts") or {}, locales, tiers)
    own = {k: data[k].strip() for k in PASS_TEXTS if (data.get(k) or "").strip()}
    if own:
        texts[OWN_TEXTS] = own  # no column of their own: beside the translations (domain.programs.OWN_TEXTS)
    values = {
        "name": data["name"].strip(),
        "organization_name": data["organization_name"].strip(),
        "background_color": parse_color(data.get("background_color", "rgb(60, 65, 76)"), "background_color"),
        "foreground_color": parse_color(data.get("foreground_color", "rgb(255, 255, 255)"), "foreground_color"),
        "label_color": parse_color(data.get("label_color", "rgb(200, 200, 200)"), "label_color"),
        "points_label": data.get("points_label") or "Points",
        "tiers": [_tier_json(t) for t in tiers],
        "locales": locales,
        "texts": texts,
        "terms": data.get("terms") or "",
    }
    for key in ("name", "organization_name"):
        if not values[key]:
            raise InvalidInput(key, "must not be blank")
    return values


def create_program(uow: SqlUnitOfWork, clock: Clock, data: Mapping[str, Any]) -> int:
    """Create a program from validated API data; return its id."""
    values = _design(data)
    now = clock.now()
    with uow:
        row = uow.add_program(**values, version=1, created_at=now, updated_at=now)
        uow.commit()
        return row.id


def _tier_json(t: Tier) -> dict[str, Any]:
    out: dict[str, Any] = {"name": t.name, "min_points": t.min_points}
    for k in ("background_color", "foreground_color", "label_color"):
        if getattr(t, k):
            out[k] = getattr(t, k)
    return out


#: Columns a PATCH may change (the fields POST accepts).
_DESIGN_FIELDS = ("name", "organization_name", "background_color", "foreground_color", "label_color",
                  "points_label", "tiers", "locales", "texts", "terms")


def update_program(uow: SqlUnitOfWork, clock: Clock, program_id: int, data: Mapping[str, Any], *,
                   coalesce_seconds: float = 0.0) -> dict[str, Any]:
    """Apply a validated PATCH: each field given replaces the program's. When the design changed, every pass of
    the program reaches the phones (set-based, so 100,000 passes are a few statements), members' tiers follow
    new thresholds, and Google's class is synced; return the program's view."""
    now = clock.now()
    with uow:
        program = uow.program(program_id)
        values = _design({**_current_design(program), **data})
        changed = uow.change_row(program, values, now)
        if changed:
            if "tiers" in changed:
                uow.recompute_tiers(program_id, _tiers(values["tiers"]), now)
            _design_changed(uow, program_id, now, coalesce_seconds)
        uow.commit()
    return program_view(uow, program_id)


def _current_design(row: Any) -> dict[str, Any]:
    """A stored program as the API fields that describe it (what a PATCH starts from)."""
    design = {k: getattr(row, k) for k in _DESIGN_FIELDS}
    design["texts"] = {k: v for k, v in row.texts.items() if k != OWN_TEXTS}
    own = row.texts.get(OWN_TEXTS, {})
    design.update({k: own.get(k, "") for k in PASS_TEXTS})
    return design


def _design_changed(uow: SqlUnitOfWork, program_id: int, now: datetime, coalesce_seconds: float) -> None:
    """Every pass of the program reaches the phones (set-based: a few statements for 100,000 passes) and
    Google's class is synced (it shows the name, colours and logo)."""
    uow.touch_program_passes(program_id, now, reason="design", coalesce_seconds=coalesce_seconds)
    request_class_sync(uow, now, program_id=program_id)


def program_view(uow: SqlUnitOfWork, program_id: int) -> dict[str, Any]:
    with uow:
        row = uow.program(program_id)
        return {"id": row.id, **_current_design(row), "version": row.version}


def set_program_image(uow: SqlUnitOfWork, clock: Clock, program_id: int, slot: str, data: bytes,
                      content_type: str, *, coalesce_seconds: float = 0.0) -> None:
    """Store a checked source image; every pass of the program changes (new design reaches phones)."""
    if slot not in IMAGE_SLOTS:
        raise InvalidInput("slot", f"unknown image slot {slot!r}; use one of {list(IMAGE_SLOTS)}")
    now = clock.now()
    with uow:
        program = uow.program(program_id)
        uow.put_program_image(program_id, slot, content_type, data, sha256_hex(data), now)
        program.version += 1
        program.updated_at = now
        _design_changed(uow, program_id, now, coalesce_seconds)
        uow.commit()


def program_image_source(uow: SqlUnitOfWork, builder: object, program_id: int, slot: str) -> tuple[bytes, str]:
    """An image of a program by slot: its upload, else the member-card template's; NotFound otherwise."""
    from walletpass.errors import NotFound

    if slot not in IMAGE_SLOTS:
        raise NotFound(f"no image slot {slot!r}")
    with uow:
        uow.program(program_id)
        row = uow.program_image(program_id, slot)
        if row is not None:
            return row.data, row.content_type
    template = builder.template("member")  # type: ignore[attr-defined]
    data = template.images.get(slot) or (template.images.get("strip") if slot == "hero" else None)
    if data is None:
        raise NotFound(f"program {program_id} has no {slot} image")
    return data, "image/png"
