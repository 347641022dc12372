"""Pushes per second from one process to an nginx HTTP/2 TLS server on loopback (BENCHMARKS.md, "push").

Run from the repository root::

    .venv/bin/python bench/push.py [--tokens 10000] [--rounds 5] [--httpx-tokens 1000]

It makes a throw-away dev PKI (tests/pki.make_test_pki), fills bench/nginx-apns.conf into a temporary prefix,
runs ``nginx -c <conf> -p <dir>`` in the foreground (127.0.0.1 only; it demands a client certificate like APNs and
answers every ``POST /3/device/<token>`` with 200), measures walletpass' ApnsClient (pycurl, one connection, many
streams) and, for the record, httpx with http2=True, then stops nginx. nginx is a Debian package:
``apt-get update && apt-get install -y nginx``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import load_average, machine, write_section  # noqa: E402
from tests.pki import MEMBER_PTID, TestPki, make_test_pki  # noqa: E402
from walletpass.push.apns import ApnsClient  # noqa: E402

TEMPLATE = ROOT / "bench" / "nginx-apns.conf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def nginx_server(pki: TestPki, workdir: Path) -> Iterator[str]:
    """Run nginx in the foreground with the filled-in template; yield its base URL; stop it afterwards."""
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                           if os.access(p, os.X_OK)), None)
    if nginx is None:
        sys.exit("bench/push.py needs nginx (with the http_v2 and ssl modules): "
                 "apt-get update && apt-get install -y nginx")
    client_ca = workdir / "client-ca.pem"
    client_ca.write_bytes((pki.certs_dir / "apple-root-ca.pem").read_bytes()
                          + (pki.certs_dir / "wwdr-ca.pem").read_bytes())
    port = free_port()
    conf = TEMPLATE.read_text()
    for slot, value in {"@@DIR@@": str(workdir), "@@PORT@@": str(port), "@@SERVER_CERT@@": str(pki.server_cert_file),
                        "@@SERVER_KEY@@": str(pki.server_key_file), "@@CLIENT_CA@@": str(client_ca)}.items():
        conf = conf.replace(slot, value)
    conf_file = workdir / "nginx.conf"
    conf_file.write_text(conf)
    log = (workdir / "nginx.out").open("wb")
    proc = subprocess.Popen([nginx, "-c", str(conf_file), "-p", f"{workdir}/", "-e", str(workdir / "error.log")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                sys.exit(f"nginx exited with {proc.returncode}:\n{(workdir / 'nginx.out').read_text()}"
                         f"{(workdir / 'error.log').read_text() if (workdir / 'error.log').exists() else ''}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("nginx did not start listening within 10 s")
                time.sleep(0.05)
        yield f"https://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def bench_pycurl(url: str, pki: TestPki, tokens: list[str], rounds: int, max_streams: int) -> dict[str, object]:
    with ApnsClient(url, pki.cert(), pki.key(), ca_file=pki.tls_ca_file, max_streams=max_streams) as client:
        client.send(tokens[:1000], MEMBER_PTID)  # warm-up: TLS handshake, handle pool
        rates, cpu = [], []
        for _ in range(rounds):
            t0, c0 = time.perf_counter(), time.process_time()
            out = client.send(tokens, MEMBER_PTID)
            wall, used = time.perf_counter() - t0, time.process_time() - c0
            statuses = Counter(o.status for o in out)
            if statuses != {200: len(tokens)}:
                sys.exit(f"pycurl: unexpected answers {statuses}")
            rates.append(len(tokens) / wall)
            cpu.append(used / len(tokens) * 1e6)
        return {"client": f"walletpass ApnsClient (pycurl {pycurl_version()}, max_streams={max_streams})",
                "tokens": len(tokens), "rounds": rounds, "best": max(rates), "median": statistics.median(rates),
                "cpu_us_per_push": statistics.median(cpu), "connections": client.counters["connects"]}


def pycurl_version() -> str:
    import pycurl

    return pycurl.version.split()[0].split("/")[1] + " / " + pycurl.version.split()[1]


def _httpx_context(pki: TestPki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.tls_ca_file))
    ctx.load_cert_chain(str(pki.cert()), str(pki.key()))
    return ctx


def bench_httpx_async(url: str, pki: TestPki, tokens: list[str], concurrency: int) -> dict[str, object]:
    import httpx

    headers = {"apns-topic": MEMBER_PTID, "apns-push-type": "background", "apns-priority": "5"}

    async def run() -> float:
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(http2=True, verify=_httpx_context(pki), limits=limits) as client:
            gate = asyncio.Semaphore(concurrency)

            async def one(token: str) -> int:
                async with gate:
                    r = await client.post(f"{url}/3/device/{token}", content=b"{}", headers=headers)
                    return r.status_code

            await one(tokens[0])  # warm-up
            t0 = time.perf_counter()
            statuses = Counter(await asyncio.gather(*(one(t) for t in tokens)))
            wall = time.perf_counter() - t0
            if statuses != {200: len(tokens)}:
                sys.exit(f"httpx: unexpected answers {statuses}")
            return len(tokens) / wall

    rate = asyncio.run(run())
    return {"client": f"httpx {httpx.__version__} AsyncClient(http2=True), {concurrency} in flight",
            "tokens": len(tokens), "rounds": 1, "best": rate, "median": rate}


def bench_httpx_sync(url: str, pki: TestPki, tokens: list[str]) -> dict[str, object]:
    import httpx

    headers = {"apns-topic": MEMBER_PTID, "apns-push-type": "background", "apns-priority": "5"}
    with httpx.Client(http2=True, verify=_httpx_context(pki)) as client:
        client.post(f"{url}/3/device/{tokens[0]}", content=b"{}", headers=headers)
        t0 = time.perf_counter()
        for token in tokens:
            if client.post(f"{url}/3/device/{token}", content=b"{}", headers=headers).status_code != 200:
                sys.exit("httpx sync: unexpected answer")
        rate = len(tokens) / (time.perf_counter() - t0)
    return {"client": f"httpx {httpx.__version__} Client(http2=True), one request at a time",
            "tokens": len(tokens), "rounds": 1, "best": rate, "median": rate}


def describe_machine() -> str:
    nginx_version = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return f"{machine()}, {nginx_version}; load average {load_average()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000, help="device tokens per ApnsClient.send call")
    parser.add_argument("--rounds", type=int, default=5, help="timed send calls (after one warm-up)")
    parser.add_argument("--max-streams", type=int, default=500)
    parser.add_argument("--httpx-tokens", type=int, default=1_000, help="pushes for the httpx comparison (0 = skip)")
    parser.add_argument("--write", action="store_true", help="replace the push section of BENCHMARKS.md")
    args = parser.parse_args()

    tokens = [os.urandom(32).hex() for _ in range(args.tokens)]
    with tempfile.TemporaryDirectory(prefix="walletpass-bench-push-") as tmp:
        workdir = Path(tmp)
        pki = make_test_pki(workdir / "pki")
        results = []
        with nginx_server(pki, workdir) as url:
            results.append(bench_pycurl(url, pki, tokens, args.rounds, args.max_streams))
            if args.httpx_tokens:
                results.append(bench_httpx_async(url, pki, tokens[:args.httpx_tokens], 100))
                results.append(bench_httpx_sync(url, pki, tokens[:args.httpx_tokens]))

    text = report(results, args)
    print(text)
    if args.write:
        write_section("push", f"## push\n\n{text}\n\n{NOTES}")
        print("wrote the push section of BENCHMARKS.md")


def report(results: list[dict[str, object]], args: argparse.Namespace) -> str:
    first = results[0]
    target = 20_000
    met = "met" if float(first["median"]) >= target else ("met by the best call only" if float(first["best"]) >= target
                                                           else "NOT met")
    lines = [
        f"Machine: {describe_machine()}; date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (load average read after the run).",
        f"Command: `.venv/bin/python bench/push.py {' '.join(sys.argv[1:])}` (nginx on 127.0.0.1 from "
        f"`bench/nginx-apns.conf`: "
        f"HTTP/2 over TLS, client certificate required, `return 200`; {args.tokens:,} random device tokens).",
        "",
        "| client (one process, one thread) | pushes per call | timed calls | best pushes/s | median pushes/s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(f"| {r['client']} | {r['tokens']:,} | {r['rounds']} | {r['best']:,.0f} | {r['median']:,.0f} |")
    lines += [
        "",
        f"ApnsClient: {first['cpu_us_per_push']:.1f} µs of client CPU per push (median call); "
        f"{first['connections']} TLS connection opened for all calls (one connection, up to {args.max_streams} "
        f"concurrent streams). Target ≥ {target:,} pushes/s per process: {met}.",
    ]
    return "\n".join(lines)


NOTES = """\
Why pycurl: the issue behind this module reported, on this machine class, one process pushing to a local nginx
HTTP/2 server at ~650 pushes/s with httpx, ~4,000/s with aioapns, ~8,700/s with plain asyncio + h2 and ~40,000/s
with pycurl (libcurl) multiplexing. The httpx rows above re-measure the slow end; aioapns and asyncio + h2 were
not re-measured. What the ApnsClient does per push: one reused easy handle, `setopt(URL)` + `setopt(HTTPHEADER)`
(our own `apns-id`, so no header callback), and libcurl's HTTP/2 framing, HPACK and one TLS write; `perf` shows
~70 % of the client's time inside libcurl/nghttp2/OpenSSL and the kernel, so the Python loop is not the limit.
The box has 2 vCPUs shared by nginx, the client and whatever else runs (other test suites): figures swing by
±40 % between runs; compare the CPU µs per push, which moves less."""

if __name__ == "__main__":
    main()
