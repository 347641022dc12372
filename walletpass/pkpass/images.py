"""Pass images with Pillow: check uploads, then make 1x/@2x/@3x PNGs of each slot from one source.

Sizes in points (apple.md §2.9; pixels = points × scale):

======  ==================  ============================================================================
slot    size (pt)           why
======  ==================  ============================================================================
icon    38 × 38, cropped    Apple pass-builder 2026 ("required size"); the archived guide's 29 pt is older.
                            A larger icon is only scaled down by Wallet, a smaller one would be blurry.
logo    fits in 160 × 50    both sources agree on the bound; the aspect ratio is kept, no padding.
strip   375 × 123 storeCard the archived guide: 375×144 for coupons (and gift cards), 375×123 for other
        375 × 144 coupon    store cards such as loyalty cards; pass-builder's single 375×144 is for posters.
artwork 358 × 448, cropped  pass-builder 2026: the full-bleed art of iOS 27's posterGeneric (member cards of a
                            program whose member_card_style is posterGeneric; other cards leave it out).
======  ==================  ============================================================================

The most pixels a slot needs is a coupon strip at @3x, 1125 × 432 (0.49 Mpx); Google, which fetches the uploaded
logo and hero as they are, asks for a logo of at least 660 × 660 and a 1032 × 336 hero. Sources are capped at
:data:`MAX_PIXELS` (4 Mpx: eight times the strip, e.g. 2000 × 2000 or 3600 × 1100, room enough for any crop):
more pixels show nowhere and only cost memory and time: a 5000 × 5000 PNG of one colour (84 KB) decoded with
~195 MB of peak memory in 0.6-0.9 s here (BENCHMARKS.md, "images"), and four such uploads at once took a web
process 659 MB further (issue 9).

Only PNG and JPEG are accepted. Before Pillow decodes anything, the dimensions are read from the file header
(PNG IHDR, JPEG SOFn) and checked against :data:`MAX_PIXELS` / :data:`MAX_SIDE`, so a tiny file declaring
30000×30000 is refused in microseconds and Pillow's own DecompressionBombWarning is never reached (its
threshold, 89 Mpx, is far above ours); DecompressionBombError is translated all the same. A JPEG much larger
than the slot needs is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling through ``Image.draft``), never
below the slot's @3x size. Output PNGs carry no metadata, so the same source gives the same bytes.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image, ImageOps

from walletpass.errors import InvalidInput, PayloadTooLarge

PNG, JPEG = "image/png", "image/jpeg"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"

#: Largest source image accepted, in pixels and per side (see the module docstring; a 4032×3024 phone photo,
#: 12.2 Mpx, must be scaled down first).
MAX_PIXELS = 4_000_000
MAX_SIDE = 10_000
#: Pixels Google wants of the slots it fetches as uploaded (google.md: logo ≥ 660×660, hero 1032×336).
_GOOGLE_SIDE = {"logo": 660, "hero": 1032}
#: Byte cap used when the caller gives none (template images from disk).
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
SCALES = (1, 2, 3)


@dataclass(frozen=True, slots=True)
class Slot:
    """An image slot of a pass style: size in points and how a source is fitted into it."""

    name: str
    width: int
    height: int
    fit: str  # "cover": crop to exactly this size; "contain": scale to fit inside, keep the aspect ratio


_ICON = Slot("icon", 38, 38, "cover")
_LOGO = Slot("logo", 160, 50, "contain")
#: Slots per pass style (apple.md §2.9 table 4-1: storeCard and coupon take logo, icon, strip).
SLOTS: Mapping[str, Mapping[str, Slot]] = {
    "storeCard": {"icon": _ICON, "logo": _LOGO, "strip": Slot("strip", 375, 123, "cover"),
                  "artwork": Slot("artwork", 358, 448, "cover")},
    "coupon": {"icon": _ICON, "logo": _LOGO, "strip": Slot("strip", 375, 144, "cover")},
}


def file_names(slot: str) -> tuple[str, ...]:
    """``icon.png``, ``icon@2x.png``, ``icon@3x.png`` for *slot*."""
    return tuple(f"{slot}.png" if s == 1 else f"{slot}@{s}x.png" for s in SCALES)


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the first SOFn segment, without decoding."""
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # stand-alone markers
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        pos += 2 + length
    return None


