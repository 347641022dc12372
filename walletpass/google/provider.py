"""Google Wallet as a wallet provider (google.md): the save link, save/delete callbacks, messages, and keeping
Google's classes and objects current through the outbox.

What we know about Google's copy of each pass (``uow.wallet_state``): the object id; its state — None (nothing
known), ``inserted`` (by REST), ``saved`` / ``deleted`` (callbacks); ``synced_tag`` — the oldest pass version
Google may be showing (set when a link carrying the object's data is handed out, and when the object is inserted
or patched by REST). Per program / offer: the :func:`class_version` of the class body known to be at Google
(inserted or patched by REST). Once the class is there, links carry the object only.

Notifications (google.md §3.5): "Both message and update notifications are limited to 3 per pass within a
24-hour period." Every notifying addMessage and every PATCH with ``notifyPreference`` is decided from, and
recorded in, the notification records before it is sent, so the cap is known up front.

Campaigns (issue 10): a chunk of a campaign's deliveries queues a ``google_message`` job per object Google holds
(or, for a campaign to a whole program, one on the class), and with an offer a ``google_offer_link`` job per
such object, which puts the member's coupon beside the card (:meth:`GoogleWallet.link_offers`). What Google made
of each message (notified, silent: over the cap, failed for good) is written onto the campaign's deliveries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import secrets
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from walletpass.config import Settings
from walletpass.domain.campaigns import FAILED, NOTIFIED, SILENT, CampaignMessage
from walletpass.domain.jobs import Job, JobKind, JobOutcome, JobResult
from walletpass.domain.offers import ISSUED, Offer
from walletpass.domain.passes import MEMBER_CARD, Pass, PassesChanged, PassSelection
from walletpass.domain.programs import Program
from walletpass.domain.segments import Segment
from walletpass.errors import GoogleApiError
from walletpass.google import objects as g
from walletpass.google.callbacks import CallbackEvent, CallbackVerifier, HttpKeyFetcher
from walletpass.google.client import FINAL_REASONS, RETRY_STATUSES, GoogleWalletClient, RetryPolicy
from walletpass.google.jwt import NeedsInsert, SaveLink, SaveLinkSigner
from walletpass.ports import Clock, UnitOfWork
from walletpass.push.policy import decide_sync
from walletpass.urls import PublicUrls

log = logging.getLogger("walletpass.google")

#: Passes whose Google object exists (inserted by REST, or saved by the user): changes are patched there.
SYNCED_STATES = ("inserted", "saved")
#: The reason of a pass change that only sets its news (a campaign): nothing to patch at Google.
NEWS = "news"
#: Change reasons whose PATCH asks Google to notify (allow-listed fields: points balance, tier; google.md §3.5).
NOTIFY_REASONS = frozenset({"points", "tier"})
#: Statuses a later try can fix: the client's retryable ones, and no answer at all (0).
RETRYABLE = RETRY_STATUSES | {0}
#: Statuses an operator can fix (service account not authorised, token refused): tried again after a pause.
CREDENTIALS = frozenset({401, 403})
#: One callback in this many prunes expired nonces (a cheap DELETE; no need on every delivery).
PRUNE_EVERY = 16
#: How long one batch of Google jobs may spend starting jobs (its lease is renewed meanwhile); at 20 requests/s
#: that is ~480 jobs. Jobs not reached are handed back untried.
BATCH_SECONDS = 24.0
#: A coupon link job whose coupon is not issued yet (the campaign's bulk issue has not reached the member) looks
#: again this much later; after COUPON_WAIT_MAX it gives up (parked). Waits are not counted as tries.
COUPON_WAIT, COUPON_WAIT_MAX = timedelta(seconds=10), timedelta(days=1)
#: At most this many coupons are linked to a member's card: the newest usable ones. Google's own limit per object
#: is not published (new links past it are "ignored silently", DISCO ``linkedObjectIds``); 50 keeps the card's
#: linked passes to what a holder can use.
MAX_LINKED = 50


def callback_url(urls: PublicUrls) -> str | None:
    """Where Google posts save/delete callbacks; None unless the base URL is https (Google calls https only)."""
    url = urls.google_callback()
    return url if url.startswith("https://") else None


def class_version(class_: g.Json) -> int:
    """A fingerprint of a class body (31 bits: fits the INTEGER column): equal bodies, equal versions.

    A fingerprint rather than the program's version number: offers have none, and the class also changes
    with settings (base URL → image and callback URLs, issuer id), which no version number follows.
    """
    canonical = json.dumps(class_, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return int.from_bytes(hashlib.sha256(canonical).digest()[:4], "big") & 0x7FFFFFFF


#: (settings, class owner and its version stamp) → (class body, class_version): links are the hot path, and the
#: class body plus its fingerprint cost as much as the object; a design change moves the stamp. Bounded.
_CLASSES: dict[tuple[Any, ...], tuple[g.Json, int]] = {}
_CLASSES_MAX = 1024


def class_and_version(settings: Settings, program: Program, offer: Offer | None = None, *,
                      stamp: tuple[Any, ...] = ()) -> tuple[g.Json, int]:
    """The class of *program* (or of *offer*) and its :func:`class_version`, cached per process.

    *stamp* must change whenever the class could (the rows' ``version`` / ``updated_at``): the cache key is
    the settings that shape the class, the owner's id, the program's version and update time, and *stamp*.
    """
    key = (settings.base_url, settings.google_issuer_id, program.id, program.version, program.updated_at,
           offer.id if offer is not None else None, *stamp)
    hit = _CLASSES.get(key)
    if hit is None:
        urls = PublicUrls.of(settings)
        issuer, callback = settings.google_issuer_id, callback_url(urls)

        def images(slot: str) -> str:
            return urls.program_image(program.id, slot)

        if offer is None:
            class_ = g.loyalty_class(program, issuer_id=issuer, images=images, callback_url=callback,
                                     benefit_uri=urls.join(program.id))
        else:
            class_ = g.offer_class(offer, program, issuer_id=issuer, images=images, callback_url=callback)
        hit = (class_, class_version(class_))
        if len(_CLASSES) >= _CLASSES_MAX:
            _CLASSES.clear()
        _CLASSES[key] = hit
    return hit


def kind_of(pass_kind: str) -> g.Kind:
    return "loyalty" if pass_kind == MEMBER_CARD else "offer"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A pass as Google should show it now, and what we know about Google's copy."""

    pass_id: int
    kind: g.Kind
    class_: g.Json
    object_: g.Json
    tag: int
    state: str | None
    synced_tag: int | None
    class_at_google: int | None  # the class version known to be at Google: the program's (loyalty), the offer's
    version: int  # class_version(class_)
    offer_id: int | None = None  # the class's offer (an offer pass), else the program's class

    @property
    def object_id(self) -> str:
        return str(self.object_["id"])

    @property
    def class_current_at_google(self) -> bool:
        return self.class_at_google == self.version


def plan_link(signer: SaveLinkSigner, r: Rendered, now: datetime) -> SaveLink | NeedsInsert:
    """The link handed out before any REST call: the object alone once the class is at Google (the 3-locale demo
    card: 1,605 characters; a 40-character CJK name with a 9-digit balance: 1,762), else class + object (4,911:
    too long → NeedsInsert)."""
    return signer.plan_save(r.kind, None if r.class_current_at_google else r.class_, r.object_, now)


@dataclass(frozen=True, slots=True)
class Synced:
    """What became of one Google job, before the retry policy turns it into a JobResult."""

    job: Job
    outcome: JobOutcome
    error: str = ""
    #: a campaign message: what the pass got (domain.campaigns NOTIFIED / SILENT); None for a class message
    delivery: str | None = None


def results_of(synced: Sequence[Synced], now: datetime, rng: random.Random) -> list[JobResult]:
    """Each job's result under the retry policy (walletpass.push.policy.decide_sync). AGAIN (a coupon link waiting
    for its coupon) comes back after COUPON_WAIT; such waits (``payload["waits"]``) do not count as tries."""
    results = []
    for s in synced:
        waits = int(s.job.payload.get("waits", 0))
        if s.outcome is JobOutcome.AGAIN:
            results.append(JobResult(s.job, JobOutcome.AGAIN, now + COUPON_WAIT,
                                     payload={**s.job.payload, "waits": waits + 1}))
            continue
        job = dataclasses.replace(s.job, attempts=s.job.attempts - waits) if waits else s.job
        results.append(decide_sync(job, s.outcome, s.error, now, rng))
    return results


def failure(job: Job, exc: GoogleApiError) -> Synced:
    text = f"Google {exc.status or 'unreachable'} {exc.reason}: {exc.detail}"[:500]
    if exc.status in RETRYABLE and exc.reason not in FINAL_REASONS:
        return Synced(job, JobOutcome.RETRY, text)
    if exc.status in CREDENTIALS:
        return Synced(job, JobOutcome.PAUSE, text)
    return Synced(job, JobOutcome.PARK, text)


class GoogleWallet:
    """The Google wallet provider: one per process (its signer, REST client and callback verifier are built once,
    when first needed, and kept)."""

    name = "google"

    def __init__(self, settings: Settings, clock: Clock, uow: Callable[[], UnitOfWork], *,
                 client_factory: Callable[[], GoogleWalletClient] | None = None,
                 callback_keys: Callable[[], bytes | str] | None = None,
                 monotonic: Callable[[], float] = time.monotonic, rng: random.Random | None = None) -> None:
        self.settings, self._clock, self._uow = settings, clock, uow
        self._client_factory = client_factory
        self._callback_keys = callback_keys
        self._monotonic, self._rng = monotonic, rng or random.Random()
        self._lock = threading.Lock()
        self._client: GoogleWalletClient | None = None
        self._signer: SaveLinkSigner | None = None
        self._verifier: CallbackVerifier | None = None

    # -- what the process keeps -----------------------------------------------------------------------------
    def client(self) -> GoogleWalletClient:
        """The Wallet REST client (one per process: token and connections reused)."""
        with self._lock:
            if self._client is None:
                if self._client_factory is not None:
                    self._client = self._client_factory()
                else:
                    self._client = GoogleWalletClient.from_settings(self.settings)
            return self._client

    @property
    def signer(self) -> SaveLinkSigner:
        """The save-link signer: the service-account key parsed once per process."""
        if self._signer is None:
            self._signer = SaveLinkSigner.from_json(self.settings.google_key_path.read_bytes(),
                                                    origins=[self.settings.base_url])
        return self._signer

    @property
    def verifier(self) -> CallbackVerifier:
        """The callback verifier (ECv2SigningOnly) with Google's root keys, fetched when needed."""
        if self._verifier is None:
            fetch = self._callback_keys or HttpKeyFetcher(self.settings.google_callback_keys_url)
            self._verifier = CallbackVerifier(self.settings.google_issuer_id, fetch)
        return self._verifier

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- WalletProvider ---------------------------------------------------------------------------------
    def on_passes_changed(self, uow: UnitOfWork, change: PassesChanged) -> None:
        """A sync job for each changed pass whose object is at Google (coalesced with a pending one). A campaign's
        news changes nothing Google's objects show: it goes by addMessage (:meth:`on_message`)."""
        if change.reason == NEWS:
            return
        uow.outbox.enqueue_changes(JobKind.GOOGLE_SYNC, change, held_by_wallet=(self.name, SYNCED_STATES))

    def on_message(self, uow: UnitOfWork, message: CampaignMessage) -> None:
        """The campaign's message as an addMessage: on the program's class once for a campaign to everyone with one
        message (every object of the class shows it: one request instead of one per object at 20 requests/s), else
        on each object Google holds — also for a whole program when the campaign has variants or a holdout, which
        one class message cannot show."""
        campaign = message.campaign
        payload, at, held = {"campaign_id": campaign.id}, campaign.started_at or campaign.created_at, (
            self.name, SYNCED_STATES)
        if campaign.offer_id is not None:  # the coupon beside the card (link_offers), on either path
            uow.outbox.enqueue_each(JobKind.GOOGLE_OFFER_LINK, message.pass_ids,
                                    {**payload, "offer_id": campaign.offer_id}, at, held_by_wallet=held)
        if Segment.from_json(campaign.segment).everyone and campaign.uniform:
            if message.first:
                uow.outbox.enqueue(JobKind.GOOGLE_MESSAGE, {**payload, "program_id": campaign.program_id}, at)
            return
        uow.outbox.enqueue_each(JobKind.GOOGLE_MESSAGE, message.pass_ids, payload, at, held_by_wallet=held)

    def on_coupons_issued(self, uow: UnitOfWork, offer_id: int, member_ids: Sequence[int], at: datetime) -> None:
        """Every coupon issued to a member whose card Google holds goes beside the card: a ``google_offer_link`` job
        per such card (:meth:`link_offers`), whatever issued it (the API, a bulk issue, an automation, a campaign)."""
        cards = uow.passes.cards_of(member_ids)
        uow.outbox.enqueue_each(JobKind.GOOGLE_OFFER_LINK, cards, {"offer_id": offer_id}, at,
                                held_by_wallet=(self.name, SYNCED_STATES))

    def on_program_changed(self, uow: UnitOfWork, program_id: int, at: datetime) -> None:
        """The program's class, and its offers' classes (they carry its name, colour and logo), are updated."""
        self.request_class_sync(uow, at, program_id=program_id)

    def save_link(self, pass_id: int) -> str:
        """The "Add to Google Wallet" URL of a pass (google.md §1.4).

        - object already at Google (inserted / saved): a skinny link;
        - removed by the user (deleted) with changes Google has not had: PATCH them first, then a skinny link
          (a link carrying the data would not replace Google's stale copy);
        - otherwise a fat link with the object (and the class, unless it is known to be at Google); when that is
          over 1,800 characters the class is inserted by REST (once: recorded), and if the object alone is still
          too long it is inserted too and the link is skinny.
        """
        now = self._clock.now()
        with self._uow() as uow:
            r = self.render(uow, pass_id)
            if uow.wallet_state.object(pass_id).object_id != r.object_id:
                uow.wallet_state.set_object_id(pass_id, r.object_id)
                uow.commit()
        signer = self.signer
        if r.state in SYNCED_STATES:
            return signer.skinny_url(r.kind, r.object_id, r.class_["id"], now)
        if r.state == "deleted":
            if r.synced_tag != r.tag:
                _push_object(self.client(), r, notify=False)
                self._mark_synced(r)
            return signer.skinny_url(r.kind, r.object_id, r.class_["id"], now)
        if "rotatingBarcode" in r.object_:
            # its TOTP key must not travel in a link (signed, not encrypted): the object goes in through the API
            if not r.class_current_at_google:
                self.client().insert_class(r.kind, r.class_)
                self._mark_class(r)
            self.client().insert_object(r.kind, r.object_)
            self._mark_synced(r, state="inserted")
            return signer.skinny_url(r.kind, r.object_id, r.class_["id"], now)
        plan = plan_link(signer, r, now)
        if isinstance(plan, NeedsInsert) and plan.class_ is not None:
            self.client().insert_class(r.kind, r.class_)
            self._mark_class(r)
            plan = signer.plan_save(r.kind, None, r.object_, now)
        if isinstance(plan, SaveLink):
            if r.synced_tag is None:  # the oldest data a save of this link may put at Google (compared on save)
                self._mark_synced(r, only_if_unset=True)
            return plan.url
        self.client().insert_object(r.kind, r.object_)
        self._mark_synced(r, state="inserted")
        return signer.skinny_url(r.kind, r.object_id, r.class_["id"], now)

    def handle_callback(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Verify (ECv2SigningOnly) and record a save/delete callback; return what happened."""
        return self.record_callback(self.verifier.verify(body, self._clock.now()))

    # -- rendering ---------------------------------------------------------------------------------------
    def render(self, uow: UnitOfWork, pass_id: int) -> Rendered:
        """The pass as Google should show it now (inside an open unit of work). The first render of a coupon with
        a rotating barcode makes its object's TOTP key and commits *uow* (the key must outlive a failed call)."""
        settings, issuer = self.settings, self.settings.google_issuer_id
        pass_ = uow.passes.get(pass_id)
        program = uow.programs.get(pass_.program_id)
        at_google = uow.wallet_state.object(pass_id)
        if pass_.kind == MEMBER_CARD and pass_.member_id is not None:
            member = uow.members.get(pass_.member_id)
            class_, version = class_and_version(settings, program)
            return Rendered(pass_id, "loyalty", class_, g.loyalty_object(program, member, pass_.ref, issuer_id=issuer),
                            pass_.update_tag, at_google.state, at_google.synced_tag,
                            uow.wallet_state.class_version(program_id=program.id), version, None)
        assert pass_.coupon_id is not None
        coupon = uow.offers.coupon(pass_.coupon_id)
        offer = uow.offers.get(coupon.offer_id)
        class_, version = class_and_version(settings, program, offer, stamp=(offer.updated_at,))
        key = None
        if offer.rotating_barcode:  # the object's TOTP key: made once, committed before Google can have it
            key, made = uow.wallet_state.barcode_key(pass_id, secrets.token_hex(g.TOTP_KEY_BYTES))
            if made:
                uow.commit()
        return Rendered(pass_id, "offer", class_,
                        g.offer_object(coupon, offer, pass_.ref, issuer_id=issuer, now=self._clock.now(),
                                       totp_key=key),
                        pass_.update_tag, at_google.state, at_google.synced_tag,
                        uow.wallet_state.class_version(offer_id=offer.id), version, offer.id)

    def _mark_synced(self, r: Rendered, *, state: str | None = None, only_if_unset: bool = False) -> None:
        with self._uow() as uow:
            uow.wallet_state.set_synced(r.pass_id, r.tag, state=state, only_if_unset=only_if_unset)
            uow.commit()

    def _mark_class(self, r: Rendered) -> None:
        with self._uow() as uow:
            if r.offer_id is not None:
                uow.wallet_state.set_class_version(r.version, offer_id=r.offer_id)
            else:
                uow.wallet_state.set_class_version(r.version, program_id=uow.passes.get(r.pass_id).program_id)
            uow.commit()

    # -- callbacks ---------------------------------------------------------------------------------------
    def record_callback(self, event: CallbackEvent) -> str:
        """Record a verified save/delete callback once per nonce; return what happened (for logs and tests).

        A save of a pass that changed after the data its link (or REST insert) carried gets a sync job: the
        object Google just created from the link is older than the pass.
        """
        now = self._clock.now()
        with self._uow() as uow:
            if not uow.wallet_state.claim_nonce(event.nonce, now, getattr(event, "exp", None)):
                return "duplicate"
            found = uow.wallet_state.object_by_id(event.object_id)
            if found is None:
                outcome = "unknown object"
            elif event.event_type == "save":
                pass_ = uow.passes.get(found.pass_id)
                uow.wallet_state.set_state(pass_.id, "saved")
                uow.events.record_card(pass_.id, "google_save", now)  # the card's first save only
                if found.state != "saved":
                    uow.webhooks.emit_pass("pass.installed", pass_.id, "google", now)
                    self._queue_links(uow, pass_, now)
                outcome = "save"
                if found.synced_tag != pass_.update_tag:
                    stale = PassesChanged(PassSelection(pass_ids=(pass_.id,)), pass_.update_tag, now, "saved")
                    uow.outbox.enqueue_changes(JobKind.GOOGLE_SYNC, stale)
                    outcome = "save (stale: sync queued)"
            else:
                pass_ = uow.passes.get(found.pass_id)
                uow.wallet_state.set_state(pass_.id, "deleted")
                uow.events.record_card(pass_.id, "uninstall", now)
                if found.state != "deleted":
                    uow.webhooks.emit_pass("pass.removed", pass_.id, "google", now)
                outcome = "del"
            uow.commit()
        if zlib.crc32(event.nonce.encode("utf-8")) % PRUNE_EVERY == 0:
            self.prune_callback_nonces()
        return outcome

    def _queue_links(self, uow: UnitOfWork, card: Pass, now: datetime) -> None:
        """A member card just saved: the member's usable coupons (the newest MAX_LINKED) go beside it, one
        ``google_offer_link`` job per offer (coupons issued while Google held no card got no job then)."""
        if card.kind != MEMBER_CARD or card.member_id is None:
            return
        offers: list[int] = []
        for pass_id, _ in _linkable_coupons(uow, self.settings.google_issuer_id, card.member_id, now)[:MAX_LINKED]:
            coupon_id = uow.passes.get(pass_id).coupon_id
            offer_id = uow.offers.coupon(coupon_id).offer_id if coupon_id is not None else None
            if offer_id is not None and offer_id not in offers:
                offers.append(offer_id)
        for offer_id in reversed(offers):  # oldest first: the newest coupon is linked last, at the front
            uow.outbox.enqueue(JobKind.GOOGLE_OFFER_LINK, {"offer_id": offer_id}, now, pass_id=card.id)

    def prune_callback_nonces(self) -> int:
        """Delete the nonces of expired callback messages (a replay of one fails verification); return how many."""
        with self._uow() as uow:
            pruned = uow.wallet_state.prune_nonces(self._clock.now())
            uow.commit()
        return pruned

    # -- messages ----------------------------------------------------------------------------------------
    def send_message(self, pass_id: int, header: str, body: str, *, message_id: str | None = None) -> str:
        """Add a message to a pass's Google object; return the ``messageType`` sent, or ``"skipped"``.

        ``TEXT_AND_NOTIFY`` while the pass had fewer than 3 notifications (messages and updates) in 24 h, else
        ``TEXT`` — decided from the records before sending, and recorded. Passes whose object is not at Google
        (never saved, or removed by the user) are skipped. Should Google still refuse the buzz (notifications
        sent by something else), the message goes as ``TEXT`` and the record says so.
        """
        now = self._clock.now()
        with self._uow() as u:
            at_google = u.wallet_state.object(pass_id)
            if at_google.state not in SYNCED_STATES or not at_google.object_id:
                return "skipped"
            kind, object_id = kind_of(u.passes.get(pass_id).kind), at_google.object_id
            record, notify = u.wallet_state.reserve_notification(pass_id, "message", True, now,
                                                                 limit=g.NOTIFY_LIMIT, window=g.NOTIFY_WINDOW)
            u.commit()
        client = self.client()
        try:
            client.add_message(kind, object_id, header, body, notify, message_id=message_id)
        except GoogleApiError as exc:
            if not (notify and exc.reason in FINAL_REASONS):
                self._forget_notification(record)
                raise
            log.warning("Google refused a notifying message to %s (%s); sending it as TEXT", object_id, exc)
            try:
                client.add_message(kind, object_id, header, body, False, message_id=message_id)
            except GoogleApiError:
                self._forget_notification(record)
                raise
            notify = False
            with self._uow() as u:
                u.wallet_state.set_notification(record, False)
                u.commit()
        return g.TEXT_AND_NOTIFY if notify else g.TEXT

    def _forget_notification(self, record: int) -> None:
        with self._uow() as u:
            u.wallet_state.forget_notification(record)
            u.commit()

    # -- keeping objects and classes current (the job handler) --------------------------------------------
    def __call__(self, jobs: Sequence[Job]) -> list[JobResult]:
        """Deliver ``google_sync`` (object PATCH), ``google_message`` (a campaign's addMessage),
        ``google_offer_link`` and ``google_class_sync`` jobs, each with its own outcome (a
        :class:`walletpass.ports.JobHandler`). The client makes one try per request (no sleeping in the lease);
        a failed job is retried later with backoff, or paused / parked (see walletpass.push.policy.decide_sync).
        """
        client = self.client().with_retry(RetryPolicy(attempts=1))
        objects = [j for j in jobs if j.kind == JobKind.GOOGLE_SYNC]
        synced = self.sync_objects(objects, client, budget_seconds=BATCH_SECONDS)
        synced += [self.deliver_message(j, client) for j in jobs if j.kind == JobKind.GOOGLE_MESSAGE]
        links = [j for j in jobs if j.kind == JobKind.GOOGLE_OFFER_LINK]
        synced += self.link_offers(links, client, budget_seconds=BATCH_SECONDS)
        seen: set[str] = set()
        for job in (j for j in jobs if j.kind == JobKind.GOOGLE_CLASS_SYNC):
            key = repr(sorted(job.payload.items()))
            if key in seen:  # several design changes in one batch: one upsert per class
                synced.append(Synced(job, JobOutcome.SKIPPED))
                continue
            seen.add(key)
            synced.append(self.sync_class(job, client))
        results = results_of(synced, self._clock.now(), self._rng)
        self._record_deliveries(synced, results)
        for r in results:
            if r.outcome is JobOutcome.PAUSE:
                log.warning("Google refused %s job %s (%s); pausing it until %s", r.job.kind, r.job.id, r.error,
                            r.at)
            elif r.outcome is JobOutcome.PARK:
                log.error("Google %s job %s parked after %d attempt(s): %s", r.job.kind, r.job.id, r.job.attempts,
                          r.error)
        counts: dict[str, int] = {}
        for r in results:
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        log.info("Google: %s", ", ".join(f"{n} {result}" for result, n in sorted(counts.items())))
        return results

    def sync_objects(self, jobs: Sequence[Job], client: GoogleWalletClient, *, budget_seconds: float | None = None) -> list[Synced]:
        """Patch the Google objects of changed passes: one outcome per job, each job on its own. Jobs not started
        within *budget_seconds* are RELEASED. *client* should not retry by itself (the job is retried instead)."""
        deadline = None if budget_seconds is None else self._monotonic() + budget_seconds
        out = []
        for job in jobs:
            if deadline is not None and self._monotonic() > deadline:
                out.append(Synced(job, JobOutcome.RELEASED))
                continue
            out.append(self._sync_object(job, client))
        return out

    def _sync_object(self, job: Job, client: GoogleWalletClient) -> Synced:
        now = self._clock.now()
        assert job.pass_id is not None
        with self._uow() as u:
            r = self.render(u, job.pass_id)
            if r.state not in SYNCED_STATES:
                return Synced(job, JobOutcome.SKIPPED)  # never saved, or removed by the user: nothing to patch
            record, notify = None, False
            if NOTIFY_REASONS & set(job.payload.get("reasons", ())):
                record, notify = u.wallet_state.reserve_notification(job.pass_id, "update", True, now,
                                                                     limit=g.NOTIFY_LIMIT, window=g.NOTIFY_WINDOW)
                u.commit()
        try:
            _push_object(client, r, notify=notify)
        except GoogleApiError as exc:
            if record is not None:
                self._forget_notification(record)
            return failure(job, exc)
        with self._uow() as u:
            u.wallet_state.set_synced(job.pass_id, r.tag)
            u.outbox.drop_parked(JobKind.GOOGLE_SYNC, job.pass_id)
            u.commit()
        return Synced(job, JobOutcome.DONE)

    def deliver_message(self, job: Job, client: GoogleWalletClient) -> Synced:
        """A campaign's message: on the program's class (no pass: every object shows it), or on one object —
        ``TEXT_AND_NOTIFY`` under the 3-a-day cap, else ``TEXT`` (decided and recorded first, google.md §3.5)."""
        now = self._clock.now()
        campaign_id = int(job.payload["campaign_id"])
        with self._uow() as u:
            campaign = u.campaigns.get(campaign_id)
            program = u.programs.get(campaign.program_id)
            header = campaign.name or program.organization_name
            if job.pass_id is None:
                class_, _ = class_and_version(self.settings, program)
                target: tuple[g.Kind, Literal["class", "object"], str] = ("loyalty", "class", str(class_["id"]))
                record, notify = None, True
                texts = campaign.message_of(None).texts
            else:
                at_google = u.wallet_state.object(job.pass_id)
                if at_google.state not in SYNCED_STATES or not at_google.object_id:
                    return Synced(job, JobOutcome.SKIPPED)
                texts = u.campaigns.news(campaign_id, job.pass_id).texts  # the pass's variant
                target = (kind_of(u.passes.get(job.pass_id).kind), "object", at_google.object_id)
                record, notify = u.wallet_state.reserve_notification(job.pass_id, "message", True, now,
                                                                     limit=g.NOTIFY_LIMIT, window=g.NOTIFY_WINDOW)
                u.commit()
        msg = g.campaign_message(program, header, texts, notify=notify,
                                 message_id=f"campaign-{campaign_id}")
        return self._add_campaign_message(job, client, target, msg, record)

    def _add_campaign_message(self, job: Job, client: GoogleWalletClient,
                              target: tuple[g.Kind, Literal["class", "object"], str], msg: g.Json,
                              record: int | None) -> Synced:
        """Add a campaign's prepared message to *target* once; ``delivery`` says what an object got (NOTIFIED,
        SILENT; None for the class).

        - A job tried before (an answer lost, a worker gone mid-call) first reads the target: a message with this
          id there is delivered. Google does not refuse a repeated id (DISCO ``Message.id``: "ID values could
          possibly duplicate"), so sending again would show it twice, and buzz twice. A 409 counts as delivered.
        - A notifying message Google refuses (``quotaExceeded``: notifications its count has and ours has not)
          goes again as ``TEXT``: the message is kept, the buzz dropped (SILENT).
        """
        kind, what, resource_id = target
        notify = msg.get("messageType") == g.TEXT_AND_NOTIFY

        def delivered(notified: bool) -> Synced:
            if record is not None and notified != notify:  # the record says what Google did
                self._set_notification(record, notified)
            return Synced(job, JobOutcome.DONE, delivery=(NOTIFIED if notified else SILENT) if what == "object"
                          else None)

        try:
            if job.attempts > 1:
                held = client.get_object(kind, resource_id) if what == "object" else client.get_class(kind,
                                                                                                      resource_id)
                there = next((m for m in held.get("messages") or () if m.get("id") == msg.get("id")), None)
                if there is not None:
                    return delivered(there.get("messageType") == g.TEXT_AND_NOTIFY)
            try:
                client.add_prepared_message(kind, what, resource_id, msg)
            except GoogleApiError as exc:
                if not (notify and exc.reason in FINAL_REASONS):
                    raise
                log.warning("Google refused a notifying message to %s (%s); sending it as TEXT", resource_id, exc)
                client.add_prepared_message(kind, what, resource_id, {**msg, "messageType": g.TEXT})
                return delivered(False)
        except GoogleApiError as exc:
            if exc.status == 409:  # already there (a retry after an answer that got lost): delivered
                return delivered(notify)
            if record is not None:
                self._forget_notification(record)
            return failure(job, exc)
        return delivered(notify)

    def _set_notification(self, record: int, notify: bool) -> None:
        with self._uow() as u:
            u.wallet_state.set_notification(record, notify)
            u.commit()

    def _record_deliveries(self, synced: Sequence[Synced], results: Sequence[JobResult]) -> None:
        """Write what became of a batch's campaign messages onto the campaigns' deliveries, in one transaction:
        NOTIFIED / SILENT per object; FAILED for a message parked (a permanent error, or retries used up) — for
        the class message of a whole-program campaign, every delivery whose pass Google holds."""
        marks: dict[tuple[int, str, bool], list[int]] = {}
        for s, r in zip(synced, results, strict=True):
            if s.job.kind != JobKind.GOOGLE_MESSAGE:
                continue
            outcome = FAILED if r.outcome is JobOutcome.PARK else s.delivery if r.outcome is JobOutcome.DONE else None
            if outcome is not None:
                on_class = s.job.pass_id is None
                marks.setdefault((int(s.job.payload["campaign_id"]), outcome, on_class), []).extend(
                    [] if on_class else [s.job.pass_id])  # type: ignore[list-item]
        if not marks:
            return
        with self._uow() as u:
            for (campaign_id, outcome, on_class), pass_ids in marks.items():
                if on_class:
                    u.campaigns.set_outcome(campaign_id, outcome, held_by_wallet=(self.name, SYNCED_STATES))
                else:
                    u.campaigns.set_outcome(campaign_id, outcome, pass_ids)
            u.commit()

    # -- a campaign's coupon beside the card ------------------------------------------------------------
    def link_offers(self, jobs: Sequence[Job], client: GoogleWalletClient, *,
                    budget_seconds: float | None = None) -> list[Synced]:
        """Put each job's coupon beside the member's loyalty card (:meth:`_link_offer`); jobs not started within
        *budget_seconds* are RELEASED."""
        deadline = None if budget_seconds is None else self._monotonic() + budget_seconds
        return [Synced(job, JobOutcome.RELEASED) if deadline is not None and self._monotonic() > deadline
                else self._link_offer(job, client) for job in jobs]

    def _link_offer(self, job: Job, client: GoogleWalletClient) -> Synced:
        """Link the member's coupon of the campaign's offer to their LoyaltyObject, so it appears beside the card
        with no tap: insert the coupon's OfferObject (and the offer's class) if Google has neither, GET the card,
        and PATCH its ``linkedObjectIds`` with the coupon added.

        ``linkedObjectIds``, not ``linkedOfferIds`` (google.md §2.2, DISCO): linked objects "would be automatically
        pushed to the user's wallet" of a user who saved the card — the coupon arrives on its own — whereas
        ``linkedOfferIds`` only lists offers on the card, and its ``modifyLinkedOfferObjects`` method is
        deprecated ("Use Auto Linked Passes instead"). Links "cannot be unlinked", and past Google's (unpublished)
        limit per object new ones are "ignored silently": the PATCH's answer is checked, and a link Google
        ignored is parked with that error. The PATCH carries no ``notifyPreference``, so it uses none of the card's
        3 notifications a day.

        What the PATCH sends (:data:`MAX_LINKED`, :func:`_linkable_coupons`): the member's usable coupons (issued,
        not voided, not expired) whose objects Google holds, newest first, at most 50 — never a redeemed or expired
        one. Google keeps links once made ("cannot be unlinked"), so a used coupon is not removed from the card by
        leaving it out; its object goes ``COMPLETED`` / ``EXPIRED`` (its own sync), which moves it to the wallet's
        expired passes. A coupon older than the newest 50 is not linked.
        Only cards Google holds get a job (inserted or saved); a coupon the member removed (deleted) is not
        pushed back; a coupon not issued yet (the campaign's bulk issue has not reached the member) is waited for.
        """
        now = self._clock.now()
        assert job.pass_id is not None
        offer_id = int(job.payload["offer_id"])
        with self._uow() as u:
            card = u.wallet_state.object(job.pass_id)
            if card.state not in SYNCED_STATES or not card.object_id:
                return Synced(job, JobOutcome.SKIPPED)  # removed from the wallet since the campaign's chunk
            coupon_pass = _issued_coupon_pass(u, u.passes.get(job.pass_id), offer_id, now)
            if coupon_pass is None:
                if not any(i.state != "done" for i in u.offers.issues(offer_id)):
                    return Synced(job, JobOutcome.SKIPPED)  # no coupon (the offer ended, or it was used)
                if now - job.created_at > COUPON_WAIT_MAX:
                    return Synced(job, JobOutcome.PARK, f"no coupon of offer {offer_id} issued within "
                                                        f"{COUPON_WAIT_MAX}")
                return Synced(job, JobOutcome.AGAIN)
            coupon = self.render(u, coupon_pass.id)
            if u.wallet_state.object(coupon.pass_id).object_id != coupon.object_id:  # its callbacks find it
                u.wallet_state.set_object_id(coupon.pass_id, coupon.object_id)
                u.commit()
            others = _linkable_coupons(u, self.settings.google_issuer_id, card_member_id(u, job.pass_id), now)
        if coupon.state == "deleted":
            return Synced(job, JobOutcome.SKIPPED)
        links = [(pid, coupon.object_id if pid == coupon.pass_id else oid) for pid, oid in others
                 if pid == coupon.pass_id or oid is not None][:MAX_LINKED]  # at Google, or about to be
        if all(pid != coupon.pass_id for pid, _ in links):
            return Synced(job, JobOutcome.SKIPPED)  # older than the member's newest MAX_LINKED usable coupons
        try:
            if coupon.state not in SYNCED_STATES:
                if not coupon.class_current_at_google:
                    client.insert_class(coupon.kind, coupon.class_)
                    self._mark_class(coupon)
                client.insert_object(coupon.kind, coupon.object_)
                self._mark_synced(coupon, state="inserted")
            linked = list(client.get_object("loyalty", card.object_id).get("linkedObjectIds") or [])
            if coupon.object_id in linked:
                return Synced(job, JobOutcome.DONE)
            answer = client.patch_object("loyalty", card.object_id, {"linkedObjectIds": [oid for _, oid in links]})
        except GoogleApiError as exc:
            return failure(job, exc)
        if coupon.object_id not in (answer.get("linkedObjectIds") or ()):
            return Synced(job, JobOutcome.PARK, f"Google ignored the link of {coupon.object_id} to "
                                                f"{card.object_id}: the card has reached its limit of linked objects")
        return Synced(job, JobOutcome.DONE)

    def request_class_sync(self, uow: UnitOfWork, now: datetime, *, program_id: int | None = None,
                           offer_id: int | None = None) -> None:
        """Queue a ``google_class_sync`` job after a program's or an offer's design changed (inside the open unit
        of work, before its commit). A program's job also covers its offers' classes, which carry the program's
        name, colour and logo."""
        if program_id is not None:
            uow.outbox.enqueue(JobKind.GOOGLE_CLASS_SYNC, {"program_id": program_id}, now)
            for offer in uow.offers.of_program(program_id):
                uow.outbox.enqueue(JobKind.GOOGLE_CLASS_SYNC, {"offer_id": offer.id}, now)
        if offer_id is not None:
            uow.outbox.enqueue(JobKind.GOOGLE_CLASS_SYNC, {"offer_id": offer_id}, now)

    def _render_class(self, uow: UnitOfWork, payload: Mapping[str, Any]
                      ) -> tuple[g.Kind, g.Json, int, int | None, int | None]:
        """(kind, class body, its version, and its owner: program id or offer id) of a class sync job."""
        if "program_id" in payload:
            program = uow.programs.get(int(payload["program_id"]))
            return ("loyalty", *class_and_version(self.settings, program), program.id, None)
        offer = uow.offers.get(int(payload["offer_id"]))
        program = uow.programs.get(offer.program_id)
        return ("offer", *class_and_version(self.settings, program, offer, stamp=(offer.updated_at,)), None,
                offer.id)

    def sync_class(self, job: Job, client: GoogleWalletClient) -> Synced:
        """Bring a program's or offer's class at Google up to date (insert, or GET + PATCH when it differs) and
        record its version; nothing to do when the recorded version is already current."""
        with self._uow() as u:
            kind, class_, version, program_id, offer_id = self._render_class(u, job.payload)
            if u.wallet_state.class_version(program_id=program_id, offer_id=offer_id) == version:
                return Synced(job, JobOutcome.SKIPPED)
        try:
            client.insert_class(kind, class_)
        except GoogleApiError as exc:
            return failure(job, exc)
        with self._uow() as u:
            u.wallet_state.set_class_version(version, program_id=program_id, offer_id=offer_id)
            u.commit()
        return Synced(job, JobOutcome.DONE)


def card_member_id(uow: UnitOfWork, card_pass_id: int) -> int | None:
    return uow.passes.get(card_pass_id).member_id


def _linkable_coupons(uow: UnitOfWork, issuer_id: str, member_id: int | None,
                      now: datetime) -> list[tuple[int, str | None]]:
    """(pass id, Google object id or None when Google holds none) of the member's usable coupons (issued, not
    voided, not expired), newest first."""
    if member_id is None:
        return []
    out = []
    offers: dict[int, Offer] = {}
    for pass_ in reversed(uow.passes.of_member_coupons(member_id)):
        if pass_.coupon_id is None or pass_.voided:
            continue
        coupon = uow.offers.coupon(pass_.coupon_id)
        offer = offers.get(coupon.offer_id) or offers.setdefault(coupon.offer_id, uow.offers.get(coupon.offer_id))
        if coupon.effective_state(offer, now) != ISSUED:
            continue
        at_google = uow.wallet_state.object(pass_.id)
        out.append((pass_.id, g.object_id(issuer_id, pass_.serial_number) if at_google.state in SYNCED_STATES
                    else None))
    return out


def _issued_coupon_pass(uow: UnitOfWork, card: Pass, offer_id: int, now: datetime) -> Pass | None:
    """The pass of the member's latest usable (issued, not voided, not expired) coupon of *offer_id*, if any."""
    if card.member_id is None:
        return None
    offer = uow.offers.get(offer_id)
    for pass_ in reversed(uow.passes.of_member_coupons(card.member_id)):
        if pass_.coupon_id is None or pass_.voided:
            continue
        coupon = uow.offers.coupon(pass_.coupon_id)
        if coupon.offer_id == offer_id and coupon.effective_state(offer, now) == ISSUED:
            return pass_
    return None


def _push_object(client: GoogleWalletClient, r: Rendered, *, notify: bool) -> None:
    """PATCH the object with its current data; if Google has no such object (404), insert it again (and its
    class, if that is missing too)."""
    body = {k: v for k, v in r.object_.items() if k not in ("id", "classId")}
    try:
        client.patch_object(r.kind, r.object_id, body, notify=notify)
        return
    except GoogleApiError as exc:
        if exc.status != 404:
            raise
        log.warning("Google has no object %s (%s); inserting it again", r.object_id, exc.detail)
    try:
        client.insert_object(r.kind, r.object_)
    except GoogleApiError as exc:
        if exc.status != 404:  # 404 here: the class is missing as well
            raise
        client.insert_class(r.kind, r.class_)
        client.insert_object(r.kind, r.object_)
