"""Benchmark: signed .pkpass files built per second in one process (member cards, coupons, signature alone).

Images and keys are loaded once (as in a web process); every pass has its own serial number and balance.
Run: ``.venv/bin/python bench/pkpass.py [--seconds 3] [--write]`` — ``--write`` updates the pkpass section
of BENCHMARKS.md. ``--profile`` prints the top of a cProfile run instead.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import re
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from walletpass.credentials import load_signer  # noqa: E402
from walletpass.devpki import ensure_dev_pki  # noqa: E402
from walletpass.domain.members import Member  # noqa: E402
from walletpass.domain.offers import Coupon  # noqa: E402
from walletpass.domain.passes import PassRef  # noqa: E402
from walletpass.pass_templates import load_templates  # noqa: E402
from walletpass.pkpass import PassBuilder  # noqa: E402
from walletpass.pkpass.manifest import build_manifest  # noqa: E402
from walletpass.render.demo import (  # noqa: E402
    demo_coupon,
    demo_coupon_ref,
    demo_member,
    demo_offer,
    demo_pass_ref,
    demo_program,
)

MEMBER, COUPON, TEAM = "pass.dev.walletpass.member", "pass.dev.walletpass.coupon", "DEVTEAM001"
START, END = "<!-- bench:pkpass:start -->", "<!-- bench:pkpass:end -->"


def make_builder(certs: Path) -> PassBuilder:
    ensure_dev_pki(certs, TEAM, [MEMBER, COUPON], "http://127.0.0.1:1/token", datetime.now(UTC))
    signers = {p: load_signer(certs / f"{p}.pem", certs / f"{p}.key", certs / "wwdr-ca.pem") for p in (MEMBER, COUPON)}
    return PassBuilder(signers=signers, templates=load_templates(ROOT / "templates" / "passes"), team_id=TEAM,
                       web_service_url="https://passes.example.com/")


def rate(fn: Callable[[int], object], seconds: float) -> tuple[float, int]:
    """Calls per CPU-second of fn(i) over about *seconds* of this process's CPU time (after a warm-up).

    CPU time, not wall time: on a shared machine other processes steal the cores, and what we want to
    know is what one process achieves on one core. The work is single-threaded, so the two agree on an
    idle machine (the wall-clock rate is printed too).
    """
    for i in range(20):
        fn(i)
    n, start, wall = 0, time.process_time(), time.perf_counter()
    while True:
        for _ in range(100):
            fn(n)
            n += 1
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            print(f"  ({n / (time.perf_counter() - wall):,.0f}/s wall clock)", file=sys.stderr)
            return n / elapsed, n


def workloads(builder: PassBuilder) -> dict[str, Callable[[int], object]]:
    program, member, ref = demo_program(), demo_member(), demo_pass_ref()
    offer, coupon, cref = demo_offer(), demo_coupon(), demo_coupon_ref()
    signer = builder.signer(MEMBER)
    manifest = build_manifest({f"file{i}.png": "0" * 40 for i in range(15)})

    # Fresh records per pass, built the way storage builds them (constructors, not dataclasses.replace).
    def member_pass(i: int) -> bytes:
        m = Member(member.id, member.program_id, member.name, f"ML{i:08d}", points=i, tier=member.tier)
        r = PassRef(f"m-{i:08d}", ref.pass_type_id, ref.authentication_token, ref.kind, i, ref.updated_at)
        return builder.build_member_pass(program, m, r)

    def coupon_pass(i: int) -> bytes:
        c = Coupon(coupon.id, coupon.offer_id, f"MLC-{i:08d}", member_id=coupon.member_id)
        r = PassRef(f"c-{i:08d}", cref.pass_type_id, cref.authentication_token, cref.kind, i, cref.updated_at)
        return builder.build_coupon_pass(program, offer, c, member, r)

    def signature(i: int) -> bytes:
        return signer.sign(manifest + str(i).encode())

    return {"member pass": member_pass, "coupon pass": coupon_pass, "signature alone": signature}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {cpu}, Python {platform.python_version()}"


def write_section(results: dict[str, tuple[float, int]], size: int) -> None:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nOne section per script in `bench/`.\n"
    rows = "\n".join(f"| {name} | {r:,.0f} /s | {n:,} |" for name, (r, n) in results.items())
    sig = results["signature alone"][0]
    ratio = results["member pass"][0] / sig
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    section = f"""{START}
## pkpass — signed passes per second, one process

`bench/pkpass.py`: `PassBuilder.build_member_pass` / `build_coupon_pass` with the real templates and the dev
PKI; every pass has its own serial number and balance (or code); images and the key are loaded once, as in
a web process. Each pass is rendered, validated, hashed, signed (detached PKCS#7, RSA-2048, SHA-256) and
zipped. Rates are per second of the process's CPU time (single-threaded work; the machine is shared).
{datetime.now(UTC):%Y-%m-%d}, {machine()}; load average during the run {load}.
Target: ≥ 2,000 passes/s per process.

| workload | rate (per CPU-second) | passes built |
| --- | ---: | ---: |
{rows}

A member pass runs at {ratio:.0%} of the signature-alone rate: everything but the RSA signature (render,
validation, JSON, SHA-1s, two deflates, ZIP) costs {1e6 / results["member pass"][0] - 1e6 / sig:,.0f} µs per pass
here, against {1e6 / sig:,.0f} µs for the signature. The signature rate, and so every row, drops when other
processes share the two CPUs: 3,237/s was measured here on a quieter machine and the issue quotes ~3,600/s,
against {sig:,.0f}/s in this run. At 3,600 signatures/s the same ratio gives ≈ {3600 * ratio:,.0f} member passes/s
(a projection, not a measurement). A member pass is {size:,} bytes
(15 files). What made it fast: a program's 9 PNGs and 3 pass.strings are
rendered, SHA-1'd, CRC'd and encoded as ZIP records once per (template, program version, uploads) and cached;
PNGs are STORED (deflating them costs more than the signature and saves nothing); the ZIP is joined from
prepared records by a small writer instead of `zipfile`; the key and certificates are parsed once per
`PassSigner`. What is left is one RSA signature (the floor, "signature alone"), one `json.dumps`, two small
deflates and the validation pass.
{END}
"""
    if START in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END) + "\n?", lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--write", action="store_true", help="update the pkpass section of BENCHMARKS.md")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of member passes")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        builder = make_builder(Path(tmp) / "certs")
        jobs = workloads(builder)
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(lambda: [jobs["member pass"](i) for i in range(3000)])
            pstats.Stats(prof).sort_stats("tottime").print_stats(18)
            return
        results = {name: rate(fn, args.seconds) for name, fn in jobs.items()}
        size = len(jobs["member pass"](0))  # type: ignore[arg-type]
    for name, (r, n) in results.items():
        print(f"pkpass: {name}: {r:,.0f}/s ({n:,} in {args.seconds:g}s)  [{machine()}]")
    if args.write:
        write_section(results, size)


if __name__ == "__main__":
    main()
