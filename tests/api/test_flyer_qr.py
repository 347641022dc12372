"""GET /api/v1/programs/{id}/qr: QR codes (svg, png) and the A6 flyer (pdf) decode, with independent tools, to the
enrolment page's URL with its source; the flyer shows the program's name, logo and call to action in its first
locale, in a font that has the glyphs; bad input is a 422 problem and nothing is drawn.

Decoded by Debian's zbarimg (zbar-tools); SVG rasterised by rsvg-convert (librsvg2-bin), PDF by pdftoppm and read
by pdftotext / pdffonts / pdfimages / pdfinfo (poppler-utils): .ci/run installs them.
"""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from api import create_app
from tests.builders import make_program
from tests.helpers import put_image
from walletpass.bootstrap import bootstrap
from walletpass.services.api_keys import create_api_key


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout


def zbar(png: Path) -> str:
    """What zbarimg reads from an image: the one QR code's text."""
    out = _run("zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(png))
    return out.rstrip("\n")


def decode(data: bytes, fmt: str, tmp: Path) -> str:
    src = tmp / f"code.{fmt}"
    src.write_bytes(data)
    if fmt == "png":
        return zbar(src)
    png = tmp / f"{fmt}.png"
    if fmt == "svg":
        _run("rsvg-convert", "--background-color=white", "-o", str(png), str(src))
        return zbar(png)
    _run("pdftoppm", "-r", "150", "-png", "-singlefile", str(src), str(tmp / "page"))
    return zbar(tmp / "page.png")


def _qr(client, auth, program_id: int, query: str = "", headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return client.get(f"/api/v1/programs/{program_id}/qr{query}", headers={**auth, **(headers or {})})


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_image_decodes_to_the_join_url_with_its_source(client, auth, services, tmp_path, fmt) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    r = _qr(client, auth, pid, f"?src=flyer-a&format={fmt}&ec=H&scale=6&border=4")
    assert r.status_code == 200, r.json
    assert r.mimetype == {"svg": "image/svg+xml", "png": "image/png"}[fmt]
    assert r.headers["Content-Disposition"] == f'inline; filename="program-{pid}-qr-flyer-a.{fmt}"'
    assert re.fullmatch(r'"[0-9a-f]{32}"', r.headers["ETag"]) and r.headers["Cache-Control"] == "private, no-cache"
    url = decode(r.data, fmt, tmp_path)
    assert url == f"{services.settings.base_url}/join/{pid}?src=flyer-a" == services.urls.join(pid, "flyer-a")
    if fmt == "png":
        with Image.open(io.BytesIO(r.data)) as img:
            assert img.width == img.height and img.width % 6 == 0  # 6 px a module, the quiet zone included


def test_defaults_and_options_change_the_code(client, auth, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No src: the bare join URL; ec L gives a smaller (or equal) symbol than H; scale and border size the PNG."""
    pid = make_program(services)
    r = _qr(client, auth, pid)
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    assert r.headers["Content-Disposition"] == f'inline; filename="program-{pid}-qr.svg"'
    assert decode(r.data, "svg", tmp_path) == f"{services.settings.base_url}/join/{pid}"

    def side(query: str) -> int:
        resp = _qr(client, auth, pid, query)
        assert resp.status_code == 200
        with Image.open(io.BytesIO(resp.data)) as img:
            return img.width

    low, high = side("?format=png&ec=l&scale=1&border=0"), side("?format=png&ec=H&scale=1&border=0")
    assert low < high  # H needs a larger version for the same URL
    assert side("?format=png&ec=l&scale=3&border=2") == 3 * (low + 4)


def test_flyer_pdf_is_a6_with_name_logo_and_call_to_action_in_the_first_locale(client, auth, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services, locales=["zh-Hant", "en", "zh-Hans"])
    logo = Image.new("RGB", (300, 100), (250, 200, 40))
    buf = io.BytesIO()
    logo.save(buf, format="PNG")
    assert put_image(client, auth, pid, "logo", buf.getvalue()).status_code == 204

    r = _qr(client, auth, pid, "?src=poster.7&format=pdf&ec=Q")
    assert r.status_code == 200, r.json
    assert r.mimetype == "application/pdf" and r.data.startswith(b"%PDF-")
    assert r.headers["Content-Disposition"] == f'inline; filename="program-{pid}-flyer-poster.7.pdf"'
    assert decode(r.data, "pdf", tmp_path) == f"{services.settings.base_url}/join/{pid}?src=poster.7"

    pdf = tmp_path / "code.pdf"
    info = _run("pdfinfo", str(pdf))
    assert re.search(r"Page size:\s+297\.6\d* x 419\.5\d* pts", info), info  # 105 × 148 mm
    assert re.search(r"^Pages:\s+1$", info, re.M), info
    text = _run("pdftotext", "-layout", str(pdf), "-")
    assert "晨光會員" in text  # the program's name in zh-Hant, its first locale
    assert "掃描加入會員" in text and "Apple 錢包" in text and "Scan to join" not in text
    fonts = _run("pdffonts", str(pdf))
    assert re.search(r"WenQuanYiMicroHei\s+CID TrueType\s+Identity-H\s+yes\s+yes\s+yes", fonts), fonts
    images = _run("pdfimages", "-list", str(pdf))
    assert re.search(r"^\s*1\s+0\s+image\s+300\s+100\s", images, re.M), images  # the stored logo, at its size


@pytest.mark.parametrize(("locales", "name", "cta"), [
    (["en", "zh-Hant"], "Morning Light Rewards", "Scan to join"),
    (["zh-Hans", "en"], "Morning Light Rewards", "扫码加入会员"),
])
def test_flyer_speaks_the_program_first_locale(client, auth, services, tmp_path, locales, name, cta) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services, locales=locales, texts={})
    r = _qr(client, auth, pid, "?format=pdf")
    assert r.status_code == 200, r.json
    (tmp_path / "f.pdf").write_bytes(r.data)
    text = _run("pdftotext", str(tmp_path / "f.pdf"), "-")
    assert name in text and cta in text


def test_etag_answers_304_and_changes_with_the_program(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    first = _qr(client, auth, pid, "?format=pdf&src=a")
    etag = first.headers["ETag"]
    again = _qr(client, auth, pid, "?format=pdf&src=a", {"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    assert _qr(client, auth, pid, "?format=pdf&src=a").data == first.data  # the same inputs draw the same bytes
    assert _qr(client, auth, pid, "?format=pdf&src=b").headers["ETag"] != etag
    assert _qr(client, auth, pid, "?format=svg&src=a").headers["ETag"] != etag
    r = client.patch(f"/api/v1/programs/{pid}", json={"name": "Renamed"}, headers=auth)
    assert r.status_code == 200
    changed = _qr(client, auth, pid, "?format=pdf&src=a", {"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


@pytest.mark.parametrize(("query", "field"), [
    ("?format=gif", "format"), ("?format=PDF", "format"), ("?ec=X", "ec"), ("?ec=", "ec"),
    ("?scale=0", "scale"), ("?scale=41", "scale"), ("?scale=abc", "scale"), ("?scale=-1", "scale"),
    ("?scale=%EF%BC%95", "scale"), ("?border=17", "border"), ("?border=1.5", "border"),
    ("?src=", "src"), ("?src=a%20b", "src"), ("?src=-flyer", "src"), ("?src=" + "a" * 65, "src"),
    ("?src=%C3%A9t%C3%A9", "src"), ("?src=a%0A", "src"), ("?src=a/b", "src"),
    ("?format=pdf&scale=5", "scale"), ("?format=pdf&border=2", "border"), ("?size=3", "size"),
    ("?src=a&src=b", "src"),
])
def test_bad_options_are_422_naming_the_parameter(client, auth, services, query, field) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    r = _qr(client, auth, pid, query)
    assert r.status_code == 422 and r.mimetype == "application/problem+json", (r.status_code, r.data[:200])
    assert r.json["errors"][0]["field"] == field and r.json["detail"]


def test_unknown_program_is_404_and_the_scope_is_programs(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    r = _qr(client, auth, pid + 1000, "?format=pdf")
    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    for scopes, status in ((["stats"], 403), (["members"], 403), (["programs"], 200)):
        key = create_api_key(services.uow(), services.clock, services.api_keys.hasher, "k", scopes)
        assert _qr(client, {"Authorization": f"Bearer {key}"}, pid).status_code == status
    other = make_program(services)
    bound = create_api_key(services.uow(), services.clock, services.api_keys.hasher, "b", ["programs"],
                           programs=[other])
    r = _qr(client, {"Authorization": f"Bearer {bound}"}, pid)
    assert r.status_code == 404  # another program's: as if it did not exist
    assert client.get(f"/api/v1/programs/{pid}/qr").status_code == 401


def test_a_font_without_the_glyphs_refuses_rather_than_print_boxes(settings) -> None:  # type: ignore[no-untyped-def]
    """A flyer font lacking the call to action's characters is the operator's to fix (503), one lacking the
    program's name's the marketer's (409, naming them): never boxes ("tofu") on paper."""
    latin_only = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not latin_only.exists():
        pytest.skip("no DejaVu Sans to stand for a Latin-only font")
    services = bootstrap(settings.replace(flyer_font=latin_only))
    try:
        client = create_app(services=services).test_client()
        key = create_api_key(services.uow(), services.clock, services.api_keys.hasher, "k", ["admin"])
        auth = {"Authorization": f"Bearer {key}"}
        chinese_first = make_program(services, locales=["zh-Hant", "en", "zh-Hans"])
        r = client.get(f"/api/v1/programs/{chinese_first}/qr?format=pdf", headers=auth)
        assert r.status_code == 503 and r.mimetype == "application/problem+json"
        assert "no glyph for '掃描加入會員" in r.json["detail"]
        english_first = make_program(services, name="晨光 Morning Light")
        r = client.get(f"/api/v1/programs/{english_first}/qr?format=pdf", headers=auth)
        assert r.status_code == 409 and "'晨光'" in r.json["detail"]
        latin = make_program(services, name="Morning Light")
        assert client.get(f"/api/v1/programs/{latin}/qr?format=pdf", headers=auth).status_code == 200
        missing = services.settings.replace(flyer_font=Path("/nonexistent/font.ttc"))
        client = create_app(services=bootstrap(missing)).test_client()
        r = client.get(f"/api/v1/programs/{latin}/qr?format=pdf", headers=auth)
        assert r.status_code == 503 and "fonts-wqy-microhei" in r.json["detail"]
        assert client.get(f"/api/v1/programs/{latin}/qr?format=svg", headers=auth).status_code == 200  # no font
    finally:
        services.close()


def test_a_name_with_characters_nothing_can_draw_prints_without_them(client, auth, services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Control, format, private-use and unassigned code points have no glyph in any font: left out; a long name is
    cut with an ellipsis."""
    pid = make_program(services, name="晨光\x97\u200b\ue000\U00041c04 Café", locales=["en"], texts={})
    r = _qr(client, auth, pid, "?format=pdf")
    assert r.status_code == 200, r.json
    (tmp_path / "f.pdf").write_bytes(r.data)
    assert "晨光 Café" in _run("pdftotext", str(tmp_path / "f.pdf"), "-")
    long = make_program(services, name="晨" * 100, locales=["en"], texts={})
    r = _qr(client, auth, long, "?format=pdf")
    assert r.status_code == 200
    (tmp_path / "g.pdf").write_bytes(r.data)
    assert decode(r.data, "pdf", tmp_path) == services.urls.join(long)
    assert "晨" * 59 + "…" in _run("pdftotext", "-raw", str(tmp_path / "g.pdf"), "-").replace("\n", "")
