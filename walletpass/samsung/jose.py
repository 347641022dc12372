"""The JOSE pieces Samsung Wallet uses (samsung-android.md §1.3, §1.4), built on ``cryptography`` — pure.

- :func:`jwe_encrypt` / :func:`jwe_decrypt`: compact JWE, ``alg`` RSA1_5 (the content key encrypted to Samsung's
  RSA key with PKCS#1 v1.5) and ``enc`` A128GCM (the protected header's base64url text as the additional data).
- :func:`jws_sign` / :func:`jws_verify`: compact JWS, RS256.
- :func:`load_private_key` takes a PEM partner key in PKCS#1 (``BEGIN RSA PRIVATE KEY``) or PKCS#8 form;
  :func:`load_public_key` a PEM certificate or public key.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class JoseError(ValueError):
    """A token that cannot be read, verified or decrypted (the message says which part)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise JoseError(f"not base64url: {exc}") from None


def _json_part(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(text))
    except (ValueError, UnicodeDecodeError):
        raise JoseError(f"the {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise JoseError(f"the {what} is not a JSON object")
    return value


def _compact_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# -- keys -----------------------------------------------------------------------------------------------------
def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM, PKCS#1 or PKCS#8 (unencrypted). JoseError otherwise."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise JoseError(f"not an unencrypted PEM private key (PKCS#1 or PKCS#8): {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise JoseError("the key is not an RSA key (Samsung uses RSA)")
    return key


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """An RSA public key from a PEM certificate (as Samsung e-mails it) or a PEM public key."""
    try:
        key: object = (x509.load_pem_x509_certificate(pem).public_key() if b"CERTIFICATE" in pem
                       else serialization.load_pem_public_key(pem))
    except ValueError as exc:
        raise JoseError(f"not a PEM certificate or public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise JoseError("the certificate's key is not an RSA key (Samsung uses RSA)")
    return key


# -- JWE: RSA1_5 + A128GCM -------------------------------------------------------------------------------------
def jwe_encrypt(plaintext: bytes, key: rsa.RSAPublicKey, *, extra_header: Mapping[str, Any] | None = None) -> str:
    """Compact JWE of *plaintext* to *key*: ``alg`` RSA1_5, ``enc`` A128GCM (a fresh 128-bit key, 96-bit IV)."""
    header = b64url(_compact_json({"alg": "RSA1_5", "enc": "A128GCM", **(extra_header or {})}))
    cek, iv = AESGCM.generate_key(bit_length=128), os.urandom(12)
    encrypted_key = key.encrypt(cek, padding.PKCS1v15())
    sealed = AESGCM(cek).encrypt(iv, plaintext, header.encode("ascii"))
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return ".".join((header, b64url(encrypted_key), b64url(iv), b64url(ciphertext), b64url(tag)))


def jwe_decrypt(token: str, key: rsa.RSAPrivateKey) -> tuple[dict[str, Any], bytes]:
    """(protected header, plaintext) of a compact RSA1_5 + A128GCM JWE; JoseError for anything else."""
    parts = token.split(".")
    if len(parts) != 5:
        raise JoseError(f"a compact JWE has 5 parts, this has {len(parts)}")
    header = _json_part(parts[0], "JWE header")
    if header.get("alg") != "RSA1_5" or header.get("enc") != "A128GCM":
        raise JoseError(f"JWE alg/enc must be RSA1_5/A128GCM, got {header.get('alg')}/{header.get('enc')}")
    encrypted_key, iv, ciphertext, tag = (b64url_decode(p) for p in parts[1:])
    try:
        cek = key.decrypt(encrypted_key, padding.PKCS1v15())
    except ValueError:
        raise JoseError("the JWE content key does not decrypt with this key") from None
    if len(cek) != 16 or len(iv) != 12 or len(tag) != 16:
        raise JoseError("A128GCM needs a 16-byte key, a 12-byte IV and a 16-byte tag")
    try:
        plaintext = AESGCM(cek).decrypt(iv, ciphertext + tag, parts[0].encode("ascii"))
    except InvalidTag:
        raise JoseError("the JWE does not authenticate (tampered, or another key)") from None
    return header, plaintext


# -- JWS: RS256 -------------------------------------------------------------------------------------------------
def jws_sign(payload: bytes, header: Mapping[str, Any], key: rsa.RSAPrivateKey) -> str:
    """Compact JWS of *payload* with *header* (``alg`` RS256 is set), signed with *key*."""
    signing_input = f"{b64url(_compact_json({'alg': 'RS256', **header}))}.{b64url(payload)}"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def jws_header(token: str) -> dict[str, Any]:
    """The header of a compact JWS, unverified (to choose the key)."""
    if not token.isascii():
        raise JoseError("a compact JWS is ASCII (base64url parts)")
    parts = token.split(".")
    if len(parts) != 3:
        raise JoseError(f"a compact JWS has 3 parts, this has {len(parts)}")
    return _json_part(parts[0], "JWS header")


def jws_verify(token: str, key: rsa.RSAPublicKey) -> tuple[dict[str, Any], bytes]:
    """(header, payload) of a compact RS256 JWS whose signature *key* verifies; JoseError otherwise."""
    header = jws_header(token)
    if header.get("alg") != "RS256":
        raise JoseError(f"JWS alg must be RS256, got {header.get('alg')!r}")
    head, body, signature = token.split(".")
    try:
        key.verify(b64url_decode(signature), f"{head}.{body}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise JoseError("the JWS signature does not verify with this key") from None
    return header, b64url_decode(body)
