"""Benchmark: Google save links signed per second, and object PATCHes per second against the local fake.

- **save links**: one :class:`SaveLinkSigner` (key parsed once) signs fat links for a realistic member card
  (class + object, 3 locales → most need the skinny path, so both ``plan_save`` and ``skinny_url`` are timed);
  compared with re-parsing the key per link, as a naive peer does. The row "service path" times what
  ``links.google_save`` runs once the class is at Google (``walletpass.google.provider.plan_link``: render
  class and object, compare the class version, sign the object-only link) — everything but the database read.
- **patches**: :class:`GoogleWalletClient` PATCHes one object's balance against ``tests/fakes/google_server.py``
  running in a **separate process** (so the client's own cost is visible), rate limit off (0). Reported: patches/s
  sequentially and with 4 threads, and the client process's CPU per patch. Also a raw-HTTP comparison of
  requests.Session vs httpx.Client (keep-alive GET) that decided the transport.

Run: ``.venv/bin/python bench/google.py [--seconds 3] [--write]`` — ``--write`` updates the google section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ is sys.path[0] and this file would shadow the ``google`` namespace package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from google.auth import crypt  # noqa: E402

from bench._common import load_average, machine, write_section  # noqa: E402
from walletpass.config import Settings  # noqa: E402
from walletpass.devpki import make_google_service_account  # noqa: E402
from walletpass.domain.members import Member  # noqa: E402
from walletpass.domain.passes import MEMBER_CARD, PassRef  # noqa: E402
from walletpass.domain.programs import Program, Tier  # noqa: E402
from walletpass.google import objects  # noqa: E402
from walletpass.google import provider as google_wallet  # noqa: E402
from walletpass.google.client import GoogleWalletClient  # noqa: E402
from walletpass.google.jwt import NeedsInsert, SaveLink, SaveLinkSigner  # noqa: E402

ISSUER = "3388000000022222222"
START, END = "<!-- bench:google:start -->", "<!-- bench:google:end -->"
PROGRAM = Program(7, "Morning Light Rewards", "Morning Light", background_color="rgb(23, 187, 82)",
                  tiers=(Tier("Bronze", 0), Tier("Gold", 2000)), terms="Points expire after one year.",
                  locales=("en", "zh-Hant", "zh-Hans"),
                  texts={"zh-Hant": {"name": "晨光會員卡", "organization_name": "晨光咖啡", "tier.Gold": "金"},
                         "zh-Hans": {"name": "晨光会员卡", "organization_name": "晨光咖啡", "tier.Gold": "金"}})
LOGO = {"logo": "https://cdn.example/assets/programs/7/logo.png"}


def rate(fn: Callable[[int], object], seconds: float, warmup: int = 20) -> tuple[float, int]:
    """Calls per second of fn(i) over about *seconds* (after a warm-up)."""
    for i in range(warmup):
        fn(i)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(20):
            fn(n)
            n += 1
    return n / (time.perf_counter() - start), n


def bench_links(info: dict, seconds: float) -> dict[str, float]:
    signer = SaveLinkSigner(info, origins=["https://passes.example.com"])
    now = datetime.now(UTC)
    cls = objects.loyalty_class(PROGRAM, issuer_id=ISSUER, images=LOGO)

    def obj(i: int) -> dict:
        ref = PassRef(f"M-{i:08d}", "pass.dev.walletpass.member", "tok", MEMBER_CARD, i, now)
        return objects.loyalty_object(PROGRAM, Member(i, 7, "Lin Mei", f"ML-{i:08d}", points=i % 5000,
                                                      tier="Gold"), ref, issuer_id=ISSUER)

    def plan(i: int) -> object:
        result = signer.plan_save("loyalty", None, obj(i), now)  # class inserted once by REST
        if isinstance(result, NeedsInsert):
            return signer.skinny_url("loyalty", result.object_["id"], result.object_["classId"], now)
        return result

    settings = Settings.for_tests(Path(tempfile.gettempdir()), base_url="https://passes.example.com",
                                  google_issuer_id=ISSUER)
    at_google = google_wallet.class_and_version(settings, PROGRAM)[1]  # what wallet_classes holds for the program

    def service_path(i: int) -> object:  # links.google_save with the class at Google: no REST call
        class_, version = google_wallet.class_and_version(settings, PROGRAM)
        rendered = google_wallet.Rendered(i, "loyalty", class_, obj(i), i, None, None, at_google, version)
        link = google_wallet.plan_link(signer, rendered, now)
        assert isinstance(link, SaveLink), "the object-only link is over 1,800 characters"
        return link

    def fat_with_class(i: int) -> object:
        return signer.plan_save("loyalty", cls, obj(i), now)

    def skinny(i: int) -> str:
        return signer.skinny_url("loyalty", f"{ISSUER}.M-{i:08d}", cls["id"], now)

    def naive(i: int) -> str:  # what a peer does: parse the PEM for every link
        return SaveLinkSigner(info, origins=["https://passes.example.com"]).skinny_url(
            "loyalty", f"{ISSUER}.M-{i:08d}", cls["id"], now)

    def raw_rsa(i: int) -> bytes:
        return rsa.sign(b"x" * 600 + str(i).encode())

    rsa = crypt.RSASigner.from_service_account_info(info)
    out = {
        "service path: render + class version + object-only link (class at Google)": rate(service_path, seconds)[0],
        "object + plan_save (class pre-inserted)": rate(plan, seconds)[0],
        "plan_save with class (fat or NeedsInsert)": rate(fat_with_class, seconds)[0],
        "skinny_url": rate(skinny, seconds)[0],
        "RSA-2048 signature alone": rate(raw_rsa, seconds)[0],
        "naive: key parsed per link": rate(naive, min(seconds, 2.0), warmup=1)[0],
    }
    fat = signer.plan_save("loyalty", cls, obj(1), now)
    out["_fat_length"] = float(getattr(fat, "length", 0) or len(getattr(fat, "url", "")))
    out["_object_only_length"] = float(len(signer.save_url({"loyaltyObjects": [obj(1)]}, now)))
    out["_skinny_length"] = float(len(skinny(1)))
    return out


def _serve(key_file: str, conn: mp.connection.Connection) -> None:  # type: ignore[name-defined]
    from tests.fakes.google_server import FakeGoogle

    with FakeGoogle(Path(key_file)) as google:
        conn.send((google.url, google.token_url))
        conn.recv()  # wait until told to stop


def bench_patches(key_file: Path, info: dict, seconds: float) -> dict[str, float]:
    import httpx
    import requests

    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_serve, args=(str(key_file), child), daemon=True)
    proc.start()
    url, token_url = parent.recv()
    out: dict[str, float] = {}
    try:
        settings = Settings.for_tests(Path(tempfile.gettempdir()), google_api_url=url, google_token_url=token_url,
                                      google_rate_limit=0)
        client = GoogleWalletClient(settings, info)
        now = datetime.now(UTC)
        client.insert_class("loyalty", objects.loyalty_class(PROGRAM, issuer_id=ISSUER, images=LOGO))
        ref = PassRef("M-1", "pass.dev.walletpass.member", "tok", MEMBER_CARD, 1, now)
        body = objects.loyalty_object(PROGRAM, Member(1, 7, "Lin Mei", "ML-1", 0, "Gold"), ref, issuer_id=ISSUER)
        client.insert_object("loyalty", body)

        def patch(i: int) -> object:
            return client.patch_object("loyalty", body["id"], {"loyaltyPoints": {"label": "Points",
                                                                                 "balance": {"int": i}}})

        cpu = time.process_time()
        out["patches/s, 1 thread"], n = rate(patch, seconds)
        out["client CPU ms per patch"] = (time.process_time() - cpu) / n * 1000
        with ThreadPoolExecutor(4) as pool:
            def batch(i: int) -> object:
                return list(pool.map(patch, range(i * 4, i * 4 + 4)))
            per_batch, _ = rate(batch, seconds, warmup=2)
        out["patches/s, 4 threads"] = per_batch * 4
        client.close()

        keys_url = url + "/gp/m/issuer/keys"  # a cheap keep-alive GET for the transport comparison
        for name, session in (("requests.Session", requests.Session()), ("httpx.Client", httpx.Client())):
            with session:
                cpu = time.process_time()
                per_s, n = rate(lambda i, s=session: s.get(keys_url).content, seconds)
                out[f"raw GET/s {name}"] = per_s
                out[f"raw GET client CPU ms {name}"] = (time.process_time() - cpu) / n * 1000
    finally:
        parent.send("stop")
        proc.join(5)
    return out


def report(links: dict[str, float], patches: dict[str, float]) -> str:
    lines = ["## google", "", f"Machine: {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average after the "
             f"run {load_average()} (shared machine: other work lowers these figures).",
             "Command: `.venv/bin/python bench/google.py --write`.", "",
             "| save links (one process, one thread) | per second |", "| --- | ---: |"]
    lines += [f"| {k} | {v:,.0f} |" for k, v in links.items() if not k.startswith("_")]
    lines += ["", f"Link lengths for the 3-locale demo member card: fat (class + object) "
                  f"{links['_fat_length']:.0f} chars, object only {links['_object_only_length']:.0f}, skinny "
                  f"{links['_skinny_length']:.0f} (limit 1,800).", "",
              "| REST against the local fake (separate process, rate limit off) | value |", "| --- | ---: |"]
    lines += [f"| {k} | {v:,.1f} |" for k, v in patches.items()]
    lines += ["", "Target: ≥ 2,000 save links/s (met when the row \"service path\" is above it). Patch "
                  "throughput is bounded by the Python fake (discovery-schema validation of every body); the client "
                  "CPU per patch is our own overhead. In production the 20 requests/s project limit dominates."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--write", action="store_true", help="update the google section of BENCHMARKS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "google-service-account.json"
        key_file.write_bytes(make_google_service_account("http://127.0.0.1:1/token"))
        info = json.loads(key_file.read_text())
        links = bench_links(info, args.seconds)
        patches = bench_patches(key_file, info, args.seconds)
    section = report(links, patches)
    print(section)
    if args.write:
        write_section("google", section)


if __name__ == "__main__":
    main()
