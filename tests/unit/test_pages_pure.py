"""Pure parts of the public pass page (issue 11): contrast math, platform detection, the card picture, badges."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from api.public.i18n import CATALOG
from api.public.platforms import ANDROID, DESKTOP, IOS, MAC, platform, wallet_order
from walletpass.domain.contrast import AA_NORMAL, contrast_ratio, program_warnings, readable_on, relative_luminance
from walletpass.domain.programs import Program, Tier
from walletpass.fonts import SystemFonts
from walletpass.render.badges import badge
from walletpass.render.preview import field_text, has_cjk, render_preview


def test_contrast_ratio_follows_wcag() -> None:
    assert relative_luminance((0, 0, 0)) == 0 and relative_luminance((255, 255, 255)) == pytest.approx(1)
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    assert contrast_ratio("rgb(255, 255, 255)", "rgb(255, 255, 255)") == pytest.approx(1)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic just-fails grey
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # and the one that passes
    assert contrast_ratio("#ffffff", "#000000") == contrast_ratio("#000000", "#ffffff")  # symmetric


def test_readable_on_keeps_the_brand_colour_when_it_passes() -> None:
    assert readable_on("rgb(120, 72, 40)", "rgb(255, 255, 255)") == (255, 255, 255)
    assert readable_on("#f5d90a", "#ffffff") == (0, 0, 0)  # white on yellow fails: black
    assert readable_on("#1e3c6e") == (255, 255, 255)
    for grey in range(0, 256, 15):  # one of black and white always reaches AA
        assert contrast_ratio(readable_on((grey, grey, grey)), (grey, grey, grey)) >= AA_NORMAL


def test_program_warnings_name_each_failing_pair_tiers_included() -> None:
    good = Program(1, "P", "Org", background_color="rgb(120, 72, 40)", foreground_color="rgb(255, 255, 255)",
                   label_color="rgb(250, 220, 180)")
    assert program_warnings(good) == []
    bad = Program(1, "P", "Org", background_color="rgb(255, 255, 255)", foreground_color="rgb(200, 200, 200)",
                  label_color="rgb(0, 0, 0)",
                  tiers=(Tier("Bronze", 0), Tier("Gold", 100, background_color="rgb(176, 132, 30)")))
    warnings = program_warnings(bad)
    assert [(w.field, w.against) for w in warnings] == [
        ("foreground_color", "background_color"), ("tiers[1].foreground_color", "tiers[1].background_color")]
    assert warnings[0].ratio == pytest.approx(1.67, abs=0.01) and "4.5:1" in warnings[0].detail


@pytest.mark.parametrize(("agent", "kind"), [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 Version/18.5 Mobile/15E148 "
     "Safari/604.1", IOS),
    ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 CriOS/120.0 Mobile/15E148 Safari/604.1", IOS),
    ("Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 Chrome/131.0.0.0 Mobile Safari/537.36", ANDROID),
    ("Mozilla/5.0 (Linux; Android 14; SM-S928B) AppleWebKit/537.36 SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile "
     "Safari/537.36", ANDROID),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
     "Safari/605.1.15", MAC),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36", DESKTOP),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36", DESKTOP),
    ("", DESKTOP), (None, DESKTOP),
])
def test_platform_from_the_user_agent(agent: str | None, kind: str) -> None:
    assert platform(agent) == kind


def test_each_platform_sees_its_own_wallet_first() -> None:
    assert wallet_order(IOS) == wallet_order(MAC) == wallet_order(DESKTOP) == ("apple", "google")
    assert wallet_order(ANDROID) == ("google", "apple")


def _pass_json(name: str) -> dict[str, object]:
    return {"backgroundColor": "rgb(176, 132, 30)", "foregroundColor": "rgb(255, 255, 255)",
            "labelColor": "rgb(250, 220, 180)", "logoText": "organization_name",
            "storeCard": {"headerFields": [{"key": "tier", "label": "tier_label", "value": "tier.Gold"}],
                          "primaryFields": [{"key": "points", "label": "points_label", "value": 1250}],
                          "secondaryFields": [{"key": "member", "label": "member_label", "value": name}]},
            "barcodes": [{"format": "PKBarcodeFormatQR", "message": "123456789012", "altText": "123456789012"}]}


def test_the_card_picture_draws_the_pass_colours_and_a_cjk_name() -> None:
    fonts = SystemFonts()
    strings = {"organization_name": "晨光咖啡", "tier_label": "等級", "tier.Gold": "金卡", "points_label": "點數",
               "member_label": "會員"}
    png = render_preview(_pass_json("林美"), strings, "zh-Hant", fonts)
    img = Image.open(io.BytesIO(png)).convert("RGB")
    assert img.width == 560 and img.getpixel((5, 5)) == (176, 132, 30)  # the (tier's) background colour
    assert render_preview(_pass_json("林美"), strings, "zh-Hant", fonts) == png  # deterministic
    if fonts.cjk is None:
        pytest.skip("no CJK font installed (apt-get install fonts-wqy-microhei)")
    # a CJK font draws the name: the glyphs differ from the Latin font's "missing glyph" boxes
    assert render_preview(_pass_json("陳大"), strings, "zh-Hant", fonts) != png


def test_the_card_picture_barcode_is_the_pass_message() -> None:
    zbarimg = __import__("shutil").which("zbarimg")
    if zbarimg is None:
        pytest.skip("no zbarimg (apt-get install zbar-tools)")
    import subprocess
    import tempfile

    png = render_preview(_pass_json("Lin Mei"), {}, "en", SystemFonts())
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(png)
        f.flush()
        out = subprocess.run([zbarimg, "--quiet", "--raw", f.name], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "123456789012"


def test_field_text_formats_like_wallet() -> None:
    assert field_text({"label": "points_label", "value": 12500}, {"points_label": "Points"}, "en") == (
        "Points", "12,500")
    date = {"label": "x", "value": "2026-12-31T15:59:00+00:00", "dateStyle": "PKDateStyleMedium"}
    assert field_text(date, {}, "en")[1] == "Dec 31, 2026" and field_text(date, {}, "zh-Hant")[1] == "2026年12月31日"
    assert has_cjk("林美") and not has_cjk("Lin Mei")


@pytest.mark.parametrize("locale", ["en", "zh-Hant", "zh-Hans"])
def test_badges_are_48_px_with_their_wording(locale: str) -> None:
    apple, google = badge("apple", locale), badge("google", locale)
    assert apple.height == google.height == 48
    assert apple.width >= 120 and google.width >= 150
    assert f'aria-label="{apple.label}"' in apple.svg and 'fill="#000"' in apple.svg
    assert 'fill="#1f1f1f"' in google.svg
    assert {"en": "Add to Apple Wallet", "zh-Hant": "加入 Apple 錢包", "zh-Hans": "添加到 Apple 钱包"}[locale] == apple.label


def test_every_pass_page_text_exists_in_every_language() -> None:
    keys = {k for k in CATALOG["en"] if k.startswith("pass.")}
    assert keys and all(keys <= set(CATALOG[loc]) for loc in ("zh-Hant", "zh-Hans"))
