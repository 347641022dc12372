"""Composition root: Settings → Services (engine, unit of work, wallet providers, job handlers, signers,
gateways). Nothing else picks adapters.

Adding a wallet is one provider in :func:`bootstrap` (it is then told of every pass change); adding a job kind is
one handler in :meth:`Services.job_handlers`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from walletpass.apple.provider import AppleWallet
from walletpass.config import Settings
from walletpass.domain.jobs import Job, JobKind, JobResult
from walletpass.errors import ConfigurationError
from walletpass.google.client import GoogleWalletClient
from walletpass.google.jwt import SaveLinkSigner
from walletpass.google.provider import GoogleWallet
from walletpass.instance import load_secret_key
from walletpass.jobs.kick import Kicker
from walletpass.paging import Cursors
from walletpass.ports import Clock, JobHandler, Mailer, SystemClock, WalletProvider
from walletpass.samsung.provider import SamsungWallet
from walletpass.services.api_keys import ApiKeyVerifier
from walletpass.storage.db import make_engine, upgrade
from walletpass.storage.device_reads import DeviceReads
from walletpass.storage.uow import SqlUnitOfWork, read_only_uow_factory, uow_factory
from walletpass.urls import PublicUrls

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from walletpass.jobs.metrics import PushMetrics, SigningMetrics
    from walletpass.pkpass.builder import PassBuilder
    from walletpass.push.apns import ApnsClient
    from walletpass.push.relays import RelayGateway
    from walletpass.push.token import ProviderTokens
    from walletpass.services.pages import PassPages, PassPreviews
    from walletpass.services.passes import SignedPasses
    from walletpass.storage.push_status import PushStatusStore
    from walletpass.webhooks.sender import WebhookSender


def _new_registry() -> CollectorRegistry:
    # Imported here, not at the top: `walletpass serve` must set PROMETHEUS_MULTIPROC_DIR before prometheus_client
    # is first imported (api.server), and importing the api package imports this module.
    from prometheus_client import CollectorRegistry

    return CollectorRegistry(auto_describe=True)


@dataclass
class Services:
    """Everything a request, a CLI command or a worker needs, built once per process."""

    settings: Settings
    engine: Engine
    uow: Callable[[], SqlUnitOfWork]
    clock: Clock
    #: every wallet passes are delivered to (told of each pass change, in its transaction)
    wallets: tuple[WalletProvider, ...] = ()
    registry: CollectorRegistry = field(default_factory=_new_registry)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _apns: dict[str, ApnsClient] = field(default_factory=dict, repr=False)
    #: Broker mode: tells Celery workers that outbox rows were committed (None: no broker configured).
    kicker: Kicker | None = None
    #: prometheus_client multiprocess folder shared by the processes of `walletpass serve` (None: this
    #: process's own registry is the whole story).
    metrics_dir: Path | None = None

    @cached_property
    def urls(self) -> PublicUrls:
        """Every public URL handed out (pass links, images, callbacks)."""
        return PublicUrls.of(self.settings)

    def wallet(self, name: str) -> WalletProvider:
        """The wallet provider called *name* ("apple", "google")."""
        for wallet in self.wallets:
            if wallet.name == name:
                return wallet
        raise ConfigurationError(f"no wallet provider {name!r} is configured")

    @property
    def google(self) -> GoogleWallet:
        wallet = self.wallet("google")
        assert isinstance(wallet, GoogleWallet)
        return wallet

    @property
    def samsung(self) -> SamsungWallet | None:
        """Samsung's provider, when Samsung Wallet is configured (``WALLETPASS_SAMSUNG_PARTNER_ID``)."""
        for wallet in self.wallets:
            if isinstance(wallet, SamsungWallet):
                return wallet
        return None

    @cached_property
    def read_uow(self) -> Callable[[], SqlUnitOfWork]:
        """Units of work for reads only (pass downloads, public pages): on SQLite, never the write lock."""
        return read_only_uow_factory(self.engine)

    @cached_property
    def api_keys(self) -> ApiKeyVerifier:
        """API key checks, keyed by the instance secret: the same in every process of the instance."""
        s = self.settings
        return ApiKeyVerifier(s.secret_key or load_secret_key(s.instance_path), read_uow=self.read_uow, uow=self.uow,
                              clock=self.clock)

    @cached_property
    def cursors(self) -> Cursors:
        """Signs and checks the cursors of the API's lists (keyed by the instance secret, like API keys)."""
        s = self.settings
        return Cursors(s.secret_key or load_secret_key(s.instance_path))

    @cached_property
    def device_reads(self) -> DeviceReads:
        """Prepared statements for the devices' list and fetch calls (the web service's hot path)."""
        if self.engine.dialect.name == "sqlite" and self.engine.url.database in (None, "", ":memory:"):
            return DeviceReads(self.engine)  # one in-memory database: only the writer's connection sees it
        return DeviceReads(make_engine(self.settings.database_url, autocommit_reads=True), writer=self.engine)

    @cached_property
    def metrics(self) -> PushMetrics:
        from walletpass.jobs.metrics import PushMetrics

        return PushMetrics(self.registry)

    @cached_property
    def signing_metrics(self) -> SigningMetrics:
        from walletpass.jobs.metrics import SigningMetrics

        return SigningMetrics(self.registry)

    @cached_property
    def signed_passes(self) -> SignedPasses:
        """The signed pass of each version, signed once and kept for every device and link that asks for it."""
        from walletpass.services.passes import SignedPasses

        return SignedPasses(read_uow=self.read_uow, uow=self.uow, builder=self.pass_builder, clock=self.clock)

    @cached_property
    def relays(self) -> RelayGateway:
        """The Android pkpass apps' push relays (one kept-open HTTP client per process)."""
        from walletpass.push.relays import RelayGateway

        return RelayGateway(self.settings)

    @cached_property
    def job_handlers(self) -> dict[str, JobHandler]:
        """The handler of each job kind: a new kind is one handler and one line here."""
        from walletpass.apple.push import ApplePushHandler
        from walletpass.services import automations, campaigns, join, webhooks
        from walletpass.services.coupons import run_issue_jobs
        from walletpass.services.imports import run_import_jobs
        from walletpass.services.passes import run_sign_jobs

        def coupon_issue(jobs: Sequence[Job]) -> list[JobResult]:
            return run_issue_jobs(jobs, uow=self.uow, clock=self.clock, settings=self.settings)

        def campaign(jobs: Sequence[Job]) -> list[JobResult]:
            return campaigns.run_jobs(jobs, uow=self.uow, clock=self.clock, settings=self.settings,
                                      rate=self.campaign_rate, feedback=self.settings.campaign_rate <= 0)

        def sign_ahead(jobs: Sequence[Job]) -> list[JobResult]:
            return run_sign_jobs(jobs, signed=lambda: self.signed_passes, now=self.clock.now)

        def automation(jobs: Sequence[Job]) -> list[JobResult]:
            return automations.run_jobs(jobs, uow=self.uow, clock=self.clock, settings=self.settings)

        def card_link_mail(jobs: Sequence[Job]) -> list[JobResult]:
            return join.run_mail_jobs(jobs, uow=self.uow, clock=self.clock, settings=self.settings,
                                      mailer=lambda: self.mailer)

        def webhook(jobs: Sequence[Job]) -> list[JobResult]:
            return webhooks.run_jobs(jobs, uow=self.uow, clock=self.clock, sender=self.webhook_sender)

        def member_import(jobs: Sequence[Job]) -> list[JobResult]:
            return run_import_jobs(jobs, uow=self.uow, clock=self.clock, settings=self.settings)

        def samsung_update(jobs: Sequence[Job]) -> list[JobResult]:
            from walletpass.domain.jobs import JobOutcome

            samsung = self.samsung
            if samsung is None:  # Samsung Wallet no longer configured: nothing to tell it
                return [JobResult(j, JobOutcome.SKIPPED) for j in jobs]
            return samsung(jobs)

        return {
            JobKind.APPLE_PUSH: ApplePushHandler(self.uow, self.apns, self.push_status, self.clock.now, self.metrics,
                                                 relays=self.relays),
            JobKind.GOOGLE_SYNC: self.google,
            JobKind.GOOGLE_CLASS_SYNC: self.google,
            JobKind.COUPON_ISSUE: coupon_issue,
            JobKind.CAMPAIGN_START: campaign,
            JobKind.CAMPAIGN_CHUNK: campaign,
            JobKind.GOOGLE_MESSAGE: self.google,
            JobKind.GOOGLE_OFFER_LINK: self.google,
            JobKind.PASS_SIGN: sign_ahead,
            JobKind.AUTOMATIONS_DAILY: automation,
            JobKind.AUTOMATION_MESSAGES: automation,
            JobKind.CARD_LINK_MAIL: card_link_mail,
            JobKind.WEBHOOK_DELIVER: webhook,
            JobKind.MEMBER_IMPORT: member_import,
            JobKind.SAMSUNG_UPDATE: samsung_update,
        }

    @cached_property
    def mailer(self) -> Mailer | None:
        """The mail server of ``WALLETPASS_SMTP_URL`` (None: mail is not configured)."""
        if self.settings.smtp_url is None:
            return None
        from walletpass.mail.smtp import SmtpMailer

        return SmtpMailer(self.settings.smtp_url)

    @cached_property
    def campaign_rate(self) -> float:
        """Passes per second a campaign is delivered at: ``WALLETPASS_CAMPAIGN_RATE``, else what this machine's
        cores serve when each pass costs a signature (measured here, at start) and the rest of its fetch
        (domain.campaigns.default_rate); with that default, chunks are also held back while the devices of the
        earlier ones wait for their passes (domain.campaigns.chunk_delay)."""
        if self.settings.campaign_rate > 0:
            return self.settings.campaign_rate
        import os

        from walletpass.domain.campaigns import default_rate

        return default_rate(measured_signing_rate(self), os.cpu_count() or 1)

    @property
    def google_signer(self) -> SaveLinkSigner:
        """The save-link signer (Google's provider keeps it)."""
        return self.google.signer

    def google_client(self) -> GoogleWalletClient:
        """The Wallet REST client (one per process: token and connections reused)."""
        return self.google.client()

    @cached_property
    def apns_tokens(self) -> ProviderTokens | None:
        """The APNs provider tokens of ``WALLETPASS_APNS_KEY_FILE`` (one per process, shared by every pass type),
        or None: certificate authentication. CredentialError when the key file cannot be used."""
        s = self.settings
        if s.apns_key_file is None or s.apns_key_id is None:
            return None
        from walletpass.push.token import ProviderTokens

        return ProviderTokens.from_file(s.apns_key_file, s.apns_key_id, s.apns_token_team_id, now=self.clock.now)

    def apns(self, pass_type_id: str) -> ApnsClient:
        """The APNs client of *pass_type_id* (its certificate is the TLS identity, or the provider tokens of the
        APNs key when one is configured); one per process, kept open."""
        with self._lock:
            client = self._apns.get(pass_type_id)
            if client is None:
                from walletpass.push.apns import ApnsClient

                s = self.settings
                client = self._apns[pass_type_id] = ApnsClient(
                    s.apns_url, s.cert_path(pass_type_id), s.key_path(pass_type_id), s.key_password,
                    s.apns_ca_file, now=self.clock.now, tokens=self.apns_tokens)
            return client

    @cached_property
    def webhook_sender(self) -> WebhookSender:
        """The webhook sender: one pooled HTTP client per process, short timeouts."""
        from walletpass.webhooks.sender import WebhookSender

        s = self.settings
        return WebhookSender(timeout=s.webhook_timeout, allow_private=s.webhooks_allow_private)

    @cached_property
    def push_status(self) -> PushStatusStore:
        """The APNs state of each pass type, in the database: every process records and reads the same one."""
        from walletpass.storage.push_status import PushStatusStore

        return PushStatusStore(self.engine)

    @cached_property
    def pass_builder(self) -> PassBuilder:
        """The Apple pass builder: certificates and keys parsed once per process, templates read once."""
        from walletpass.credentials import load_signer
        from walletpass.pass_templates import load_templates
        from walletpass.pkpass.builder import PassBuilder

        s = self.settings
        signers = {ptid: load_signer(s.cert_path(ptid), s.key_path(ptid), s.wwdr_path,
                                     s.key_password.encode() if s.key_password else None)
                   for ptid in s.pass_type_ids}
        templates = load_templates(own=s.templates_dir)
        return PassBuilder(signers=signers, templates=templates, team_id=s.team_id,
                           web_service_url=self.urls.web_service(), coupon_url=self.urls.pkpass,
                           on_signed=self.signing_metrics.signed)

    @cached_property
    def pass_pages(self) -> PassPages:
        """The public pass pages' views, kept per process and checked by one prepared read per request."""
        from walletpass.services.pages import PassPages

        return PassPages(read_uow=self.read_uow, reads=self.device_reads)

    @cached_property
    def previews(self) -> PassPreviews:
        """The card pictures of the public pass pages, drawn once per pass version and kept (per process)."""
        from walletpass.fonts import SystemFonts
        from walletpass.services.pages import PassPreviews

        return PassPreviews(read_uow=self.read_uow, builder=self.pass_builder, fonts=SystemFonts())

    def close(self) -> None:
        with self._lock:
            clients, self._apns = list(self._apns.values()), {}
        for client in clients:
            client.close()
        self.google.close()
        for kept in ("webhook_sender", "relays"):
            sender = self.__dict__.get(kept)
            if sender is not None:
                sender.close()
        if self.kicker is not None:
            self.kicker.close()
        reads = self.__dict__.get("device_reads")
        if reads is not None:
            reads.close()
        if self.samsung is not None:
            self.samsung.close()
        self.engine.dispose()


