"""credentials: PEM signer loading, .p12 import (legacy RC2-40 and AES-256) and `certs check` findings."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests import pki as testpki
from tests.pki import COUPON_PTID, MEMBER_PTID, TEAM_ID
from walletpass.credentials import check_certificate, load_p12, load_signer
from walletpass.devpki import Issued, make_pass_type_cert, make_root, make_wwdr
from walletpass.errors import CredentialError

PTIDS = (MEMBER_PTID, COUPON_PTID)
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def wwdr(pki: testpki.TestPki) -> Issued:
    return Issued((pki.certs_dir / "wwdr-ca.pem").read_bytes(), (pki.certs_dir / "wwdr-ca.key").read_bytes())


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- load_signer ---------------------------------------------------------------------------------------

def test_load_signer_reads_ids(pki: testpki.TestPki) -> None:
    s = load_signer(pki.cert(), pki.key(), pki.certs_dir / "wwdr-ca.pem")
    assert (s.pass_type_identifier, s.team_identifier) == (MEMBER_PTID, TEAM_ID)


def test_load_signer_encrypted_key(pki: testpki.TestPki, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(pki.key().read_bytes(), None)
    enc = write(tmp_path / "k.pem", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.BestAvailableEncryption(b"s3cret")))
    wwdr_path = pki.certs_dir / "wwdr-ca.pem"
    assert load_signer(pki.cert(), enc, wwdr_path, "s3cret").pass_type_identifier == MEMBER_PTID
    with pytest.raises(CredentialError, match="wrong password"):
        load_signer(pki.cert(), enc, wwdr_path, "nope")
    with pytest.raises(CredentialError, match="encrypted; give its password"):
        load_signer(pki.cert(), enc, wwdr_path)


def test_load_signer_unreadable_files(pki: testpki.TestPki, tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="cannot read the pass certificate file"):
        load_signer(tmp_path / "missing.pem", pki.key(), pki.certs_dir / "wwdr-ca.pem")
    with pytest.raises(CredentialError, match="not a readable PEM/DER private key"):
        load_signer(pki.cert(), write(tmp_path / "junk.key", b"-----BEGIN PRIVATE KEY-----\nxx\n"),
                    pki.certs_dir / "wwdr-ca.pem")
    with pytest.raises(CredentialError, match="not a PEM or DER X.509 certificate"):
        load_signer(write(tmp_path / "junk.pem", b"hello"), pki.key(), pki.certs_dir / "wwdr-ca.pem")


def test_load_signer_key_of_another_certificate(pki: testpki.TestPki) -> None:
    with pytest.raises(CredentialError, match="does not belong to the certificate"):
        load_signer(pki.cert(MEMBER_PTID), pki.key(COUPON_PTID), pki.certs_dir / "wwdr-ca.pem")


def test_load_signer_expired_certificate(pki: testpki.TestPki, wwdr: Issued, tmp_path: Path) -> None:
    old = make_pass_type_cert(wwdr, MEMBER_PTID, TEAM_ID, NOW, days=10, not_before=NOW - timedelta(days=40))
    with pytest.raises(CredentialError, match="expired on"):
        load_signer(write(tmp_path / "c.pem", old.cert_pem), write(tmp_path / "k.pem", old.key_pem),
                    pki.certs_dir / "wwdr-ca.pem")


# -- load_p12 -----------------------------------------------------------------------------------------

def export_p12(pki: testpki.TestPki, out: Path, *, legacy: bool) -> bytes:
    cmd = ["openssl", "pkcs12", "-export", "-in", str(pki.cert()), "-inkey", str(pki.key()),
           "-certfile", str(pki.certs_dir / "wwdr-ca.pem"), "-passout", "pass:secret", "-out", str(out)]
    if legacy:
        cmd.insert(2, "-legacy")
    subprocess.run(cmd, check=True, capture_output=True)
    return out.read_bytes()


def p12_info(path: Path, *, legacy: bool) -> str:
    cmd = ["openssl", "pkcs12", "-info", "-in", str(path), "-passin", "pass:secret", "-noout"]
    if legacy:
        cmd.append("-legacy")
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stderr


@pytest.mark.parametrize(("legacy", "cipher"), [(True, "pbeWithSHA1And40BitRC2-CBC"), (False, "AES-256-CBC")])
def test_load_p12(pki: testpki.TestPki, tmp_path: Path, legacy: bool, cipher: str) -> None:
    path = tmp_path / "pass.p12"
    data = export_p12(pki, path, legacy=legacy)
    assert cipher in p12_info(path, legacy=legacy)
    cert_pem, key_pem = load_p12(data, b"secret")
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.public_bytes(serialization.Encoding.PEM) == pki.cert().read_bytes()  # the leaf, not the WWDR
    assert b"BEGIN PRIVATE KEY" in key_pem
    # What import-p12 writes is what load_signer reads.
    signer = load_signer(write(tmp_path / "c.pem", cert_pem), write(tmp_path / "k.pem", key_pem),
                         pki.certs_dir / "wwdr-ca.pem")
    assert signer.pass_type_identifier == MEMBER_PTID


@pytest.mark.parametrize("legacy", [True, False])
def test_load_p12_wrong_password(pki: testpki.TestPki, tmp_path: Path, legacy: bool) -> None:
    data = export_p12(pki, tmp_path / "pass.p12", legacy=legacy)
    with pytest.raises(CredentialError) as info:
        load_p12(data, b"wrong")
    assert "wrong password" in info.value.detail


def test_load_p12_garbage() -> None:
    with pytest.raises(CredentialError, match="not a PKCS#12"):
        load_p12(b"not a p12", None)


# -- check_certificate --------------------------------------------------------------------------------

def test_check_good_certificate(pki: testpki.TestPki, wwdr: Issued) -> None:
    r = check_certificate(pki.cert().read_bytes(), wwdr.cert_pem, NOW, PTIDS, TEAM_ID,
                          key_pem=pki.key().read_bytes())
    assert r.ok and not r.warnings, r
    assert (r.pass_type_id, r.team_id) == (MEMBER_PTID, TEAM_ID)
    assert 360 <= r.days_left <= 365
    assert "UID=" in r.subject and "OU=G4" in r.issuer


def test_check_expired(wwdr: Issued) -> None:
    old = make_pass_type_cert(wwdr, MEMBER_PTID, TEAM_ID, NOW, days=30, not_before=NOW - timedelta(days=60))
    r = check_certificate(old.cert_pem, wwdr.cert_pem, NOW, PTIDS, TEAM_ID)
    assert not r.ok and any("expired on" in e for e in r.errors) and r.days_left < 0


def test_check_warns_under_30_days(wwdr: Issued) -> None:
    soon = make_pass_type_cert(wwdr, MEMBER_PTID, TEAM_ID, NOW, days=20)
    r = check_certificate(soon.cert_pem, wwdr.cert_pem, NOW, PTIDS, TEAM_ID)
    assert r.ok and len(r.warnings) == 1
    assert re.search(r"expires in 1[89] days", r.warnings[0]), r.warnings  # 19 days minus sub-second truncation


def test_check_team_mismatch(wwdr: Issued) -> None:
    other = make_pass_type_cert(wwdr, MEMBER_PTID, "OTHERTEAM1", NOW)
    r = check_certificate(other.cert_pem, wwdr.cert_pem, NOW, PTIDS, TEAM_ID)
    assert r.errors == ("OU 'OTHERTEAM1' is not the team id 'DEVTEAM001'; set WALLETPASS_TEAM_ID to the "
                        "certificate's team",)


def test_check_uid_not_configured(wwdr: Issued) -> None:
    other = make_pass_type_cert(wwdr, "pass.com.example.other", TEAM_ID, NOW)
    r = check_certificate(other.cert_pem, wwdr.cert_pem, NOW, PTIDS, TEAM_ID)
    assert len(r.errors) == 1 and "is not a configured pass type id" in r.errors[0]


def test_check_wrong_issuer() -> None:
    root = make_root(NOW)
    not_g4 = Issued(root.cert_pem, root.key_pem)  # a pass cert issued straight by the root: not WWDR G4
    cert = make_pass_type_cert(not_g4, MEMBER_PTID, TEAM_ID, NOW)
    r = check_certificate(cert.cert_pem, None, NOW, PTIDS, TEAM_ID)
    assert len(r.errors) == 1 and "not the Apple WWDR G4 intermediate" in r.errors[0]


def test_check_issued_by_another_wwdr(pki: testpki.TestPki) -> None:
    other_wwdr = make_wwdr(make_root(NOW), NOW)
    r = check_certificate(pki.cert().read_bytes(), other_wwdr.cert_pem, NOW, PTIDS, TEAM_ID)
    assert len(r.errors) == 1 and "not issued by the configured WWDR certificate" in r.errors[0]


def test_check_key_mismatch(pki: testpki.TestPki, wwdr: Issued) -> None:
    r = check_certificate(pki.cert().read_bytes(), wwdr.cert_pem, NOW, PTIDS, TEAM_ID,
                          key_pem=pki.key(COUPON_PTID).read_bytes())
    assert r.errors == ("the private key does not belong to this certificate; export both together",)


def test_dev_wwdr_file_is_a_ca_file_and_older_ones_gain_the_root(tmp_path: Path) -> None:
    from walletpass.devpki import ensure_dev_pki

    now = datetime.now(UTC)
    certs = tmp_path / "certs"
    ensure_dev_pki(certs, TEAM_ID, [MEMBER_PTID], "http://127.0.0.1:1/token", now)
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", (certs / "wwdr-ca.pem").read_bytes(),
                        re.S)
    root = (certs / "apple-root-ca.pem").read_bytes()
    wwdr = x509.load_pem_x509_certificate(blocks[0])
    assert len(blocks) == 2 and blocks[1] in root
    assert wwdr.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "G4"
    # A certs folder from before: the WWDR alone. A second init keeps the CA and the pass certificates and
    # appends the root, so the file verifies passes on its own.
    (certs / "wwdr-ca.pem").write_bytes(blocks[0] + b"\n")
    member_cert = (certs / f"{MEMBER_PTID}.pem").read_bytes()
    ensure_dev_pki(certs, TEAM_ID, [MEMBER_PTID], "http://127.0.0.1:1/token", now)
    assert (certs / "wwdr-ca.pem").read_bytes() == blocks[0] + b"\n" + root
    assert (certs / f"{MEMBER_PTID}.pem").read_bytes() == member_cert
    assert (certs / "apple-root-ca.pem").read_bytes() == root
