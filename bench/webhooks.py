"""What webhooks cost a bulk change: a program's tier edit moving 100,000 members' tiers (BENCHMARKS.md "webhooks").

Run from the repository root::

    .venv/bin/python bench/webhooks.py [--members 100000] [--rounds 3] [--database-url postgresql://…/test] [--write]

SQLite (a file in a temporary folder) unless ``--database-url`` names a PostgreSQL server (a scratch database is
made next to it and dropped). One program, ``--members`` members with a member card each, written set-based. Each
round flips the program's tiers (everyone Gold ↔ everyone Bronze) through ``services.programs.update_program`` — the
code ``PATCH /api/v1/programs/{id}`` runs, in one transaction: the members' tiers, every pass's new version, the
wallets' jobs — three ways, interleaved so that the machine's drift hits each alike:

- **reference**: a webhook is subscribed, but not to ``tier.changed``: the edit writes no events;
- **webhooks**: one webhook subscribed to ``tier.changed``: the same edit also writes one delivery per member whose
  tier moved, with one ``INSERT … SELECT`` (what walletpass does);
- **per-event rows** (the alternative, measured for comparison): the same deliveries written from Python, the
  members read and one row per event sent as a multi-row INSERT (``uow.webhooks.emit``), timed alone and rolled back.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench._common import load_average, machine, scratch_database, write_section  # noqa: E402
from walletpass.bootstrap import Services, bootstrap  # noqa: E402
from walletpass.config import Settings  # noqa: E402
from walletpass.domain.programs import Program  # noqa: E402
from walletpass.domain.webhooks import Event  # noqa: E402
from walletpass.services import webhooks  # noqa: E402
from walletpass.services.programs import create_program, update_program  # noqa: E402
from walletpass.storage.db import make_engine, upgrade  # noqa: E402

GOLD = [{"name": "Bronze", "min_points": 0}, {"name": "Gold", "min_points": 1}]
BRONZE = [{"name": "Bronze", "min_points": 0}, {"name": "Gold", "min_points": 1_000_000}]


@contextmanager
def database(url: str | None) -> Iterator[str]:
    if url:
        with scratch_database(url, "bench_webhooks") as scratch:
            yield scratch
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{tmp}/bench.db"


def fill(svc: Services, members: int) -> int:
    program = create_program(svc.uow(), svc.clock, {"name": "Bench", "organization_name": "Bench", "tiers": BRONZE})
    assert isinstance(program, Program)
    now = datetime.now(UTC).replace(tzinfo=None)
    numbers = ("WITH RECURSIVE g(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM g WHERE g < :n) "
               if svc.engine.dialect.name == "sqlite" else "")
    series = "g" if numbers else "generate_series(1, :n) g"
    with svc.engine.begin() as conn:
        conn.execute(text(f"{numbers}INSERT INTO members (program_id, name, member_number, points, tier, version, "
                          f"created_at, updated_at) SELECT :p, 'M' || g, 'N' || g, g, 'Bronze', 1, :now, :now "
                          f"FROM {series}"), {"p": program.id, "n": members, "now": now})
        conn.execute(text(f"{numbers}INSERT INTO passes (serial_number, pass_type_id, kind, program_id, member_id, "
                          "authentication_token, public_token, update_tag, voided, created_at, updated_at) "
                          "SELECT 'S' || m.id, 'pass.dev.walletpass.member', 'member', :p, m.id, 't', 'p' || m.id, "
                          "1, false, :now, :now FROM members m WHERE m.program_id = :p"),
                     {"p": program.id, "n": members, "now": now})
    return program.id


def clean(svc: Services) -> None:
    with svc.engine.begin() as conn:
        conn.execute(text("DELETE FROM webhook_deliveries"))
        conn.execute(text("DELETE FROM outbox"))


def subscribe(svc: Services, webhook_id: int, events: str) -> None:
    with svc.engine.begin() as conn:
        conn.execute(text("UPDATE webhooks SET events = :e WHERE id = :w"), {"e": events, "w": webhook_id})


def timed_edit(svc: Services, program_id: int, tiers: list[dict[str, object]]) -> float:
    start = time.perf_counter()
    update_program(svc.uow(), svc.clock, program_id, {"tiers": tiers})
    return time.perf_counter() - start


def timed_per_event(svc: Services, program_id: int) -> tuple[float, int]:
    """The alternative: read the members whose tier moves, write one delivery row each from Python; rolled back."""
    now = svc.clock.now()
    start = time.perf_counter()
    with svc.uow() as uow:
        rows = uow.session.execute(text("SELECT id, tier FROM members WHERE program_id = :p"),  # type: ignore[union-attr]
                                   {"p": program_id}).all()
        events = [Event("tier.changed", now, {"program_id": program_id, "member_id": r.id, "tier": "Gold",
                                              "previous_tier": r.tier}) for r in rows]
        written = uow.webhooks.emit(events)
        uow.session.flush()  # type: ignore[union-attr]
        took = time.perf_counter() - start
    return took, written


def run(args: argparse.Namespace) -> str:
    with database(args.database_url) as url, tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        settings = Settings.for_tests(Path(tmp), database_url=url, webhooks_allow_private=True)
        svc = bootstrap(settings)
        try:
            program_id = fill(svc, args.members)
            made = webhooks.create(svc.uow(), svc.clock, settings, {"url": "http://127.0.0.1:9/h",
                                                                    "events": ["campaign.finished"]})
            assert isinstance(made, webhooks.Created)
            webhook_id = made.webhook.id
            figures: dict[str, list[float]] = {"reference": [], "webhooks": [], "per-event rows": []}
            written: list[int] = []
            for r in range(args.rounds):
                for variant in ("reference", "webhooks"):
                    subscribe(svc, webhook_id, '["tier.changed"]' if variant == "webhooks" else
                              '["campaign.finished"]')
                    for tiers in (GOLD, BRONZE):
                        clean(svc)
                        figures[variant].append(timed_edit(svc, program_id, tiers))
                        if variant == "webhooks":
                            with svc.engine.connect() as conn:
                                written.append(int(conn.execute(text(
                                    "SELECT count(*) FROM webhook_deliveries")).scalar_one()))
                took, n = timed_per_event(svc, program_id)
                figures["per-event rows"].append(took)
                print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in figures.items()), flush=True)
            clean(svc)
        finally:
            svc.close()
    dialect = "PostgreSQL" if args.database_url else "SQLite"
    ref = statistics.median(figures["reference"])
    rows = [f"| {name} | {statistics.median(v):.2f} | {min(v):.2f}–{max(v):.2f} | "
            f"{statistics.median(v) / ref:.2f} |" for name, v in figures.items()]
    events = statistics.median(written)
    extra = statistics.median(figures["webhooks"]) - ref
    return "\n".join([
        f"## webhooks — a tier edit moving {args.members:,} members' tiers, with and without tier.changed events "
        f"({dialect})", "",
        f"Machine: {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average after the run {load_average()}.",
        "",
        f"`.venv/bin/python bench/webhooks.py --members {args.members} --rounds {args.rounds}"
        + (" --database-url …" if args.database_url else "") + "`: one transaction of "
        "`services.programs.update_program` (every member's tier, every pass's new version, the wallets' jobs), "
        f"{args.rounds} rounds × 2 edits per variant, interleaved. Seconds per edit; ratio to the reference "
        "(the same edit, no webhook wanting tier.changed) of the same run. \"per-event rows\" is the alternative "
        "walletpass does not use, timed alone: the same deliveries written from Python (members read, one row per "
        "event in multi-row INSERTs), rolled back.", "",
        "| variant | median s | range s | × reference |", "| --- | --- | --- | --- |", *rows, "",
        f"Events per edit: {events:,.0f} (one delivery each). The INSERT … SELECT adds {extra:.2f} s to the edit's "
        f"transaction ({events / extra if extra > 0 else float('inf'):,.0f} events/s); the per-event alternative "
        f"would hold the same transaction {statistics.median(figures['per-event rows']):.2f} s longer.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url")
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    body = run(args)
    print(body)
    if args.write:
        write_section("webhooks-postgresql" if args.database_url else "webhooks", body)


if __name__ == "__main__":
    main()
