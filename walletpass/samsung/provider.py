"""Samsung Wallet as a wallet provider (samsung-android.md §1): the Data Transmit add link, the Get Card Data and
Send Card State calls Samsung makes to us, and Update Notifications through the outbox.

What we know about Samsung's copy of each pass (``uow.wallet_state``, provider ``samsung``): the ``refId`` (the
object id: 32 random hex characters, given to the pass with its first link), its state — None (nothing known),
``added`` / ``deleted`` (Send Card State) — the ``cc2`` region and the callback base URL of its ADDED event (later
calls must use them), and ``synced_tag``: the oldest pass version Samsung may show.

A change to a pass Samsung holds queues a ``samsung_update`` job; the job POSTs an Update Notification (ids and
state only), and Samsung then calls Get Card Data, which answers the current card as a ``cdata`` token.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from walletpass.config import Settings
from walletpass.domain.jobs import Job, JobKind, JobOutcome, JobResult
from walletpass.domain.passes import MEMBER_CARD, PassesChanged, PassSelection
from walletpass.errors import ConfigurationError, CredentialError, MalformedRequest, NotFound, Unauthorized
from walletpass.ports import Clock, UnitOfWork
from walletpass.push.policy import decide_sync
from walletpass.samsung import cards
from walletpass.samsung.jose import JoseError, load_private_key, load_public_key
from walletpass.urls import PublicUrls

log = logging.getLogger("walletpass.samsung")

NAME = "samsung"
ADDED, DELETED = "added", "deleted"
#: The state of a pass Samsung holds: changes to it are notified.
HELD = (ADDED,)
#: A campaign's news field: nothing Samsung's card shows.
NEWS = "news"
RETRYABLE = frozenset({0, 408, 425, 429, 500, 502, 503, 504})
CREDENTIALS = frozenset({401, 403})
_CC2_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class SamsungWallet:
    """The Samsung wallet provider: one per process (keys parsed and HTTP client opened once, when first needed)."""

    name = NAME

    def __init__(self, settings: Settings, clock: Clock, uow: Callable[[], UnitOfWork], *,
                 http: httpx.Client | None = None, rng: random.Random | None = None) -> None:
        self.settings, self._clock, self._uow = settings, clock, uow
        self._http, self._rng = http, rng or random.Random()
        self._lock = threading.Lock()
        self._identity: cards.PartnerIdentity | None = None
        self._urls = PublicUrls.of(settings)

    # -- what the process keeps -----------------------------------------------------------------------------
    @property
    def identity(self) -> cards.PartnerIdentity:
        """The partner id, certificate id and key, and Samsung's public key (files read once)."""
        if self._identity is None:
            s = self.settings
            if not (s.samsung_partner_id and s.samsung_certificate_id):
                raise ConfigurationError("Samsung Wallet is not configured (WALLETPASS_SAMSUNG_PARTNER_ID)")
            try:
                key = load_private_key(s.samsung_key_path.read_bytes())
            except (OSError, JoseError) as exc:
                raise CredentialError(f"Samsung partner key {s.samsung_key_path}: {exc}") from None
            try:
                samsung = load_public_key(s.samsung_cert_path.read_bytes())
            except (OSError, JoseError) as exc:
                raise CredentialError(f"Samsung certificate {s.samsung_cert_path}: {exc}") from None
            self._identity = cards.PartnerIdentity(s.samsung_partner_id, s.samsung_certificate_id, key, samsung)
        return self._identity

    def http(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0))
            return self._http

    def close(self) -> None:
        with self._lock:
            client, self._http = self._http, None
        if client is not None:
            client.close()

    def card_id(self, pass_kind: str) -> str | None:
        """The Card ID (template) of member cards or of coupons; None when that kind is not offered."""
        s = self.settings
        return s.samsung_loyalty_card_id if pass_kind == MEMBER_CARD else s.samsung_coupon_card_id

    def offers(self, pass_kind: str) -> bool:
        return self.settings.samsung_enabled and self.card_id(pass_kind) is not None

    # -- WalletProvider ---------------------------------------------------------------------------------
    def on_passes_changed(self, uow: UnitOfWork, change: PassesChanged) -> None:
        """An Update Notification job for each changed pass Samsung holds (coalesced with a pending one)."""
        if change.reason == NEWS:
            return
        uow.outbox.enqueue_changes(JobKind.SAMSUNG_UPDATE, change, held_by_wallet=(self.name, HELD))

    def on_program_changed(self, uow: UnitOfWork, program_id: int, at: datetime) -> None:
        """Nothing kept per program: the card data carries the design, and the passes were told of the change."""

    def on_message(self, uow: UnitOfWork, message: Any) -> None:
        """Nothing: Samsung's cards have no message field."""

    def on_coupons_issued(self, uow: UnitOfWork, offer_id: int, member_ids: Sequence[int], at: datetime) -> None:
        """Nothing: a Samsung coupon is its own card, added from its own link."""

    def save_link(self, pass_id: int) -> str:
        """The "Add to Samsung Wallet" Data Transmit Link with a fresh ``cdata`` (it expires ~30 s after now)."""
        now = self._clock.now()
        with self._uow() as uow:
            pass_ = uow.passes.get(pass_id)
            card_id = self.card_id(pass_.kind)
            if not self.settings.samsung_enabled or card_id is None:
                raise NotFound("Samsung Wallet is not offered for this pass")
            ref_id = self._ref_id(uow, pass_id)
            card = self._card(uow, pass_id, ref_id, now)
            if uow.wallet_state.object(pass_id, NAME).synced_tag is None:
                uow.wallet_state.set_synced(pass_id, pass_.update_tag, provider=NAME)
            uow.commit()
        return cards.add_link(card_id, cards.cdata_token(card, self.identity, now))

    def handle_callback(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Samsung's calls name the card in their path: see :meth:`card_state` and :meth:`card_data`."""
        raise NotFound("Samsung Wallet calls /samsung/cards/{cardId}/{refId}")

    # -- rendering ---------------------------------------------------------------------------------------
    def _ref_id(self, uow: UnitOfWork, pass_id: int) -> str:
        held = uow.wallet_state.object(pass_id, NAME)
        if held.object_id:
            return held.object_id
        ref_id = secrets.token_hex(16)  # 32 characters, unguessable (§1.1: refId String(32))
        uow.wallet_state.set_object_id(pass_id, ref_id, NAME)
        return ref_id

    def _card(self, uow: UnitOfWork, pass_id: int, ref_id: str, now: datetime) -> cards.Json:
        pass_ = uow.passes.get(pass_id)
        program = uow.programs.get(pass_.program_id)
        links = cards.CardLinks(logo=self._urls.program_image(program.id, "logo"),
                                hero=self._urls.program_image(program.id, "hero"),
                                page=self._urls.page(pass_.public_token))
        if pass_.kind == MEMBER_CARD and pass_.member_id is not None:
            return cards.loyalty_card(program, uow.members.get(pass_.member_id), ref_id, links,
                                      updated=pass_.updated_at)
        assert pass_.coupon_id is not None
        coupon = uow.offers.coupon(pass_.coupon_id)
        return cards.coupon_card(program, uow.offers.get(coupon.offer_id), coupon, ref_id, links,
                                 updated=pass_.updated_at, now=now)

    def card(self, pass_id: int) -> cards.Json:
        """The card data of a pass as Samsung would get it now (its refId given if it had none)."""
        with self._uow() as uow:
            card = self._card(uow, pass_id, self._ref_id(uow, pass_id), self._clock.now())
            uow.commit()
        return card

    # -- Samsung's calls to us -----------------------------------------------------------------------------
    def verify(self, authorization: str | None, method: str, path: str) -> None:
        """Unauthorized unless *authorization* is Samsung's AUTH token for this request (§1.4)."""
        try:
            cards.verify_auth_token(authorization, self.identity.samsung_key, method, path, self._clock.now())
        except JoseError as exc:
            raise Unauthorized(f"Samsung authorization token refused: {exc}") from None

    def _held(self, uow: UnitOfWork, card_id: str, ref_id: str) -> tuple[int, str] | None:
        """(pass id, pass kind) of *ref_id* when it is a card of the template *card_id*."""
        found = uow.wallet_state.object_by_id(ref_id, NAME)
        if found is None:
            return None
        pass_ = uow.passes.get(found.pass_id)
        if self.card_id(pass_.kind) != card_id:
            return None
        return pass_.id, pass_.kind

    def card_data(self, card_id: str, ref_id: str, authorization: str | None, path: str) -> dict[str, str] | None:
        """Get Card Data (§1.5): ``{"cdata": …}`` of the card now, or None (Samsung's 204) for an unknown card."""
        self.verify(authorization, "GET", path)
        now = self._clock.now()
        with self._uow() as uow:
            held = self._held(uow, card_id, ref_id)
            if held is None:
                return None
            pass_id = held[0]
            card = self._card(uow, pass_id, ref_id, now)
            uow.wallet_state.set_synced(pass_id, uow.passes.get(pass_id).update_tag, provider=NAME)
            uow.commit()
        return {"cdata": cards.cdata_token(card, self.identity, now)}

    def card_state(self, card_id: str, ref_id: str, *, cc2: str | None, event: str | None, body: bytes,
                   authorization: str | None, path: str) -> str:
        """Send Card State (§1.5): record ADDED (install: state, cc2 and callback kept) and DELETED (uninstall);
        other events are acknowledged. Duplicate deliveries record nothing new. Return what happened."""
        self.verify(authorization, "POST", path)
        event = (event or "").upper()
        if not event or len(event) > 16:
            raise MalformedRequest("event", "event: the card state (ADDED, DELETED, …), at most 16 characters")
        callback = _callback(body, self.settings.samsung_api_url)
        now = self._clock.now()
        with self._uow() as uow:
            held = self._held(uow, card_id, ref_id)
            if held is None:
                raise NotFound(f"no card {ref_id} of Samsung card {card_id}")
            pass_id = held[0]
            before = uow.wallet_state.object(pass_id, NAME)
            if event == "ADDED":
                if not cc2 or len(cc2) != 2 or not set(cc2) <= _CC2_CHARS:
                    raise MalformedRequest("cc2", "cc2: the 2-letter region code of the ADDED event is required")
                uow.wallet_state.set_endpoint(pass_id, cc2, callback, NAME)  # as sent: later calls use it
                outcome = "duplicate" if before.state == ADDED else "added"
                if before.state != ADDED:
                    uow.wallet_state.set_state(pass_id, ADDED, NAME)
                    uow.events.record_card(pass_id, "samsung_add", now)  # the card's first add only
                    uow.webhooks.emit_pass("pass.installed", pass_id, NAME, now)
                    tag = uow.passes.get(pass_id).update_tag
                    if before.synced_tag is not None and before.synced_tag != tag:
                        # the link carried an older version than the pass has now: tell Samsung to fetch it
                        stale = PassesChanged(PassSelection(pass_ids=(pass_id,)), tag, now, "added")
                        uow.outbox.enqueue_changes(JobKind.SAMSUNG_UPDATE, stale)
                        outcome = "added (stale: update queued)"
            elif event == "DELETED":
                outcome = "duplicate" if before.state == DELETED else "deleted"
                if before.state != DELETED:
                    uow.wallet_state.set_state(pass_id, DELETED, NAME)
                    uow.events.record_card(pass_id, "uninstall", now)
                    uow.webhooks.emit_pass("pass.removed", pass_id, NAME, now)
            else:
                outcome = event.lower()
            uow.commit()
        return outcome

    # -- Update Notifications (the job handler) --------------------------------------------------------------
    def __call__(self, jobs: Sequence[Job]) -> list[JobResult]:
        """Deliver ``samsung_update`` jobs: one Update Notification each, retried with backoff (429/5xx/no
        answer), paused on 401/403 (credentials), parked on other refusals (walletpass.push.policy.decide_sync)."""
        now = self._clock.now()
        return [decide_sync(job, outcome, error, now, self._rng)
                for job, (outcome, error) in ((j, self.notify(j)) for j in jobs)]

    def notify(self, job: Job) -> tuple[JobOutcome, str]:
        """POST one Update Notification (§1.6) for the job's pass; (outcome, error)."""
        if job.pass_id is None or not self.settings.samsung_enabled:
            return JobOutcome.SKIPPED, ""
        with self._uow() as uow:
            held = uow.wallet_state.object(job.pass_id, NAME)
            if held.state != ADDED or not held.region or not held.object_id:
                return JobOutcome.SKIPPED, ""
            pass_ = uow.passes.get(job.pass_id)
            tag = pass_.update_tag
        card_id = self.card_id(pass_.kind)
        if card_id is None:
            return JobOutcome.SKIPPED, ""
        base = (held.callback_url or self.settings.samsung_api_url).rstrip("/")
        url = f"{base}/{held.region}/wltex/cards/{card_id}/updates"
        kind = "loyalty" if pass_.kind == MEMBER_CARD else "coupon"
        body = {"card": {"type": kind, "data": [{"refId": held.object_id, "state": "UPDATED"}]}}
        who = self.identity
        headers = {"Authorization": "Bearer " + cards.auth_token(who, "POST", urlsplit(url).path, self._clock.now(),
                                                                 ref_id=held.object_id),
                   "x-smcs-partner-id": who.partner_id, "x-request-id": uuid.uuid4().hex,
                   "Content-Type": "application/json"}
        try:
            answer = self.http().post(url, content=json.dumps(body).encode("utf-8"), headers=headers)
        except httpx.HTTPError as exc:
            return JobOutcome.RETRY, f"Samsung unreachable: {type(exc).__name__}: {exc}"[:500]
        if answer.status_code in (200, 204):
            with self._uow() as uow:
                uow.wallet_state.set_synced(job.pass_id, tag, provider=NAME)
                uow.outbox.drop_parked(JobKind.SAMSUNG_UPDATE, job.pass_id)
                uow.commit()
            return JobOutcome.DONE, ""
        error = f"Samsung {answer.status_code}: {answer.text[:300]}"
        if answer.status_code in RETRYABLE:
            return JobOutcome.RETRY, error
        if answer.status_code in CREDENTIALS:
            return JobOutcome.PAUSE, error
        return JobOutcome.PARK, error


def _callback(body: bytes, api_url: str) -> str | None:
    """The ``callback`` base URL of a Send Card State body (optional): Samsung's own server — https on a host
    under samsung.com, or on the host of WALLETPASS_SAMSUNG_API_URL — since our signed token is sent there."""
    if not body.strip():
        return None
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedRequest("body", "the body must be JSON such as {\"callback\": \"https://…\"}") from None
    callback = data.get("callback") if isinstance(data, dict) else None
    if callback is None:
        return None
    try:
        parts, configured = urlsplit(str(callback)), urlsplit(api_url)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise MalformedRequest("callback", "callback: an absolute http(s) URL of at most 255 characters") from None
    if parts.scheme not in ("http", "https") or not host or len(str(callback)) > 255:
        raise MalformedRequest("callback", "callback: an absolute http(s) URL of at most 255 characters")
    samsungs = parts.scheme == "https" and (host == "samsung.com" or host.endswith(".samsung.com"))
    if not samsungs and host != (configured.hostname or "").lower():
        raise MalformedRequest("callback", "callback: Samsung's https server (a host under samsung.com) or "
                                           "WALLETPASS_SAMSUNG_API_URL's")
    return str(callback)
