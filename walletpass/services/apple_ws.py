"""Apple's pass web service (apple.md §3): register, list updated serials, latest pass, unregister — also as the
Android pkpass apps speak it (samsung-android.md §2): WalletPasses (``AndroidPass``), Pass2U (``X-Pass-Client``),
PassWallet (``AttidoPass``, ``registrations_attido``, a ``pushServiceUrl``) and FossWallet (polls).

Authentication comes first: the token is checked (constant time) before anything about the device or the body is
looked at, and a wrong token and an unknown serial get the same 401. The scheme (``ApplePass``, ``AndroidPass``,
``AttidoPass``, ``WalletUnionPass``…) is matched case-insensitively on every route.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from walletpass.domain.devices import (
    AUTH_SCHEMES,
    PassForDevice,
    PushClient,
    detect_client,
    relay_allowed,
    valid_push_token,
)
from walletpass.domain.passes import Pass, StoredPass
from walletpass.errors import MalformedRequest, Unauthorized
from walletpass.ids import same
from walletpass.ports import Clock, DeviceReads, UnitOfWork

# \Z, not $: "$" also matches before a final newline, and "abc\n" is no identifier a device sends.
_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}\Z")
_SERIAL = re.compile(r"^[A-Za-z0-9._-]{1,64}\Z")
#: Tags are BIGINT; a passesUpdatedSince past this is no tag we handed out.
_MAX_TAG = 2**63 - 1
_DUMMY_TOKEN = "x" * 32


def check_ids(device_id: str | None, pass_type_id: str, serial: str | None = None) -> None:
    """400 for identifiers no device would send (too long, odd characters)."""
    if device_id is not None and not _ID.match(device_id):
        raise MalformedRequest("deviceLibraryIdentifier", "must be 1–128 characters of A–Z, a–z, 0–9, '.', '_', '-'")
    if not _ID.match(pass_type_id):
        raise MalformedRequest("passTypeIdentifier", "must be 1–128 characters of A–Z, a–z, 0–9, '.', '_', '-'")
    if serial is not None and not _SERIAL.match(serial):
        raise MalformedRequest("serialNumber", "must be 1–64 characters of A–Z, a–z, 0–9, '.', '_', '-'")


def parse_authorization(header: str | None) -> tuple[str, str]:
    """(scheme in lower case, token) of an ``Authorization: ApplePass <token>`` header — or ``AndroidPass``,
    ``AttidoPass``, ``WalletUnionPass``, ``WalletUnionHMSPass``, in any case — or 401."""
    scheme, _, token = (header or "").partition(" ")
    scheme, token = scheme.lower(), token.strip()
    if scheme not in AUTH_SCHEMES or not token or len(token) > 256:
        raise Unauthorized("missing or malformed 'Authorization: ApplePass <token>'")
    return scheme, token


def parse_auth(header: str | None) -> str:
    """The token of an ``Authorization: ApplePass <token>`` header (or another app's scheme), or 401."""
    return parse_authorization(header)[1]


def _token_matches(stored: str | None, token: str) -> bool:
    # Compare even when there is no pass, so an unknown serial costs the same as a wrong token.
    return same(token, stored if stored is not None else _DUMMY_TOKEN) and stored is not None


def _authorised_pass(uow: UnitOfWork, pass_type_id: str, serial: str, token: str) -> Pass:
    found = uow.passes.by_serial(pass_type_id, serial) if _ID.match(pass_type_id) and _SERIAL.match(serial) else None
    if found is None or not _token_matches(found.authentication_token, token):
        raise Unauthorized("the pass is unknown or the token is wrong")
    return found


def _register_body(body: bytes) -> dict[str, object]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: '[[[[…' nested too deeply
        raise MalformedRequest("", "the body must be JSON: {\"pushToken\": \"…\"}") from None
    if not isinstance(data, dict):
        raise MalformedRequest("", "the body must be a JSON object: {\"pushToken\": \"…\"}")
    return data


@dataclass(frozen=True, slots=True)
class ClientHints:
    """What tells the apps apart at registration: the Authorization scheme (lower case), ``User-Agent``,
    ``X-Pass-Client``, and whether PassWallet's ``registrations_attido`` route was called."""

    scheme: str = "applepass"
    user_agent: str | None = None
    pass_client: str | None = None
    attido_route: bool = False


def _service_url(value: object, allowed_hosts: frozenset[str]) -> str | None:
    """PassWallet's ``pushServiceUrl``: an absolute http(s) URL on a host of *allowed_hosts* (the relays this
    instance may call: WALLETPASS_PASSWALLET_PUSH_HOSTS), else 400 — a device must not make us call anywhere."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 512:
        raise MalformedRequest("pushServiceUrl", "must be the relay's absolute http(s) URL, at most 512 characters")
    try:
        parts = urlsplit(value)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        parts, host, port = None, "", None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise MalformedRequest("pushServiceUrl", "must be the relay's absolute http(s) URL")
    if not relay_allowed(host, port, allowed_hosts):
        raise MalformedRequest("pushServiceUrl", f"{parts.netloc} is not a push relay this service calls "
                                                 "(WALLETPASS_PASSWALLET_PUSH_HOSTS)")
    return value


@dataclass(frozen=True, slots=True)
class Registered:
    created: bool


def register(uow: UnitOfWork, clock: Clock, device_id: str, pass_type_id: str, serial: str, token: str,
             body: bytes, hints: ClientHints = ClientHints(),
             relay_hosts: frozenset[str] = frozenset()) -> Registered:
    """Register *device_id* for updates of a pass (201 new, 200 existing; a changed push token or app is stored).

    *body* is the raw ``{"pushToken": "…"}`` (PassWallet adds ``pushServiceUrl``); it is parsed only after the
    token checks out. Which app registered (*hints*, the token's shape) decides how the device is pushed.
    """
    with uow:
        pass_row = _authorised_pass(uow, pass_type_id, serial, token)
        check_ids(device_id, pass_type_id, serial)
        data = _register_body(body)
        push_token = data.get("pushToken")
        if not isinstance(push_token, str) or not push_token:
            raise MalformedRequest("pushToken", "must be the device's push token")
        service_url = _service_url(data.get("pushServiceUrl"), relay_hosts)
        client = detect_client(hints.scheme, hints.user_agent, hints.pass_client, service_url, push_token,
                               attido_route=hints.attido_route)
        if client is PushClient.PASSWALLET and service_url is None:
            raise MalformedRequest("pushServiceUrl", "PassWallet registers with its relay's URL: "
                                                     "{\"pushToken\": \"…\", \"pushServiceUrl\": \"https://…\"}")
        if not valid_push_token(client, push_token):
            raise MalformedRequest("pushToken", "must be the device's push token: hex for Apple Wallet; letters, "
                                                "digits, '-', '_', ':', '.' (at most 4,096) for the Android apps")
        now = clock.now()
        # add_device / add_registration also answer for a concurrent request that inserted the same row first:
        # the device is then that one, and this pass is "already registered" (200), never a 500.
        device = uow.devices.get(device_id) or uow.devices.add(device_id, push_token, now, client)
        if device.push_token != push_token or device.push_client is not client:
            uow.devices.set_push_token(device.id, push_token, now, client)
        reg = uow.devices.registration(device.id, pass_row.id)
        if reg is not None or not uow.devices.register(device.id, pass_row.id, now, service_url):
            if reg is not None and reg.push_service_url != service_url:
                uow.devices.set_push_service_url(reg.id, service_url)
            uow.commit()
            return Registered(created=False)
        uow.events.record_card(pass_row.id, "apple_install", now)  # the card's first device only
        if len(uow.devices.of_pass(pass_row.id)) == 1:  # the pass's first device: it is now in Apple Wallet
            uow.webhooks.emit_pass("pass.installed", pass_row.id, "apple", now)
        uow.commit()
        return Registered(created=True)


def unregister(uow: UnitOfWork, clock: Clock, device_id: str, pass_type_id: str, serial: str,
               token: str) -> None:
    """Remove the registration; the device goes once it has none left."""
    with uow:
        pass_row = _authorised_pass(uow, pass_type_id, serial, token)
        check_ids(device_id, pass_type_id, serial)
        device = uow.devices.get(device_id)
        reg = uow.devices.registration(device.id, pass_row.id) if device else None
        if reg is not None:
            uow.devices.unregister(reg.id, reg.device_id)
            uow.events.record_card(pass_row.id, "uninstall", clock.now())
            if not uow.devices.of_pass(pass_row.id):  # its last device: no Apple Wallet holds the pass any more
                uow.webhooks.emit_pass("pass.removed", pass_row.id, "apple", clock.now())
        uow.commit()


@dataclass(frozen=True, slots=True)
class Updated:
    serial_numbers: list[str]
    last_updated: str


def updated_serials(reads: DeviceReads, device_id: str, pass_type_id: str, since: str | None) -> Updated | None:
    """Serials of this device's passes changed after tag *since* (all when None); None → 204."""
    check_ids(device_id, pass_type_id)
    since_tag = 0
    if since is not None and since != "":
        # isascii: str.isdigit() also accepts '²' and '١', which int() refuses or reads as another number.
        if since.isascii() and since.isdigit() and len(since) <= 19 and int(since) <= _MAX_TAG:
            # A number past every tag handed out (a device that registered with another server sends its
            # lastUpdated, often a timestamp) is answered with everything: DeviceReads.device_passes_since.
            since_tag = int(since)
        elif not _is_timestamp(since):
            raise MalformedRequest("passesUpdatedSince", "must be the lastUpdated value this service returned")
    rows = reads.device_passes_since(device_id, pass_type_id, since_tag)
    if not rows:
        return None
    return Updated(sorted(serial for serial, _ in rows), str(max(tag for _, tag in rows)))


def _is_timestamp(value: str) -> bool:
    """An ISO 8601 date or time, or an HTTP date: another server's lastUpdated (answered with everything)."""
    if len(value) > 64 or value.isdigit() or not any(c in value for c in "-:,"):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        pass
    try:
        parsedate_to_datetime(value)
        return True
    except (TypeError, ValueError, IndexError):
        return False


@dataclass(frozen=True, slots=True)
class PassVersion:
    pass_id: int
    last_modified: datetime
    update_tag: int


def authorise(reads: DeviceReads, pass_type_id: str, serial: str, token: str) -> PassForDevice:
    """Check a device's ``ApplePass`` token for a pass (one indexed read, no transaction); 401 otherwise.

    Run before anything else of the request is read — the body included — so an unauthenticated caller
    learns nothing (not even a 413) and costs a lookup at most; a wrong token and an unknown serial get the
    same 401 after the same constant-time comparison.
    """
    found = reads.pass_for_device(pass_type_id, serial) if _ID.match(pass_type_id) and _SERIAL.match(serial) else None
    if not _token_matches(found.authentication_token if found else None, token) or found is None:
        raise Unauthorized("the pass is unknown or the token is wrong")
    return found


def latest_version(reads: DeviceReads, clock: Clock, pass_type_id: str, serial: str, token: str,
                   *, record_fetch: bool) -> PassVersion:
    """Authorise a device's fetch and return the pass version (one indexed read; no rendering).

    With *record_fetch* (a GET, which hands the device this version or confirms it has it), registrations
    that were behind are marked as delivered — a write only when one is behind, so repeated checks stay reads.
    """
    found = authorise(reads, pass_type_id, serial, token)
    if record_fetch and found.lagging:
        reads.record_fetch(found.id, found.update_tag, clock.now())
    return PassVersion(found.id, found.updated_at, found.update_tag)


@dataclass(frozen=True, slots=True)
class Fetch:
    """An authorised fetch: the pass's current version and, when asked for, its stored signed bytes."""

    version: PassVersion
    lagging: bool
    stored: StoredPass | None = None


def fetch(reads: DeviceReads, pass_type_id: str, serial: str, token: str) -> Fetch:
    """Authorise a device's fetch (401 otherwise) and return the version, recording nothing yet (the caller
    decides what it answers: :func:`stored_version`, then :func:`record`)."""
    found = authorise(reads, pass_type_id, serial, token)
    return Fetch(PassVersion(found.id, found.updated_at, found.update_tag), found.lagging)


def stored_version(reads: DeviceReads, fetched: Fetch, build_key: str) -> Fetch:
    """*fetched* with the stored signed bytes of its version (signed ahead by a campaign worker, or by an earlier
    fetch: services.passes.SignedPasses) when there are any made by *build_key*; one indexed read."""
    version = fetched.version
    stored = reads.stored_pass(version.pass_id, version.update_tag, build_key)
    return Fetch(version, fetched.lagging, stored)


def record(reads: DeviceReads, clock: Clock, fetched: Fetch, *, soon: bool = False) -> None:
    """The device holds the version now: mark the registrations behind it (a write only when one is). With
    *soon*, the write is batched with the process's other fetches (DeviceReads.record_fetch_soon)."""
    if not fetched.lagging:
        return
    tag = fetched.stored.update_tag if fetched.stored is not None else fetched.version.update_tag
    if soon:
        reads.record_fetch_soon(fetched.version.pass_id, tag, clock.now())
    else:
        reads.record_fetch(fetched.version.pass_id, tag, clock.now())