def check_image(data: bytes, *, field: str, max_bytes: int) -> str:
    """Check an uploaded image without decoding its pixels; return its content type.

    Raises PayloadTooLarge over *max_bytes*, InvalidInput (naming *field*) for anything but a PNG or JPEG,
    an unreadable header, or dimensions over :data:`MAX_SIDE` / :data:`MAX_PIXELS` (decompression bombs).
    """
    if len(data) > max_bytes:
        raise PayloadTooLarge(field, f"image is {len(data)} bytes; the limit is {max_bytes} bytes — "
                                     "upload a smaller PNG or JPEG")
    if data.startswith(_PNG_MAGIC):
        kind, size = PNG, _png_size(data)
    elif data.startswith(_JPEG_MAGIC):
        kind, size = JPEG, _jpeg_size(data)
    else:
        raise InvalidInput(field, "not a PNG or JPEG image; upload a .png or .jpg file")
    if size is None:
        raise InvalidInput(field, f"damaged {kind.split('/')[1].upper()} header; export the image again")
    width, height = size
    if width < 1 or height < 1:
        raise InvalidInput(field, f"image declares {width}×{height} pixels; it must not be empty")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise InvalidInput(field, f"image declares {width}×{height} pixels; the limit is {MAX_SIDE} per side "
                                  f"and {MAX_PIXELS / 1e6:g} megapixels (this one has {width * height / 1e6:.1f}), "
                                  "far more than any pass shows — scale it down")
    return kind


def open_image(data: bytes, *, field: str, max_bytes: int = DEFAULT_MAX_BYTES, need: int = 0) -> Image.Image:
    """Check *data* (:func:`check_image`) then decode it; return an RGB or RGBA image.

    *need* is the longest side, in pixels, that the caller will make from it (0: the full image): a JPEG at
    least twice as large on both sides is decoded at 1/2, 1/4 or 1/8 scale, each side still ≥ *need* (so in any
    EXIF orientation). A PNG is always decoded in full.
    """
    check_image(data, field=field, max_bytes=max_bytes)
    try:
        img = Image.open(io.BytesIO(data), formats=("PNG", "JPEG"))
        if need and img.format == "JPEG":
            img.draft(img.mode, (need, need))
        img.load()
    except Image.DecompressionBombError as exc:  # unreachable after check_image; kept as a second fence
        raise InvalidInput(field, f"image is too large to decode safely ({exc}); scale it down") from exc
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise InvalidInput(field, f"cannot decode the image ({exc}); export it again as PNG or JPEG") from exc
    upright: Image.Image = ImageOps.exif_transpose(img) if img.format == "JPEG" else img
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    return upright.convert("RGBA" if has_alpha else "RGB")


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=9)
    return buf.getvalue()


def _need(spec: Slot) -> int:
    """The longest side a slot's @3x file takes: what a source must keep when decoded at reduced scale."""
    return max(spec.width, spec.height) * SCALES[-1]


def _fitted(img: Image.Image, slot: Slot, scale: int) -> Image.Image:
    if slot.fit == "cover":
        return ImageOps.fit(img, (slot.width * scale, slot.height * scale), Image.Resampling.LANCZOS)
    ratio = min(slot.width / img.width, slot.height / img.height)
    w1, h1 = max(1, round(img.width * ratio)), max(1, round(img.height * ratio))  # the 1x size in points
    return img.resize((w1 * scale, h1 * scale), Image.Resampling.LANCZOS)


def render_slot(data: bytes, slot: str, *, style: str, field: str | None = None,
                max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, bytes]:
    """Make ``<slot>.png``, ``@2x`` and ``@3x`` PNG bytes for *style* from one source image."""
    slots = SLOTS.get(style)
    if slots is None:
        raise InvalidInput("style", f"no image sizes for pass style {style!r}; use one of {', '.join(SLOTS)}")
    spec = slots.get(slot)
    label = field or f"images.{slot}"
    if spec is None:
        raise InvalidInput(label, f"{style} passes take the images {', '.join(slots)}; remove {slot!r}")
    img = open_image(data, field=label, max_bytes=max_bytes, need=_need(spec))
    return {name: _png(_fitted(img, spec, scale)) for name, scale in zip(file_names(slot), SCALES, strict=True)}


def check_upload(data: bytes, slot: str, *, field: str, max_bytes: int) -> str:
    """Check an upload as every pass will use it; return its content type.

    Beyond :func:`check_image` (type, size, declared dimensions), the image is decoded in full and rendered into
    each Apple style that has *slot*, so a file with a good header but corrupt data is refused here, before it
    is stored, instead of breaking every later pass of its program. A slot no Apple style has (Google's hero)
    is decoded only. A JPEG is decoded at the scale the largest of those needs (:func:`open_image`).
    """
    kind = check_image(data, field=field, max_bytes=max_bytes)
    specs = {slots[slot] for slots in SLOTS.values() if slot in slots}
    need = max([_GOOGLE_SIDE.get(slot, 0), *map(_need, specs)])
    img = open_image(data, field=field, max_bytes=max_bytes, need=need)
    for spec in specs:
        for scale in SCALES:
            _fitted(img, spec, scale)  # resampling is where a decoded image could still fail; PNG encoding is not
    return kind


def render_images(sources: Mapping[str, bytes], *, style: str, max_bytes: int = DEFAULT_MAX_BYTES
                  ) -> dict[str, bytes]:
    """Make every file of every slot in *sources* (slot → source bytes), sorted by file name."""
    files: dict[str, bytes] = {}
    for slot in sorted(sources):
        files.update(render_slot(sources[slot], slot, style=style, max_bytes=max_bytes))
    return dict(sorted(files.items()))
