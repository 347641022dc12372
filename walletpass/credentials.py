"""ADAPTER: load the Apple pass certificate and key (PEM or .p12) and check them.

- :func:`load_signer` reads PEM files into a :class:`~walletpass.pkpass.signing.PassSigner` (once per pass
  type per process) and refuses unreadable files, a wrong key password, a key of another certificate and an
  expired certificate — each as a CredentialError with a one-line detail for the CLI.
- :func:`load_p12` opens a ``.p12`` from Keychain Access: modern AES-256 ones and the legacy
  PBE-SHA1-RC2-40 ones (cryptography's bundled OpenSSL has the legacy provider, so no ``-legacy`` dance,
  apple.md §1.5, §5.6 #11).
- :func:`check_certificate` reports what ``walletpass certs check`` prints: ids, issuer, expiry, warnings
  (< 30 days left) and errors.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from walletpass.errors import CredentialError
from walletpass.pkpass.signing import PassSigner, same_public_key

WWDR_CN = "Apple Worldwide Developer Relations Certification Authority"
WWDR_OU = "G4"
WARN_DAYS = 30


def _read(path: Path | str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CredentialError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from exc


def parse_certificate(data: bytes, what: str = "certificate") -> x509.Certificate:
    """A certificate from PEM or DER bytes; CredentialError if it is neither."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CredentialError(f"the {what} is not a PEM or DER X.509 certificate ({exc})") from exc


def parse_private_key(data: bytes, password: bytes | None, what: str = "private key") -> object:
    """A private key from PEM (or DER) bytes, decrypted with *password* when it is encrypted."""
    loader = serialization.load_pem_private_key if b"-----BEGIN" in data else serialization.load_der_private_key
    try:
        return loader(data, password)
    except TypeError as exc:
        if password is None:
            raise CredentialError(f"the {what} is encrypted; give its password "
                                  "(WALLETPASS_KEY_PASSWORD)") from exc
        raise CredentialError(f"a password was given but the {what} is not encrypted; remove the password") from exc
    except ValueError as exc:
        if password is not None or b"ENCRYPTED" in data:
            raise CredentialError(f"cannot decrypt the {what}: wrong password") from exc
        raise CredentialError(f"the {what} is not a readable PEM/DER private key ({exc})") from exc


def _password(password: str | bytes | None) -> bytes | None:
    return password.encode() if isinstance(password, str) else password


