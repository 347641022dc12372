"""What every bench script shares: a description of the machine, and writing one section of BENCHMARKS.md."""

from __future__ import annotations

import functools
import os
import platform
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


@functools.cache
def cpu_speed() -> str:
    """Two quick readings that tell one host from another (the hosts behind this 2-CPU machine kind differ ~3×
    between sessions): RSA-2048 PKCS#1 signatures per second (the floor of a pass or a save link) and the
    time of ``sum(range(1000))`` in this Python."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n, start = 0, time.process_time()
    while time.process_time() - start < 0.5:
        key.sign(b"calibration %d" % n, padding.PKCS1v15(), hashes.SHA256())
        n += 1
    signs = n / (time.process_time() - start)
    loop_us = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
    return f"RSA-2048 {signs:,.0f} signatures/s, sum(range(1000)) {loop_us:.1f} µs"


@functools.cache
def machine() -> str:
    """``2 CPUs (AMD EPYC …), Python 3.11.7, Linux 6.x; speed: RSA-2048 … signatures/s, …``."""
    return (f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}; speed: {cpu_speed()}")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def write_section(name: str, body: str, path: Path = BENCHMARKS) -> None:
    """Replace (or append) the ``name`` section of BENCHMARKS.md between its markers; leave the others alone."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    section = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


@functools.cache
def openssl_rsa2048() -> str:
    """``openssl speed rsa2048``'s signatures per second (one core, 1 s), the floor the lead compares hosts by."""
    import re
    import subprocess

    try:
        out = subprocess.run(["openssl", "speed", "-seconds", "1", "rsa2048"], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "openssl speed rsa2048: not run"
    match = re.search(r"^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)", out, re.M)
    return f"openssl speed rsa2048 {float(match.group(1)):,.0f} signatures/s" if match else "openssl speed: no figure"
