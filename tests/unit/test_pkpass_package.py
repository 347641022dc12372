"""Manifest and ZIP: SHA-1 of every file, deterministic archive, PNG stored, text deflated."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from walletpass.errors import InvalidInput
from walletpass.pkpass.manifest import build_manifest, manifest_for
from walletpass.pkpass.package import make_entry, write_files, write_pkpasses, write_zip

FILES = {"pass.json": b'{"a":1}', "icon.png": b"\x89PNG fake", "en.lproj/pass.strings": "x".encode("utf-16"),
         "manifest.json": b"{}", "signature": b"sig"}


def test_manifest_lists_every_file_but_manifest_and_signature() -> None:
    manifest = json.loads(manifest_for(FILES))
    assert set(manifest) == {"pass.json", "icon.png", "en.lproj/pass.strings"}
    assert manifest["icon.png"] == hashlib.sha1(FILES["icon.png"]).hexdigest()


def test_manifest_is_deterministic() -> None:
    assert build_manifest({"b": "2", "a": "1"}) == build_manifest({"a": "1", "b": "2"}) == b'{"a":"1","b":"2"}'


def test_zip_sorted_stored_png_deflated_text_fixed_time() -> None:
    data = write_files(FILES.items())
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert zf.testzip() is None
    infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(FILES)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        expected = zipfile.ZIP_STORED if info.filename.endswith(".png") or info.filename == "signature" else None
        if info.filename.endswith(".png"):
            assert info.compress_type == zipfile.ZIP_STORED
        elif info.filename != "signature":
            assert info.compress_type == zipfile.ZIP_DEFLATED, expected
        assert zf.read(info) == FILES[info.filename]


def test_zip_deterministic_regardless_of_order() -> None:
    assert write_files(FILES.items()) == write_files(reversed(list(FILES.items())))


def test_entry_digest_is_sha1() -> None:
    assert make_entry("pass.json", b"{}").sha1 == hashlib.sha1(b"{}").hexdigest()


def test_duplicate_names_rejected() -> None:
    with pytest.raises(InvalidInput, match="appears twice"):
        write_zip([make_entry("a.png", b"1"), make_entry("a.png", b"2")])


def test_pkpasses_bundle() -> None:
    bundle = zipfile.ZipFile(io.BytesIO(write_pkpasses([b"one", b"two"])))
    assert bundle.namelist() == ["packed-pass-1.pkpass", "packed-pass-2.pkpass"]
    with pytest.raises(InvalidInput, match="at most 10"):
        write_pkpasses([b"x"] * 11)


def test_manifest_base_equals_full_manifest() -> None:
    from walletpass.pkpass.manifest import ManifestBase

    static = {"icon.png": "a" * 40, "zh-Hant.lproj/pass.strings": "b" * 40, "signature": "x"}
    assert ManifestBase(static).build({"pass.json": "c" * 40}) == build_manifest({**static, "pass.json": "c" * 40})


def test_small_and_large_text_round_trip() -> None:
    big = ("晨光 " * 20000).encode()
    zf = zipfile.ZipFile(io.BytesIO(write_files([("big.json", big), ("small.json", b'{"k":"v"}' * 10)])))
    assert zf.read("big.json") == big and zf.testzip() is None
