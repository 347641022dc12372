"""Images: only PNG/JPEG, bombs refused before decoding, byte caps, 1x/@2x/@3x sizes, deterministic PNGs."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from tests.helpers import bomb_png, flat_png, jpeg, png
from walletpass.errors import InvalidInput, PayloadTooLarge
from walletpass.pkpass import images


def test_check_image_content_types() -> None:
    assert images.check_image(png(10, 10), field="logo", max_bytes=10_000) == "image/png"
    assert images.check_image(jpeg(10, 10), field="logo", max_bytes=10_000) == "image/jpeg"


@pytest.mark.parametrize("data", [b"GIF89a\x01\x00\x01\x00", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"",
                                  b"%PDF-1.7"])
def test_non_png_jpeg_rejected(data: bytes) -> None:
    with pytest.raises(InvalidInput) as info:
        images.check_image(data, field="images.logo", max_bytes=10_000)
    assert info.value.field == "images.logo" and "not a PNG or JPEG" in info.value.detail


def test_webp_rejected() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="WEBP")
    with pytest.raises(InvalidInput, match="not a PNG or JPEG"):
        images.check_image(buf.getvalue(), field="icon", max_bytes=10_000)


def test_over_cap_upload_rejected() -> None:
    data = png(64, 64)
    with pytest.raises(PayloadTooLarge) as info:
        images.check_image(data, field="images.strip", max_bytes=len(data) - 1)
    assert info.value.field == "images.strip" and f"limit is {len(data) - 1} bytes" in info.value.detail


def test_decompression_bomb_rejected_from_its_header_without_warning(recwarn: pytest.WarningsRecorder) -> None:
    """Refused before any pixel is decoded (the memory bound is tests/integration/test_image_memory.py)."""
    data = bomb_png(30000, 30000)
    assert len(data) < 200
    with pytest.raises(InvalidInput) as info:
        images.render_slot(data, "icon", style="storeCard")
    assert "30000×30000" in info.value.detail and "scale it down" in info.value.detail
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_jpeg_bomb_rejected_from_header() -> None:
    data = bytearray(jpeg(16, 16))
    sof = next(i for i in range(2, len(data)) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC2))
    data[sof + 5:sof + 9] = struct.pack(">HH", 20000, 20000)
    with pytest.raises(InvalidInput, match="20000×20000"):
        images.check_image(bytes(data), field="strip", max_bytes=1_000_000)


def test_truncated_png_rejected_on_decode() -> None:
    data = png(200, 200, color=None)[:-40]
    with pytest.raises(InvalidInput) as info:
        images.open_image(data, field="images.icon")
    assert info.value.field == "images.icon" and "cannot decode" in info.value.detail


@pytest.mark.parametrize(("style", "slot", "sizes"), [
    ("storeCard", "icon", [(38, 38), (76, 76), (114, 114)]),
    ("coupon", "icon", [(38, 38), (76, 76), (114, 114)]),
    ("storeCard", "strip", [(375, 123), (750, 246), (1125, 369)]),
    ("coupon", "strip", [(375, 144), (750, 288), (1125, 432)]),
])
def test_sizes_at_1x_2x_3x(style: str, slot: str, sizes: list[tuple[int, int]]) -> None:
    out = images.render_slot(png(1200, 900), slot, style=style)
    assert list(out) == list(images.file_names(slot))
    assert [Image.open(io.BytesIO(b)).size for b in out.values()] == sizes


def test_logo_fits_160x50_keeping_aspect() -> None:
    out = images.render_slot(png(480, 240, "RGBA", (0, 0, 0, 0)), "logo", style="storeCard")
    sizes = [Image.open(io.BytesIO(b)).size for b in out.values()]
    assert sizes == [(100, 50), (200, 100), (300, 150)]
    assert Image.open(io.BytesIO(out["logo.png"])).mode == "RGBA"
    wide = images.render_slot(jpeg(1600, 100), "logo", style="coupon")
    assert Image.open(io.BytesIO(wide["logo@3x.png"])).size == (480, 30)


def test_output_is_png_and_deterministic() -> None:
    src = jpeg(500, 500)
    a = images.render_images({"icon": src, "strip": src}, style="coupon")
    b = images.render_images({"strip": src, "icon": src}, style="coupon")
    assert a == b
    assert all(v.startswith(b"\x89PNG") for v in a.values())


def test_slot_not_supported_by_style() -> None:
    with pytest.raises(InvalidInput) as info:
        images.render_slot(png(90, 90), "thumbnail", style="storeCard")
    assert info.value.field == "images.thumbnail" and "icon, logo, strip" in info.value.detail


@pytest.mark.parametrize("slot", ["icon", "logo", "strip", "hero"])
def test_check_upload_decodes_and_renders_before_anything_is_stored(slot: str) -> None:
    good = png(400, 300)
    assert images.check_upload(good, slot, field="image", max_bytes=100_000) == "image/png"
    assert images.check_upload(jpeg(400, 300), slot, field="image", max_bytes=100_000) == "image/jpeg"
    start = good.index(b"IDAT") + 8
    corrupt = good[:start] + b"\x00\xff" * 40 + good[start + 80:]  # the header check alone lets this through
    assert images.check_image(corrupt, field="image", max_bytes=100_000) == "image/png"
    with pytest.raises(InvalidInput) as info:
        images.check_upload(corrupt, slot, field="image", max_bytes=100_000)
    assert info.value.field == "image" and "cannot decode the image" in info.value.detail
    assert "export it again as PNG or JPEG" in info.value.detail


def test_over_4_megapixels_refused_naming_the_limit_and_the_size() -> None:
    """issue 9 item 8: no slot needs more than 0.5 Mpx; 4 Mpx is the cap (a 5000×5000 PNG of 84 KB decodes
    into 75 MB). The header says it: nothing is decoded (tests/integration/test_image_memory.py)."""
    with pytest.raises(InvalidInput) as info:
        images.check_image(flat_png(5000, 5000), field="image", max_bytes=1_000_000)
    assert info.value.field == "image"
    assert "5000×5000 pixels; the limit is 10000 per side and 4 megapixels (this one has 25.0)" in info.value.detail
    assert images.check_image(png(2000, 2000), field="image", max_bytes=1_000_000) == "image/png"
    with pytest.raises(InvalidInput, match=r"2001×2000 pixels;.* \(this one has 4.0\)"):
        images.check_image(bomb_png(2001, 2000), field="image", max_bytes=1_000_000)


def test_a_large_jpeg_is_decoded_at_the_scale_the_caller_needs() -> None:
    data = jpeg(2000, 2000)
    assert images.open_image(data, field="image").size == (2000, 2000)
    assert images.open_image(data, field="image", need=114).size == (250, 250)     # 1/8: still ≥ 114
    assert images.open_image(data, field="image", need=480).size == (500, 500)     # 1/4
    assert images.open_image(data, field="image", need=1125).size == (2000, 2000)  # 1/2 would be < 1125
    assert images.open_image(png(600, 600), field="image", need=50).size == (600, 600)  # PNG: no reduced decode
    out = images.render_slot(data, "icon", style="storeCard")
    assert {n: Image.open(io.BytesIO(b)).size for n, b in out.items()} == {
        "icon.png": (38, 38), "icon@2x.png": (76, 76), "icon@3x.png": (114, 114)}
