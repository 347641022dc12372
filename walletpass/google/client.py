"""Google Wallet REST client (ADAPTER): OAuth service account, one kept-alive session, rate limit, retries.

- Auth: google-auth service-account credentials (scope ``wallet_object.issuer``, token URL from Settings). The
  access token is fetched once, reused until google-auth calls it stale (near expiry), and refreshed once on a 401.
  The token call itself goes through google-auth's requests transport (once an hour). Only ``refresh()`` is
  called, never ``before_request()`` (what ``AuthorizedSession`` uses): in google-auth 2.62 that hook also starts
  a background "Regional Access Boundary" lookup at iamcredentials.googleapis.com, a host not in Settings, and
  no setting turns it off (GOOGLE_AUTH_TRUST_BOUNDARY_ENABLED and ``with_trust_boundary`` are no-ops now).
  tests/integration/test_google_client.py checks that only the configured URLs are contacted.
- Transport: one ``httpx.Client`` (connection pool kept open). Measured against requests' ``AuthorizedSession`` on
  the same keep-alive server, httpx needed about half the client CPU per request (BENCHMARKS.md "google"), and it is
  the HTTP library STYLE.md names for this adapter.
- Rate: a token bucket paces calls to ``settings.google_rate_limit`` per second (Google's project limit
  is 20 requests/s, google.md §3.4); 0 switches it off. With Redis configured the bucket is shared by every
  process (:mod:`walletpass.google.ratelimit`), else it is this process's :class:`TokenBucket`.
- Retries: 429 and 5xx and connection failures are retried with capped exponential backoff and full jitter,
  honouring ``Retry-After``; a 429 whose reason is ``quotaExceeded`` (the per-pass notification quota) is final.
- Errors: every failure leaves as :class:`walletpass.errors.GoogleApiError` with Google's ``error.message``,
  the HTTP status and ``error.errors[0].reason`` (or ``error.status``).
- Nothing is ever deleted (Google has no DELETE): :meth:`GoogleWalletClient.expire_object` PATCHes ``EXPIRED``.
"""

from __future__ import annotations

import copy
import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from google.auth import exceptions as google_auth_exceptions
from google.auth.transport.requests import Request as TokenRequest
from google.oauth2 import service_account

from walletpass.config import Settings
from walletpass.errors import CredentialError, GoogleApiError
from walletpass.google.objects import Json, Kind, message
from walletpass.google.ratelimit import make_bucket
from walletpass.ports import RateLimiter

SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: 429 reasons that retrying cannot fix (the 3-per-24 h notification quota, google.md §3.5).
FINAL_REASONS = frozenset({"quotaExceeded", "QuotaExceededException"})
_RESOURCES = {("loyalty", "class"): "loyaltyClass", ("loyalty", "object"): "loyaltyObject",
              ("offer", "class"): "offerClass", ("offer", "object"): "offerObject"}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most *attempts* tries; the n-th retry waits uniform(0, min(cap, base·2ⁿ)) ("full jitter")."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 8.0

    def delay(self, retry: int, retry_after: float | None = None, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number *retry* (0-based); a server's Retry-After wins, capped."""
        if retry_after is not None:
            return min(self.cap, max(0.0, retry_after))
        return float(rand() * min(self.cap, self.base * (2 ** retry)))


def _google_error(status: int, raw: bytes) -> GoogleApiError:
    """Build a GoogleApiError from Google's ``{"error": {code, message, status, errors: [{reason}]}}``."""
    try:
        err = json.loads(raw)["error"]
        detail = str(err.get("message") or f"HTTP {status}")
        errors = err.get("errors") or [{}]
        reason = str(errors[0].get("reason") or err.get("status") or "")
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        text = raw[:200].decode("utf-8", "replace").strip()
        detail, reason = f"HTTP {status}" + (f": {text}" if text else ""), ""
    return GoogleApiError(detail, status=status, reason=reason)


def _json_body(resp: httpx.Response) -> Json:
    if not resp.content:
        return {}
    try:
        answer = resp.json()
    except ValueError as exc:
        raise GoogleApiError(f"Google Wallet API answered {resp.status_code} with a body that is not JSON",
                             status=resp.status_code, reason="bad_response") from exc
    return answer if isinstance(answer, dict) else {"resources": answer}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        return float(headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _contains(have: Any, want: Any) -> bool:
    """True when every field of *want* has the same value in *have* (Google may add fields such as ``kind``)."""
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(k in have and _contains(have[k], v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(have) == len(want) and all(map(_contains, have, want))
    return have == want or str(have) == str(want) and isinstance(want, int) and not isinstance(want, bool)


class GoogleWalletClient:
    """Talk to the Wallet REST API (``{settings.google_api_url}/walletobjects/v1/...``) as the issuer.

    Args:
        settings: API and token URLs, rate limit.
        service_account_info: the parsed service-account key JSON.
        timeout: per-request timeout in seconds (Google suggests 10 s, google.md §3.4).
        retry: retry policy for 429/5xx/connection errors.
    """

    def __init__(self, settings: Settings, service_account_info: Mapping[str, Any], *, timeout: float = 10.0,
                 retry: RetryPolicy = RetryPolicy(), burst: float = 1.0, bucket: RateLimiter | None = None) -> None:
        try:
            # The token URL comes from Settings, not the key file (from_service_account_info rejects a
            # token_uri keyword next to the file's own, so it is replaced in the info). google-auth always
            # signs aud=https://oauth2.googleapis.com/token; aud must be the token endpoint, so it is set to
            # the configured one (the same URL in production, the fake's in tests).
            info = {**service_account_info, "token_uri": settings.google_token_url}
            credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=[SCOPE], additional_claims={"aud": settings.google_token_url})
        except (KeyError, ValueError, TypeError) as exc:
            raise CredentialError(f"cannot use the Google service-account key: {exc}") from exc
        self._credentials = credentials
        self._token_request = TokenRequest()
        self._token_lock = threading.Lock()
        self._http = httpx.Client(timeout=timeout, headers={"User-Agent": "walletpass"})
        self._base = settings.google_api_url.rstrip("/") + "/walletobjects/v1"
        self._retry = retry
        if bucket is None:
            bucket = make_bucket(settings, burst)
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> GoogleWalletClient:
        """Build from the key file at ``settings.google_key_path``."""
        path = Path(settings.google_key_path)
        try:
            info = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise CredentialError(f"cannot read the Google service-account key {path}: {exc}") from exc
        return cls(settings, info, **kwargs)

    def check_credentials(self) -> None:
        """Fetch an OAuth access token now (``walletpass doctor``); GoogleApiError saying why when refused."""
        self._authorization()

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._http.close()
        closer = getattr(self.bucket, "close", None)
        if callable(closer):
            closer()

    def with_retry(self, retry: RetryPolicy) -> GoogleWalletClient:
        """This client (same connections, token and rate bucket) with another retry policy.

        The job worker uses ``RetryPolicy(attempts=1)``: it retries a failed job later with backoff instead of
        sleeping inside its lease.
        """
        clone = copy.copy(self)
        clone._retry = retry
        return clone

    def __enter__(self) -> GoogleWalletClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- resources ------------------------------------------------------------------------------
    def insert_class(self, kind: Kind, body: Json) -> Json:
        """Insert a class; if it exists (409), GET it and PATCH it unless it already matches."""
        return self._upsert(kind, "class", body)

    def insert_object(self, kind: Kind, body: Json) -> Json:
        """Insert an object; if it exists (409), GET it and PATCH it unless it already matches."""
        return self._upsert(kind, "object", body)

    def get_class(self, kind: Kind, class_id: str) -> Json:
        return self._call("GET", self._url(kind, "class", class_id))

    def get_object(self, kind: Kind, object_id: str) -> Json:
        return self._call("GET", self._url(kind, "object", object_id))

    def patch_class(self, kind: Kind, class_id: str, body: Json) -> Json:
        """PATCH a class (arrays in *body* replace the stored ones wholesale)."""
        return self._call("PATCH", self._url(kind, "class", class_id), body)

    def patch_object(self, kind: Kind, object_id: str, body: Json, *, notify: bool = False) -> Json:
        """PATCH an object; *notify* adds ``notifyPreference: NOTIFY_ON_UPDATE`` (ephemeral, per request),
        so a change to an allow-listed field (points balance, tier) buzzes the phone."""
        if notify:
            body = {**body, "notifyPreference": "NOTIFY_ON_UPDATE"}
        return self._call("PATCH", self._url(kind, "object", object_id), body)

    def add_message(self, kind: Kind, object_id: str, header: str, body: str, notify: bool, *,
                    message_id: str | None = None) -> Json:
        """Add a message to an object (``TEXT_AND_NOTIFY`` when *notify*, else ``TEXT``); return the object.

        Decide *notify* with :func:`walletpass.google.objects.message_type_for` first: Google refuses a 4th
        notifying message within 24 h.
        """
        msg = message(header, body, notify=notify, message_id=message_id)
        answer = self._call("POST", self._url(kind, "object", object_id) + "/addMessage", {"message": msg})
        return dict(answer.get("resource", answer))

    def add_prepared_message(self, kind: Kind, what: Literal["class", "object"], resource_id: str,
                             msg: Json) -> Json:
        """Add a prepared ``Message`` (objects.campaign_message) to a class (every object of it shows it) or an
        object."""
        answer = self._call("POST", self._url(kind, what, resource_id) + "/addMessage", {"message": msg})
        return dict(answer.get("resource", answer))

    def expire_object(self, kind: Kind, object_id: str) -> Json:
        """Move an object to "Expired passes" (PATCH ``state: EXPIRED``; Google cannot delete)."""
        return self._call("PATCH", self._url(kind, "object", object_id), {"state": "EXPIRED"})

    # -- plumbing -------------------------------------------------------------------------------
    def _url(self, kind: Kind, what: Literal["class", "object"], resource_id: str | None = None) -> str:
        try:
            url = f"{self._base}/{_RESOURCES[(kind, what)]}"
        except KeyError:
            raise ValueError(f"unknown pass kind {kind!r}") from None
        return f"{url}/{resource_id}" if resource_id else url

    def _upsert(self, kind: Kind, what: Literal["class", "object"], body: Json) -> Json:
        try:
            return self._call("POST", self._url(kind, what), body)
        except GoogleApiError as exc:
            if exc.status != 409:
                raise
        url = self._url(kind, what, body["id"])
        current = self._call("GET", url)
        wanted = {k: v for k, v in body.items() if k != "reviewStatus"}
        if _contains(current, wanted):
            return current
        return self._call("PATCH", url, body)

    def _authorization(self, stale: str | None = None) -> str:
        """Return ``Bearer <token>``, refreshing when google-auth says it is not valid or it was *stale*."""
        with self._token_lock:
            if not self._credentials.valid or self._credentials.token == stale:
                try:
                    self._credentials.refresh(self._token_request)
                except google_auth_exceptions.RefreshError as exc:
                    raise GoogleApiError(f"Google OAuth token request failed: {exc}", status=401,
                                         reason="token_refresh_failed") from exc
                except google_auth_exceptions.TransportError as exc:
                    raise GoogleApiError(f"cannot reach the Google OAuth token endpoint: {exc}",
                                         reason="unreachable") from exc
            return f"Bearer {self._credentials.token}"

    def _call(self, method: str, url: str, body: Json | None = None) -> Json:
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() if body is not None else None
        headers = {"Content-Type": "application/json; charset=utf-8"} if data is not None else {}
        refreshed = False
        attempt = 0
        while True:
            last = attempt >= self._retry.attempts - 1
            headers["Authorization"] = self._authorization()
            self.bucket.acquire()
            try:
                resp = self._http.request(method, url, content=data, headers=headers)
            except httpx.HTTPError as exc:
                if last:
                    raise GoogleApiError(f"cannot reach Google Wallet API: {exc}", reason="unreachable") from exc
                time.sleep(self._retry.delay(attempt))
                attempt += 1
                continue
            if resp.status_code < 400:
                return _json_body(resp)
            if resp.status_code == 401 and not refreshed:  # token revoked or expired early: refresh once
                refreshed = True
                self._authorization(stale=headers["Authorization"][7:])
                continue
            error = _google_error(resp.status_code, resp.content)
            if resp.status_code not in RETRY_STATUSES or error.reason in FINAL_REASONS or last:
                raise error
            time.sleep(self._retry.delay(attempt, _retry_after(resp.headers)))
            attempt += 1