def load_signer(cert_path: Path | str, key_path: Path | str, wwdr_path: Path | str,
                password: str | bytes | None = None, *, now: datetime | None = None) -> PassSigner:
    """Read PEM (or DER) files into a PassSigner; raise CredentialError saying what to fix.

    Refuses a certificate that is expired (or not yet valid) at *now* (default: the current time).
    """
    cert = parse_certificate(_read(cert_path, "pass certificate"), f"pass certificate {cert_path}")
    wwdr = parse_certificate(_read(wwdr_path, "WWDR certificate"), f"WWDR certificate {wwdr_path}")
    key = parse_private_key(_read(key_path, "private key"), _password(password), f"private key {key_path}")
    when = now or datetime.now(UTC)
    if when >= cert.not_valid_after_utc:
        raise CredentialError(f"the pass certificate {cert_path} expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
                              "create a new one in the Apple Developer portal and import it")
    if when < cert.not_valid_before_utc:
        raise CredentialError(f"the pass certificate {cert_path} is not valid before "
                              f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC; check the clock")
    if not same_public_key(cert, key):
        raise CredentialError(f"the private key {key_path} does not belong to the certificate {cert_path}; "
                              "export the certificate together with its key as a .p12 and import it again")
    return PassSigner(cert, key, wwdr)  # type: ignore[arg-type]


def load_p12(data: bytes, password: bytes | None) -> tuple[bytes, bytes]:
    """Open a .p12 (legacy RC2-40 or modern AES) and return ``(cert_pem, key_pem)``.

    The key comes out as unencrypted PKCS#8 PEM: write it with mode 0600. When the file holds several
    certificates (e.g. the WWDR too), the one whose public key matches the private key is returned.
    """
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError as exc:
        if password:
            raise CredentialError("cannot open the .p12: wrong password, or the file is not a PKCS#12 "
                                  "export") from exc
        raise CredentialError("cannot open the .p12: it needs a password (or is not a PKCS#12 export)") from exc
    if key is None:
        raise CredentialError("the .p12 holds no private key; in Keychain Access export the certificate "
                              "*with* its key (expand it and select both)")
    candidates = [c for c in (cert, *extra) if c is not None]
    match = next((c for c in candidates if same_public_key(c, key)), None)
    if match is None:
        raise CredentialError("the .p12 holds no certificate for its private key; export the Pass Type ID "
                              "certificate together with its key")
    cert_pem = match.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert_pem, key_pem


@dataclass(frozen=True, slots=True)
class CertReport:
    """What ``walletpass certs check`` says about one Pass Type ID certificate."""

    subject: str
    issuer: str
    pass_type_id: str
    team_id: str
    not_valid_after: datetime
    days_left: int
    warnings: tuple[str, ...]
    errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def check_certificate(cert_pem: bytes, wwdr_pem: bytes | None, now: datetime, expected_pass_type_ids: Collection[str],
                      team_id: str, *, key_pem: bytes | None = None, key_password: bytes | None = None
                      ) -> CertReport:
    """Check a Pass Type ID certificate as of *now* (aware UTC) and return a report (never raises for findings).

    Errors: expired / not yet valid, UID not in *expected_pass_type_ids* (give one to check a certificate
    against the pass type it is configured for), OU ≠ *team_id*, issuer not WWDR G4,
    not issued by the given WWDR, key (when *key_pem* is given) of another certificate.
    Warnings: fewer than 30 days left.
    """
    cert = parse_certificate(cert_pem, "pass certificate")
    errors: list[str] = []
    warnings: list[str] = []
    uid = _attr(cert.subject, NameOID.USER_ID)
    ou = _attr(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    end = cert.not_valid_after_utc
    days_left = (end - now).days if now < end else -((now - end).days + 1)
    if now >= end:
        errors.append(f"expired on {end:%Y-%m-%d}; create a new certificate in the Apple Developer portal")
    elif days_left < WARN_DAYS:
        warnings.append(f"expires in {days_left} days ({end:%Y-%m-%d}); renew it soon — passes signed after "
                        "expiry will not open")
    if now < cert.not_valid_before_utc:
        errors.append(f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if not uid:
        errors.append("subject has no UID; this is not a Pass Type ID certificate")
    elif len(expected_pass_type_ids) == 1 and uid not in expected_pass_type_ids:
        (expected,) = expected_pass_type_ids
        errors.append(f"UID {uid!r} is not the pass type id {expected!r} this certificate is configured for; "
                      f"import the certificate of {expected}, or fix the pass type id or certificate file setting")
    elif uid not in expected_pass_type_ids:
        errors.append(f"UID {uid!r} is not a configured pass type id ({', '.join(sorted(expected_pass_type_ids))})")
    if ou != team_id:
        errors.append(f"OU {ou!r} is not the team id {team_id!r}; set WALLETPASS_TEAM_ID to the certificate's team")
    issuer_cn = _attr(cert.issuer, NameOID.COMMON_NAME)
    issuer_ou = _attr(cert.issuer, NameOID.ORGANIZATIONAL_UNIT_NAME)
    if issuer_cn != WWDR_CN or issuer_ou != WWDR_OU:
        errors.append(f"issued by {cert.issuer.rfc4514_string()!r}, not the Apple WWDR G4 intermediate "
                      f"(CN={WWDR_CN}, OU={WWDR_OU}); create the certificate again in the developer portal")
    if wwdr_pem is not None:
        wwdr = parse_certificate(wwdr_pem, "WWDR certificate")
        try:
            cert.verify_directly_issued_by(wwdr)
        except (InvalidSignature, ValueError, TypeError) as exc:
            errors.append(f"not issued by the configured WWDR certificate ({wwdr.subject.rfc4514_string()}): "
                          f"{exc or type(exc).__name__}; download the WWDR G4 certificate")
        if now >= wwdr.not_valid_after_utc:
            errors.append(f"the WWDR certificate expired on {wwdr.not_valid_after_utc:%Y-%m-%d}")
    if key_pem is not None:
        try:
            key = parse_private_key(key_pem, key_password)
        except CredentialError as exc:
            errors.append(exc.detail)
        else:
            if not same_public_key(cert, key):
                errors.append("the private key does not belong to this certificate; export both together")
    return CertReport(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), uid, ou, end, days_left,
                      tuple(warnings), tuple(errors))
