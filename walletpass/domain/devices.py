"""Apple devices registered for a pass's updates (apple.md §3): the device and its push token, and each
registration's delivery record (which version was pushed to it, which it fetched)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class PushClient(StrEnum):
    """The app that registered a device, hence how it is pushed (samsung-android.md §2.6)."""

    APPLE = "apple"              # Apple Wallet: APNs
    WALLETPASSES = "walletpasses"  # WalletPasses (Android): its relay, batched pushTokens
    PASS2U = "pass2u"            # Pass2U Wallet (Android): its relay, registrationIds
    PASSWALLET = "passwallet"    # PassWallet (Android, Attido): the registration's own pushServiceUrl
    POLL = "poll"                # an app that polls (FossWallet) or one we do not know: never pushed


#: The Authorization schemes of the apps (compared case-insensitively), and the app each one names.
AUTH_SCHEMES: dict[str, PushClient | None] = {
    "applepass": None,  # Apple Wallet, Pass2U, FossWallet: told apart by the other hints
    "androidpass": PushClient.WALLETPASSES,
    "attidopass": PushClient.PASSWALLET,
    "walletunionpass": PushClient.POLL,     # WalletUnion: relay unconfirmed, so polled
    "walletunionhmspass": PushClient.POLL,
}

_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\Z")
_APNS_TOKEN = re.compile(r"[0-9A-Fa-f]{16,200}\Z")
#: FCM registration ids and the other apps' tokens: letters, digits, '-', '_', ':', '.', up to 4 KB.
_APP_TOKEN = re.compile(r"[A-Za-z0-9_:.\-]{1,4096}\Z")


def detect_client(scheme: str, user_agent: str | None, pass_client: str | None, push_service_url: str | None,
                  push_token: str, *, attido_route: bool = False) -> PushClient:
    """Which app registered, from its Authorization *scheme* (lower case), ``User-Agent``, ``X-Pass-Client``,
    the body's ``pushServiceUrl``, the push token's shape and the route (``registrations_attido``)."""
    named = AUTH_SCHEMES.get(scheme)
    if attido_route or push_service_url or named is PushClient.PASSWALLET:
        return PushClient.PASSWALLET
    if (pass_client or "").strip().lower() == "passes":
        return PushClient.PASS2U
    if named is PushClient.WALLETPASSES or "walletpasses/" in (user_agent or "").lower():
        return PushClient.WALLETPASSES
    if named is not None:
        return named
    # FossWallet registers with the app's device UUID (samsung-android.md §2.4): not pushable, so polled
    return PushClient.POLL if _UUID.match(push_token) else PushClient.APPLE


def valid_push_token(client: PushClient, token: str) -> bool:
    """Apple Wallet's tokens are hex (APNs); the Android apps' are FCM registration ids and the like."""
    return bool((_APNS_TOKEN if client is PushClient.APPLE else _APP_TOKEN).match(token))


def relay_allowed(host: str, port: int | None, allowed: frozenset[str]) -> bool:
    """Whether a relay at *host* (lower case) and *port* is in *allowed*: a plain host there allows ports 80 and
    443 (or none given); ``host:port`` allows that port."""
    if port is not None and f"{host}:{port}" in allowed:
        return True
    return host in allowed and port in (None, 80, 443)


@dataclass(frozen=True, slots=True)
class Device:
    id: int
    device_library_identifier: str
    push_token: str
    push_client: PushClient = PushClient.APPLE


@dataclass(frozen=True, slots=True)
class Registration:
    id: int
    device_id: int
    pass_id: int
    created_at: datetime
    last_pushed_at: datetime | None = None
    pushed_tag: int | None = None
    last_fetched_at: datetime | None = None
    fetched_tag: int | None = None
    push_service_url: str | None = None


@dataclass(frozen=True, slots=True)
class PushTarget:
    """One registration to push: its device's token, and the version of the pass it stands for."""

    registration_id: int
    pass_id: int
    topic: str  # the pass type id: the APNs topic and the certificate's UID
    token: str
    tag: int
    pushed_tag: int | None = None
    client: PushClient = PushClient.APPLE
    service_url: str | None = None  # PassWallet's relay (the registration's pushServiceUrl)


@dataclass(frozen=True, slots=True)
class PassForDevice:
    """What a device's fetch needs: the token to check, the version, and whether a registration is behind."""

    id: int
    authentication_token: str
    updated_at: datetime
    update_tag: int
    lagging: bool
