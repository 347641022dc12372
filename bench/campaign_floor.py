"""The floor under bench/campaign.py's end-to-end figure: a device's two requests after a push (list, then fetch)
answered by a bare Flask app that does nothing but sign one PKCS#7 per pass, under `walletpass serve`'s gunicorn
(BENCHMARKS.md, "campaign-floor"; issue 10's 70 % target).

Run from the repository root::

    .venv/bin/python bench/campaign_floor.py [--passes 20000] [--write]

The app (bench/bare_flask.py's kind, served with ``api.server.gunicorn_options()`` and `walletpass serve`'s
defaults: one worker per CPU, 4 threads) has two routes:

- ``GET /v1/devices/<device>/registrations/<type>``: ``{"serialNumbers": ["S<device>"], "lastUpdated": "2"}``
  (flask.jsonify), no database;
- ``GET /v1/passes/<type>/<serial>``: signs a one-line manifest with the dev PKI's pass type certificate (the same
  PassSigner walletpass uses: detached PKCS#7, RSA-2048, WWDR in the chain) and sends 35,000 bytes plus that
  signature (about a campaign pass's size) with walletpass's headers; no database, no token, no rendering, no ZIP.

The driver is bench/_fleet.py's HTTP/1.1 client: 32 keep-alive connections, each taking the next pass and doing
the list then the fetch, as the campaign bench's fleet does after a push. Reported: passes/s and the server's CPU
per pass, against cores × ``openssl speed rsa2048`` signatures/s measured before and after in the same run. That
figure is an upper bound for any walletpass fetch path served by Python under gunicorn on this machine: walletpass
does all of this and more (authorise, read, record), so it cannot pass what this app does.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ is sys.path[0] and bench/google.py would shadow the ``google`` namespace package.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench._common import (  # noqa: E402
    free_port,
    load_average,
    machine,
    rsa2048_signatures_per_second,
    run_init,
    stop_server,
    tree_cpu_seconds,
    write_section,
)
from bench._fleet import Http  # noqa: E402

TARGET = 0.70
BODY = 35_000  # bytes besides the signature: about what a campaign's member card weighs (images included)
LAST_MODIFIED = "Tue, 24 Nov 2026 01:08:00 GMT"


def create_floor_app() -> object:
    from flask import Flask, Response, jsonify

    from walletpass.config import Settings
    from walletpass.credentials import load_signer

    settings = Settings.from_env(os.environ, cwd=ROOT)
    ptid = settings.member_pass_type_id
    signer = load_signer(settings.cert_path(ptid), settings.key_path(ptid), settings.wwdr_path,
                         settings.key_password or None)
    body = bytes(BODY)
    app = Flask(__name__)

    @app.get("/v1/devices/<device>/registrations/<pass_type_id>")
    def updated(device: str, pass_type_id: str) -> Response:
        return jsonify({"serialNumbers": [f"S{device}"], "lastUpdated": "2"})

    @app.get("/v1/passes/<pass_type_id>/<serial>")
    def latest(pass_type_id: str, serial: str) -> Response:
        manifest = json.dumps({"pass.json": hashlib.sha1(serial.encode()).hexdigest()}).encode()  # noqa: S324
        return Response(body + signer.sign(manifest), mimetype="application/vnd.apple.pkpass",
                        headers={"Last-Modified": LAST_MODIFIED, "Cache-Control": "no-cache",
                                 "ETag": f'"{serial}-2"', "X-Content-Type-Options": "nosniff"})

    return app


def serve(port: int) -> None:
    from api.server import gunicorn_options, serve_app, use_fresh_metrics_dir
    from walletpass.config import Settings

    settings = Settings.from_env(os.environ, cwd=ROOT)
    use_fresh_metrics_dir(settings)
    serve_app(gunicorn_options(settings, host="127.0.0.1", port=port, workers=os.cpu_count() or 1, threads=4),
              create_floor_app)


async def drive(port: int, passes: int, connections: int, ptid: str) -> tuple[float, int]:
    """List then fetch for each of *passes* over *connections* keep-alive connections; (seconds, errors)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(passes):
        queue.put_nowait(i)
    errors = 0

    async def device() -> None:
        nonlocal errors
        conn = Http("127.0.0.1", port)
        while not queue.empty():
            i = queue.get_nowait()
            status, _, body = await conn.request("GET", f"/v1/devices/d{i}/registrations/{ptid}"
                                                        "?passesUpdatedSince=1")
            serial = json.loads(body)["serialNumbers"][0] if status == 200 else ""
            status, _, body = await conn.request("GET", f"/v1/passes/{ptid}/{serial}",
                                                 "Authorization: ApplePass token-of-the-device-0123\r\n")
            if status != 200 or len(body) <= BODY:
                errors += 1
        conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(device() for _ in range(connections)))
    return time.perf_counter() - start, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passes", type=int, default=20_000)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the server process: this port
    ap.add_argument("--write", action="store_true", help="replace the campaign-floor section of BENCHMARKS.md")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return
    with tempfile.TemporaryDirectory(prefix="walletpass-bench-floor-") as tmp:
        work = Path(tmp)
        from tests.pki import make_test_pki
        from walletpass.config import Settings

        pki = make_test_pki(work / "pki")
        env = {k: v for k, v in os.environ.items() if not k.startswith("WALLETPASS_")}
        env |= {"WALLETPASS_INSTANCE": str(work / "instance"), "WALLETPASS_CERTS_DIR": str(pki.certs_dir)}
        run_init(env)
        ptid = Settings.from_env(env, cwd=ROOT).member_pass_type_id
        port = free_port()
        signs_before, how = rsa2048_signatures_per_second()
        load_before = load_average()
        log = (work / "floor.log").open("wb")
        server = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", str(port)], env=env,
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while "Booting worker" not in (work / "floor.log").read_text(errors="replace"):
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit((work / "floor.log").read_text(errors="replace")[-2000:])
                time.sleep(0.2)
            time.sleep(2)  # every worker up
            asyncio.run(drive(port, 200, args.connections, ptid))  # warm-up: imports, first connections
            cpu0, own0 = tree_cpu_seconds(server.pid), time.process_time()
            seconds, errors = asyncio.run(drive(port, args.passes, args.connections, ptid))
            cpu1, own1 = tree_cpu_seconds(server.pid), time.process_time()
        finally:
            stop_server(server)
        signs_after, _ = rsa2048_signatures_per_second()
    cores = os.cpu_count() or 1
    reference = cores * statistics.mean([signs_before, signs_after])
    per_s = args.passes / seconds
    server_us = (cpu1 - cpu0) / args.passes * 1e6
    text = "\n".join([
        "## campaign-floor — a device's list and fetch answered by a bare Flask app that signs once per pass",
        "",
        f"Machine: {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average before {load_before}, after "
        f"{load_average()} (a shared machine).",
        f"Command: `.venv/bin/python bench/campaign_floor.py {' '.join(sys.argv[1:])}`. Server: bench/"
        f"campaign_floor.py's app under `api.server.gunicorn_options()` ({cores} workers × 4 threads, access log "
        f"on); the list answered from nothing, the fetch one PKCS#7 signature (RSA-2048, the dev PKI) and "
        f"{BODY:,} bytes; driver: {args.connections} keep-alive HTTP/1.1 connections (bench/_fleet.py's client), "
        f"list then fetch per pass.",
        "",
        "| figure | measured |",
        "| --- | ---: |",
        f"| passes (list + fetch) | {args.passes:,} in {seconds:,.1f} s, {errors} errors |",
        f"| passes/s | {per_s:,.0f} |",
        f"| server CPU per pass (gunicorn workers) | {server_us:,.0f} µs |",
        f"| driver CPU per pass | {(own1 - own0) / args.passes * 1e6:,.0f} µs |",
        f"| cores × RSA-2048 signatures/s ({how}, before / after) | {cores} × {signs_before:,.0f} / "
        f"{signs_after:,.0f} = {reference:,.0f} |",
        f"| passes/s as a fraction of that | {per_s / reference:.1%} (target of the campaign: ≥ {TARGET:.0%}) |",
        f"| passes/s the server's CPU per pass allows with every core to itself ({cores} / CPU per pass), and that "
        f"as a fraction of the reference | {cores / max(server_us, 1) * 1e6:,.0f}, "
        f"{cores / max(server_us, 1) * 1e6 / reference:.1%} |",
        f"| one signature's share of the server's CPU per pass | {1e6 / statistics.mean([signs_before, signs_after]) / max(server_us, 1):.0%} |",
    ])
    print(text)
    if args.write:
        write_section("campaign-floor", text)
        print("wrote the campaign-floor section of BENCHMARKS.md", file=sys.stderr)


if __name__ == "__main__":
    main()
