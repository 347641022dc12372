"""Benchmark: a bulk import of members (CSV → members, member cards, opening balances, enrol events).

Measured, for each database: the whole import of ``--rows`` members as the API does it (``start_import``: parse
the CSV, stage its rows, queue the job; then the embedded worker's loop runs the job to the end, 2,000 rows per
transaction), its seconds, rows per second and the peak RSS of the process; and in the same run, interleaved, a
**reference**: the same rows written as plainly as the database allows into a bare table of the same columns
(COPY on PostgreSQL, one executemany INSERT on SQLite), in one transaction. The ratio says what the import's
checks, matching, set-based writes of four tables and chunked transactions cost over a bare bulk load.

Each measurement runs in a fresh process (peak RSS is that process's own), against a fresh database.
Run: ``.venv/bin/python bench/import.py [--rows 100000] [--rounds 2] [--database-url URL] [--no-sqlite] [--write]``;
PostgreSQL when ``--database-url`` (or WALLETPASS_TEST_DATABASE_URL) names a server: a scratch database is made
next to it and dropped. ``--write`` updates the import section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The project first, and not bench/ itself: its google.py would shadow the google package.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent)]

from bench._common import load_average, machine, scratch_database, write_section  # noqa: E402

HEADER = ["name", "email", "phone", "external_id", "points", "birthday", "tier"]


def csv_of(n: int) -> bytes:
    """*n* members as a CRM would export them: every column filled, a tier override on one row in seven."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    for i in range(n):
        w.writerow([f"Member {i}", f"member{i}@example.com", f"+8869{i:08d}", f"crm-{i}", i % 3000,
                    f"19{50 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}", "Gold" if i % 7 == 0 else ""])
    return buf.getvalue().encode()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_import(url: str, rows: int) -> dict[str, float]:
    from walletpass.bootstrap import bootstrap
    from walletpass.config import Settings
    from walletpass.demo import DEMO_PROGRAM
    from walletpass.jobs.worker import Worker
    from walletpass.services import imports, programs

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.for_tests(Path(tmp), **({"database_url": url} if url else {}))
        svc = bootstrap(settings, migrate=True)
        try:
            program = programs.create_program(svc.uow(), svc.clock, dict(DEMO_PROGRAM))
            body = csv_of(rows)
            start = time.perf_counter()
            cpu = time.process_time()
            accepted = imports.start_import(svc.uow(), svc.clock, program.id, body, "text/csv")  # type: ignore[union-attr]
            staged = time.perf_counter() - start
            worker = Worker(svc)
            while worker.run_once():
                pass
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu
            done = imports.import_progress(svc.uow(), accepted.id)  # type: ignore[union-attr]
            assert done.state == "done" and done.imported == rows, done
            return {"seconds": seconds, "staged": staged, "cpu": cpu, "rss": _peak_rss_mb()}
        finally:
            svc.close()


def child_reference(url: str, rows: int) -> dict[str, float]:
    """The same rows into a bare table of the same columns, in one transaction: COPY / executemany."""
    from sqlalchemy import Column, Date, Integer, MetaData, Table, Text, insert

    from walletpass.storage.db import make_engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(url or f"sqlite:///{tmp}/ref.db")
        table = Table("bare_members", MetaData(), Column("id", Integer, primary_key=True),
                      *(Column(c, Date if c == "birthday" else Integer if c == "points" else Text)
                        for c in HEADER))
        table.metadata.create_all(engine)
        body = csv_of(rows)
        start = time.perf_counter()
        cpu = time.process_time()
        parsed = [dict(zip(HEADER, r, strict=True)) for r in list(csv.reader(io.StringIO(body.decode())))[1:]]
        for r in parsed:
            r["points"] = int(r["points"])
            r["birthday"] = date.fromisoformat(r["birthday"])
            r["tier"] = r["tier"] or None
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                raw = conn.connection.driver_connection
                with raw.cursor() as cur, cur.copy(f"COPY bare_members ({', '.join(HEADER)}) FROM STDIN") as cp:
                    for r in parsed:
                        cp.write_row([r[c] for c in HEADER])
            else:
                conn.execute(insert(table), parsed)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        engine.dispose()
        return {"seconds": seconds, "cpu": cpu, "rss": _peak_rss_mb()}


def measure(kind: str, url: str, rows: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--rows", str(rows), "--url", url],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(f"the {kind} measurement failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run_database(label: str, url: str, rows: int, rounds: int) -> list[str]:
    imports, refs = [], []
    for _ in range(rounds):  # interleaved: reference, import, reference, import, …
        refs.append(measure("reference", url, rows))
        imports.append(measure("import", url, rows))
        print(f"{label}: import {imports[-1]}, reference {refs[-1]}", file=sys.stderr)
    med = statistics.median
    seconds, ref = med(i["seconds"] for i in imports), med(r["seconds"] for r in refs)
    return [f"| {label} | {rows:,} | {seconds:.1f} s | {rows / seconds:,.0f} | "
            f"{med(i['staged'] for i in imports):.1f} s | {med(i['cpu'] for i in imports):.1f} s | "
            f"{max(i['rss'] for i in imports):.0f} MB | {ref:.2f} s ({rows / ref:,.0f} rows/s) | "
            f"{seconds / ref:.1f}× |"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--database-url", default=os.environ.get("WALLETPASS_TEST_DATABASE_URL", ""))
    p.add_argument("--no-sqlite", action="store_true")
    p.add_argument("--write", action="store_true")
    p.add_argument("--child", choices=["import", "reference"])
    p.add_argument("--url", default="")
    args = p.parse_args()
    if args.child:
        fn = child_import if args.child == "import" else child_reference
        print(json.dumps(fn(args.url, args.rows)))
        return
    lines: list[str] = []
    if args.database_url:
        with scratch_database(args.database_url, "bench_import") as url:
            lines += run_database("PostgreSQL", url, args.rows, args.rounds)
    if not args.no_sqlite:
        lines += run_database("SQLite", "", args.rows, args.rounds)
    body = "\n".join([
        "## Bulk import of members (`bench/import.py`)",
        "",
        f"{time.strftime('%Y-%m-%d')}; {machine()}; load average before: {load_average()}.",
        f"Median of {args.rounds} interleaved rounds, each in a fresh process against a fresh database. *import*: "
        "`start_import` (parse the CSV, stage the rows — COPY on PostgreSQL —, queue the job) then the embedded "
        "worker's loop until the job is done (2,000 rows a transaction: members, member cards, opening-balance "
        "ledger entries, enrol events, set-based); *staged*: the first part (what the HTTP request waits for); "
        "*cpu*: this process's CPU time (the database server's is not in it); *reference*: the same rows parsed and "
        "written as plainly as the database allows into a bare table of the same columns, one transaction (COPY on "
        "PostgreSQL, executemany on SQLite). Target: 100,000 members in under 60 s on PostgreSQL.",
        "",
        "| database | rows | import | rows/s | staged | cpu | peak RSS | reference | import ÷ reference |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *lines,
    ])
    print(body)
    if args.write:
        write_section("import", body)


if __name__ == "__main__":
    main()
