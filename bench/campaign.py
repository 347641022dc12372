"""A push campaign to 100,000 passes, one device each, end to end (BENCHMARKS.md, "campaign"; issue 10).

Run from the repository root (nginx installed; for PostgreSQL also Redis on 127.0.0.1)::

    .venv/bin/python bench/campaign.py [--passes 100000] [--write]                      # SQLite, embedded worker
    .venv/bin/python bench/campaign.py --database-url postgresql://postgres@127.0.0.1:5432/test [--write]
                                                                 # PostgreSQL + two Celery `walletpass worker`s

What it does, with real parts only:

1. ``walletpass init`` in a throw-away instance folder (its admin API key is the one the bench uses), on SQLite or
   on a scratch PostgreSQL database created next to ``--database-url`` (dropped at the end);
2. creates a program through walletpass' service (the demo program's design: three locales, tiers, images) and
   fills it set-based (INSERT … SELECT over ``generate_series`` on PostgreSQL, a recursive CTE on SQLite) with
   ``--passes`` members, a member card each (the instance's pass type id, random authentication tokens, update tags
   from the instance's counter) and one registered device each that holds the card's current version;
3. runs nginx as the APNs stand-in (bench/nginx-campaign.conf: HTTP/2 over TLS, the dev PKI's client certificate
   required, 200 to every push) with a log line per push, and ``walletpass serve`` as a user does (its defaults:
   gunicorn, one worker per CPU, 4 threads; SQLite: the embedded job worker; PostgreSQL: ``WALLETPASS_BROKER_URL``
   on Redis with a queue of its own and two ``walletpass worker`` processes);
4. starts the simulated fleet (bench/_fleet.py): each push's device asks for its updated serials and fetches its
   pass through ``walletpass serve``;
5. ``POST /api/v1/campaigns`` with the admin key: the message to the segment ``{"installed": "apple"}`` (all of
   them), ``ignore_quiet_hours``; the pace is walletpass' own (``WALLETPASS_CAMPAIGN_RATE`` unset: the signing
   speed the worker measures at start) unless ``--rate`` sets it;
6. waits until every device holds the new version (or nothing moved for ``--stall`` seconds) and reports: seconds
   until the last push, seconds until the last device holds the new version, signatures per pass version
   (``walletpass_pass_signatures_total`` from the /metrics of the server and the workers when they count it, else
   200 pass answers per pass version, said so), fetch errors, and end-to-end passes/s against cores × RSA-2048 signatures/s (``openssl
   speed``, before and after the campaign, in the same run); the CPU each part used (server, workers, nginx, the
   fleet, PostgreSQL's backends of the bench database, the rest of the machine).

``--profile DIR`` records the server (and the workers) with py-spy during the campaign and prints where their
samples fall.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ is sys.path[0] and bench/google.py would shadow the ``google`` namespace package.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from sqlalchemy import ColumnElement, String, cast, func, insert, literal, select, update  # noqa: E402

from bench._common import (  # noqa: E402
    WALLETPASS,
    free_port,
    load_average,
    machine,
    machine_cpu_seconds,
    nginx_server,
    rsa2048_signatures_per_second,
    run_init,
    scratch_database,
    settle,
    start_server,
    stop_server,
    tree_cpu_seconds,
    write_section,
)
from bench._fleet import Fleet, Http, Phone  # noqa: E402
from tests.pki import TestPki, make_test_pki  # noqa: E402
from walletpass.bootstrap import Services, bootstrap  # noqa: E402
from walletpass.config import Settings  # noqa: E402
from walletpass.demo import DEMO_PROGRAM  # noqa: E402
from walletpass.domain.passes import MEMBER_CARD  # noqa: E402
from walletpass.domain.programs import Program  # noqa: E402
from walletpass.services.programs import create_program  # noqa: E402
from walletpass.storage.tables import Base  # noqa: E402

MESSAGE = "週末咖啡買一送一 — Buy one get one free this weekend"
TARGET = 0.70  # end-to-end passes/s over cores × RSA-2048 signatures/s
SIGNATURES = "walletpass_pass_signatures_total"


# -- the data ------------------------------------------------------------------------------------------------------
def make_program(services: Services) -> Program:
    program = create_program(services.uow(), services.clock, {**DEMO_PROGRAM, "name": "Campaign bench"})
    assert isinstance(program, Program)  # no Idempotency-Key: never a replay
    return program


def fill(services: Services, program: Program, n: int) -> None:
    """*n* members of *program*, a member card each and one registered device that holds its current version."""
    t = Base.metadata.tables
    members, passes, devices, regs, counters = (t[x] for x in ("members", "passes", "devices", "registrations",
                                                                "counters"))
    pg = services.engine.dialect.name == "postgresql"
    now = services.clock.now().replace(microsecond=0)
    stamp = literal(now, members.c.created_at.type)
    tier = program.tier_for(0)
    with services.engine.begin() as c:
        tag0 = int(c.execute(select(counters.c.value).where(counters.c.name == "pass_tag")).scalar_one())
        first = {tb.name: int(c.execute(select(func.coalesce(func.max(tb.c.id), 0))).scalar_one())
                 for tb in (members, passes, devices, regs)}
        if pg:
            series = func.generate_series(1, n).table_valued("g").render_derived(name="s")
        else:
            cte = select(literal(1).label("g")).cte("s", recursive=True)
            series = cte.union_all(select(cte.c.g + 1).where(cte.c.g < n))
        g = series.c.g

        def digits(width: int) -> ColumnElement[str]:
            return (func.lpad(cast(g, String), width, "0", type_=String) if pg
                    else func.printf(f"%0{width}d", g, type_=String))

        def token() -> ColumnElement[str]:
            return (func.md5(cast(func.random(), String) + cast(g, String), type_=String) if pg
                    else func.lower(func.hex(func.randomblob(16)), type_=String))

        hex64 = func.lpad(func.to_hex(g), 64, "0", type_=String) if pg else func.printf("%064x", g, type_=String)
        c.execute(insert(members).from_select(
            ["id", "program_id", "name", "member_number", "points", "tier", "version", "created_at", "updated_at"],
            select(g + first["members"], literal(program.id), literal("Bench member ") + cast(g, String),
                   literal("9") + digits(11), literal(0), literal(tier.name if tier else None), literal(1), stamp,
                   stamp)))
        c.execute(insert(passes).from_select(
            ["id", "serial_number", "pass_type_id", "kind", "program_id", "member_id", "authentication_token",
             "public_token", "update_tag", "voided", "created_at", "updated_at"],
            select(g + first["passes"], literal("CB") + digits(24), literal(services.settings.member_pass_type_id),
                   literal(MEMBER_CARD), literal(program.id), g + first["members"], token(),
                   token() + literal("-") + cast(g, String), g + tag0, literal(False), stamp, stamp)))
        c.execute(insert(devices).from_select(
            ["id", "device_library_identifier", "push_token", "created_at", "updated_at"],
            select(g + first["devices"], literal("cbdev") + digits(27), hex64, stamp, stamp)))
        c.execute(insert(regs).from_select(
            ["id", "device_id", "pass_id", "created_at", "last_fetched_at", "fetched_tag"],
            select(g + first["registrations"], g + first["devices"], g + first["passes"], stamp, stamp, g + tag0)))
        c.execute(update(counters).where(counters.c.name == "pass_tag").values(value=tag0 + n))
        if pg:
            for tb in ("members", "passes", "devices", "registrations"):
                c.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{tb}', 'id'), (SELECT max(id) FROM {tb}))")
    settle(services.engine)


def phones_of(services: Services, program_id: int) -> dict[str, Phone]:
    """Push token → the phone that holds it (what the fleet needs to answer a push)."""
    t = Base.metadata.tables
    passes, devices, regs = t["passes"], t["devices"], t["registrations"]
    with services.engine.connect() as c:
        rows = c.execute(select(devices.c.push_token, devices.c.device_library_identifier, passes.c.serial_number,
                                passes.c.authentication_token, passes.c.update_tag)
                         .select_from(regs.join(devices, devices.c.id == regs.c.device_id)
                                      .join(passes, passes.c.id == regs.c.pass_id))
                         .where(passes.c.program_id == program_id)).all()
    return {push: Phone(dev, serial, token, int(tag)) for push, dev, serial, token, tag in rows}


# -- the processes -------------------------------------------------------------------------------------------------
def start_worker(env: dict[str, str], log: Path, metrics_port: int) -> subprocess.Popen[bytes]:
    """`walletpass worker` (a Celery worker on the broker of *env*) with its metrics on *metrics_port*; wait until
    it is ready."""
    proc = subprocess.Popen([str(WALLETPASS), "worker", "--metrics-port", str(metrics_port)], env=env, cwd=ROOT,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while " ready." not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            sys.exit(f"walletpass worker did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    return proc


def _proc_cpu(match: str) -> float:
    """CPU seconds of the processes whose command line contains *match* (PostgreSQL names the database there)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if match in (entry / "cmdline").read_bytes().decode(errors="replace"):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


