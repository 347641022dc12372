"""The fonts the card previews are drawn with, found on the system (an adapter: it reads font files).

Latin text uses DejaVu Sans (Debian ``fonts-dejavu-core``); text with Chinese characters a CJK font: WenQuanYi
Micro Hei (``fonts-wqy-microhei``), Noto Sans CJK (``fonts-noto-cjk``) or WenQuanYi Zen Hei, the first found.
Without a CJK font Chinese names are drawn with the Latin font (boxes); without any, Pillow's own font. The
Dockerfile and .ci/run install ``fonts-dejavu-core`` and ``fonts-wqy-microhei``.

Fonts are opened by path (FreeType reads the file as it needs it: one copy per process however many sizes).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path

from PIL import ImageFont

from walletpass.render.preview import Font

log = logging.getLogger("walletpass.fonts")

_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")
LATIN = ("truetype/dejavu/DejaVuSans.ttf",)
LATIN_BOLD = ("truetype/dejavu/DejaVuSans-Bold.ttf",)
CJK = ("truetype/wqy/wqy-microhei.ttc", "opentype/noto/NotoSansCJK-Regular.ttc", "truetype/wqy/wqy-zenhei.ttc")
CJK_BOLD = ("opentype/noto/NotoSansCJK-Bold.ttc",)


def find_font(candidates: Sequence[str], dirs: Sequence[str] = _FONT_DIRS) -> str | None:
    """The first of *candidates* (paths under the font folders) that exists, or None."""
    for d in dirs:
        for c in candidates:
            if (Path(d) / c).is_file():
                return str(Path(d) / c)
    return None


class SystemFonts:
    """A :class:`walletpass.render.preview.FontBook` over the fonts installed on this machine."""

    def __init__(self, dirs: Sequence[str] = _FONT_DIRS) -> None:
        self.latin = find_font(LATIN, dirs)
        self.latin_bold = find_font(LATIN_BOLD, dirs) or self.latin
        self.cjk = find_font(CJK, dirs)
        self.cjk_bold = find_font(CJK_BOLD, dirs) or self.cjk
        if self.cjk is None:
            log.warning("no CJK font found (apt-get install fonts-wqy-microhei): Chinese names on card previews "
                        "are drawn as boxes")

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one per process (Services), a handful of sizes
    def font(self, size: int, *, bold: bool = False, cjk: bool = False) -> Font:
        path = (self.cjk_bold if bold else self.cjk) if cjk else None
        path = path or (self.latin_bold if bold else self.latin) or (self.cjk_bold if bold else self.cjk)
        if path is None:
            return ImageFont.load_default(size)
        return ImageFont.truetype(path, size)
