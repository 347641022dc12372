"""`walletpass doctor FILE.pkpass`: broken passes built in the test, each explained with its rule and fix."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.pki import MEMBER_PTID, TEAM_ID, TestPki
from walletpass.devpki import Issued, make_pass_type_cert
from walletpass.doctor.findings import FAIL, OK, WARN, Finding, failed
from walletpass.doctor.passfile import chain_kind, inspect_pkpass
from walletpass.pass_templates import load_templates
from walletpass.pkpass import PassBuilder, PassSigner, write_files
from walletpass.pkpass.manifest import manifest_for
from walletpass.render.demo import demo_member, demo_pass_ref, demo_program

NOW = datetime.now(UTC)


def wwdr_pem(pki: TestPki) -> bytes:
    return (pki.certs_dir / "wwdr-ca.pem").read_bytes()


@pytest.fixture(scope="module")
def signer(pki: TestPki) -> PassSigner:
    return PassSigner.from_pem(pki.cert().read_bytes(), pki.key().read_bytes(), wwdr_pem(pki))


@pytest.fixture(scope="module")
def good(signer: PassSigner) -> dict[str, bytes]:
    """The files of the demo member card, as the builder signs it."""
    builder = PassBuilder(signers={MEMBER_PTID: signer}, templates=load_templates(), team_id=TEAM_ID,
                          web_service_url="https://passes.example.com/")
    data = builder.build_member_pass(demo_program(), demo_member(), demo_pass_ref())
    archive = zipfile.ZipFile(io.BytesIO(data))
    return {n: archive.read(n) for n in archive.namelist()}


def pack(files: dict[str, bytes]) -> bytes:
    return write_files(sorted(files.items()))


def resign(files: dict[str, bytes], signer: PassSigner, **pass_changes: object) -> bytes:
    """*files* with pass.json changed by *pass_changes* (None removes a key), manifest and signature made anew."""
    files = dict(files)
    doc = json.loads(files["pass.json"])
    for key, value in pass_changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    files["pass.json"] = json.dumps(doc).encode()
    body = {n: d for n, d in files.items() if n not in ("manifest.json", "signature")}
    manifest = manifest_for(body)
    return pack({**body, "manifest.json": manifest, "signature": signer.sign(manifest)})


def fails(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        if f.level == FAIL:
            out.setdefault(f.check, []).append(f)
    return out


def test_a_dev_signed_pass_is_fine_except_that_an_iphone_refuses_it(good) -> None:  # type: ignore[no-untyped-def]
    findings = inspect_pkpass(pack(good), NOW)
    assert list(fails(findings)) == ["chain"]
    (chain,) = fails(findings)["chain"]
    assert "AN IPHONE WILL REFUSE THIS PASS" in chain.detail and "import-p12" in chain.fix and chain.rule
    levels = {f.check: f.level for f in findings if f.level == OK}
    assert {"zip", "manifest", "signature", "certificate", "pass.json", "images", "localization"} <= set(levels)
    assert failed(findings)


def test_wrong_team(good, signer) -> None:  # type: ignore[no-untyped-def]
    (f,) = fails(inspect_pkpass(resign(good, signer, teamIdentifier="OTHERTEAM1"), NOW))["pass.json:teamIdentifier"]
    assert "OTHERTEAM1" in f.detail and "DEVTEAM001" in f.detail and "WALLETPASS_TEAM_ID" in f.fix


def test_wrong_pass_type(good, signer) -> None:  # type: ignore[no-untyped-def]
    found = fails(inspect_pkpass(resign(good, signer, passTypeIdentifier="pass.other.type"), NOW))
    assert "pass.json:passTypeIdentifier" in found


def test_expired_certificate(good, pki) -> None:  # type: ignore[no-untyped-def]
    wwdr = Issued(wwdr_pem(pki), (pki.certs_dir / "wwdr-ca.key").read_bytes())
    old = make_pass_type_cert(wwdr, MEMBER_PTID, TEAM_ID, NOW, not_before=NOW - timedelta(days=400), days=30)
    expired = PassSigner.from_pem(old.cert_pem, old.key_pem, wwdr_pem(pki))
    (f,) = fails(inspect_pkpass(resign(good, expired), NOW))["certificate"]
    assert "expired" in f.detail and "renew" in f.fix


def test_pass_json_changed_after_signing(good) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(good["pass.json"])
    doc["organizationName"] = "Someone else"
    found = fails(inspect_pkpass(pack({**good, "pass.json": json.dumps(doc).encode()}), NOW))
    (f,) = found["manifest"]
    assert "pass.json" in f.detail and "changed after" in f.detail
    assert "signature" not in found  # the manifest itself is still the signed one


def test_tampered_manifest(good) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads(good["manifest.json"])
    manifest["pass.json"] = "0" * 40
    (f,) = fails(inspect_pkpass(pack({**good, "manifest.json": json.dumps(manifest).encode()}), NOW))["signature"]
    assert "not the file that was signed" in f.detail


def test_signature_that_does_not_verify(good) -> None:  # type: ignore[no-untyped-def]
    sig = bytearray(good["signature"])
    sig[-5] ^= 0xFF  # inside the signature value at the end of the SignerInfo
    (f,) = fails(inspect_pkpass(pack({**good, "signature": bytes(sig)}), NOW))["signature"]
    assert "does not verify" in f.detail


def test_missing_icon(good, signer) -> None:  # type: ignore[no-untyped-def]
    files = {n: d for n, d in good.items() if not n.startswith("icon")}
    (f,) = fails(inspect_pkpass(resign(files, signer), NOW))["images"]
    assert "icon.png is missing" in f.detail and "icon.png" in f.fix


def test_http_web_service_url(good, signer) -> None:  # type: ignore[no-untyped-def]
    data = resign(good, signer, webServiceURL="http://passes.example.com/")
    (f,) = fails(inspect_pkpass(data, NOW))["pass.json:webServiceURL"]
    assert "http" in f.detail and "https" in f.fix + f.detail


def test_loopback_web_service_url_is_a_warning(good, signer) -> None:  # type: ignore[no-untyped-def]
    findings = inspect_pkpass(resign(good, signer, webServiceURL="http://127.0.0.1:8000/"), NOW)
    assert any(f.check == "pass.json:webServiceURL" and f.level == WARN for f in findings)
    assert "pass.json:webServiceURL" not in fails(findings)


def test_every_pass_json_problem_is_reported_not_only_the_first(good, signer) -> None:  # type: ignore[no-untyped-def]
    data = resign(good, signer, authenticationToken="short", backgroundColor="rgb(300, 0, 0)",
                  barcodes=[{"format": "PKBarcodeFormatEAN99", "message": "x", "messageEncoding": "iso-8859-1"}],
                  description=None)
    found = fails(inspect_pkpass(data, NOW))
    assert {"pass.json:authenticationToken", "pass.json:backgroundColor", "pass.json:barcodes[0].format",
            "pass.json:description"} <= set(found)
    assert "16" in found["pass.json:authenticationToken"][0].detail
    assert "rgb(r, g, b)" in found["pass.json:backgroundColor"][0].fix


def test_files_in_a_folder_and_stray_files(good, signer) -> None:  # type: ignore[no-untyped-def]
    nested = pack({f"Member.pass/{n}": d for n, d in good.items()})
    (f,) = fails(inspect_pkpass(nested, NOW))["zip"]
    assert "inside the folder Member.pass/" in f.detail and "contents" in f.fix
    stray = fails(inspect_pkpass(pack({**good, ".DS_Store": b"\0"}), NOW))["manifest"]
    assert ".DS_Store" in stray[0].detail


def test_not_a_zip_and_a_bad_strings_file(good, signer) -> None:  # type: ignore[no-untyped-def]
    (f,) = fails(inspect_pkpass(b"<html>Not found</html>", NOW))["zip"]
    assert "not a readable zip" in f.detail
    data = resign({**good, "en.lproj/pass.strings": b'"points" = oops'}, signer)
    (bad,) = fails(inspect_pkpass(data, NOW))["localization"]
    assert "en.lproj/pass.strings" in bad.detail and "line 1" in bad.detail


def test_chain_kinds(pki) -> None:  # type: ignore[no-untyped-def]
    assert chain_kind(x509.load_pem_x509_certificate(wwdr_pem(pki))) == "dev"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Apple Inc."),
                      x509.NameAttribute(NameOID.COMMON_NAME,
                                         "Apple Worldwide Developer Relations Certification Authority")])
    g1_like = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(1).not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=1))
               .sign(key, hashes.SHA256()))
    assert chain_kind(g1_like) == "other-wwdr"