@dataclass
class Parts:
    """The processes whose CPU is counted, by the name the report gives them."""

    groups: dict[str, list[int]] = field(default_factory=dict)
    database: str | None = None

    def cpu(self) -> dict[str, float]:
        out = {name: sum(tree_cpu_seconds(pid) for pid in pids) for name, pids in self.groups.items()}
        out["the device fleet (this process)"] = time.process_time()
        if self.database:
            out["PostgreSQL backends of the bench database"] = _proc_cpu(f" {self.database} ")
        out["machine"] = machine_cpu_seconds()
        return out


@contextlib.contextmanager
def profiled(folder: Path | None, pids: dict[str, tuple[int, bool]]) -> Iterator[None]:
    """py-spy record of each process in *pids* (name → pid, and whether with its subprocesses) while the block
    runs (nothing without *folder*). Only the thread holding the GIL is sampled: threads that wait for it after a
    write or a query would otherwise count as busy (py-spy sees them running), which drowned the picture; what C
    code does without the GIL (SQLite's and the drivers' own work, reading sockets) is not in the samples."""
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    spies = [subprocess.Popen(["py-spy", "record", "--pid", str(pid), *(["--subprocesses"] if children else []),
                               "--gil", "--rate", "50", "--nonblocking", "--format", "raw",
                               "--output", str(folder / f"{name}.txt")],
                              stdout=subprocess.DEVNULL, stderr=(folder / f"{name}.log").open("wb"))
             for name, (pid, children) in pids.items()]
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(60)


