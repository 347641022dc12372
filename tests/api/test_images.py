"""PUT /api/v1/programs/{id}/images/{slot}: a bad upload is a 4xx problem+json and changes nothing."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from PIL import Image

from tests.builders import make_member, make_program
from tests.helpers import bomb_png, encode_image, flat_png, jpeg, local, pass_json, put_image


def _corrupt(data: bytes, start: int) -> bytes:
    """The same header, then garbage in the middle of the pixel data."""
    middle = start + (len(data) - start) // 2
    return data[:middle] + bytes((b * 7 + 13) % 256 for b in range(600)) + data[middle + 600:]


def _state(client: Any, services: Any, auth: dict[str, str], pid: int) -> tuple[int, dict[str, bytes]]:
    version = client.get(f"/api/v1/programs/{pid}", headers=auth).json["version"]
    with services.uow() as uow:
        stored, _ = uow.programs.images(pid)
    return version, stored


def test_good_upload_is_stored_and_bumps_the_version(client, services, auth) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    version, stored = _state(client, services, auth, pid)
    data = encode_image("PNG")
    r = put_image(client, auth, pid, "logo", data)
    assert r.status_code == 204, r.get_data(as_text=True)
    assert _state(client, services, auth, pid) == (version + 1, {**stored, "logo": data})


PNG, JPEG = encode_image("PNG"), encode_image("JPEG")
BAD_UPLOADS = {
    "gif": (Image.new("RGB", (10, 10)), 422, "not a PNG or JPEG image; upload a .png or .jpg file"),
    "text": (b"hello, this is not an image", 422, "not a PNG or JPEG image"),
    "bomb": (bomb_png(30_000, 30_000), 422, "image declares 30000×30000 pixels; the limit is 10000 per side"),
    "bomb-pixels": (bomb_png(9_000, 9_000), 422, "scale it down"),
    # a real, valid 84 KB PNG that decodes into 75 MB: refused from its header (issue 9 item 8)
    "huge-png": (flat_png(5000, 5000), 422, "image declares 5000×5000 pixels; the limit is 10000 "
                                            "per side and 4 megapixels (this one has 25.0)"),
    "corrupt-png": (_corrupt(PNG, PNG.index(b"IDAT")), 422, "cannot decode the image"),
    "truncated-png": (PNG[: len(PNG) // 2], 422, "cannot decode the image"),
    "corrupt-jpeg": (_corrupt(JPEG, JPEG.index(b"\xff\xda")), 422, "cannot decode the image"),
    "truncated-jpeg": (JPEG[: len(JPEG) // 2], 422, "export it again as PNG or JPEG"),
}


def _bytes(value: object) -> bytes:
    if isinstance(value, Image.Image):
        buf = io.BytesIO()
        value.save(buf, format="GIF")
        return buf.getvalue()
    return value  # type: ignore[return-value]


@pytest.mark.parametrize("slot", ["icon", "strip", "hero"])
@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_bad_upload_is_refused_and_changes_nothing(client, services, auth, case: str, slot: str  # type: ignore[no-untyped-def]
                                                   ) -> None:
    pid = make_program(services)
    assert put_image(client, auth, pid, slot, PNG).status_code == 204  # a good image already there: it must stay
    before = _state(client, services, auth, pid)
    value, status, words = BAD_UPLOADS[case]
    r = put_image(client, auth, pid, slot, _bytes(value))
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    assert words in r.json["detail"] and r.json["errors"][0]["field"] == "image"
    assert _state(client, services, auth, pid) == before


def test_over_the_size_cap_is_413_and_changes_nothing(client, services, auth) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    before = _state(client, services, auth, pid)
    cap = services.settings.max_image_bytes
    too_big = PNG + b"\0" * (cap + 1 - len(PNG))
    r = put_image(client, auth, pid, "logo", too_big)
    assert r.status_code == 413 and r.mimetype == "application/problem+json"
    assert f"images may be at most {cap} bytes" in r.json["detail"]
    assert _state(client, services, auth, pid) == before


def test_empty_body_is_400(client, services, auth) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    before = _state(client, services, auth, pid)
    r = put_image(client, auth, pid, "logo", b"")
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert "send the image bytes as the request body" in r.json["detail"]
    assert _state(client, services, auth, pid) == before


def test_a_2000_by_2000_jpeg_is_accepted_and_on_the_pass(client, services, auth) -> None:  # type: ignore[no-untyped-def]
    """Within the 4 Mpx cap; rendered from a reduced-scale decode (tests/integration/test_image_memory.py)."""
    pid = make_program(services)
    data = jpeg(2000, 2000)
    assert put_image(client, auth, pid, "icon", data, "image/jpeg").status_code == 204
    member = make_member(services, pid)
    pkpass = client.get(local(member["links"]["pkpass"])).data
    assert pass_json(pkpass)["serialNumber"] == member["serial_number"]
    with zipfile.ZipFile(io.BytesIO(pkpass)) as z:
        sizes = {n: Image.open(io.BytesIO(z.read(n))).size for n in ("icon.png", "icon@2x.png", "icon@3x.png")}
    assert sizes == {"icon.png": (38, 38), "icon@2x.png": (76, 76), "icon@3x.png": (114, 114)}


def test_a_google_hero_upload_leaves_the_apple_passes_buildable(client, services, auth) -> None:  # type: ignore[no-untyped-def]
    """The hero is Google's alone: before, its upload made every .pkpass of the program a 422 (storeCard passes
    take no hero)."""
    from urllib.parse import urlsplit

    from tests.helpers import png

    pid = make_program(services)
    m = make_member(services, pid)
    assert put_image(client, auth, pid, "hero", png(1032, 336)).status_code == 204
    links = client.get(f"/api/v1/members/{m['id']}", headers=auth).json["links"]
    got = client.get(urlsplit(links["pkpass"]).path)
    assert got.status_code == 200, got.get_data(as_text=True)
    assert not [n for n in zipfile.ZipFile(io.BytesIO(got.data)).namelist() if n.startswith("hero")]
