"""Segment queries at 1,000,000 members on PostgreSQL (BENCHMARKS.md, "segments").

Run from the repository root (PostgreSQL on 127.0.0.1:5432, trust auth, as on the dev machines)::

    .venv/bin/python bench/segments.py [--members 1000000] [--rounds 5] [--database-url postgresql://…/test] [--write]

What it does, with real parts only:

1. creates a scratch database next to ``--database-url`` (dropped at the end) and migrates it with walletpass'
   own migrations (so the indexes are the ones production gets);
2. fills one program with ``--members`` members set-based (``generate_series``): tiers Bronze/Silver/Gold/Diamond,
   points 0–9,999, sources, enrolment dates over a year, a member card each, an Apple registration for 30 % and
   a coupon of one offer for 10 %; then ``ANALYZE``;
3. times, through walletpass' repositories (the code the API and the campaign worker run), interleaved round by
   round so that the machine's drift hits each figure alike:
   - the reference: ``SELECT count(*)`` of the program's members (the plain scan every segment query beats or
     ties; its time is this host's speed);
   - ``count_in_segment``: a tier + points segment (``{"tier": ["Gold", "Diamond"], "min_points": 5000}``)
     — the target (< 1 s);
   - the same for a single condition of each kind the issue names (tier, points, source, enrolled_after,
     has_coupon, installed);
   - ``reach`` (what a dry run answers: passes, Apple devices, Google objects, over the Google quota);
   - ``write_deliveries``: the campaign start's INSERT … SELECT of one delivery per pass, rolled back.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds google.py: off the path, so that `google` is Google's package
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench._common import load_average, machine, scratch_database, write_section  # noqa: E402
from walletpass.bootstrap import Services, bootstrap  # noqa: E402
from walletpass.config import Settings  # noqa: E402
from walletpass.domain.offers import Offer  # noqa: E402
from walletpass.domain.programs import Program  # noqa: E402
from walletpass.domain.segments import parse_segment  # noqa: E402
from walletpass.google.objects import NOTIFY_LIMIT, NOTIFY_WINDOW  # noqa: E402
from walletpass.services.offers import create_offer  # noqa: E402
from walletpass.services.programs import create_program  # noqa: E402
from walletpass.storage.db import make_engine, upgrade  # noqa: E402

TIERS = ["Bronze", "Silver", "Gold", "Diamond"]
SEGMENTS = {
    "tier + points (target < 1 s)": {"tier": ["Gold", "Diamond"], "min_points": 5000},
    "tier": {"tier": ["Gold"]},
    "min_points": {"min_points": 9000},
    "source": {"source": ["flyer-a"]},
    "enrolled_after": {"enrolled_after": "2026-11-01T00:00:00Z"},
    "has_coupon": {"has_coupon": True},
    "installed: apple": {"installed": "apple"},
    "list: Gold, or from flyer-a": [{"tier": ["Gold"]}, {"source": ["flyer-a"]}],
}
START = datetime(2025, 12, 1, tzinfo=UTC)


def fill(services: Services, url: str, members: int) -> int:
    """The program and its offer through walletpass' services; the members and the rest set-based."""
    program = create_program(services.uow(), services.clock, {
        "name": "Bench", "organization_name": "Bench Org",
        "tiers": [{"name": t, "min_points": p} for t, p in zip(TIERS, (0, 1000, 5000, 9000), strict=True)]})
    assert isinstance(program, Program)
    offer = create_offer(services.uow(), services.clock, program.id, {"title": "Latte"})
    assert isinstance(offer, Offer)
    program, offer = program.id, offer.id
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    now = datetime.now(UTC)
    with engine.begin() as c:
        c.execute(text(
            "INSERT INTO members (id, program_id, name, member_number, points, tier, version, source, created_at, "
            "updated_at) SELECT g, :p, 'M' || g, lpad(g::text, 12, '0'), (g::bigint * 7919) % 10000, "
            "(ARRAY['Bronze','Silver','Gold','Diamond'])[1 + (g * 31) % 4], 1, "
            "(ARRAY['flyer-a','flyer-b','web',NULL])[1 + (g * 13) % 4], "
            ":start + make_interval(mins => ((g::bigint * 104729) % 525600)::int), :now FROM generate_series(1, :n) g"),
            {"p": program, "n": members, "start": START, "now": now})
        c.execute(text(
            "INSERT INTO passes (id, serial_number, pass_type_id, kind, program_id, member_id, authentication_token, "
            "public_token, update_tag, voided, created_at, updated_at) SELECT g, 'S' || g, 'pass.bench', 'member', "
            ":p, g, 't', 'p' || g, g, false, :now, :now FROM generate_series(1, :n) g"),
            {"p": program, "n": members, "now": now})
        c.execute(text(
            "INSERT INTO devices (id, device_library_identifier, push_token, created_at, updated_at) "
            "SELECT g, 'd' || g, 'ab', :now, :now FROM generate_series(1, :n) g WHERE g % 10 < 3"),
            {"n": members, "now": now})
        c.execute(text(
            "INSERT INTO registrations (device_id, pass_id, created_at) SELECT g, g, :now "
            "FROM generate_series(1, :n) g WHERE g % 10 < 3"), {"n": members, "now": now})
        c.execute(text(
            "INSERT INTO coupons (offer_id, member_id, code, state, version, created_at, updated_at) "
            "SELECT :o, g, 'C' || g, 'issued', 1, :now, :now FROM generate_series(1, :n) g WHERE g % 10 = 7"),
            {"o": offer, "n": members, "now": now})
        for table in ("members", "passes", "devices", "registrations", "coupons"):
            c.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE"))
    engine.dispose()
    return int(program)


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--write", action="store_true", help="write the result into BENCHMARKS.md")
    args = ap.parse_args()

    with scratch_database(args.database_url, "wp_bench_segments") as url:
        engine = make_engine(url)
        upgrade(engine)
        t0 = time.perf_counter()
        services = bootstrap(Settings.for_tests(Path(tempfile.mkdtemp()), database_url=url))
        program = fill(services, url, args.members)
        fill_s = time.perf_counter() - t0
        make_uow = services.uow
        tiers = TIERS
        now = datetime.now(UTC)
        segments = {label: parse_segment(raw, tiers) for label, raw in SEGMENTS.items()}
        times: dict[str, list[float]] = {}
        counts: dict[str, int] = {}

        def record(label: str, fn: Callable[[], object]) -> None:
            times.setdefault(label, []).append(timed(fn))

        for _ in range(args.rounds):
            with engine.connect() as c:
                record("reference: count(*) of the program's members",
                       lambda c=c: c.execute(text("SELECT count(*) FROM members WHERE program_id = :p"),
                                             {"p": program}).scalar_one())
            for label, segment in segments.items():
                with make_uow() as u:
                    record(f"count_in_segment: {label}",
                           lambda u=u, s=segment, lb=label: counts.__setitem__(
                               lb, u.members.count_in_segment(program, s)))
            with make_uow() as u:
                record("reach (dry run): tier + points",
                       lambda u=u: u.members.reach(program, segments["tier + points (target < 1 s)"], now,
                                                   notify_limit=NOTIFY_LIMIT, notify_window=NOTIFY_WINDOW))
            with make_uow() as u:
                campaign = u.campaigns.add(program_id=program, name="bench", message=_message(),
                                           segment=segments["tier + points (target < 1 s)"], state="scheduled",
                                           send_at=now, offer_id=None, now=now)
                record("write_deliveries (campaign start, rolled back): tier + points",
                       lambda u=u, cid=campaign.id: u.campaigns.write_deliveries(
                           cid, program, segments["tier + points (target < 1 s)"]))
                u.rollback()
        services.close()
        engine.dispose()

    ref = statistics.median(times["reference: count(*) of the program's members"])
    rows = []
    for label, samples in times.items():
        med = statistics.median(samples)
        matched = next((counts[k] for k in counts if label.endswith(k)), None)
        rows.append(f"| {label} | {'' if matched is None else f'{matched:,}'} | {med * 1000:,.0f} | "
                    f"{min(samples) * 1000:,.0f} | {med / ref:.2f} |")
    body = "\n".join([
        "## segments",
        "",
        f"Machine: {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average after the run "
        f"{load_average()} (shared machine: other work lowers these figures).",
        f"Command: `.venv/bin/python bench/segments.py --members {args.members} --rounds {args.rounds} --write` "
        f"(PostgreSQL {_pg_version(args.database_url)}; filling took {fill_s:.0f} s).",
        "",
        f"{args.members:,} members of one program, a member card each, 30 % with an Apple device, 10 % with a "
        "coupon. Each query through walletpass' repositories; median and best of "
        f"{args.rounds} rounds, interleaved; the last column is the median over the reference (a plain count of the "
        "program's members, measured in the same rounds).",
        "",
        "| query | members matched | median ms | best ms | × reference |",
        "| --- | ---: | ---: | ---: | ---: |",
        *rows,
    ])
    print(body)
    if args.write:
        write_section("segments", body)


def _message():  # type: ignore[no-untyped-def]
    from walletpass.domain.campaigns import Message

    return Message({"*": "bench"})


def _pg_version(url: str) -> str:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as c:
        version = str(c.execute(text("SHOW server_version")).scalar_one())
    engine.dispose()
    return version


if __name__ == "__main__":
    main()