#: Where a sample falls, first match wins (substrings of py-spy's collapsed stacks).
PROFILE_PARTS = [
    ("RSA signature (PKCS#7)", ("pkpass/signing.py",)),
    ("building the pass (render, JSON, manifest, ZIP)", ("walletpass/pkpass/", "walletpass/render/",
                                                         "pass_templates.py")),
    ("APNs pushes (pycurl)", ("push/apns.py",)),
    ("database (SQLAlchemy, drivers; on SQLite also waiting for its lock)", ("sqlalchemy/", "psycopg", "sqlite3")),
    ("campaign chunks, outbox, jobs", ("services/campaigns.py", "storage/outbox.py", "walletpass/jobs/")),
    ("Celery, kombu, Redis", ("celery/", "kombu/", "redis/")),
    ("HTTP: gunicorn, Flask, werkzeug, logging", ("gunicorn/", "flask/", "werkzeug/", "logging/")),
    ("the fleet's client and JSON", ("(_fleet.py",)),
    ("the bench's CPU accounting (/proc)", ("(_common.py",)),
    ("asyncio's event loop", ("asyncio/",)),
]
#: Leaf frames of a thread that waits (py-spy's own idle detection lets some through).
WAITING = ("select (selectors.py", "Condition.wait", "Event.wait", "_worker (concurrent", "time.sleep", "poll (",
           "wait_for_and_dispatch_events", "Queue.get", "_run_once (asyncio")


