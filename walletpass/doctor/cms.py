"""Verify a pass's ``signature``: the detached CMS SignedData over the exact ``manifest.json`` bytes (PURE).

cryptography signs PKCS#7 but cannot verify it, so the structure is read with pyasn1 (RFC 5652 modules, already
installed with google-auth) and the checks Wallet makes are done by hand (apple.md §1.3, §5.6 #2-3):

1. the content is SignedData, detached (no eContent), with one signer found among the embedded certificates;
2. the signed attributes hold a messageDigest equal to the digest of the manifest, and a signingTime;
3. the signature over the DER of the signed attributes (re-tagged as a SET, RFC 5652 §5.4) verifies with the
   signer certificate's public key (RSA PKCS#1 v1.5 or ECDSA).

Everything is reported as a :class:`CmsResult`; nothing raises for a bad signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyasn1.codec.der import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pyasn1_modules import rfc5652

_DIGESTS: dict[str, hashes.HashAlgorithm] = {
    "1.3.14.3.2.26": hashes.SHA1(), "2.16.840.1.101.3.4.2.1": hashes.SHA256(),
    "2.16.840.1.101.3.4.2.2": hashes.SHA384(), "2.16.840.1.101.3.4.2.3": hashes.SHA512(),
}
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_SIGNING_TIME = "1.2.840.113549.1.9.5"
_SIGNED_DATA = "1.2.840.113549.1.7.2"


@dataclass(frozen=True, slots=True)
class CmsResult:
    """What the signature says: the certificates it embeds, the signer's, the signing time, and the first
    problem found (None: it verifies)."""

    certificates: tuple[x509.Certificate, ...] = ()
    signer: x509.Certificate | None = None
    signing_time: datetime | None = None
    digest: str = ""
    problem: str | None = None
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None


def _attributes(signer_info: univ.Sequence) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for attr in signer_info["signedAttrs"]:
        values = attr["attrValues"]
        if len(values):
            found[str(attr["attrType"])] = bytes(values[0])
    return found


def _signing_time(raw: bytes) -> datetime:
    value, _ = decoder.decode(raw, asn1Spec=rfc5652.SigningTime())
    when: datetime = value.getComponent().asDateTime
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _check_signature(cert: x509.Certificate, signature: bytes, data: bytes, digest: hashes.HashAlgorithm) -> bool:
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(digest))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def verify_detached(signature: bytes, content: bytes) -> CmsResult:
    """Check that *signature* (DER CMS) is a valid detached signature of *content*."""
    try:
        info, _ = decoder.decode(signature, asn1Spec=rfc5652.ContentInfo())
        if str(info["contentType"]) != _SIGNED_DATA:
            return CmsResult(problem="the signature is a CMS structure but not SignedData",
                             fix="sign manifest.json with a detached PKCS#7 signature (openssl smime -sign -binary)")
        signed, _ = decoder.decode(bytes(info["content"]), asn1Spec=rfc5652.SignedData())
        certs = tuple(x509.load_der_x509_certificate(encoder.encode(choice["certificate"]))
                      for choice in signed["certificates"] if choice.getName() == "certificate")
        infos = list(signed["signerInfos"])
    except (PyAsn1Error, ValueError) as exc:
        return CmsResult(problem=f"the signature is not a DER PKCS#7/CMS SignedData ({type(exc).__name__})",
                         fix="sign the exact manifest.json bytes again (an empty or PEM signature will not do)")
    if signed["encapContentInfo"]["eContent"].isValue:
        return CmsResult(certs, problem="the signature embeds the manifest instead of being detached",
                         fix="sign with the detached option (openssl smime -sign -binary without -nodetach)")
    if len(infos) != 1:
        return CmsResult(certs, problem=f"the signature has {len(infos)} signers; Wallet expects exactly one",
                         fix="sign with the Pass Type ID certificate only")
    si = infos[0]
    sid = si["sid"]
    if sid.getName() != "issuerAndSerialNumber":
        return CmsResult(certs, problem="the signer is named by key identifier, not issuer and serial number",
                         fix="sign with openssl smime/cms defaults")
    serial = int(sid["issuerAndSerialNumber"]["serialNumber"])
    signer = next((c for c in certs if c.serial_number == serial), None)
    if signer is None:
        return CmsResult(certs, problem="the signer's certificate is not embedded in the signature",
                         fix="embed the Pass Type ID certificate (it is the -signer of openssl smime)")
    digest = _DIGESTS.get(str(si["digestAlgorithm"]["algorithm"]))
    if digest is None:
        return CmsResult(certs, signer, problem=f"unknown digest algorithm {si['digestAlgorithm']['algorithm']}",
                         fix="sign with SHA-256")
    if not si["signedAttrs"].isValue:
        return CmsResult(certs, signer, digest=digest.name, problem="the signature has no signed attributes, so "
                         "no signing time: Wallet says 'Signature must contain a signing date'",
                         fix="sign with openssl smime -sign -binary (it adds signingTime)")
    attrs = _attributes(si)
    try:
        signed_at = _signing_time(attrs[_SIGNING_TIME]) if _SIGNING_TIME in attrs else None
        message_digest = bytes(decoder.decode(attrs[_MESSAGE_DIGEST], asn1Spec=univ.OctetString())[0]) \
            if _MESSAGE_DIGEST in attrs else None
    except PyAsn1Error:
        return CmsResult(certs, signer, digest=digest.name, problem="unreadable signed attributes",
                         fix="sign manifest.json again")
    result = CmsResult(certs, signer, signed_at, digest.name)
    h = hashes.Hash(digest)
    h.update(content)
    if message_digest != h.finalize():
        return _with(result, "manifest.json is not the file that was signed (changed after signing, or signed as "
                             "text instead of binary)", "build the manifest last, then sign its exact bytes with "
                                                        "-binary")
    signed_attrs = bytearray(encoder.encode(si["signedAttrs"]))
    signed_attrs[0] = 0x31  # [0] IMPLICIT → SET OF: what was actually signed (RFC 5652 §5.4)
    if not _check_signature(signer, bytes(si["signature"]), bytes(signed_attrs), digest):
        return _with(result, "the signature does not verify with the signer certificate's public key",
                     "sign with the private key of the Pass Type ID certificate (export both together)")
    if signed_at is None:
        return _with(result, "the signature has no signingTime: Wallet says 'Signature must contain a signing "
                             "date'", "sign with openssl smime -sign -binary (it adds signingTime)")
    return result


def _with(result: CmsResult, problem: str, fix: str) -> CmsResult:
    return CmsResult(result.certificates, result.signer, result.signing_time, result.digest, problem, fix)


__all__ = ["CmsResult", "verify_detached"]
