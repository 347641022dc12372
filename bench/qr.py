"""Benchmark: flyer QR codes per second, one process — SVG and PNG images (segno) and the A6 PDF flyer (fpdf2 with
the CJK font subset), each with its own source, against an RSA-2048 signature measured in the same run.

What GET /api/v1/programs/{id}/qr costs to draw (the request's own work — auth, one program read — is the same as
any API read's and left out). Rates are per second of this process's CPU time, in interleaved rounds: the median
round and the best.

Run: ``.venv/bin/python bench/qr.py [--seconds 6] [--rounds 3] [--write]`` — ``--write`` updates the qr section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ is sys.path[0] and bench/google.py would shadow the ``google`` namespace package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402

from bench._common import load_average, machine, write_section  # noqa: E402
from walletpass import flyers  # noqa: E402
from walletpass.config import Settings  # noqa: E402
from walletpass.demo import DEMO_PROGRAM  # noqa: E402
from walletpass.render import qr  # noqa: E402

BASE = "https://wallet.example.com"
LOGO = ROOT / "walletpass" / "templates" / "passes" / "member-card" / "logo.png"


def rate(fn: Callable[[int], object], seconds: float, start_at: int) -> tuple[float, int]:
    """Calls per CPU-second of fn(i) over about *seconds* of CPU time (after one warm-up call)."""
    fn(start_at)
    n, start = 0, time.process_time()
    while True:
        fn(start_at + 1 + n)
        n += 1
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return n / elapsed, n + 1


def workloads(font: Path) -> dict[str, Callable[[int], object]]:
    logo = LOGO.read_bytes()
    name = DEMO_PROGRAM["texts"]["zh-Hant"]["name"]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def url(i: int) -> str:
        return f"{BASE}/join/1?src=flyer-{i}"

    def svg(i: int) -> bytes:
        return qr.image(url(i), qr.QrOptions("svg", f"flyer-{i}"))

    def png(i: int) -> bytes:
        return qr.image(url(i), qr.QrOptions("png", f"flyer-{i}"))

    def pdf(i: int) -> bytes:
        content = flyers.FlyerContent(name=name, url=url(i), locale="zh-Hant", background_color="rgb(120, 72, 40)",
                                      foreground_color="rgb(255, 255, 255)", logo=logo)
        return flyers.render(content, font)

    def first_pdf(i: int) -> bytes:
        flyers._SUBSETS.clear()  # as for the first flyer of a program in this process: the font is cut anew
        return pdf(i)

    def signature(i: int) -> bytes:
        return key.sign(b"reference %d" % i, padding.PKCS1v15(), hashes.SHA256())

    return {"QR SVG (scale 10)": svg, "QR PNG (scale 10, 410 px)": png, "A6 flyer PDF": pdf,
            "A6 flyer PDF, its program's first (font cut)": first_pdf,
            "reference: RSA-2048 signature": signature}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0, help="CPU seconds per workload, over all rounds")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="update the qr section of BENCHMARKS.md")
    args = ap.parse_args()
    font = Settings.for_tests(Path("/tmp")).flyer_font
    jobs = workloads(font)
    sizes = {name: len(fn(0)) for name, fn in jobs.items()}  # type: ignore[arg-type]
    rates: dict[str, list[float]] = {name: [] for name in jobs}
    made = dict.fromkeys(jobs, 0)
    for _ in range(args.rounds):  # interleaved: a burst of load from other sessions hits every workload alike
        for name, fn in jobs.items():
            r, n = rate(fn, args.seconds / args.rounds, made[name] + 1)
            rates[name].append(r)
            made[name] += n
    median = {name: statistics.median(rs) for name, rs in rates.items()}
    ref = median["reference: RSA-2048 signature"]
    for name in jobs:
        print(f"qr: {name}: median {median[name]:,.1f}/s, best {max(rates[name]):,.1f}/s "
              f"({median[name] / ref:.3f}× the signature rate)  [{machine()}]")
    rows = "\n".join(f"| {name} | {median[name]:,.1f} /s | {max(rates[name]):,.1f} /s | {median[name] / ref:.4f} "
                     f"| {sizes[name]:,} B | {made[name]:,} |" for name in jobs)
    command = (".venv/bin/python bench/qr.py " + " ".join(sys.argv[1:])).strip()
    pdf, svg = median["A6 flyer PDF"], median["QR SVG (scale 10)"]
    first = median["A6 flyer PDF, its program's first (font cut)"]
    body = f"""## qr — flyer QR codes per second, one process

`bench/qr.py`: what `GET /api/v1/programs/{{id}}/qr` draws, each call with its own `src` (so its own code):
`walletpass.render.qr.image` for SVG and PNG (segno, error correction Q, 4-module quiet zone) and
`walletpass.flyers.render` for the A6 PDF flyer (fpdf2: the program's colours and logo, the code as
rectangles, the name and call to action in zh-Hant in a subset of {font.name}). Rates per second of the
process's CPU time, {args.rounds} interleaved rounds per workload: the median round and the best; the ratio is
to RSA-2048 signatures (`cryptography`) measured in the same rounds.
{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}; load average after the run {load_average()}.
Command: `{command}`.

| workload | median (per CPU-second) | best round | ratio to the signature | size | drawn |
| --- | ---: | ---: | ---: | ---: | ---: |
{rows}

A flyer costs {1000 / pdf:,.0f} ms of CPU ({svg / pdf:,.0f}× an SVG), the first of a program in a process
{1000 / first:,.0f} ms: the CJK font (a 5 MB TrueType collection of ~30,000 glyphs) is cut by fontTools to the
characters of the program's flyers (ASCII, the calls to action, its name) once per process and name, and fpdf2
then reads and subsets that small font for each flyer (most of the remaining time, with segno's mask choice).
Flyers are drawn on a marketer's request, not a customer's, and the ETag is computed from the inputs, so a
repeated request with `If-None-Match` is a 304 that draws nothing.
"""
    print(body)
    if args.write:
        write_section("qr", body)


if __name__ == "__main__":
    main()