def profile_summary(folder: Path) -> list[str]:
    """One line per profile: the share of its busy samples in each part of PROFILE_PARTS."""
    lines = []
    for path in sorted(folder.glob("*.txt")):
        counts: Counter[str] = Counter()
        waiting = 0
        for line in path.read_text(errors="replace").splitlines():
            stack, _, n = line.rpartition(" ")
            if not n.isdigit():
                continue
            if any(w in stack.rsplit(";", 1)[-1] for w in WAITING):
                waiting += int(n)
                continue
            part = next((name for name, marks in PROFILE_PARTS if any(m in stack for m in marks)), "other")
            counts[part] += int(n)
        total = sum(counts.values()) or 1
        shares = ", ".join(f"{name} {n / total:.0%}" for name, n in counts.most_common())
        lines.append(f"- py-spy --gil, {path.stem}: {total:,} samples at 50/s ({waiting:,} more waiting, left out): "
                     f"{shares}.")
    return lines


# -- the run -------------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    t0: float
    dry_run: dict[str, object]
    campaign: dict[str, object]
    signatures: float | None
    cpu: dict[str, float]
    stalled: bool


async def signed_so_far(ports: list[int]) -> float | None:
    """Passes signed so far, from the /metrics of the server and of each worker (None: no such counter)."""
    values = []
    for port in ports:
        conn = Http("127.0.0.1", port)
        text = (await conn.request("GET", "/metrics"))[2].decode()
        conn.close()
        values += [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(SIGNATURES)]
    return sum(values) if values else None


async def run_campaign(fleet: Fleet, api: Http, key: str, program_id: int, pushes_log: Path, parts: Parts,
                       connections: int, stall: float, metrics: list[int]) -> Outcome:
    tasks = [asyncio.create_task(fleet.tail(str(pushes_log)))]
    tasks += [asyncio.create_task(fleet.device()) for _ in range(connections)]
    auth = f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
    body = json.dumps({"program_id": program_id, "name": "bench", "message": MESSAGE,
                       "segment": {"installed": "apple"}, "ignore_quiet_hours": True}).encode()
    signed0 = await signed_so_far(metrics)
    status, _, answer = await api.request("POST", "/api/v1/campaigns?dry_run=1", auth, body)
    assert status == 200, answer
    dry = json.loads(answer)
    cpu0 = parts.cpu()
    t0 = time.time()
    status, _, answer = await api.request("POST", "/api/v1/campaigns", auth, body)
    assert status == 202, answer
    campaign_id = json.loads(answer)["id"]
    moved, seen, last_print = time.monotonic(), (0, 0), 0.0
    stalled = False
    while not fleet.all_held.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fleet.all_held.wait(), 1.0)
        now = time.monotonic()
        if (fleet.held, len(fleet.pushes)) != seen:
            moved, seen = now, (fleet.held, len(fleet.pushes))
        elif now - moved > stall:
            stalled = True
            break
        if now - last_print >= 5:
            last_print = now
            print(f"campaign: {time.time() - t0:6.1f} s: {len(fleet.pushes):,} pushed, {fleet.held:,} hold the new "
                  f"version, {fleet.queue.qsize():,} waiting, {sum(fleet.errors.values())} errors", file=sys.stderr)
    cpu1 = parts.cpu()
    campaign = json.loads((await api.request("GET", f"/api/v1/campaigns/{campaign_id}", auth))[2])
    signed1 = await signed_so_far(metrics)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    api.close()
    signatures = None if signed0 is None or signed1 is None else signed1 - signed0
    return Outcome(t0, dry, campaign, signatures, {k: cpu1[k] - cpu0[k] for k in cpu0}, stalled)


@dataclass
class Instance:
    """What ``walletpass init`` and the fill made."""

    env: dict[str, str]  # of every walletpass process
    key: str             # the admin API key
    program_id: int
    pass_type_id: str
    phones: dict[str, Phone]  # by push token
    fill_seconds: float


