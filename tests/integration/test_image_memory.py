"""What an upload costs to check and render, measured as the growth of a fresh process's peak RSS (issue 9 item 8):
a 5000×5000 PNG (84 KB, 25 Mpx) is refused from its header without a pixel decoded — before the 4 Mpx cap it
took ~197 MB and seconds; a 2000×2000 JPEG made into an icon is decoded at 1/8 scale (~33 MB in full before).
Peak RSS is a high-water mark kept by the kernel (Linux VmHWM), not a time: deterministic to a few MB."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import REPO_ROOT, flat_png

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from Linux /proc")

_CHILD = """
import json, sys
from pathlib import Path
from walletpass.errors import InvalidInput
from walletpass.pkpass.images import check_upload, render_slot

def peak_kb():  # VmHWM: this process's own peak RSS (getrusage's maxrss keeps the parent's across exec)
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
    return int(line.split()[1])

data, slot = Path(sys.argv[1]).read_bytes(), sys.argv[2]
before = peak_kb()
try:
    check_upload(data, slot, field="image", max_bytes=len(data))
    outcome = sorted(render_slot(data, slot, style="coupon"))
except InvalidInput as exc:
    outcome = exc.detail
print(json.dumps({"outcome": outcome, "grew_mb": (peak_kb() - before) / 1024}), flush=True)
"""

def _check_in_a_fresh_process(data: bytes, slot: str, tmp_path: Path) -> tuple[object, float]:
    source = tmp_path / "upload"
    source.write_bytes(data)
    done = subprocess.run([sys.executable, "-c", _CHILD, str(source), slot], cwd=REPO_ROOT, capture_output=True,
                          text=True, check=True, env={"PYTHONPATH": str(REPO_ROOT)})
    result = json.loads(done.stdout)
    return result["outcome"], result["grew_mb"]


def test_a_5000_by_5000_png_is_refused_from_its_header(tmp_path: Path) -> None:
    data = flat_png(5000, 5000)
    assert len(data) < 100_000
    outcome, grew_mb = _check_in_a_fresh_process(data, "strip", tmp_path)
    assert "5000×5000 pixels" in outcome and "4 megapixels (this one has 25.0)" in outcome  # type: ignore[operator]
    assert grew_mb < 20, grew_mb  # decoded, it was ~197 MB


@pytest.mark.parametrize(("slot", "bound_mb"), [("icon", 8), ("logo", 20)])
def test_a_2000_by_2000_jpeg_is_decoded_at_the_scale_its_slot_needs(slot: str, bound_mb: int, tmp_path: Path) -> None:
    """icon (114 px at @3x): decoded at 1/8, 250×250, ~3 MB; logo (Google wants 660 px): at 1/2, ~10 MB."""
    # a baseline JPEG with detail (a progressive one keeps a full-size coefficient buffer whatever the scale)
    buf = io.BytesIO()
    Image.effect_noise((2000, 2000), 60).convert("RGB").save(buf, format="JPEG", quality=85)
    outcome, grew_mb = _check_in_a_fresh_process(buf.getvalue(), slot, tmp_path)
    assert outcome == sorted([f"{slot}.png", f"{slot}@2x.png", f"{slot}@3x.png"])
    assert grew_mb < bound_mb, grew_mb  # decoded in full (2000×2000 RGB, then copies), it was ~33 MB
