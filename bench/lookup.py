"""Barcode lookups per second through the API under ``walletpass serve`` (BENCHMARKS.md, "lookup").

Run from the repository root::

    .venv/bin/python bench/lookup.py [--members 10000] [--seconds 10] [--rounds 3] [--write]
    .venv/bin/python bench/lookup.py --database-url postgresql://postgres@127.0.0.1:5432/wp_lookup --write

What it does, with real parts only: ``walletpass init`` in a throw-away instance folder; ``--members`` members
with their cards written as rows in one transaction (member numbers are what the cards' barcodes encode); a key
with the ``pos`` scope; then ``walletpass serve`` (its default workers and threads) and, beside it, the yardstick
bench/bare_flask.py (a Flask app that answers 304 from nothing, under the same gunicorn options). ``wrk`` with 8
connections (8 concurrent tills) walks ``GET /api/v1/members?barcode=<number>`` over every member, each request
a different member, with ``Authorization: Bearer <pos key>``; a sample is checked with httpx first (exactly one
member, the right one). Each walletpass run follows a run of the bare app, for ``--rounds`` rounds; the share is
the median of walletpass/bare over the pairs.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bench._common import free_port, load_average, machine, run_init, start_server, stop_server, write_section  # noqa: E402
from walletpass.bootstrap import bootstrap  # noqa: E402
from walletpass.config import Settings  # noqa: E402
from walletpass.services.api_keys import create_api_key  # noqa: E402
from walletpass.storage.tables import MemberRow, PassRow  # noqa: E402

CONNECTIONS = 8
LUA = r"""
local requests = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("GET", line, {["Authorization"] = "Bearer " .. args[2]})
  end
  i = math.random(#requests)
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
"""


def seed(settings: Settings, n: int) -> tuple[list[tuple[int, str]], str]:
    """*n* members of the demo program with their cards; a pos key. Returns (id, member number) pairs and the key."""
    svc = bootstrap(settings)
    try:
        with svc.uow() as uow:
            program_id = uow.programs.all()[0].id
        start = 10_000_000
        now = svc.clock.now()
        ptid = settings.member_pass_type_id
        with svc.engine.begin() as conn:
            conn.execute(insert(MemberRow), [
                {"id": start + i, "program_id": program_id, "name": f"M{i}", "member_number": f"{start + i:012d}",
                 "points": i % 500, "version": 1, "created_at": now, "updated_at": now} for i in range(n)])
            conn.execute(insert(PassRow), [
                {"id": start + i, "serial_number": f"S{start + i}", "pass_type_id": ptid, "kind": "member",
                 "program_id": program_id, "member_id": start + i, "authentication_token": f"t{start + i}",
                 "public_token": f"p{start + i}", "update_tag": 1, "voided": False, "created_at": now,
                 "updated_at": now} for i in range(n)])
        key = create_api_key(svc.uow(), svc.clock, svc.api_keys.hasher, "bench till", ["pos"])
        return [(start + i, f"{start + i:012d}") for i in range(n)], key
    finally:
        svc.close()


def start_bare(env: dict[str, str], port: int, log: Path, workers: int, threads: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_flask.py"), "--port", str(port),
                             "--workers", str(workers), "--threads", str(threads)], env=env, cwd=ROOT,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/passes/a/b", timeout=1).status_code == 304:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    stop_server(proc)
    sys.exit("bare_flask.py did not answer within 30 s")


def wrk(base: str, script: Path, lines: Path, key: str, seconds: int) -> float:
    out = subprocess.run(["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", f"{seconds}s", "-s", str(script), base,
                          "--", str(lines), key], capture_output=True, text=True, check=True).stdout
    if re.search(r"Non-2xx or 3xx responses|Socket errors", out):
        sys.exit(f"wrk saw errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/lookup.py needs wrk: apt-get install -y wrk")
    with tempfile.TemporaryDirectory(prefix="walletpass-bench-lookup-") as tmp:
        work = Path(tmp)
        port, bare_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("WALLETPASS_")}
        env |= {"WALLETPASS_INSTANCE": str(work / "instance"), "WALLETPASS_CERTS_DIR": str(work / "certs"),
                "WALLETPASS_BASE_URL": f"http://127.0.0.1:{port}", "WALLETPASS_LOG_LEVEL": "WARNING"}
        if args.database_url:
            env["WALLETPASS_DATABASE_URL"] = args.database_url
        run_init(env)
        members, key = seed(Settings.from_env(env, cwd=ROOT), args.members)
        script, lines = work / "walk.lua", work / "lines.txt"
        script.write_text(LUA)
        lines.write_text("".join(f"/api/v1/members?barcode={number}\n" for _, number in members))
        bare_lines = work / "bare.txt"
        bare_lines.write_text("/v1/passes/a/b\n")
        server = start_server(env, port, work / "serve.log", workers=args.workers, threads=args.threads)
        bare = start_bare(env | {"WALLETPASS_INSTANCE": str(work / "bare-instance")}, bare_port, work / "bare.log",
                          args.workers, args.threads)
        base, bare_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
        try:
            for member_id, number in random.Random(1).sample(members, 20):
                r = httpx.get(f"{base}/api/v1/members?barcode={number}", headers={"Authorization": f"Bearer {key}"})
                assert r.status_code == 200 and [m["id"] for m in r.json()["data"]] == [member_id], r.text
            pairs = []
            for _ in range(args.rounds):
                b = wrk(bare_base, script, bare_lines, key, args.seconds)
                w = wrk(base, script, lines, key, args.seconds)
                pairs.append((w, b))
                print(f"walletpass {w:,.0f}/s, bare 304 {b:,.0f}/s", file=sys.stderr)
        finally:
            stop_server(server)
            stop_server(bare)
    db = "PostgreSQL" if args.database_url else "SQLite, the default"
    share = statistics.median(w / b for w, b in pairs)
    text = "\n".join([
        f"## lookup — barcode lookups per second through the API ({db})", "",
        "`bench/lookup.py`: `GET /api/v1/members?barcode=<member number>` with a `pos` key, "
        f"{CONNECTIONS} concurrent clients (wrk), every request a different one of {args.members:,} members, "
        f"`walletpass serve` with {args.workers} workers × {args.threads} threads; beside it bench/bare_flask.py "
        "(a 304 from nothing) under the same gunicorn options, runs interleaved.",
        f"{machine()}; load average after the run {load_average()}.",
        f"Command: `.venv/bin/python bench/lookup.py --members {args.members} --seconds {args.seconds} "
        f"--rounds {args.rounds}{' --database-url …' if args.database_url else ''} --write`.", "",
        "| round | barcode lookups/s | bare Flask 304/s | share |", "| ---: | ---: | ---: | ---: |",
        *[f"| {i + 1} | {w:,.0f} | {b:,.0f} | {w / b:.0%} |" for i, (w, b) in enumerate(pairs)], "",
        f"Median share: {share:.0%} of the bare app's rate. Each lookup verifies the key (from the 30 s cache), "
        "reads the member by the unique index on member_number and their card, and serialises them."])
    print(text)
    if args.write:
        write_section("lookup-postgresql" if args.database_url else "lookup", text)


if __name__ == "__main__":
    main()