def prepare(args: argparse.Namespace, work: Path, pki: TestPki, db_url: str) -> Instance:
    """``walletpass init``, a program, and its members, cards and devices."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALLETPASS_")}
    env |= {"WALLETPASS_INSTANCE": str(work / "instance"), "WALLETPASS_CERTS_DIR": str(pki.certs_dir),
            "WALLETPASS_BASE_URL": f"http://127.0.0.1:{port}", "WALLETPASS_APNS_CA_FILE": str(pki.tls_ca_file)}
    if db_url:
        env |= {"WALLETPASS_DATABASE_URL": db_url, "WALLETPASS_BROKER_URL": args.redis_url,
                "WALLETPASS_BROKER_QUEUE": f"bench-campaign-{uuid.uuid4().hex[:8]}"}
    if args.rate:
        env["WALLETPASS_CAMPAIGN_RATE"] = str(args.rate)
    if args.no_access_log:
        env["WALLETPASS_ACCESS_LOG"] = "0"
    key = run_init(env).strip().splitlines()[-1]
    t = time.perf_counter()
    settings = Settings.from_env(env, cwd=ROOT)
    services = bootstrap(settings)
    try:
        program = make_program(services)
        fill(services, program, args.passes)
        phones = phones_of(services, program.id)
    finally:
        services.close()
    fill_seconds = time.perf_counter() - t
    print(f"campaign: {len(phones):,} passes and devices in {fill_seconds:.0f} s", file=sys.stderr)
    return Instance(env, key, program.id, settings.member_pass_type_id, phones, fill_seconds)


def serve_and_run(args: argparse.Namespace, work: Path, pki: TestPki, db_url: str,
                  instance: Instance) -> tuple[Fleet, Outcome]:
    """nginx, ``walletpass serve`` (and the workers), the fleet and the campaign; everything stopped after."""
    env = instance.env
    port = int(env["WALLETPASS_BASE_URL"].rsplit(":", 1)[1])
    with nginx_server(ROOT / "bench" / "nginx-campaign.conf", pki, work / "nginx") as (apns, ngx):
        env["WALLETPASS_APNS_URL"] = apns
        server = start_server(env, port, work / "serve.log")
        workers: list[subprocess.Popen[bytes]] = []
        try:
            metrics = [port] + [free_port() for _ in range(args.workers if db_url else 0)]
            workers += [start_worker(env, work / f"worker-{i}.log", m) for i, m in enumerate(metrics[1:])]
            parts = Parts({"walletpass serve (gunicorn workers" + (")" if db_url else ", embedded job workers)"):
                           [server.pid], "nginx (APNs stand-in)": [ngx.pid]},
                          db_url.rsplit("/", 1)[-1] if db_url else None)
            if workers:
                parts.groups[f"{len(workers)} × walletpass worker (Celery)"] = [w.pid for w in workers]
            fleet = Fleet(instance.phones, host="127.0.0.1", port=port, pass_type_id=instance.pass_type_id,
                          message=MESSAGE)
            spied = ({"serve": (server.pid, True), "fleet": (os.getpid(), False)}
                     | {f"worker-{i}": (w.pid, False) for i, w in enumerate(workers)})
            with profiled(args.profile, spied):
                outcome = asyncio.run(run_campaign(fleet, Http("127.0.0.1", port), instance.key, instance.program_id,
                                                   work / "nginx" / "pushes.log", parts, args.connections,
                                                   args.stall, metrics))
        finally:
            for proc in [server, *workers]:
                stop_server(proc)
            if db_url:
                forget_queue(args.redis_url, env["WALLETPASS_BROKER_QUEUE"])
    return fleet, outcome


def forget_queue(redis_url: str, queue: str) -> None:
    """Delete what Celery (kombu) kept in Redis for this run's queue."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passes", type=int, default=100_000)
    ap.add_argument("--database-url", default="", help="PostgreSQL server to make a scratch database on "
                    "(empty: SQLite and the embedded worker)")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/7", help="broker of the PostgreSQL run")
    ap.add_argument("--workers", type=int, default=2, help="`walletpass worker` processes of the PostgreSQL run")
    ap.add_argument("--rate", type=float, help="WALLETPASS_CAMPAIGN_RATE (default: unset, walletpass' own pace)")
    ap.add_argument("--connections", type=int, default=32, help="the fleet's keep-alive connections")
    ap.add_argument("--stall", type=float, default=120, help="give up after this many seconds without progress")
    ap.add_argument("--no-access-log", action="store_true", help="WALLETPASS_ACCESS_LOG=0 for the server")
    ap.add_argument("--profile", type=Path, help="py-spy the server and workers during the campaign into DIR")
    ap.add_argument("--write", action="store_true", help="replace the campaign section of BENCHMARKS.md")
    args = ap.parse_args()
    # SIGTERM (and SIGINT, which a shell ignores in the commands it puts in the background) end the run through
    # the finally blocks: the server, workers and nginx are stopped, the scratch database dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with tempfile.TemporaryDirectory(prefix="walletpass-bench-campaign-") as tmp, \
            (scratch_database(args.database_url, "wp_bench_campaign") if args.database_url
             else contextlib.nullcontext("")) as db_url:
        work = Path(tmp)
        pki = make_test_pki(work / "pki")
        instance = prepare(args, work, pki, db_url)
        signs_before, signs_how = rsa2048_signatures_per_second()
        load_before = load_average()
        fleet, outcome = serve_and_run(args, work, pki, db_url, instance)
        signs_after, _ = rsa2048_signatures_per_second()
    db = f"PostgreSQL, {args.workers} Celery workers" if args.database_url else "SQLite, embedded worker"
    text = report(args, db, fleet, outcome, instance.fill_seconds, (signs_before, signs_after, signs_how),
                  load_before)
    if args.profile:
        text += "\n" + "\n".join(profile_summary(args.profile))
    text += "\n\n" + (NOTES if not args.database_url else
                       "Where the time goes, the default pace, and what was fixed: see the SQLite section above.")
    print(text)
    if args.write:
        write_section("campaign-postgresql" if args.database_url else "campaign", text)
        print("wrote the campaign section of BENCHMARKS.md", file=sys.stderr)


