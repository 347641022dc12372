"""The dev PKI: certificates shaped like Apple's (apple.md §1.4), and what ensure_dev_pki may never replace."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests import pki as testpki
from tests.pki import COUPON_PTID, MEMBER_PTID, TEAM_ID
from walletpass.devpki import (
    GOOGLE_KEY_FILE,
    OID_PASS_SIGNING_EKU,
    OID_PASS_TYPE_ID_EXT,
    STAND_IN_ORG,
    Issued,
    ensure_dev_pki,
    make_google_service_account,
    make_pass_type_cert,
)

NOW = datetime.now(UTC)
TOKEN_URL = "http://127.0.0.1:1/token"


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    (value,) = name.get_attributes_for_oid(oid)
    return str(value.value)


# -- shape ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ptid", [MEMBER_PTID, COUPON_PTID])
def test_pass_type_certificate_is_shaped_like_apples(pki: testpki.TestPki, ptid: str) -> None:
    cert = _cert(pki.cert(ptid))
    assert _attr(cert.subject, NameOID.COMMON_NAME) == f"Pass Type ID: {ptid}"
    assert _attr(cert.subject, NameOID.USER_ID) == ptid
    assert _attr(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME) == TEAM_ID
    assert _attr(cert.subject, NameOID.ORGANIZATION_NAME) == STAND_IN_ORG
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH, OID_PASS_SIGNING_EKU]
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and not basic.value.ca
    # Extension 1.2.840.113635.100.6.1.16 holds the pass type id as a DER UTF8String.
    raw = cert.extensions.get_extension_for_oid(OID_PASS_TYPE_ID_EXT).value.value  # type: ignore[attr-defined]
    assert raw == bytes([0x0C, len(ptid)]) + ptid.encode()


def test_chain_pass_certificate_wwdr_root(pki: testpki.TestPki) -> None:
    wwdr, root = _cert(pki.certs_dir / "wwdr-ca.pem"), _cert(pki.certs_dir / "apple-root-ca.pem")
    assert _attr(wwdr.subject, NameOID.COMMON_NAME) == "Apple Worldwide Developer Relations Certification Authority"
    assert _attr(wwdr.subject, NameOID.ORGANIZATIONAL_UNIT_NAME) == "G4"
    for ptid in (MEMBER_PTID, COUPON_PTID):
        leaf = _cert(pki.cert(ptid))
        assert leaf.issuer == wwdr.subject
        leaf.verify_directly_issued_by(wwdr)  # raises when the WWDR stand-in did not sign it
    assert wwdr.issuer == root.subject and root.issuer == root.subject
    wwdr.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    assert wwdr.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_google_key_file_has_the_layout_of_a_real_one() -> None:
    doc = json.loads(make_google_service_account(TOKEN_URL))
    assert doc["type"] == "service_account" and doc["token_uri"] == TOKEN_URL
    assert doc["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert doc["client_email"].endswith(f"@{doc['project_id']}.iam.gserviceaccount.com")


# -- what init may replace -----------------------------------------------------------------------------

def _wwdr(certs: Path) -> Issued:
    return Issued((certs / "wwdr-ca.pem").read_bytes(), (certs / "wwdr-ca.key").read_bytes())


def _install_real(certs: Path, ptid: str) -> tuple[bytes, bytes]:
    """A certificate the dev CA did not make (another O=, as an imported Apple one), where init looks."""
    real = make_pass_type_cert(_wwdr(certs), ptid, TEAM_ID, NOW, organization="Morning Light Coffee Ltd")
    (certs / f"{ptid}.pem").write_bytes(real.cert_pem)
    (certs / f"{ptid}.key").write_bytes(real.key_pem)
    return real.cert_pem, real.key_pem


def _files(certs: Path, ptid: str) -> tuple[bytes, bytes]:
    return (certs / f"{ptid}.pem").read_bytes(), (certs / f"{ptid}.key").read_bytes()


def test_missing_ca_reissues_only_dev_certificates(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    ensure_dev_pki(certs, TEAM_ID, [MEMBER_PTID, COUPON_PTID], TOKEN_URL, NOW)
    real = _install_real(certs, MEMBER_PTID)
    dev_coupon = _files(certs, COUPON_PTID)
    google = (certs / GOOGLE_KEY_FILE).read_bytes()
    for name in ("apple-root-ca.pem", "apple-root-ca.key", "wwdr-ca.pem", "wwdr-ca.key"):
        (certs / name).unlink()
    changes = ensure_dev_pki(certs, TEAM_ID, [MEMBER_PTID, COUPON_PTID], TOKEN_URL, NOW)
    assert _files(certs, MEMBER_PTID) == real
    assert changes.kept == (certs / f"{MEMBER_PTID}.pem", certs / f"{MEMBER_PTID}.key")
    assert _files(certs, COUPON_PTID) != dev_coupon  # a stand-in: reissued under the new CA
    _cert(certs / f"{COUPON_PTID}.pem").verify_directly_issued_by(_cert(certs / "wwdr-ca.pem"))
    assert (certs / GOOGLE_KEY_FILE).read_bytes() == google  # a new CA is no reason for a new Google key
    assert certs / f"{MEMBER_PTID}.pem" not in changes.written


def test_force_regenerates_dev_material_only(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    ensure_dev_pki(certs, TEAM_ID, [MEMBER_PTID, COUPON_PTID], TOKEN_URL, NOW)
    real = _install_real(certs, MEMBER_PTID)
    real_google = json.dumps({"type": "service_account", "project_id": "morning-light-prod"}).encode()
    (certs / GOOGLE_KEY_FILE).write_bytes(real_google)
    dev_coupon, wwdr = _files(certs, COUPON_PTID), (certs / "wwdr-ca.pem").read_bytes()
    changes = ensure_dev_pki(certs, TEAM_ID, [MEMBER_PTID, COUPON_PTID], TOKEN_URL, NOW, force=True)
    assert _files(certs, MEMBER_PTID) == real and (certs / GOOGLE_KEY_FILE).read_bytes() == real_google
    assert set(changes.kept) == {certs / f"{MEMBER_PTID}.pem", certs / f"{MEMBER_PTID}.key", certs / GOOGLE_KEY_FILE}
    assert _files(certs, COUPON_PTID) != dev_coupon and (certs / "wwdr-ca.pem").read_bytes() != wwdr
    # The dev Google key is regenerated by --force.
    (certs / GOOGLE_KEY_FILE).write_bytes(make_google_service_account(TOKEN_URL))
    dev_google = (certs / GOOGLE_KEY_FILE).read_bytes()
    ensure_dev_pki(certs, TEAM_ID, [COUPON_PTID], TOKEN_URL, NOW, force=True)
    assert (certs / GOOGLE_KEY_FILE).read_bytes() != dev_google


def test_a_key_without_its_certificate_is_kept(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / f"{MEMBER_PTID}.key").write_bytes(b"a real key whose certificate is still to come")
    changes = ensure_dev_pki(certs, TEAM_ID, [MEMBER_PTID], TOKEN_URL, NOW)
    assert (certs / f"{MEMBER_PTID}.key").read_bytes() == b"a real key whose certificate is still to come"
    assert not (certs / f"{MEMBER_PTID}.pem").exists() and changes.kept == (certs / f"{MEMBER_PTID}.key",)


def test_a_real_wwdr_in_the_folder_is_kept(tmp_path: Path, pki: testpki.TestPki) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    real_wwdr = make_pass_type_cert(_wwdr(pki.certs_dir), "pass.x", TEAM_ID, NOW, organization="Apple Inc.").cert_pem
    (certs / "wwdr-ca.pem").write_bytes(real_wwdr)  # any certificate the dev CA did not make
    changes = ensure_dev_pki(certs, TEAM_ID, [MEMBER_PTID], TOKEN_URL, NOW, force=True)
    assert (certs / "wwdr-ca.pem").read_bytes() == real_wwdr and certs / "wwdr-ca.pem" in changes.kept
    assert not (certs / f"{MEMBER_PTID}.pem").exists()  # nothing to issue it under
