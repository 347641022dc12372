"""The "Add to Google Wallet" link: an RS256 JWT signed with the service-account key (PURE; google.md §1).

The key is parsed **once** when :class:`SaveLinkSigner` is built (re-parsing the PEM per link is what makes naive
signers ~40× slower); after that signing costs one RSA signature.

Two-step flow for big passes (google.md §1.4: "The maximum safe length for the JWT is 1800 characters")::

    plan = signer.plan_save("loyalty", class_body, object_body, now)
    if isinstance(plan, NeedsInsert):          # the fat link would be > 1,800 characters
        client.insert_class(plan.kind, plan.class_)   # when plan.class_ is not None
        client.insert_object(plan.kind, plan.object_)
        url = signer.skinny_url(plan.kind, plan.object_["id"], plan.object_["classId"], now)
    else:
        url = plan.url

Encoding: header and claims are serialized as compact UTF-8 JSON (no spaces, CJK not ``\\uXXXX``-escaped) and
signed with google-auth's :class:`~google.auth.crypt.RSASigner`. ``google.auth.jwt.encode`` would produce the same
token with ``json.dumps`` defaults — up to twice as long for zh-Hant/zh-Hans texts — so more passes would need the
REST round trip. The header is the same as google-auth's: ``{"typ": "JWT", "alg": "RS256", "kid": <private_key_id>}``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from google.auth import crypt

from walletpass.errors import CredentialError
from walletpass.google.objects import Json, Kind, payload_key

SAVE_URL_PREFIX = "https://pay.google.com/gp/v/save/"
#: Longest save URL we hand out (google.md §1.4; Google's pass-converter applies the same 1,800 to the JWT).
MAX_SAVE_URL_LENGTH = 1800


@dataclass(frozen=True, slots=True)
class SaveLink:
    """A ready "Add to Google Wallet" URL."""

    url: str


@dataclass(frozen=True, slots=True)
class NeedsInsert:
    """The fat link would be too long: insert ``class_`` (if not None) and ``object_`` by REST, then use
    :meth:`SaveLinkSigner.skinny_url`. ``length`` is the fat URL's length, for logs."""

    kind: Kind
    class_: Json | None
    object_: Json
    length: int


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def origin_of(url: str) -> str:
    """``https://shop.example/base/`` → ``https://shop.example`` (JWTREF example origins are scheme + host)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else url


class SaveLinkSigner:
    """Sign save-to-wallet JWTs with a service-account key that is parsed once.

    Args:
        service_account_info: the parsed service-account key JSON (``private_key``, ``private_key_id``,
            ``client_email``).
        origins: sites allowed to show the save button (``[settings.base_url]``); reduced to scheme + host.
    """

    __slots__ = ("_signer", "_issuer", "_origins", "_header")

    def __init__(self, service_account_info: Mapping[str, Any], *, origins: Sequence[str]) -> None:
        try:
            self._signer = crypt.RSASigner.from_service_account_info(service_account_info)  # type: ignore[no-untyped-call]
            self._issuer = str(service_account_info["client_email"])
        except (KeyError, ValueError, TypeError) as exc:
            raise CredentialError(f"cannot use the Google service-account key: {exc}") from exc
        self._origins = [origin_of(o) for o in origins]
        header = {"typ": "JWT", "alg": "RS256"}
        if self._signer.key_id:
            header["kid"] = self._signer.key_id
        self._header = _b64(_compact(header))

    @classmethod
    def from_json(cls, data: bytes | str, *, origins: Sequence[str]) -> SaveLinkSigner:
        """Build from the key file's bytes (the caller reads the file)."""
        try:
            info = json.loads(data)
        except ValueError as exc:
            raise CredentialError(f"the Google service-account key is not JSON: {exc}") from exc
        if not isinstance(info, dict):
            raise CredentialError("the Google service-account key is not a JSON object")
        return cls(info, origins=origins)

    @property
    def issuer(self) -> str:
        """The ``iss`` claim: the service account's e-mail."""
        return self._issuer

    def claims(self, payload: Mapping[str, Any], now: datetime) -> Json:
        """The JWT claims of google.md §1.3 around *payload* (e.g. ``{"loyaltyObjects": [...]}``)."""
        return {"iss": self._issuer, "aud": "google", "typ": "savetowallet", "iat": int(now.timestamp()),
                "origins": list(self._origins), "payload": dict(payload)}

    def sign(self, payload: Mapping[str, Any], now: datetime) -> str:
        """Return the signed JWT for *payload*."""
        body = self._header + b"." + _b64(_compact(self.claims(payload, now)))
        return (body + b"." + _b64(self._signer.sign(body))).decode("ascii")

    def save_url(self, payload: Mapping[str, Any], now: datetime) -> str:
        """Return the save URL for *payload*, whatever its length (prefer :meth:`plan_save`)."""
        return SAVE_URL_PREFIX + self.sign(payload, now)

    def plan_save(self, kind: Kind, class_: Json | None, object_: Json, now: datetime) -> SaveLink | NeedsInsert:
        """Return a fat :class:`SaveLink` carrying *class_* and *object_*, or :class:`NeedsInsert` when too long.

        Pass ``class_=None`` when the class is known to exist already (inserted by REST): the link then carries
        only the object, which often keeps it under the limit.
        """
        payload: Json = {payload_key(kind, "object"): [object_]}
        if class_ is not None:
            payload[payload_key(kind, "class")] = [class_]
        url = self.save_url(payload, now)
        if len(url) > MAX_SAVE_URL_LENGTH:
            return NeedsInsert(kind, class_, object_, len(url))
        return SaveLink(url)

    def skinny_url(self, kind: Kind, object_id: str, class_id: str, now: datetime) -> str:
        """Return the save URL naming an object that already exists (google.md §1.4 "skinny JWT")."""
        return self.save_url({payload_key(kind, "object"): [{"id": object_id, "classId": class_id}]}, now)
