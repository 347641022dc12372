"""Requests per second of the public pages under ``walletpass serve``, and the card picture's drawing time
(BENCHMARKS.md, "pages").

Run from the repository root::

    .venv/bin/python bench/pages.py [--members 500] [--seconds 8] [--rounds 3] [--write]

What it does, with real parts only:

1. ``walletpass init`` in a throw-away instance folder (SQLite, the default), enrols ``--members`` members with
   Chinese and English names through the enrolment service;
2. times the card picture in this process: drawing it (walletpass.render.preview, from the rendered pass.json and
   strings, PNG encoded) and a kept picture's lookup (services.pages.PassPreviews), each the median of many;
3. starts ``walletpass serve`` as a user does and, beside it, bench/bare_flask.py (a Flask app that only answers
   304) under the same gunicorn options: the yardstick;
4. checks a sample of answers with httpx (the page's badges in the iPhone's order, the picture, the redirects);
5. drives each scenario with ``wrk`` (``apt-get install -y wrk``), every request for another member, an iPhone's
   User-Agent: the pass page (HTML), the card picture kept in memory (200) and revalidated (304), the smart link
   (302 to the .pkpass), the enrolment page when the app has ``/join`` (skipped otherwise). Each walletpass run
   follows a run of the bare app, for ``--rounds`` rounds; the share is the median of walletpass/bare.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench._common import (  # noqa: E402
    free_port,
    load_average,
    machine,
    run_init,
    start_server,
    stop_server,
    tree_cpu_seconds,
    write_section,
)
from walletpass.bootstrap import bootstrap  # noqa: E402
from walletpass.config import Settings  # noqa: E402
from walletpass.services.enrolment import enrol_member  # noqa: E402

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.5 Mobile/15E148 Safari/604.1")
#: Requests/s the cached pass page must reach on this 2-CPU machine (issue 11).
TARGET_RPS = 1_000
#: Milliseconds a card picture may take to draw (issue 11).
TARGET_DRAW_MS = 20.0

LUA = r"""
-- One request per line of the file: path <TAB> If-None-Match (may be empty); every request an iPhone's.
local requests = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do
    local path, etag = line:match("^([^\t]*)\t([^\t]*)$")
    local headers = {["User-Agent"] = "IPHONE_UA"}
    if etag ~= "" then headers["If-None-Match"] = etag end
    requests[#requests + 1] = wrk.format("GET", path, headers)
  end
  i = math.random(#requests)
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
""".replace("IPHONE_UA", IPHONE)

NAMES = ("林美", "Lin Mei", "陳小明", "Chen Hsiao-ming", "王大同", "Wang Da-tong")


def seed(settings: Settings, members: int) -> tuple[int, list[str]]:
    """Enrol *members* members of the demo program; return its id and their cards' public tokens."""
    services = bootstrap(settings)
    try:
        from sqlalchemy import select

        from walletpass.storage.tables import PassRow, ProgramRow

        with services.engine.connect() as conn:
            program_id = conn.execute(select(ProgramRow.id).order_by(ProgramRow.id).limit(1)).scalar_one()
        for n in range(members):
            enrol_member(services.uow(), services.clock, settings, program_id,
                         {"name": f"{NAMES[n % len(NAMES)]} {n}", "points": (n * 37) % 6000})
        with services.engine.connect() as conn:
            tokens = list(conn.execute(select(PassRow.public_token).where(PassRow.member_id.is_not(None))).scalars())
        return program_id, tokens
    finally:
        services.close()


def draw_times(settings: Settings, tokens: list[str], n: int = 60) -> dict[str, float]:
    """Median milliseconds to draw a card picture (first draws: every one another member) and to get a kept one."""
    from walletpass.services.pages import pass_page

    services = bootstrap(settings)
    try:
        previews, now = services.previews, services.clock.now()
        views = [pass_page(services.read_uow(), t, now) for t in tokens[:n]]
        previews.get(views[0], "zh-Hant")  # fonts opened, templates' assets prepared: once per process
        drawn, kept, sizes = [], [], []
        for view in views[1:]:
            assert view is not None
            t0 = time.perf_counter()
            picture = previews.get(view, "zh-Hant")
            drawn.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            previews.get(view, "zh-Hant")
            kept.append((time.perf_counter() - t0) * 1000)
            sizes.append(len(picture.data))
        return {"draw_ms": statistics.median(drawn), "draw_p90_ms": sorted(drawn)[int(len(drawn) * 0.9)],
                "kept_ms": statistics.median(kept), "bytes": statistics.median(sizes)}
    finally:
        services.close()


def run_wrk(base: str, script: Path, lines: Path, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
                          "--latency", "-s", str(script), base, "--", str(lines)],
                         capture_output=True, text=True, check=True).stdout
    if re.search(r"Non-2xx or 3xx responses|Socket errors", out):
        sys.exit(f"wrk saw errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
    return {"rps": rps, "requests": total, "p50": float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]}


def check(base: str, tokens: list[str]) -> dict[str, str]:
    """Exact answers for a sample (wrk only flags errors); return each token's picture ETag."""
    etags = {}
    with httpx.Client(base_url=base, headers={"User-Agent": IPHONE}, timeout=30) as client:
        for token in tokens:
            page = client.get(f"/p/{token}")
            assert page.status_code == 200 and page.text.index("badge-apple") < page.text.index("badge-google")
            picture = client.get(f"/p/{token}/card.png")
            assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
            etags[token] = picture.headers["etag"]
            assert client.get(f"/p/{token}/card.png", headers={"If-None-Match": etags[token]}).status_code == 304
            smart = client.get(f"/a/{token}")
            assert smart.status_code == 302 and smart.headers["location"].endswith(f"/p/{token}/pass.pkpass")
    return etags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200, help="fewer than the 512 pictures a process keeps")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--write", action="store_true", help="replace the pages section of BENCHMARKS.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/pages.py needs wrk: apt-get install -y wrk")
    with tempfile.TemporaryDirectory(prefix="walletpass-bench-pages-") as tmp:
        work = Path(tmp)
        port, bare_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("WALLETPASS_")}
        env |= {"WALLETPASS_INSTANCE": str(work / "instance"), "WALLETPASS_CERTS_DIR": str(work / "certs"),
                "WALLETPASS_BASE_URL": f"http://127.0.0.1:{port}", "WALLETPASS_LOG_LEVEL": "WARNING"}
        run_init(env)
        settings = Settings.from_env(env, cwd=ROOT)
        program_id, tokens = seed(settings, args.members)
        drawing = draw_times(settings, tokens)
        proc = start_server(env, port, work / "serve.log")
        bare = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_flask.py"), "--port", str(bare_port),
                                 "--workers", "2", "--threads", "4"], env=env | {
                                     "WALLETPASS_INSTANCE": str(work / "bare-instance")}, cwd=ROOT,
                                stdout=(work / "bare.log").open("wb"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            base, bare_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
            _wait(bare_base + "/v1/passes/x/y")
            etags = check(base, tokens)
            # every worker process draws and keeps each picture once before the clock starts
            with httpx.Client(base_url=base, headers={"User-Agent": IPHONE}, timeout=30) as client:
                for _ in range(3):
                    for token in tokens:
                        client.get(f"/p/{token}/card.png")
            scenarios = {
                "pass page (HTML, iPhone)": [f"/p/{t}\t" for t in tokens],
                "card picture, kept (200, ~30 KB)": [f"/p/{t}/card.png\t" for t in tokens],
                "card picture, revalidated (304)": [f"/p/{t}/card.png\t{etags[t]}" for t in tokens],
                "smart link (302 to the .pkpass)": [f"/a/{t}\t" for t in tokens],
            }
            has_join = httpx.get(f"{base}/join/{program_id}").status_code == 200
            if has_join:
                scenarios["enrolment page /join (HTML)"] = [f"/join/{program_id}?src=flyer-{i % 5}\t"
                                                            for i in range(100)]
            script = work / "walk.lua"
            script.write_text(LUA)
            bare_file = work / "bare.tsv"
            bare_file.write_text("".join(f"/v1/passes/pass.x/S{i}\t\n" for i in range(100)))
            results: dict[str, list[tuple[dict[str, float], dict[str, float]]]] = {}
            for name, lines in scenarios.items():
                path = work / f"s{len(results)}.tsv"
                path.write_text("\n".join(lines) + "\n")
                for _ in range(args.rounds):
                    b = run_wrk(bare_base, script, bare_file, args.seconds, args.connections)
                    cpu0 = tree_cpu_seconds(proc.pid)
                    w = run_wrk(base, script, path, args.seconds, args.connections)
                    w["cpu_us"] = (tree_cpu_seconds(proc.pid) - cpu0) / w["requests"] * 1e6
                    results.setdefault(name, []).append((w, b))
                    print(f"{name}: {w['rps']:,.0f}/s (bare {b['rps']:,.0f}/s)", file=sys.stderr)
        finally:
            stop_server(proc)
            stop_server(bare)
    text = report(results, drawing, args, has_join)
    print(text)
    if args.write:
        write_section("pages", text)
        print("wrote the pages section of BENCHMARKS.md", file=sys.stderr)


def _wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer within 30 s")


def report(results: dict[str, list[tuple[dict[str, float], dict[str, float]]]], drawing: dict[str, float],
           args: argparse.Namespace, has_join: bool) -> str:
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    lines = [
        "## pages — the public pass page, its card picture and the smart link (issue 11)",
        "",
        f"Machine: {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average after the run "
        f"{load_average()}.",
        f"Command: `.venv/bin/python bench/pages.py {' '.join(sys.argv[1:])}`.",
        f"Servers: `walletpass serve` (its defaults: gunicorn, SQLite, embedded worker) and bench/bare_flask.py (a "
        f"Flask app answering 304, nothing else) under the same gunicorn options. {args.members} members, each "
        f"request for another one, an iPhone's User-Agent. Load: {wrk_version.split(' [')[0]}, "
        f"{args.connections} keep-alive connections, {args.seconds} s per run; each walletpass run follows a bare "
        f"run, {args.rounds} rounds, medians." + ("" if has_join else " No /join route in this build: the "
                                                  "enrolment page was skipped."),
        "",
        "| scenario | requests/s | bare Flask 304 requests/s | % of bare | server CPU µs per request | p50 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, runs in results.items():
        rps = statistics.median(w["rps"] for w, _ in runs)
        bare = statistics.median(b["rps"] for _, b in runs)
        share = statistics.median(w["rps"] / b["rps"] for w, b in runs) * 100
        cpu = statistics.median(w["cpu_us"] for w, _ in runs)
        p50 = statistics.median(w["p50"] for w, _ in runs)
        lines.append(f"| {name} | {rps:,.0f} | {bare:,.0f} | {share:.0f} % | {cpu:,.0f} | {p50:.1f} |")
    page = statistics.median(w["rps"] for w, _ in results["pass page (HTML, iPhone)"])
    picture = statistics.median(w["rps"] for w, _ in results["card picture, kept (200, ~30 KB)"])
    lines += [
        "",
        f"Card picture (560 px wide PNG, zh-Hant, a CJK name), drawn in the bench's own process: "
        f"{drawing['draw_ms']:.1f} ms median to draw (p90 {drawing['draw_p90_ms']:.1f} ms; target ≤ "
        f"{TARGET_DRAW_MS:.0f} ms: {'met' if drawing['draw_ms'] <= TARGET_DRAW_MS else 'NOT met'} on this host "
        f"at this load), {drawing['kept_ms'] * 1000:.0f} µs to get a kept one, {drawing['bytes'] / 1024:.0f} KB.",
        f"Target ≥ {TARGET_RPS:,}/s for the cached pass page: the page {page:,.0f}/s, its kept picture "
        f"{picture:,.0f}/s — {'met' if min(page, picture) >= TARGET_RPS else 'NOT met'} on this host at this "
        "load (the % of bare column is the figure that carries over between hosts).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
