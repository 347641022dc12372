"""Create and design loyalty programs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from walletpass.domain.programs import (
    MAX_BENEFITS,
    MAX_STORES,
    OWN_TEXTS,
    PASS_OPTION_NAMES,
    PASS_TEXTS,
    SUPPORTED_LOCALES,
    Program,
    Store,
    Tier,
    check_store,
    parse_color,
    parse_pass_options,
    parse_quiet_hours,
    parse_time_zone,
    validate_tiers,
)
from walletpass.errors import InvalidInput, NotFound
from walletpass.ids import sha256_hex
from walletpass.ports import Clock, PassBuilder, UnitOfWork
from walletpass.services.changes import program_changed
from walletpass.services.idempotency import Replayed, Retry, no_lock, once

IMAGE_SLOTS = ("icon", "logo", "strip", "hero", "artwork")

_TRANSLATABLE = {"organization_name", "name", "points_label", "terms", *PASS_TEXTS}


def _tiers(raw: Sequence[Mapping[str, Any]]) -> tuple[Tier, ...]:
    tiers = []
    for i, t in enumerate(raw):
        colors = {k: parse_color(t[k], f"tiers[{i}].{k}") for k in
                  ("background_color", "foreground_color", "label_color") if t.get(k) is not None}
        tiers.append(Tier(name=t["name"], min_points=t["min_points"], **colors))
    return validate_tiers(tiers)


def _texts(raw: Mapping[str, Mapping[str, str]], locales: Sequence[str],
           tiers: Sequence[Tier]) -> dict[str, dict[str, str]]:
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
        "time_zone": parse_time_zone(data.get("time_zone", "UTC")),
        "quiet_hours": _quiet(data.get("quiet_hours", {"start": "21:00", "end": "09:00"})),
        "pass_options": parse_pass_options({k: data[k] for k in PASS_OPTION_NAMES if k in data}).stored(),
        "benefits": _benefits(data.get("benefits") or []),
    }
    for key in ("name", "organization_name"):
        if not values[key]:
            raise InvalidInput(key, "must not be blank")
    return values


def _benefits(raw: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The benefits column from validated API data (blank bodies and missing links left out)."""
    if len(raw) > MAX_BENEFITS:
        raise InvalidInput("benefits", f"has {len(raw)} entries; a program shows at most {MAX_BENEFITS}")
    out = []
    for i, b in enumerate(raw):
        header = (b.get("header") or "").strip()
        if not header:
            raise InvalidInput(f"benefits[{i}].header", "must not be blank")
        entry = {"header": header, "body": (b.get("body") or "").strip()}
        if b.get("uri"):
            entry["uri"] = b["uri"]
        out.append(entry)
    return out


def _quiet(raw: object) -> dict[str, str] | None:
    hours = parse_quiet_hours(raw)
    return None if hours is None else {"start": hours[0], "end": hours[1]}


def create_program(uow: UnitOfWork, clock: Clock, data: Mapping[str, Any], *,
                   retry: Retry | None = None) -> Program | Replayed:
    """Create a program from validated API data."""
    values = _design(data)
    now = clock.now()
    return once(uow, now, retry, no_lock, lambda u: u.programs.add(values, now))


def _tier_json(t: Tier) -> dict[str, Any]:
    out: dict[str, Any] = {"name": t.name, "min_points": t.min_points}
    for k in ("background_color", "foreground_color", "label_color"):
        if getattr(t, k):
            out[k] = getattr(t, k)
    return out


#: Columns a PATCH may change (the fields POST accepts).
_DESIGN_FIELDS = ("name", "organization_name", "background_color", "foreground_color", "label_color",
                  "points_label", "tiers", "locales", "texts", "terms", "time_zone", "quiet_hours", "benefits")


def update_program(uow: UnitOfWork, clock: Clock, program_id: int, data: Mapping[str, Any], *,
                   coalesce_seconds: float = 0.0) -> Program:
    """Apply a validated PATCH: each field given replaces the program's. When the design changed, every pass of
    the program reaches the phones (set-based, so 100,000 passes are a few statements), members' tiers follow
    new thresholds, and every wallet updates its copy of the design (Google: the class)."""
    now = clock.now()
    with uow:
        program = uow.programs.get(program_id, for_update=True)
        values = _design({**design_of(program), **data})
        changed = uow.programs.update(program_id, values, now)
        if changed:
            if "tiers" in changed:
                tiers = _tiers(values["tiers"])
                uow.webhooks.emit_tier_changes(program_id, tiers, now)  # before: it reads the tiers before too
                uow.members.recompute_tiers(program_id, tiers, now)
            program_changed(uow, program_id, now, coalesce_seconds=coalesce_seconds)
        program = uow.programs.get(program_id)
        uow.commit()
        return program


