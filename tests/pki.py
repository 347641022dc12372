"""Session-wide test PKI: the dev PKI of walletpass.devpki, plus a local TLS CA for fake servers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from walletpass.devpki import ensure_dev_pki

TEAM_ID = "DEVTEAM001"
MEMBER_PTID = "pass.dev.walletpass.member"
COUPON_PTID = "pass.dev.walletpass.coupon"


@dataclass(frozen=True)
class TestPki:
    __test__ = False  # a fixture value, not a test class

    certs_dir: Path          # dev PKI: apple-root-ca.pem, wwdr-ca.pem, <ptid>.pem/.key, google-service-account.json
    tls_ca_file: Path        # CA that issued the fake servers' TLS certificates
    server_cert_file: Path   # TLS cert for 127.0.0.1 / localhost
    server_key_file: Path

    def cert(self, ptid: str = MEMBER_PTID) -> Path:
        return self.certs_dir / f"{ptid}.pem"

    def key(self, ptid: str = MEMBER_PTID) -> Path:
        return self.certs_dir / f"{ptid}.key"


def make_test_pki(root: Path) -> TestPki:
    now = datetime.now(UTC)
    certs = root / "certs"
    ensure_dev_pki(certs, TEAM_ID, [MEMBER_PTID, COUPON_PTID], "http://127.0.0.1:1/token", now)
    tls = root / "tls"
    tls.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "walletpass test TLS CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
          .not_valid_after(now + timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (tls / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tls / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tls / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return TestPki(certs, tls / "ca.pem", tls / "server.pem", tls / "server.key")
