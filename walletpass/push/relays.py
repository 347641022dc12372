"""Push relays of the Android pkpass apps (samsung-android.md §2): an Android device holds no APNs token, so a
pass change is sent to the app's own relay, which wakes the device through FCM; the device then asks for its
updated serials and fetches the pass as Apple Wallet does.

======================  =====================================================  ===================================
app                     request                                                 body
======================  =====================================================  ===================================
WalletPasses            POST WALLETPASS_WALLETPASSES_PUSH_URL,                  ``{"passTypeIdentifier", "pushTokens"}``
                        ``Authorization: <key>`` (optional)
Pass2U                  POST <WALLETPASS_PASS2U_PUSH_URL>/v2/registrations/     ``{"registrationIds"}`` (≤ 1,000)
                        {passTypeIdentifier}/push, ``x-api-key: <key>``
PassWallet              POST <pushServiceUrl>/v1/pushUpdate (one token) or      ``{"passTypeID", "pushToken"}`` /
                        /v1/pushUpdates (several)                               ``{"passTypeID", "pushTokens"}``
======================  =====================================================  ===================================

Each relay answers for the whole call, so every token of a call gets that call's outcome, in APNs' terms
(walletpass.push.policy): 2xx → 200 (pushed); 429, 5xx, no answer → retried with backoff; any other answer (a bad
or missing API key, a body the relay refuses) → an error (logged, not retried blindly). A relay's 403 is reported
as such an error, never as APNs' 403, which would pause the pass type's APNs pushes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from walletpass.config import Settings
from walletpass.domain.devices import PushClient, PushTarget, relay_allowed
from walletpass.push.policy import PushOutcome

log = logging.getLogger("walletpass.push.relays")

#: Registration ids per Pass2U call (its documented limit), tokens per call to the other relays.
PASS2U_BATCH, RELAY_BATCH = 1000, 500
#: The apps pushed through a relay.
RELAYED = frozenset({PushClient.WALLETPASSES, PushClient.PASS2U, PushClient.PASSWALLET})


class RelayGateway:
    """Sends pushes to the Android apps' relays over one kept-open HTTP client (thread-safe)."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None) -> None:
        self._s = settings
        self._http = httpx.Client(timeout=httpx.Timeout(settings.relay_timeout, connect=min(3.0, settings.relay_timeout)),
                                  transport=transport, follow_redirects=False,
                                  headers={"User-Agent": "walletpass", "Accept": "application/json"})

    def close(self) -> None:
        self._http.close()

    def send(self, topic: str, targets: Mapping[str, Sequence[PushTarget]]) -> list[PushOutcome]:
        """Push every token of *targets* (token → its registrations, all of one pass type *topic*) through its
        app's relay; one outcome per token."""
        groups: dict[tuple[PushClient, str | None], list[str]] = defaultdict(list)
        for token, regs in targets.items():
            first = regs[0]
            groups[(first.client, first.service_url if first.client is PushClient.PASSWALLET else None)].append(token)
        out: list[PushOutcome] = []
        for (client, url), tokens in groups.items():
            batch = PASS2U_BATCH if client is PushClient.PASS2U else RELAY_BATCH
            for start in range(0, len(tokens), batch):
                chunk = tokens[start:start + batch]
                out += self._call(client, url, topic, chunk)
        return out

    def _call(self, client: PushClient, service_url: str | None, topic: str, tokens: list[str]) -> list[PushOutcome]:
        try:
            method_url, body, headers = self._request(client, service_url, topic, tokens)
        except _NotConfigured as exc:
            return [PushOutcome(t, 400, str(exc)) for t in tokens]
        try:
            r = self._http.post(method_url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("%s relay unreachable: %s", client.value, type(exc).__name__)
            return [PushOutcome.transport_failure(t, f"{client.value} relay: {type(exc).__name__}") for t in tokens]
        status = r.status_code
        if 200 <= status < 300:
            return [PushOutcome(t, 200) for t in tokens]
        reason = f"{client.value} relay answered {status}"
        if status == 429 or status >= 500:
            return [PushOutcome(t, status, reason) for t in tokens]
        log.error("%s: %s", reason, r.text[:200].replace("\n", " "))
        return [PushOutcome(t, 400, reason) for t in tokens]  # an error to fix, never APNs' 403

    def _request(self, client: PushClient, service_url: str | None, topic: str,
                 tokens: list[str]) -> tuple[str, dict[str, Any], dict[str, str]]:
        s = self._s
        if client is PushClient.WALLETPASSES:
            headers = {"Authorization": s.walletpasses_api_key} if s.walletpasses_api_key else {}
            return s.walletpasses_push_url, {"passTypeIdentifier": topic, "pushTokens": tokens}, headers
        if client is PushClient.PASS2U:
            if not s.pass2u_api_key:
                raise _NotConfigured("no Pass2U API key: set WALLETPASS_PASS2U_API_KEY")
            url = f"{s.pass2u_push_url.rstrip('/')}/v2/registrations/{topic}/push"
            return url, {"registrationIds": tokens}, {"x-api-key": s.pass2u_api_key}
        if client is PushClient.PASSWALLET and service_url:
            parts = urlsplit(service_url)
            if not relay_allowed((parts.hostname or "").lower(), parts.port, s.passwallet_push_hosts):
                # the allow-list changed since the device registered
                raise _NotConfigured(f"{parts.netloc} is not in WALLETPASS_PASSWALLET_PUSH_HOSTS")
            base = service_url.rstrip("/")
            if len(tokens) == 1:
                return f"{base}/v1/pushUpdate", {"passTypeID": topic, "pushToken": tokens[0]}, {}
            return f"{base}/v1/pushUpdates", {"passTypeID": topic, "pushTokens": tokens}, {}
        raise _NotConfigured(f"no relay for {client.value} devices")


class _NotConfigured(Exception):
    pass
