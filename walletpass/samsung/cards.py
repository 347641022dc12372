"""Samsung Wallet card data and tokens (samsung-android.md §1.1, §1.3, §1.4) — pure (time and keys are passed in).

- :func:`loyalty_card` / :func:`coupon_card`: the card object ``{"card": {type, subType, data: [...]}}`` of a
  member card (``loyalty``/``others``) and of a coupon (``coupon``/``others``); attribute keys with dots are flat
  keys. :func:`check_card` enforces the required attributes and Samsung's length limits (also used by the fake).
- :func:`cdata_token`: the card as a JWE (RSA1_5 + A128GCM, to Samsung's key) inside a JWS (RS256, ``cty`` CARD,
  ``ver`` "3", ``certificateId``, ``partnerId``, ``utc`` in ms) signed with the partner key. It expires about 30 s
  after ``utc``: build it when the user taps.
- :func:`auth_token` / :func:`verify_auth_token`: the ``Authorization`` JWS of REST calls (``cty`` AUTH), bound to
  the request's method and path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from walletpass.domain.members import Member
from walletpass.domain.offers import REDEEMED, Coupon, Offer
from walletpass.domain.programs import Program, color_to_hex
from walletpass.samsung.jose import JoseError, jwe_decrypt, jwe_encrypt, jws_sign, jws_verify

Json = dict[str, Any]
LINK_BASE = "https://a.swallet.link/atw/v3"
#: How long after its ``utc`` Samsung takes a cdata token (§1.2), and the leeway allowed on AUTH tokens (§1.4).
CDATA_SECONDS = 30
AUTH_LEEWAY_SECONDS = 300

#: Samsung's limits (characters) on the attributes we send (§1.1); URLs are 256.
LOYALTY_REQUIRED = ("title", "providerName", "appLinkLogo", "appLinkName", "appLinkData")
COUPON_REQUIRED = ("title", "mainImg", "issueDate", "expiry", "editableYn", "deletableYn", "displayRedeemButtonYn",
                   "notificationYn", "appLinkLogo", "appLinkName", "appLinkData")
LIMITS: Mapping[str, int] = {
    "title": 32, "providerName": 32, "appLinkLogo": 256, "appLinkName": 32, "appLinkData": 256, "subtitle1": 32,
    "logoImage": 256, "logoImage.darkUrl": 256, "logoImage.lightUrl": 256, "mainImg": 256, "brandName": 32,
    "noticeDesc": 5000, "barcode.value": 4096, "eventId": 36, "groupingId": 36, "orderId": 36, "bgColor": 7,
    "extendedFields": 1024, "locations": 1024,
}
YN = ("editableYn", "deletableYn", "displayRedeemButtonYn", "notificationYn", "redeemYn", "preventCaptureYn")
MS_FIELDS = ("issueDate", "expiry", "redeemDate", "startDate", "endDate")
SERIAL_TYPES = ("SERIALNUMBER", "BARCODE", "QRCODE")
#: When a coupon has no end: Samsung needs an expiry (ms), and cleans the data up after it.
NO_END_MS = 4102444800000  # 2100-01-01T00:00:00Z


class CardError(ValueError):
    """Card data Samsung would refuse (the message names the attribute)."""


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class CardLinks:
    """The URLs a card shows: the program's logo and hero images, and the pass page (its app link)."""

    logo: str
    hero: str
    page: str


def _data(ref_id: str, created: datetime | None, updated: datetime, attributes: Json) -> Json:
    return {"refId": ref_id, "createdAt": ms(created or updated), "updatedAt": ms(updated), "language": "en",
            "attributes": attributes}


def loyalty_card(program: Program, member: Member, ref_id: str, links: CardLinks, *, updated: datetime) -> Json:
    """The member card as Samsung's ``loyalty`` card: name, points and tier, the member number as a QR code."""
    tier = f" · {member.tier}" if member.tier else ""
    attributes: Json = {
        "title": _fit(program.name, 32),
        "providerName": _fit(program.organization_name, 32),
        "subtitle1": _fit(f"{member.points:,} {program.points_label}{tier}", 32),
        "appLinkLogo": links.logo, "appLinkName": _fit(program.organization_name, 32), "appLinkData": links.page,
        "logoImage": links.logo, "logoImage.darkUrl": links.logo, "logoImage.lightUrl": links.logo,
        "bgColor": color_to_hex(program.background_color),
        "barcode.value": member.member_number, "barcode.serialType": "QRCODE", "barcode.ptFormat": "QRCODESERIAL",
        "barcode.ptSubFormat": "QR_CODE",
    }
    if program.terms:
        attributes["noticeDesc"] = _fit(program.terms, 5000)
    card = {"card": {"type": "loyalty", "subType": "others",
                     "data": [_data(ref_id, member.created_at, updated, attributes)]}}
    check_card(card)
    return card


