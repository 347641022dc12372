"""Every generated pass verifies with the real `openssl cms -verify`; any changed byte breaks it."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests import pki as testpki
from tests.pki import COUPON_PTID, MEMBER_PTID, TEAM_ID
from walletpass.credentials import load_signer
from walletpass.pass_templates import load_templates
from walletpass.pkpass import PassBuilder
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
