"""Benchmark: API key verifications per second, in-process, through ApiKeyVerifier on a real database.

What a request's ``Authorization: Bearer`` costs before the view runs (``Services.api_keys.verify``), for:
a valid key answered from the 30 s cache (the steady state of a till), a valid key with the cache off (one
indexed read + one HMAC), a wrong key whose prefix matches no row, a wrong secret for a known prefix (keyed-hash
row), a malformed key, and a wrong secret for a row still in the legacy PBKDF2 form — which is what *every*
wrong key cost before the keyed hash (a PBKDF2 verify against a dummy hash when the prefix matched no row).

Rates are per second of this process's CPU time (single-threaded work, shared machine), in interleaved rounds.
Run: ``.venv/bin/python bench/apikeys.py [--seconds 5] [--rounds 5] [--database-url URL] [--write]`` — SQLite in
a temporary folder unless ``--database-url`` (an existing PostgreSQL database: migrated, keys added);
``--write`` updates the apikeys section of BENCHMARKS.md.
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

from passlib.hash import pbkdf2_sha256

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import load_average, machine, write_section  # noqa: E402
from walletpass.bootstrap import Services, bootstrap  # noqa: E402
from walletpass.config import Settings  # noqa: E402
from walletpass.errors import Unauthorized  # noqa: E402
from walletpass.ids import new_api_key  # noqa: E402
from walletpass.services.api_keys import ApiKeyVerifier, create_api_key  # noqa: E402

SECRET = "bench-instance-secret-0123456789abcdef"


def rate(fn: Callable[[], object], seconds: float) -> tuple[float, int]:
    """Calls per CPU-second of fn() over about *seconds* of this process's CPU time (after a warm-up)."""
    for _ in range(3):
        fn()
    n, start = 0, time.process_time()
    while True:
        fn()
        n += 1
        elapsed = time.process_time() - start
        if elapsed >= seconds:
            return n / elapsed, n


def refused(verifier: ApiKeyVerifier, key: str) -> Callable[[], object]:
    def run() -> None:
        try:
            verifier.verify(key)
        except Unauthorized:
            return
        raise AssertionError("a wrong key was accepted")

    return run


def workloads(svc: Services) -> dict[str, Callable[[], object]]:
    cached = svc.api_keys
    uncached = ApiKeyVerifier(SECRET, read_uow=svc.read_uow, uow=svc.uow, ttl=0.0)
    key = create_api_key(svc.uow(), svc.clock, cached.hasher, "bench till", ["points"])
    legacy, prefix = new_api_key()
    with svc.uow() as uow:  # a row as walletpass wrote them before the keyed hash
        uow.add_api_key(name="bench legacy", prefix=prefix, key_hash=pbkdf2_sha256.hash(legacy), scopes=["points"],
                        created_at=svc.clock.now())
        uow.commit()
    other_secret = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    unknown_prefix = "wp_000000000000_" + key.split("_", 2)[2]
    return {
        "valid key, from the 30 s cache": lambda: cached.verify(key),
        "valid key, cache off (read + HMAC)": lambda: uncached.verify(key),
        "wrong key, unknown prefix": refused(uncached, unknown_prefix),
        "wrong secret, known prefix (keyed-hash row)": refused(uncached, other_secret),
        "malformed key (no read)": refused(uncached, "wp_garbage"),
        "wrong secret, legacy PBKDF2 row (= every wrong key before)": refused(uncached, legacy[:-4] + "AAAA"),
    }


def measure(jobs: dict[str, Callable[[], object]], seconds: float, rounds: int) -> dict[str, tuple[float, float]]:
    """Median and best rate per workload over *rounds* interleaved rounds of seconds/rounds each."""
    rates: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(rounds):
        for name, fn in jobs.items():
            # PBKDF2 is ~1,000× slower: a tenth of the time still gives dozens of calls per round.
            share = seconds / rounds / (10 if "PBKDF2" in name else 1)
            rates[name].append(rate(fn, share)[0])
    return {name: (statistics.median(rs), max(rs)) for name, rs in rates.items()}


def report(results: dict[str, tuple[float, float]], dialect: str, command: str, rounds: int) -> str:
    rows = "\n".join(f"| {name} | {median:,.0f} /s | {1e6 / median:,.1f} µs | {best:,.0f} /s |"
                     for name, (median, best) in results.items())
    pbkdf2 = results["wrong secret, legacy PBKDF2 row (= every wrong key before)"][0]
    unknown = results["wrong key, unknown prefix"][0]
    return f"""## apikeys — API key verifications per second, in-process ({dialect})

`bench/apikeys.py`: `ApiKeyVerifier.verify` as `require_key` calls it, on a real {dialect} database (one key
row of each form), single-threaded; rates per second of the process's CPU time, median of {rounds} interleaved
rounds and the best round. A key is `wp_<prefix>_<secret>`: the prefix finds the row (unique index), the row
holds `hmac-sha256$<hasher id>$<HMAC-SHA-256 of the key>` under a key derived from the instance secret.
{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}; load average after the run {load_average()}.
Command: `{command}`.

| key sent | median (per CPU-second) | CPU per verify | best round |
| --- | ---: | ---: | ---: |
{rows}

A wrong key now costs one indexed read and one HMAC: {1e6 / unknown:,.0f} µs of CPU for an unknown prefix, against
{1e3 / pbkdf2:,.1f} ms for the PBKDF2 verify every wrong key paid before ({unknown / pbkdf2:,.0f}× less): one core
refused {pbkdf2:,.0f} random keys a second then, about {unknown:,.0f} now. The HMAC itself is a few µs (the
"malformed" and "cache" rows); what is left is the unit of work and the ORM read of the row (session begin and
rollback, statement, row load). Only a row still in the legacy form (made before the keyed hash and not used
since) costs PBKDF2 for a wrong secret; its first successful use rewrites it.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=5.0, help="CPU seconds per workload, over all rounds")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--database-url", help="an existing PostgreSQL database (default: SQLite in a temporary folder)")
    ap.add_argument("--write", action="store_true", help="update the apikeys section of BENCHMARKS.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        settings = Settings(instance_path=Path(tmp), database_url=url, certs_dir=Path(tmp), secret_key=SECRET,
                            embedded_worker=False)
        svc = bootstrap(settings, migrate=True)
        try:
            dialect = "PostgreSQL" if svc.engine.dialect.name == "postgresql" else "SQLite"
            results = measure(workloads(svc), args.seconds, args.rounds)
        finally:
            svc.close()
    for name, (median, best) in results.items():
        print(f"apikeys ({dialect}): {name}: median {median:,.0f}/s, best {best:,.0f}/s  [{machine()}]")
    if args.write:
        command = (".venv/bin/python bench/apikeys.py " + " ".join(sys.argv[1:])).strip()
        section = "apikeys-postgresql" if dialect == "PostgreSQL" else "apikeys"
        write_section(section, report(results, dialect, command, args.rounds))


if __name__ == "__main__":
    main()