def measured_signing_rate(services: Services, seconds: float = 0.2) -> float:
    """Member cards this process signs per second (a short measurement of the pass type's signer), at least 1."""
    import time

    signer = services.pass_builder.signer(services.settings.member_pass_type_id)
    manifest = b'{"pass.json": "0000000000000000000000000000000000000000"}'
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        signer.sign(manifest)
        count += 1
    return max(1.0, round(count / (time.perf_counter() - start), 1))


def bootstrap(settings: Settings, *, clock: Clock | None = None, migrate: bool = False,
              metrics_dir: Path | None = None) -> Services:
    """Build the services for *settings*; with *migrate*, bring the database schema up to date first.

    *metrics_dir*: the multiprocess metrics folder of `walletpass serve` (see walletpass.jobs.metrics).
    """
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    kicker = None
    if settings.broker_url:
        from walletpass.jobs.broker import broker_kicker

        kicker = broker_kicker(settings)
    clock = clock or SystemClock()
    wallets: list[WalletProvider] = []  # filled below: providers need the unit of work that tells them
    uow = uow_factory(engine, wallets=wallets, after_outbox_commit=kicker.kick if kicker else None)
    wallets += [AppleWallet(uow, PublicUrls.of(settings)), GoogleWallet(settings, clock, uow)]
    if settings.samsung_enabled:
        wallets.append(SamsungWallet(settings, clock, uow))
    services = Services(settings=settings, engine=engine, uow=uow, clock=clock, wallets=tuple(wallets),
                        kicker=kicker, metrics_dir=metrics_dir)
    try:
        services.apns_tokens  # noqa: B018 - an unusable .p8 is a startup error, not a failed push an hour later
    except Exception:
        services.close()
        raise
    return services