def coupon_card(program: Program, offer: Offer, coupon: Coupon, ref_id: str, links: CardLinks, *,
                updated: datetime, now: datetime) -> Json:
    """A coupon as Samsung's ``coupon`` card: the offer, its validity, its code as a QR code, redeemed or not."""
    redeemed = coupon.state == REDEEMED
    attributes: Json = {
        "title": _fit(offer.title, 32), "brandName": _fit(program.organization_name, 32),
        "mainImg": links.hero,
        "issueDate": ms(offer.valid_from or coupon.created_at or now),
        "expiry": ms(offer.valid_until) if offer.valid_until else NO_END_MS,
        "editableYn": "N", "deletableYn": "Y", "displayRedeemButtonYn": "N", "notificationYn": "Y",
        "redeemYn": "Y" if redeemed else "N",
        "appLinkLogo": links.logo, "appLinkName": _fit(program.organization_name, 32), "appLinkData": links.page,
        "logoImage": links.logo, "bgColor": color_to_hex(program.background_color),
        "barcode.value": coupon.code, "barcode.serialType": "QRCODE", "barcode.ptFormat": "QRCODESERIAL",
        "barcode.ptSubFormat": "QR_CODE",
    }
    if redeemed and coupon.redeemed_at is not None:
        attributes["redeemDate"] = ms(coupon.redeemed_at)
    notice = "\n".join(x for x in (offer.discount, offer.description, offer.terms) if x)
    if notice:
        attributes["noticeDesc"] = _fit(notice, 5000)
    card = {"card": {"type": "coupon", "subType": "others",
                     "data": [_data(ref_id, coupon.created_at, updated, attributes)]}}
    check_card(card)
    return card


def check_card(card: Mapping[str, Any]) -> None:
    """Raise CardError unless *card* is a card object Samsung takes (§1.1, §1.8 item 2)."""
    body = card.get("card")
    if not isinstance(body, Mapping):
        raise CardError("card: an object is required")
    kind = body.get("type")
    if kind not in ("loyalty", "coupon"):
        raise CardError(f"card.type: loyalty or coupon, got {kind!r}")
    if body.get("subType") != "others":
        raise CardError(f"card.subType: others, got {body.get('subType')!r}")
    data = body.get("data")
    if not isinstance(data, list) or not 1 <= len(data) <= 6:
        raise CardError("card.data: 1 to 6 entries")
    for i, entry in enumerate(data):
        where = f"card.data[{i}]"
        ref_id = entry.get("refId")
        if not isinstance(ref_id, str) or not 1 <= len(ref_id) <= 32:
            raise CardError(f"{where}.refId: 1-32 characters")
        for key in ("createdAt", "updatedAt"):
            if not isinstance(entry.get(key), int) or entry[key] < 10**12:
                raise CardError(f"{where}.{key}: epoch milliseconds")
        attributes = entry.get("attributes")
        if not isinstance(attributes, Mapping):
            raise CardError(f"{where}.attributes: an object is required")
        for name in LOYALTY_REQUIRED if kind == "loyalty" else COUPON_REQUIRED:
            if attributes.get(name) in (None, ""):
                raise CardError(f"{where}.attributes.{name} is required")
        for name, value in attributes.items():
            if not isinstance(name, str) or isinstance(value, Mapping):
                raise CardError(f"{where}.attributes.{name}: dotted keys are flat, values are not objects")
            if name in LIMITS and len(str(value)) > LIMITS[name]:
                raise CardError(f"{where}.attributes.{name}: at most {LIMITS[name]} characters")
            if name in YN and value not in ("Y", "N"):
                raise CardError(f"{where}.attributes.{name}: Y or N")
            if name in MS_FIELDS and (not isinstance(value, int) or value < 10**12):
                raise CardError(f"{where}.attributes.{name}: epoch milliseconds")
        if attributes.get("barcode.serialType", "QRCODE") not in SERIAL_TYPES:
            raise CardError(f"{where}.attributes.barcode.serialType: one of {', '.join(SERIAL_TYPES)}")


