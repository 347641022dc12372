"""Storage: the Alembic migrations build exactly the models of tables.py, both ways; a program round-trips.

On SQLite and PostgreSQL. The migration tests use a database of their own (a file, or a PostgreSQL database made
and dropped here), never the migrated per-worker one the other tests share.
"""

from __future__ import annotations

import io
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from PIL import Image
from sqlalchemy import JSON, Engine, inspect

from api.representations import tier_json
from tests.builders import make_program
from walletpass.bootstrap import Services
from walletpass.demo import DEMO_PROGRAM
from walletpass.domain.programs import OWN_TEXTS, PASS_TEXTS
from walletpass.services import programs
from walletpass.storage.db import downgrade, upgrade
from walletpass.storage.tables import Base


def _json_default_differs(_context: Any, _inspected: Any, column: Any, inspected_default: str | None,
                          _default: Any, rendered_default: str | None) -> bool | None:
    """PostgreSQL has no '=' for json, so Alembic's own check fails there: compare the SQL text instead."""
    if isinstance(column.type, JSON):
        return (inspected_default or "").split("::")[0] != (rendered_default or "")
    return None  # Alembic's comparison


def schema_diff(engine: Engine) -> list[Any]:
    """What autogenerate would write to turn the database into tables.py (empty when they agree)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "compare_server_default": _json_default_differs})
        return list(compare_metadata(context, Base.metadata))


def test_migrations_build_exactly_the_models(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    assert schema_diff(empty_engine) == []
    assert set(inspect(empty_engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}


def test_downgrade_to_base_and_up_again(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    downgrade(empty_engine, "base")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    upgrade(empty_engine)
    assert schema_diff(empty_engine) == []
    downgrade(empty_engine, "-1")  # the newest revision alone, both ways
    upgrade(empty_engine)
    assert schema_diff(empty_engine) == []


def _png(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(buf, format="PNG")
    return buf.getvalue()


def test_program_texts_tiers_locales_and_images_round_trip(services: Services) -> None:
    pid = make_program(services)
    stored_images = {"icon": _png((1, 2, 3)), "logo": _png((200, 100, 50)), "hero": _png((9, 9, 9))}
    for slot, data in stored_images.items():
        programs.set_program_image(services.uow(), services.clock, pid, slot, data, "image/png")
    with services.uow() as uow:
        program = uow.programs.get(pid)
        # zh-Hant and zh-Hans, characters intact; the program's own texts beside them under "*"
        assert program.texts == {**DEMO_PROGRAM["texts"], OWN_TEXTS: {k: DEMO_PROGRAM[k] for k in PASS_TEXTS}}
        assert [tier_json(t) for t in program.tiers] == DEMO_PROGRAM["tiers"]
        assert program.locales == ("en", "zh-Hant", "zh-Hans")
        assert (program.organization_name, program.terms) == (DEMO_PROGRAM["organization_name"], DEMO_PROGRAM["terms"])
        assert program.version == 1 + len(stored_images)
        images, cache_key = uow.programs.images(pid)
        assert images == stored_images and cache_key
        assert {uow.programs.image(pid, slot).content_type for slot in stored_images} == {"image/png"}  # type: ignore[union-attr]
