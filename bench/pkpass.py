"""Benchmark: signed .pkpass files built per second in one process (member cards, coupons, signature alone).

Images and keys are loaded once (as in a web process); every pass has its own serial number and balance.
Run: ``.venv/bin/python bench/pkpass.py [--seconds 10] [--rounds 5] [--write]`` — ``--write`` updates the pkpass section
of BENCHMARKS.md. ``--profile`` prints the top of a cProfile run instead.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import load_average, machine, write_section  # noqa: E402
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


class Result(NamedTuple):
    median: float  # per CPU-second, median of the rounds
    best: float
    built: int


def make_builder(certs: Path) -> PassBuilder:
    ensure_dev_pki(certs, TEAM, [MEMBER, COUPON], "http://127.0.0.1:1/token", datetime.now(UTC))
    signers = {p: load_signer(certs / f"{p}.pem", certs / f"{p}.key", certs / "wwdr-ca.pem") for p in (MEMBER, COUPON)}
    return PassBuilder(signers=signers, templates=load_templates(), team_id=TEAM,
                       web_service_url="https://passes.example.com/")


def rate(fn: Callable[[int], object], seconds: float, start_at: int = 0) -> tuple[float, int]:
    """Calls per CPU-second of fn(i) over about *seconds* of this process's CPU time (after a warm-up).

    CPU time, not wall time: on a shared machine other processes steal the cores, and what we want to
    know is what one process achieves on one core. The work is single-threaded, so the two agree on an
    idle machine.
    """
    for i in range(20):
        fn(start_at + i)
    n, start = 0, time.process_time()
    while True:
        for _ in range(100):
            fn(start_at + n)
            n += 1
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return n / elapsed, n


def measure(jobs: dict[str, Callable[[int], object]], seconds: float, rounds: int) -> dict[str, Result]:
    """Run every workload in *rounds* interleaved rounds of seconds/rounds each; median and best per workload.

    Interleaving spreads a burst of load from other processes over all workloads instead of one, and the
    median of several rounds is steadier than one long run on this shared two-core machine.
    """
    rates: dict[str, list[float]] = {name: [] for name in jobs}
    counts = dict.fromkeys(jobs, 0)
    for _ in range(rounds):
        for name, fn in jobs.items():
            r, n = rate(fn, seconds / rounds, start_at=counts[name])
            rates[name].append(r)
            counts[name] += n
    return {name: Result(statistics.median(rs), max(rs), counts[name]) for name, rs in rates.items()}


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


def report(results: dict[str, Result], size: int, command: str, rounds: int) -> str:
    rows = "\n".join(f"| {name} | {r.median:,.0f} /s | {r.best:,.0f} /s | {r.built:,} |" for name, r in results.items())
    sig = results["signature alone"].median
    member = results["member pass"].median
    met = min(results["member pass"].median, results["coupon pass"].median) >= 2000
    return f"""## pkpass — signed passes per second, one process

`bench/pkpass.py`: `PassBuilder.build_member_pass` / `build_coupon_pass` with the real templates and the dev
PKI; every pass has its own serial number and balance (or code); images and the key are loaded once, as in
a web process. Each pass is rendered, validated, hashed, signed (detached PKCS#7, RSA-2048, SHA-256) and
zipped. Rates are per second of the process's CPU time (single-threaded work; the machine is shared), in
{rounds} interleaved rounds per workload: the median round and the best.
{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}; load average after the run {load_average()}.
Command: `{command}`.

| workload | median (per CPU-second) | best round | passes built |
| --- | ---: | ---: | ---: |
{rows}

Target: ≥ 2,000 passes/s per process — {"met (median of both pass kinds)" if met else "NOT met in this run"}.

A member pass runs at {member / sig:.0%} of the signature-alone rate: everything but the RSA signature (render,
validation, JSON, SHA-1s, two deflates, ZIP) costs {1e6 / member - 1e6 / sig:,.0f} µs per pass here, against
{1e6 / sig:,.0f} µs for the signature (`openssl speed rsa2048` signs in ~250 µs on this machine). Rates on this
shared 2-vCPU box swing by ±15 % between runs (1,821–2,170 member passes/s in four runs on 2026-11-23), so
compare the median rows of one run with each other. A member pass is {size:,} bytes (15 files).

What made it fast: a program's 9 PNGs and 3 pass.strings are rendered, SHA-1'd, CRC'd and encoded as ZIP
records once per (template, program version, uploads) and cached; PNGs are STORED (deflating them costs more
than the signature and saves nothing); the ZIP is joined from prepared records by a small writer instead of
`zipfile`; the key and certificates are parsed once per `PassSigner`. What is left is one RSA signature (the
floor, "signature alone"), one `json.dumps`, two small deflates and the validation pass.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=5.0, help="CPU seconds per workload, over all rounds")
    ap.add_argument("--rounds", type=int, default=5)
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
        results = measure(jobs, args.seconds, args.rounds)
        size = len(jobs["member pass"](0))  # type: ignore[arg-type]
    for name, r in results.items():
        print(f"pkpass: {name}: median {r.median:,.0f}/s, best {r.best:,.0f}/s ({r.built:,} built)  [{machine()}]")
    if args.write:
        command = ".venv/bin/python bench/pkpass.py " + " ".join(sys.argv[1:])
        write_section("pkpass", report(results, size, command.strip(), args.rounds))


if __name__ == "__main__":
    main()