# -- tokens -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PartnerIdentity:
    """Who signs: the partner id, the id of the certificate whose key signs, and that key; Samsung's public key
    (from Samsung's certificate) to encrypt cards to and to verify Samsung's AUTH tokens with."""

    partner_id: str
    certificate_id: str
    key: rsa.RSAPrivateKey
    samsung_key: rsa.RSAPublicKey

    def header(self, cty: str, now: datetime) -> Json:
        return {"cty": cty, "ver": "3", "certificateId": self.certificate_id, "partnerId": self.partner_id,
                "utc": ms(now)}


def cdata_token(card: Mapping[str, Any], who: PartnerIdentity, now: datetime) -> str:
    """The ``cdata`` of a Data Transmit Link or a Get Card Data answer (§1.3)."""
    jwe = jwe_encrypt(json.dumps(card, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), who.samsung_key)
    return jws_sign(jwe.encode("ascii"), who.header("CARD", now), who.key)


def add_link(card_id: str, cdata: str) -> str:
    """The "Add to Samsung Wallet" Data Transmit Link (§1.2)."""
    return f"{LINK_BASE}/{card_id}#Clip?cdata={cdata}"


def auth_token(who: PartnerIdentity, method: str, path: str, now: datetime, *, ref_id: str | None = None) -> str:
    """An ``Authorization`` token for one REST call (§1.4): bound to *method* and *path* (no host, no query)."""
    payload: Json = {"API": {"method": method.upper(), "path": path}}
    if ref_id is not None:
        payload["refId"] = ref_id
    return jws_sign(json.dumps(payload, separators=(",", ":")).encode("utf-8"), who.header("AUTH", now), who.key)


def bearer(authorization: str | None) -> str:
    """The token of an ``Authorization`` header, with or without ``Bearer`` (§1.4)."""
    parts = (authorization or "").split(None, 1)
    if parts and parts[0].lower() == "bearer":
        return parts[1].strip() if len(parts) > 1 else ""
    return parts[0] if parts else ""


def verify_auth_token(authorization: str | None, key: rsa.RSAPublicKey, method: str, path: str, now: datetime, *,
                      leeway_seconds: float = AUTH_LEEWAY_SECONDS,
                      expect: Callable[[Mapping[str, Any]], str | None] | None = None) -> Json:
    """The payload of a valid AUTH token for the request (*method*, *path*); JoseError saying what is wrong.

    Checked: RS256 signature by *key*, ``cty`` AUTH, ``ver`` "3", ``utc`` within *leeway_seconds* of *now*,
    ``API.method`` and ``API.path`` equal to the request's; *expect* may add checks of the header (return a
    message to refuse).
    """
    token = bearer(authorization)
    if not token:
        raise JoseError("no Authorization token")
    header, payload_bytes = jws_verify(token, key)
    if header.get("cty") != "AUTH" or str(header.get("ver")) != "3":
        raise JoseError("the token's header needs cty AUTH and ver \"3\"")
    utc = header.get("utc")
    if not isinstance(utc, int | float) or abs(utc / 1000 - now.timestamp()) > leeway_seconds:
        raise JoseError("the token's utc is missing or too far from now")
    if expect is not None and (problem := expect(header)):
        raise JoseError(problem)
    try:
        payload = json.loads(payload_bytes)
        api = payload["API"]
        bound = (str(api["method"]).upper(), str(api["path"]))
    except (ValueError, KeyError, TypeError):
        raise JoseError("the token's payload has no API.method and API.path") from None
    if bound != (method.upper(), path):
        raise JoseError(f"the token is for {bound[0]} {bound[1]}, not {method.upper()} {path}")
    return dict(payload)


def read_cdata(token: str, partner_key: rsa.RSAPublicKey, samsung_key: rsa.RSAPrivateKey) -> tuple[Json, Json]:
    """(JWS header, card) of a cdata token: what Samsung (and our fake of it) does with one."""
    header, payload = jws_verify(token, partner_key)
    jwe_header, plaintext = jwe_decrypt(payload.decode("ascii"), samsung_key)
    del jwe_header
    try:
        card = json.loads(plaintext)
    except ValueError:
        raise JoseError("the JWE's plaintext is not JSON") from None
    return header, card
