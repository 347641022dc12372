"""Development PKI written by ``walletpass init``: stand-ins for Apple's CAs, Pass Type ID certs, a Google key.

Shapes follow apple.md §1.4: the WWDR intermediate is ``CN=Apple Worldwide Developer Relations Certification
Authority, OU=G4``; a Pass Type ID certificate has subject ``UID=<passTypeIdentifier>, CN=Pass Type ID: <id>,
OU=<teamIdentifier>``, EKU client-auth + 1.2.840.113635.100.4.14 and extension 1.2.840.113635.100.6.1.16
holding the pass type id. Every certificate says in its O= that it is a development stand-in.

File names under the certs folder are fixed by PRODUCT.md: ``apple-root-ca.pem``, ``wwdr-ca.pem``,
``<passTypeIdentifier>.pem`` / ``.key`` and ``google-service-account.json``. The CA keys are kept beside them
(``*-ca.key``) so that a pass type configured later can be issued from the same WWDR.

Only material made here is ever replaced: a Pass Type ID certificate whose subject lacks the stand-in O= (e.g.
a real one imported into this folder), its key, and a Google key of another project are left as they are, even
with ``force``.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

#: Apple's OIDs (apple.md §1.4).
OID_PASS_SIGNING_EKU = ObjectIdentifier("1.2.840.113635.100.4.14")
OID_PASS_TYPE_ID_EXT = ObjectIdentifier("1.2.840.113635.100.6.1.16")
OID_APNS_PRODUCTION_EXT = ObjectIdentifier("1.2.840.113635.100.6.3.2")

STAND_IN_ORG = "walletpass development stand-in (not Apple)"
ROOT_FILE, ROOT_KEY_FILE = "apple-root-ca.pem", "apple-root-ca.key"
WWDR_FILE, WWDR_KEY_FILE = "wwdr-ca.pem", "wwdr-ca.key"
GOOGLE_KEY_FILE = "google-service-account.json"
GOOGLE_DEV_PROJECT = "walletpass-dev"


@dataclass(frozen=True, slots=True)
class PkiChanges:
    """What :func:`ensure_dev_pki` did: the files it wrote, and those it would have replaced but kept."""

    written: tuple[Path, ...]
    kept: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _ca(subject: x509.Name, key: rsa.RSAPrivateKey, issuer: x509.Name, issuer_key: rsa.RSAPrivateKey,
        now: datetime, days: int, path_length: int | None) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


def make_root(now: datetime) -> Issued:
    """A stand-in Apple Root CA (self-signed)."""
    key = _key()
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, STAND_IN_ORG),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Apple Certification Authority"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Apple Root CA (walletpass dev)"),
    ])
    return Issued(_pem_cert(_ca(name, key, name, key, now, 3650, None)), _pem_key(key))


def make_wwdr(root: Issued, now: datetime) -> Issued:
    """A stand-in WWDR G4 intermediate issued by *root*."""
    root_cert = x509.load_pem_x509_certificate(root.cert_pem)
    root_key = serialization.load_pem_private_key(root.key_pem, None)
    key = _key()
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, STAND_IN_ORG),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "G4"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Apple Worldwide Developer Relations Certification Authority"),
    ])
    cert = _ca(name, key, root_cert.subject, root_key, now, 3000, 0)  # type: ignore[arg-type]
    return Issued(_pem_cert(cert), _pem_key(key))


def make_pass_type_cert(wwdr: Issued, pass_type_id: str, team_id: str, now: datetime,
                        *, days: int = 365, not_before: datetime | None = None,
                        organization: str = STAND_IN_ORG) -> Issued:
    """A Pass Type ID certificate shaped like Apple's, issued by *wwdr*.

    *organization* is the subject's O=; tests give another to stand for a real (imported) certificate.
    """
    wwdr_cert = x509.load_pem_x509_certificate(wwdr.cert_pem)
    wwdr_key = serialization.load_pem_private_key(wwdr.key_pem, None)
    key = _key()
    subject = x509.Name([
        x509.NameAttribute(NameOID.USER_ID, pass_type_id),
        x509.NameAttribute(NameOID.COMMON_NAME, f"Pass Type ID: {pass_type_id}"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, team_id),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    ])
    start = not_before or (now - timedelta(days=1))
    # DER UTF8String of the pass type id, as the value of Apple's pass-type extension.
    raw_id = pass_type_id.encode()
    ext_value = bytes([0x0C, len(raw_id)]) + raw_id if len(raw_id) < 128 else bytes([0x0C, 0x81, len(raw_id)]) + raw_id
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(wwdr_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, OID_PASS_SIGNING_EKU]),
                       critical=False)
        .add_extension(x509.UnrecognizedExtension(OID_PASS_TYPE_ID_EXT, ext_value), critical=False)
        .add_extension(x509.UnrecognizedExtension(OID_APNS_PRODUCTION_EXT, b"\x05\x00"), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(wwdr_cert.public_key()),  # type: ignore[arg-type]
                       critical=False)
        .sign(wwdr_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return Issued(_pem_cert(cert), _pem_key(key))


def make_google_service_account(token_url: str, project: str = GOOGLE_DEV_PROJECT) -> bytes:
    """A key file with the layout of a real Google service-account JSON key."""
    key = _key()
    email = f"walletpass-dev@{project}.iam.gserviceaccount.com"
    doc = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": _pem_key(key).decode(),
        "client_email": email,
        "client_id": str(secrets.randbelow(10**21)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_url,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email.replace('@', '%40')}",
        "universe_domain": "googleapis.com",
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def is_dev_certificate(cert_pem: bytes) -> bool:
    """True when *cert_pem* (PEM) is a stand-in made here: its subject's O= names the stand-in organisation."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return False  # unreadable: not ours to replace
    return any(a.value == STAND_IN_ORG for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))


