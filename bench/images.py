"""Benchmark: what an image upload costs to check and decode — wall time and peak RSS growth (issue 9 item 8).

Each case runs in a fresh process, which reads its own peak RSS (Linux ``VmHWM``) before and after one call, so
one case's memory cannot hide another's. Cases:

- a 5000×5000 PNG of one colour (84 KB): ``check_upload`` now (refused from its header: 4 Mpx cap), and what
  decoding it costs (``Image.open`` + ``load`` + ``convert``: what every upload of it cost before the cap);
- a 2000×2000 JPEG with detail (2.5 MB, baseline): ``open_image`` for the icon (``need=114``: decoded at 1/8
  scale through ``Image.draft``), against ``need=0`` (a full decode, as before);
- the same JPEG through ``check_upload`` + ``render_slot`` for the icon (what a PUT of it costs now).

Run: ``.venv/bin/python bench/images.py [--write]`` — ``--write`` updates the images section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ is sys.path[0] and bench/google.py would shadow the ``google`` namespace package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from bench._common import load_average, machine, write_section  # noqa: E402
from tests.helpers import flat_png  # noqa: E402

_CHILD = """
import io, json, sys, time
from pathlib import Path
from PIL import Image
from walletpass.errors import InvalidInput
from walletpass.pkpass import images

def peak_kb():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
    return int(line.split()[1])

data, case = Path(sys.argv[1]).read_bytes(), sys.argv[2]
calls = {
    "check_upload": lambda: images.check_upload(data, "strip", field="image", max_bytes=len(data)),
    "pillow_decode": lambda: Image.open(io.BytesIO(data)).convert("RGB"),
    "open_need_0": lambda: images.open_image(data, field="image"),
    "open_need_114": lambda: images.open_image(data, field="image", need=114),
    "upload_icon": lambda: [images.check_upload(data, "icon", field="image", max_bytes=len(data)),
                            images.render_slot(data, "icon", style="storeCard")],
}
before, start = peak_kb(), time.perf_counter()
try:
    calls[case]()
    outcome = "accepted" if case in ("check_upload", "upload_icon") else "decoded"
except InvalidInput as exc:
    outcome = "422"
print(json.dumps({"ms": (time.perf_counter() - start) * 1000, "mb": (peak_kb() - before) / 1024,
                  "outcome": outcome}))
"""

CASES = [
    ("png5000", "check_upload", "5000×5000 PNG (84 KB): `check_upload` now — refused from the header"),
    ("png5000", "pillow_decode", "5000×5000 PNG: a full decode (what each upload of it cost before the cap)"),
    ("jpeg2000", "open_need_114", "2000×2000 JPEG (2.5 MB): decode for the icon, draft at 1/8 (now)"),
    ("jpeg2000", "open_need_0", "2000×2000 JPEG: full decode (before)"),
    ("jpeg2000", "upload_icon", "2000×2000 JPEG: `check_upload` + `render_slot` for the icon (a PUT now)"),
]


def _sources(folder: Path) -> dict[str, Path]:
    buf = io.BytesIO()
    Image.effect_noise((2000, 2000), 60).convert("RGB").save(buf, format="JPEG", quality=85)
    out = {"png5000": folder / "png5000", "jpeg2000": folder / "jpeg2000"}
    out["png5000"].write_bytes(flat_png(5000, 5000))
    out["jpeg2000"].write_bytes(buf.getvalue())
    return out


def measure(source: Path, case: str, runs: int) -> dict[str, float | str]:
    """Best time and largest peak growth of *runs* fresh processes."""
    results = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", _CHILD, str(source), case], cwd=ROOT, check=True,
                              capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)})
        results.append(json.loads(done.stdout))
    return {"ms": min(r["ms"] for r in results), "mb": max(r["mb"] for r in results),
            "outcome": results[0]["outcome"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update the images section of BENCHMARKS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sources = _sources(Path(tmp))
        rows = [(label, measure(sources[src], case, args.runs)) for src, case, label in CASES]
    lines = [
        "## images — what an upload costs to check and decode",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}; load average after the run {load_average()}.",
        f"Command: `.venv/bin/python bench/images.py --runs {args.runs} --write`. Each row is a fresh process: "
        "the best wall time of the runs and the largest growth of its peak RSS (VmHWM) over the one call.",
        "",
        "| case | result | time | peak RSS growth |",
        "| --- | --- | ---: | ---: |",
        *[f"| {label} | {r['outcome']} | {r['ms']:,.1f} ms | {r['mb']:,.1f} MB |" for label, r in rows],
        "",
        "Sources are capped at 4 Mpx (the largest slot, a coupon strip at @3x, is 0.49 Mpx); a JPEG is decoded at "
        "the smallest of 1/2, 1/4, 1/8 scale that keeps the slot's @3x size (a progressive JPEG still buffers "
        "its coefficients at full size). `walletpass/pkpass/images.py`; tests: tests/integration/test_image_memory.py.",
    ]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section("images", body)


if __name__ == "__main__":
    main()
