"""PassSigner: the detached PKCS#7 signature of manifest.json (apple.md §1.3).

Choices, each from apple.md:
- detached + binary (``DetachedSignature``, ``Binary``): the manifest bytes are signed as they are, never
  canonicalised as S/MIME text (that produces signatures Wallet rejects, §1.3);
- DER output, signed attributes contentType, signingTime, messageDigest — the same set as Apple's own
  sample pass (``NoCapabilities`` leaves out SMIMECapabilities); cryptography adds signingTime itself,
  from the clock, which Wallet requires ("Signature must contain a signing date");
- SHA-256 digest: Apple names none; ``openssl smime``, Apple's pass-builder and vapor/PassKit use SHA-256,
  and cryptography refuses SHA-1 for PKCS#7;
- certificates = the Pass Type ID leaf + the WWDR intermediate, never Apple Root CA.

The certificate and key are parsed once, when the signer is made (one signer per pass type per process).
Loading them from files is :mod:`walletpass.credentials`' job; this module only takes bytes/objects.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from walletpass.errors import CredentialError

_OPTIONS = (pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoCapabilities)
_SHA256 = hashes.SHA256()


def _name_attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attrs = name.get_attributes_for_oid(oid)
    return str(attrs[0].value) if attrs else ""


def same_public_key(cert: x509.Certificate, key: object) -> bool:
    """True when *key* is the private key of *cert*."""
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    pub = key.public_key()  # type: ignore[attr-defined]
    mine: bytes = pub.public_bytes(serialization.Encoding.DER, fmt)
    return mine == cert.public_key().public_bytes(serialization.Encoding.DER, fmt)


class PassSigner:
    """Sign manifests with one Pass Type ID certificate; made once per pass type per process.

    ``pass_type_identifier`` and ``team_identifier`` come from the certificate's subject UID and OU
    (apple.md §1.4); the builder checks every pass.json against them before signing.
    """

    __slots__ = ("certificate", "wwdr", "_key", "pass_type_identifier", "team_identifier")

    def __init__(self, certificate: x509.Certificate, private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
                 wwdr: x509.Certificate) -> None:
        if not isinstance(private_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise CredentialError("the pass certificate key must be an RSA or EC private key")
        if not same_public_key(certificate, private_key):
            raise CredentialError(
                "the private key does not belong to the pass certificate; export the certificate together "
                "with its own key (a renewed certificate needs a new .p12)")
        self.certificate = certificate
        self.wwdr = wwdr
        self._key = private_key
        self.pass_type_identifier = _name_attr(certificate.subject, NameOID.USER_ID)
        self.team_identifier = _name_attr(certificate.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes, wwdr_pem: bytes, password: bytes | None = None) -> PassSigner:
        """Parse PEM bytes (the key may be encrypted with *password*); raise CredentialError if unreadable."""
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
        except ValueError as exc:
            raise CredentialError(f"cannot read the pass certificate as PEM: {exc}") from exc
        try:
            wwdr = x509.load_pem_x509_certificate(wwdr_pem)
        except ValueError as exc:
            raise CredentialError(f"cannot read the WWDR certificate as PEM: {exc}") from exc
        try:
            key = serialization.load_pem_private_key(key_pem, password)
        except TypeError as exc:
            if password is None:
                raise CredentialError("the private key is encrypted; give its password "
                                      "(WALLETPASS_KEY_PASSWORD)") from exc
            raise CredentialError("a password was given but the private key is not encrypted; "
                                  "remove the password") from exc
        except ValueError as exc:
            if password is not None:
                raise CredentialError("cannot decrypt the private key: wrong password, or not a PEM key") from exc
            raise CredentialError(f"cannot read the private key as PEM: {exc}") from exc
        return cls(cert, key, wwdr)  # type: ignore[arg-type]

    def sign(self, manifest: bytes) -> bytes:
        """Return the DER detached PKCS#7 signature of the exact *manifest* bytes."""
        return (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(manifest)
            .add_signer(self.certificate, self._key, _SHA256)
            .add_certificate(self.wwdr)
            .sign(serialization.Encoding.DER, _OPTIONS)
        )

    def __repr__(self) -> str:
        return f"PassSigner({self.pass_type_identifier!r}, team={self.team_identifier!r})"