def is_dev_google_key(data: bytes) -> bool:
    """True when *data* is a Google key file made here (project ``walletpass-dev``)."""
    try:
        doc = json.loads(data)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("project_id") == GOOGLE_DEV_PROJECT


def write_file(path: Path, data: bytes, *, secret: bool) -> None:
    """Write *data* to *path* atomically, mode 0600 when *secret* (else 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600 if secret else 0o644)  # a leftover .tmp keeps its old mode otherwise
        fh.write(data)
    os.replace(tmp, path)


def _read(certs_dir: Path, cert_name: str, key_name: str) -> Issued | None:
    cert, key = certs_dir / cert_name, certs_dir / key_name
    if cert.exists() and key.exists():
        return Issued(cert.read_bytes(), key.read_bytes())
    return None


def _pass_type_state(cert: Path, key: Path) -> str:
    """``"absent"``, ``"dev"`` (a stand-in cert, key present or not) or ``"foreign"`` (anything else: keep it)."""
    if cert.exists():
        return "dev" if is_dev_certificate(cert.read_bytes()) else "foreign"
    return "foreign" if key.exists() else "absent"  # a key without its certificate may be a real one


def _ensure_ca(certs_dir: Path, now: datetime, force: bool,
               put: Callable[[str, bytes, bool], None]) -> tuple[Issued, bool]:
    """The stand-in WWDR (made with its root when missing, or always with *force*) and whether it is new."""
    root = None if force else _read(certs_dir, ROOT_FILE, ROOT_KEY_FILE)
    wwdr = None if force else _read(certs_dir, WWDR_FILE, WWDR_KEY_FILE)
    if root is not None and wwdr is not None:
        if root.cert_pem.strip() not in wwdr.cert_pem:  # made before the root was added to the WWDR file
            put(WWDR_FILE, wwdr.cert_pem.rstrip(b"\n") + b"\n" + root.cert_pem, False)
        return wwdr, False
    root = make_root(now)
    wwdr = make_wwdr(root, now)
    put(ROOT_FILE, root.cert_pem, False)
    put(ROOT_KEY_FILE, root.key_pem, True)
    # The WWDR certificate first (what signatures embed; loaders read the first block), then the root it
    # chains to, so the file alone is a CA file: `openssl cms -verify … -CAfile wwdr-ca.pem` succeeds
    # without -partial_chain.
    put(WWDR_FILE, wwdr.cert_pem + root.cert_pem, False)
    put(WWDR_KEY_FILE, wwdr.key_pem, True)
    return wwdr, True


def ensure_dev_pki(certs_dir: Path, team_id: str, pass_type_ids: Iterable[str], google_token_url: str,
                   now: datetime, *, force: bool = False) -> PkiChanges:
    """Create what is missing of the dev PKI under *certs_dir*; return the files written and kept.

    Existing files are kept unless *force*, which regenerates only what this module made (the stand-in CAs,
    stand-in pass certificates and keys, the dev Google key): anything else is listed in ``kept``. A new CA
    reissues the stand-in pass certificates under it. A pass type added later is issued by the existing WWDR.
    """
    written: list[Path] = []
    kept: list[Path] = []

    def put(name: str, data: bytes, secret: bool) -> None:
        write_file(certs_dir / name, data, secret=secret)
        written.append(certs_dir / name)

    foreign_ca = [certs_dir / n for n in (ROOT_FILE, WWDR_FILE)
                  if (certs_dir / n).exists() and not is_dev_certificate((certs_dir / n).read_bytes())]
    kept.extend(foreign_ca)  # e.g. Apple's real WWDR dropped in here: keep it, and issue nothing under it
    wwdr, new_ca = (None, False) if foreign_ca else _ensure_ca(certs_dir, now, force, put)
    reissue = force or new_ca  # a new CA: the stand-in pass certificates must chain to it
    for ptid in pass_type_ids:
        cert, key = certs_dir / f"{ptid}.pem", certs_dir / f"{ptid}.key"
        state = _pass_type_state(cert, key)
        if state == "foreign":
            if reissue or not cert.exists() or not key.exists():
                kept.extend(p for p in (cert, key) if p.exists())
            continue
        if wwdr is not None and (state == "absent" or reissue or not key.exists()):
            issued = make_pass_type_cert(wwdr, ptid, team_id, now)
            put(f"{ptid}.pem", issued.cert_pem, False)
            put(f"{ptid}.key", issued.key_pem, True)
    google = certs_dir / GOOGLE_KEY_FILE
    if not google.exists() or (force and is_dev_google_key(google.read_bytes())):
        put(GOOGLE_KEY_FILE, make_google_service_account(google_token_url), True)
    elif force:
        kept.append(google)
    return PkiChanges(tuple(written), tuple(kept))