def report(args: argparse.Namespace, db: str, fleet: Fleet, out: Outcome, fill_seconds: float,
           signs: tuple[float, float, str], load_before: str) -> str:
    n = len(fleet.phones)
    held = sorted(p.held_at - out.t0 for p in fleet.phones.values() if p.held_at)
    lags = sorted(p.held_at - p.pushed_at for p in fleet.phones.values() if p.held_at)
    last_push = max(fleet.pushes) - out.t0 if fleet.pushes else float("nan")
    first_push = min(fleet.pushes) - out.t0 if fleet.pushes else float("nan")
    last_hold = held[-1] if held else float("nan")
    per_s = len(held) / last_hold if held else 0.0
    cores = os.cpu_count() or 1
    reference = cores * statistics.mean(signs[:2])
    versions = len(fleet.versions)
    if out.signatures is not None:
        signed = f"{out.signatures / max(versions, 1):.2f} (`{SIGNATURES}` of the server and workers)"
    else:
        signed = (f"{sum(fleet.versions.values()) / max(versions, 1):.2f} (proxy: 200 pass answers per pass version; "
                  f"the server counts no signatures in /metrics)")
    errors = sum(fleet.errors.values())
    kinds = ", ".join(f"{k}: {v}" for k, v in fleet.errors.most_common()) or "none"
    estimate = float(str(out.dry_run["estimated_seconds"]))
    pace = float(str(out.dry_run["passes"])) / (estimate or 1)
    window = held[-1] if held else 1.0
    ratio = per_s / reference
    lines = [
        f"## campaign — a push campaign to {n:,} passes, one device each ({db})",
        "",
        f"Machine: {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average before the campaign "
        f"{load_before}, after {load_average()} (a shared machine: the last table shows what else ran).",
        f"Command: `.venv/bin/python bench/campaign.py {' '.join(sys.argv[1:])}`; {n:,} members, cards and "
        f"registered devices filled set-based in {fill_seconds:.0f} s.",
        f"Server: `walletpass serve` with its defaults ({cores} gunicorn workers × 4 threads, access log "
        f"{'off' if args.no_access_log else 'on'}), {db}; pace "
        + (f"`WALLETPASS_CAMPAIGN_RATE={args.rate:g}`" if args.rate else
           f"walletpass' own (the dry run estimated {estimate:.0f} s: "
           f"{pace:,.0f} passes/s)")
        + f". APNs stand-in: nginx (HTTP/2, TLS, client certificate required). Fleet: one asyncio process, "
        f"{args.connections} keep-alive HTTP/1.1 connections, list then fetch per push.",
        "",
        "| figure | measured | target |",
        "| --- | ---: | ---: |",
        f"| seconds until the last push | {last_push:,.1f} (the first at {first_push:.1f}; "
        f"{len(fleet.pushes) / max(last_push - first_push, 1e-9):,.0f} pushes/s between) | |",
        f"| seconds until the last device holds the new version | {last_hold:,.1f} | |",
        f"| devices holding the new version | {len(held):,} of {n:,}"
        + (" (stalled: gave up)" if out.stalled else "") + " | all |",
        f"| signatures per pass version | {signed} | 1.00 |",
        f"| fetch errors | {errors} ({kinds}) | 0 |",
        f"| end-to-end passes/s | {per_s:,.0f} | |",
        f"| cores × RSA-2048 signatures/s ({signs[2]}, before / after) | {cores} × "
        f"{signs[0]:,.0f} / {signs[1]:,.0f} = {reference:,.0f} | |",
        f"| end-to-end as a fraction of that | {ratio:.1%} | ≥ {TARGET:.0%}: {'met' if ratio >= TARGET else 'NOT met'} |",
        "",
        f"Campaign as the API reports it at the end: {out.campaign.get('state')}, sent {out.campaign.get('sent'):,} "
        f"of {out.campaign.get('total'):,}, failed {out.campaign.get('failed')}, skipped {out.campaign.get('skipped')}. "
        f"Pushes logged by the stand-in: {len(fleet.pushes):,} ({sum(p.pushes > 1 for p in fleet.phones.values())} "
        f"devices pushed more than once, {fleet.unknown_pushes} unknown tokens); list answers with nothing new: "
        f"{fleet.nothing_new}; passes opened and checked (news field, `%@`, the message in en.lproj): "
        f"{fleet.checked}.",
    ]
    if held:
        quantiles = [held[min(len(held) - 1, int(q * len(held)))] for q in (0.1, 0.5, 0.9)]
        lines.append(f"Devices holding the new version at 10 / 50 / 90 / 100 %: {quantiles[0]:.1f} / "
                     f"{quantiles[1]:.1f} / {quantiles[2]:.1f} / {last_hold:.1f} s; from push to holding it: median "
                     f"{statistics.median(lags):.2f} s, p99 {lags[int(0.99 * (len(lags) - 1))]:.2f} s, "
                     f"max {lags[-1]:.2f} s.")
    lines += ["", f"CPU used from the campaign's POST until the last device held its pass ({window:.0f} s, "
                  f"{cores} CPUs = {window * cores:,.0f} CPU-s):", "",
              "| part | CPU seconds | µs per pass | share of the machine's busy CPU |", "| --- | ---: | ---: | ---: |"]
    cpu = dict(out.cpu)
    busy = cpu.pop("machine")
    for name, seconds in cpu.items():
        lines.append(f"| {name} | {seconds:,.1f} | {seconds / max(len(held), 1) * 1e6:,.0f} | {seconds / busy:.0%} |")
    rest = busy - sum(cpu.values())
    lines.append(f"| everything else on the machine (other work, PostgreSQL's shared processes, Redis) | {rest:,.1f} "
                 f"| | {rest / busy:.0%} |")
    lines.append(f"| all | {busy:,.1f} | {busy / max(len(held), 1) * 1e6:,.0f} | 100% |")
    fleet_us = cpu["the device fleet (this process)"] / max(len(held), 1) * 1e6
    lines += ["", f"The fleet's own ceiling: {fleet_us:,.0f} µs of CPU per pass (push read, list, fetch, bookkeeping), "
                  f"so one core would drive {1e6 / max(fleet_us, 1):,.0f} passes/s."]
    return "\n".join(lines)


