"""What every bench script shares: a description of the machine, and writing one section of BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
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


def machine() -> str:
    """``2 CPUs (AMD EPYC …), Python 3.11.7, Linux 6.x``."""
    return (f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


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
