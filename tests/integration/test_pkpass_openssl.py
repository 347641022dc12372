"""Every generated pass verifies with the real `openssl cms -verify`; any changed byte breaks it."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests import pki as testpki
from tests.pki import COUPON_PTID, MEMBER_PTID, TEAM_ID
from walletpass.credentials import load_signer
from walletpass.doctor.findings import FAIL, OK
from walletpass.doctor.passfile import inspect_pkpass
from walletpass.domain.programs import PassOptions, Program
from walletpass.pass_templates import load_templates
from walletpass.pkpass import PassBuilder, passjson
from walletpass.render.demo import (
    demo_coupon,
    demo_coupon_ref,
    demo_member,
    demo_offer,
    demo_pass_ref,
    demo_program,
)


@pytest.fixture(scope="module")
def passes(pki: testpki.TestPki) -> dict[str, bytes]:
    wwdr = pki.certs_dir / "wwdr-ca.pem"
    signers = {p: load_signer(pki.cert(p), pki.key(p), wwdr) for p in (MEMBER_PTID, COUPON_PTID)}
    b = PassBuilder(signers=signers, templates=load_templates(), team_id=TEAM_ID,
                    web_service_url="https://passes.example.com/")
    return {
        "member": b.build_member_pass(demo_program(), demo_member(), demo_pass_ref()),
        "coupon": b.build_coupon_pass(demo_program(), demo_offer(), demo_coupon(), demo_member(), demo_coupon_ref()),
        "coupon-anonymous": b.build_coupon_pass(demo_program(), demo_offer(), demo_coupon(2), None,
                                                demo_coupon_ref("ml-coupon-0002")),
    }


def extract(data: bytes, into: Path) -> Path:
    zipfile.ZipFile(io.BytesIO(data)).extractall(into)
    return into


def cms_verify(folder: Path, pki: testpki.TestPki, *, ca: str = "wwdr") -> subprocess.CompletedProcess[str]:
    # The exact command: wwdr-ca.pem alone is the CA file (it ends with the root it chains to).
    chain = ["-CAfile", str(pki.certs_dir / "wwdr-ca.pem")] if ca == "wwdr" else [
        "-CAfile", str(pki.certs_dir / "apple-root-ca.pem")]
    return subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(folder / "signature"),
         "-content", str(folder / "manifest.json"), *chain, "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, text=True, check=False)


def manifest_ok(folder: Path) -> bool:
    manifest = json.loads((folder / "manifest.json").read_bytes())
    files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {"manifest.json", "signature"}
    return set(manifest) == files and all(
        hashlib.sha1((folder / n).read_bytes()).hexdigest() == d for n, d in manifest.items())


@pytest.mark.parametrize("name", ["member", "coupon", "coupon-anonymous"])
@pytest.mark.parametrize("ca", ["wwdr", "root"])
def test_signature_verifies_with_openssl(passes: dict[str, bytes], pki: testpki.TestPki, tmp_path: Path,
                                         name: str, ca: str) -> None:
    folder = extract(passes[name], tmp_path)
    result = cms_verify(folder, pki, ca=ca)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    assert manifest_ok(folder)


def test_signature_has_signing_time_and_sha256_detached(passes: dict[str, bytes], tmp_path: Path) -> None:
    folder = extract(passes["member"], tmp_path)
    out = subprocess.run(["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", str(folder / "signature")],
                         capture_output=True, text=True, check=True).stdout
    assert "signingTime" in out and "messageDigest" in out and "contentType" in out
    assert "eContent: <ABSENT>" in out  # detached
    assert "sha256" in out


def test_signature_holds_leaf_and_wwdr_not_root(passes: dict[str, bytes], tmp_path: Path) -> None:
    folder = extract(passes["coupon"], tmp_path)
    out = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-in", str(folder / "signature"), "-print_certs",
                          "-noout"], capture_output=True, text=True, check=True).stdout
    subjects = [line for line in out.splitlines() if line.startswith("subject=")]
    assert len(subjects) == 2
    assert any(f"UID = {COUPON_PTID}" in s for s in subjects)
    assert any("Apple Worldwide Developer Relations Certification Authority" in s for s in subjects)
    assert not any("Apple Root CA" in s for s in subjects)


def _names(data: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(data)).namelist()


FILE_NAMES = sorted(
    [f"{s}{x}.png" for s in ("icon", "logo", "strip") for x in ("", "@2x", "@3x")]
    + [f"{loc}.lproj/pass.strings" for loc in ("en", "zh-Hans", "zh-Hant")]
    + ["pass.json", "manifest.json", "signature"])


def pass_verifies(folder: Path, pki: testpki.TestPki) -> bool:
    """What Wallet checks: the signature over manifest.json, and the manifest over every file."""
    return cms_verify(folder, pki).returncode == 0 and manifest_ok(folder)


@pytest.mark.parametrize("kind", ["member", "coupon"])
def test_file_list(passes: dict[str, bytes], kind: str) -> None:
    assert sorted(_names(passes[kind])) == FILE_NAMES


@pytest.mark.parametrize("name", FILE_NAMES)
@pytest.mark.parametrize("kind", ["member", "coupon"])
def test_any_changed_byte_breaks_verification(passes: dict[str, bytes], pki: testpki.TestPki, tmp_path: Path,
                                             kind: str, name: str) -> None:
    folder = extract(passes[kind], tmp_path)
    assert pass_verifies(folder, pki)
    target = folder / name
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    assert not pass_verifies(folder, pki)


def test_every_file_is_covered(passes: dict[str, bytes]) -> None:
    for data in passes.values():
        names = set(_names(data))
        manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
        assert set(manifest) == names - {"manifest.json", "signature"}


def test_unzip_accepts_the_archive(passes: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / "member.pkpass"
    path.write_bytes(passes["member"])
    listing = subprocess.run(["unzip", "-v", str(path)], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        if line.rstrip().endswith(".png"):
            assert " Stored " in line, line
        elif line.rstrip().endswith((".json", ".strings")):
            assert " Defl:N " in line, line
    assert subprocess.run(["unzip", "-tq", str(path)], capture_output=True, check=False).returncode == 0


# -- Passes with Apple's 2024–2026 keys (a program's PassOptions) are signed, verify with the real

ALL = PassOptions(member_card_style="posterGeneric", footer_background_color="rgb(16, 32, 48)",
                  use_automatic_colors=True, benefits_url="https://example.com/benefits", barcode_format="ean13",
                  coupon_relevant_dates=True, coupon_sharing_prohibited=True)
NEW_KEYS = {"posterGeneric", "footerBackgroundColor", "useAutomaticColors", "featuredActions", "relevantDates",
            "relevantDate", "sharingProhibited"}


@pytest.fixture(scope="module")
def builder(pki: testpki.TestPki) -> PassBuilder:
    wwdr = pki.certs_dir / "wwdr-ca.pem"
    signers = {p: load_signer(pki.cert(p), pki.key(p), wwdr) for p in (MEMBER_PTID, COUPON_PTID)}
    return PassBuilder(signers=signers, templates=load_templates(), team_id=TEAM_ID,
                       web_service_url="https://passes.example.com/")


def program(opts: PassOptions, version: int = 7) -> Program:
    """The demo program with *opts* (a program's options change with its version: prepared images are cached by
    program version)."""
    return replace(demo_program(), pass_options=opts, version=version)


def member_pass(builder: PassBuilder, opts: PassOptions, number: str = "400638133393") -> bytes:
    return builder.build_member_pass(program(opts), replace(demo_member(), member_number=number), demo_pass_ref())


def coupon_pass(builder: PassBuilder, opts: PassOptions) -> bytes:
    return builder.build_coupon_pass(program(opts), demo_offer(), demo_coupon(), demo_member(), demo_coupon_ref())


def pass_json(data: bytes) -> dict[str, Any]:
    return json.loads(zipfile.ZipFile(io.BytesIO(data)).read("pass.json"))


def verified(data: bytes, pki: testpki.TestPki, folder: Path) -> dict[str, Any]:
    """Assert openssl, the manifest, our validator and the doctor all accept *data*; return its pass.json."""
    extract(data, folder)
    result = cms_verify(folder, pki)
    assert result.returncode == 0, result.stderr
    assert manifest_ok(folder)
    p = pass_json(data)
    passjson.validate(p, files=[n.name for n in folder.iterdir()])
    findings = inspect_pkpass(data, datetime.now(UTC))
    # only the dev chain fails (the test PKI is not Apple's); pass.json, images, manifest, signature are ok
    assert [f.check for f in findings if f.level == FAIL] == ["chain"], findings
    assert {"pass.json", "signature", "manifest"} <= {f.check for f in findings if f.level == OK}
    return p


def test_poster_member_card_carries_its_fallback(builder: PassBuilder, pki: testpki.TestPki,
                                                 tmp_path: Path) -> None:
    p = verified(member_pass(builder, ALL), pki, tmp_path)
    assert "storeCard" in p and "posterGeneric" in p  # older iOS shows the store card
    poster = p["posterGeneric"]
    assert [f["key"] for f in poster["headerFields"]] == ["poster_tier"]
    assert [f["key"] for f in poster["primaryFields"]] == ["poster_points"]
    assert [f["value"] for f in poster["footerFields"]] == ["400638133393"]
    assert poster["primaryFields"][0]["value"] == p["storeCard"]["primaryFields"][0]["value"]
    assert p["footerBackgroundColor"] == "rgb(16, 32, 48)" and p["useAutomaticColors"] is True
    assert p["featuredActions"] == [{"identifier": "membership-benefits", "type": "membershipBenefits",
                                     "url": "https://example.com/benefits"}]
    assert "sharingProhibited" not in p and "relevantDates" not in p  # coupon options stay on coupons


def test_ean13_first_then_the_qr_older_ios_shows(builder: PassBuilder, pki: testpki.TestPki,
                                                 tmp_path: Path) -> None:
    p = verified(member_pass(builder, ALL), pki, tmp_path)
    assert [(b["format"], b["message"]) for b in p["barcodes"]] == [
        ("PKBarcodeFormatEAN13", "4006381333931"), ("PKBarcodeFormatQR", "400638133393")]


@pytest.mark.parametrize(("choice", "fmt", "message"), [
    ("code39", "PKBarcodeFormatCode39", "400638133393"), ("codabar", "PKBarcodeFormatCodabar", "400638133393"),
    ("itf", "PKBarcodeFormatI2of5", "400638133393"),
])
def test_each_1d_format_signed_and_valid(builder: PassBuilder, pki: testpki.TestPki, tmp_path: Path,
                                         choice: str, fmt: str, message: str) -> None:
    p = verified(member_pass(builder, PassOptions(barcode_format=choice)), pki, tmp_path)
    assert [(b["format"], b["message"]) for b in p["barcodes"]] == [(fmt, message),
                                                                    ("PKBarcodeFormatQR", "400638133393")]


def test_a_number_the_format_cannot_carry_keeps_the_qr_alone(builder: PassBuilder) -> None:
    p = pass_json(member_pass(builder, PassOptions(barcode_format="ean13"), number="ML00000001"))
    assert [b["format"] for b in p["barcodes"]] == ["PKBarcodeFormatQR"]


def test_coupon_relevant_dates_and_sharing(builder: PassBuilder, pki: testpki.TestPki, tmp_path: Path) -> None:
    offer = demo_offer()
    assert offer.valid_from and offer.valid_until
    p = verified(coupon_pass(builder, ALL), pki, tmp_path)
    start = offer.valid_from.astimezone(UTC).isoformat()
    end = offer.valid_until.astimezone(UTC).isoformat()
    assert p["relevantDates"] == [{"startDate": start, "endDate": end}]
    assert p["relevantDate"] == start and p["sharingProhibited"] is True
    assert "posterGeneric" not in p and "featuredActions" not in p
    # a coupon code has letters: no EAN-13, QR alone; Code 39 carries it
    assert [b["format"] for b in p["barcodes"]] == ["PKBarcodeFormatQR"]
    p = verified(coupon_pass(builder, PassOptions(barcode_format="code39")), pki, tmp_path / "c39")
    assert [b["format"] for b in p["barcodes"]] == ["PKBarcodeFormatCode39", "PKBarcodeFormatQR"]


def test_without_options_no_new_key_and_the_same_pass_json(builder: PassBuilder) -> None:
    for data in (member_pass(builder, PassOptions()), coupon_pass(builder, PassOptions())):
        assert not NEW_KEYS & set(pass_json(data))
    plain = builder.build_member_pass(replace(demo_program(), version=7), replace(
        demo_member(), member_number="400638133393"), demo_pass_ref())
    assert pass_json(plain) == pass_json(member_pass(builder, PassOptions()))


def test_poster_art_only_on_poster_cards(builder: PassBuilder, pki: testpki.TestPki, tmp_path: Path) -> None:
    from tests.helpers import png

    art = {"artwork": png(1074, 1344), "hero": png(1032, 336)}  # hero: Google's, never in a .pkpass
    data = builder.build_member_pass(program(ALL), replace(demo_member(), member_number="400638133393"),
                                     demo_pass_ref(), images=art)
    verified(data, pki, tmp_path)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert {"artwork.png", "artwork@2x.png", "artwork@3x.png"} <= set(names)
    assert not [n for n in names if n.startswith("hero")]
    plain = builder.build_member_pass(program(PassOptions(), version=8), demo_member(), demo_pass_ref(), images=art)
    assert not [n for n in zipfile.ZipFile(io.BytesIO(plain)).namelist() if n.startswith(("artwork", "hero"))]
    coupon = builder.build_coupon_pass(program(ALL), demo_offer(), demo_coupon(), demo_member(), demo_coupon_ref(),
                                       images=art)
    assert not [n for n in zipfile.ZipFile(io.BytesIO(coupon)).namelist() if n.startswith("artwork")]


def test_poster_colours_only_on_a_poster_card(builder: PassBuilder, pki: testpki.TestPki, tmp_path: Path) -> None:
    # apple.md §2.1: footerBackgroundColor and useAutomaticColors are poster keys; a store card alone leaves them out
    p = verified(member_pass(builder, replace(ALL, member_card_style="storeCard")), pki, tmp_path)
    assert "posterGeneric" not in p and "footerBackgroundColor" not in p and "useAutomaticColors" not in p
    assert p["featuredActions"][0]["type"] == "membershipBenefits"