def get_program(uow: UnitOfWork, program_id: int) -> Program:
    with uow:
        return uow.programs.get(program_id)


def design_of(program: Program) -> dict[str, Any]:
    """A program as the API fields that describe its design (what a PATCH starts from, what GET shows)."""
    design: dict[str, Any] = {k: getattr(program, k) for k in _DESIGN_FIELDS}
    design["tiers"] = [_tier_json(t) for t in program.tiers]
    design["locales"] = list(program.locales)
    design["texts"] = {k: dict(v) for k, v in program.translations.items()}
    design["quiet_hours"] = ({"start": program.quiet_hours[0], "end": program.quiet_hours[1]}
                             if program.quiet_hours else None)
    design["benefits"] = [{k: v for k, v in (("header", b.header), ("body", b.body), ("uri", b.uri)) if v}
                          for b in program.benefits]
    design.update({k: program.own_text(k) for k in PASS_TEXTS})
    design.update(program.pass_options.as_json())
    return design


def get_stores(uow: UnitOfWork, program_id: int) -> tuple[Store, ...]:
    with uow:
        uow.programs.get(program_id)
        return uow.programs.stores(program_id)


def set_stores(uow: UnitOfWork, clock: Clock, program_id: int, raw: Sequence[Mapping[str, Any]], *,
               coalesce_seconds: float = 0.0) -> tuple[Store, ...]:
    """Replace a program's stores (validated API data; all checked before anything is written). When they
    changed, the program has a new version and every pass reaches the phones: Apple's ``locations`` and Google's
    ``merchantLocations`` (on the program's class) follow the first 10."""
    if len(raw) > MAX_STORES:
        raise InvalidInput("stores", f"has {len(raw)} entries; a program keeps at most {MAX_STORES}")
    stores = tuple(check_store(Store(s["name"].strip(), float(s["latitude"]), float(s["longitude"]),
                                     (s.get("address") or "").strip() or None), f"stores[{i}]")
                   for i, s in enumerate(raw))
    now = clock.now()
    with uow:
        uow.programs.get(program_id, for_update=True)
        if uow.programs.stores(program_id) != stores:
            uow.programs.set_stores(program_id, stores)
            uow.programs.touch(program_id, now)
            program_changed(uow, program_id, now, coalesce_seconds=coalesce_seconds)
        uow.commit()
        return stores


def set_program_image(uow: UnitOfWork, clock: Clock, program_id: int, slot: str, data: bytes,
                      content_type: str, *, coalesce_seconds: float = 0.0) -> None:
    """Store a checked source image; every pass of the program changes (the new design reaches the phones)."""
    if slot not in IMAGE_SLOTS:
        raise InvalidInput("slot", f"unknown image slot {slot!r}; use one of {list(IMAGE_SLOTS)}")
    now = clock.now()
    with uow:
        uow.programs.touch(program_id, now)
        uow.programs.put_image(program_id, slot, content_type, data, sha256_hex(data), now)
        program_changed(uow, program_id, now, coalesce_seconds=coalesce_seconds)
        uow.commit()


def program_image_source(uow: UnitOfWork, builder: PassBuilder, program_id: int, slot: str) -> tuple[bytes, str]:
    """An image of a program by slot: its upload, else the member-card template's; NotFound otherwise."""
    if slot not in IMAGE_SLOTS:
        raise NotFound(f"no image slot {slot!r}")
    with uow:
        uow.programs.get(program_id)
        image = uow.programs.image(program_id, slot)
        if image is not None:
            return image.data, image.content_type
    template = builder.template("member")
    data = template.images.get(slot) or (template.images.get("strip") if slot == "hero" else None)
    if data is None:
        raise NotFound(f"program {program_id} has no {slot} image")
    return data, "image/png"