#: Written under the SQLite section: what the runs of 2026-12-03 showed (the PostgreSQL section points here).
NOTES = """\
What changed since the runs of 2026-12-03 18:45 (133 passes/s on SQLite, 104 on PostgreSQL): a fetch of a version
signed already is answered from the stored bytes before Flask (api/fastpath.py: authorise, one read of pass_files,
the route's 200 header for header; its fetch record batched, one write per process every 0.25 s); campaign chunks
sign ahead set-based (one query per table per job, claims and stores one statement per 25 passes, jobs of 250 so
every worker takes a share, at most 2 s of signing per worker batch so pushes go out in between); mark_pushed is
one UPDATE per version; and the default pace follows the web tier (chunks spaced by cores / (one signature +
FETCH_CPU_SECONDS), and held back while the devices of earlier chunks still wait for their passes). The effect that
does not depend on the machine's load: from push to holding the pass, median 0.4 s and p99 11 s on PostgreSQL
(100,000 passes, 21:01) — it was 6–7 minutes, with the devices queueing behind pushes sent at the signing speed.
The web tier's CPU per pass fell to 3.4 ms on PostgreSQL (4.2–6.4 ms before); a 20,000-pass SQLite run on current
main just before these changes (19:43, same host) spent 11.6 ms per pass in `walletpass serve`, 19 % of its samples
in the per-pass claim statement of the sign-ahead, and held every push of a chunk behind a worker batch of eight
1,000-pass sign jobs for a minute.

Where the time goes now, per pass (CPU tables above): the signature and the pass built around it (render, JSON,
manifest, ZIP: ~2.5–3 ms of Python per pass here, the RSA operation ~0.9 ms at this host's ~1,100 signatures/s),
the chunk, push and fetch-record writes, on PostgreSQL its backends (~7 ms: the sign-ahead's reads and stores of
~35 KB per pass, the chunk's statements, the fetch records), and the two requests (~1 ms in the fast path with
gunicorn around it). The end-to-end figures (56 passes/s on PostgreSQL, 2.3 %) are set by this host's load, not by
walletpass: others' work took 56 % of the machine's busy CPU during the PostgreSQL run (load average 17–23), and
the campaign runs only as fast as its share.

What the 70 % target would require: 70 % of cores × signatures/s leaves 1 / (0.7 × ~1,100/s) ≈ 1.3 ms of CPU per
pass for everything on the machine, of which the signature alone takes ~0.9 ms and the simulated fleet ~0.35–0.65
ms. The "campaign-floor" section measures the floor of a Python request path on the same host: a bare Flask app
under the same gunicorn options that answers the same two requests, signing once per pass and reading nothing,
costs 4.2 ms of server CPU per pass — with both cores to itself at most 510 passes/s, 21.9 % of the reference.
walletpass does that work and more, so 70 % is out of reach for a Python request path on this machine; reaching it
would take the signature out of the request path altogether (sign ahead, as here, and serve the stored bytes from
a server that is not Python, e.g. nginx or a CDN in front of pass_files) and a signing worker in native code.

Found and fixed on the way: a campaign chunk coalesced its 1,000 push jobs one pass at a time (a query and an
INSERT each, ~1 ms of CPU per pass inside the chunk's transaction); on SQLite that held the write lock nearly all
the time, the fetches' writes waited out the 30 s busy timeout (503 "database is locked"). It is two statements per
chunk now. Still open on SQLite: in a 100,000-pass run on this loaded host (load average ~20) the embedded workers'
writes (sign-ahead stores of ~35 KB per pass, 3.5 GB of pass_files in all, chunks, pushes) and the fetch-record
batches again met "database is locked" after ~12,000 passes (6 fetch errors, 503), and the run was stopped; the
SQLite figures above are from a 20,000-pass run."""


if __name__ == "__main__":
    main()
