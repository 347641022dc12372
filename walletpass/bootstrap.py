"""Composition root: Settings → Services (engine, unit of work, signers, gateways). Nothing else picks adapters."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from walletpass.config import Settings
from walletpass.instance import load_secret_key
from walletpass.jobs.kick import Kicker
from walletpass.ports import Clock, SystemClock
from walletpass.services.api_keys import ApiKeyVerifier
from walletpass.storage.db import make_engine, upgrade
from walletpass.storage.device_reads import DeviceReads
from walletpass.storage.uow import SqlUnitOfWork, read_only_uow_factory, uow_factory

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from walletpass.jobs.metrics import PushMetrics


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
    registry: CollectorRegistry = field(default_factory=_new_registry)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _apns: dict[str, Any] = field(default_factory=dict, repr=False)
    _google: Any = field(default=None, repr=False)
    #: Broker mode: tells Celery workers that outbox rows were committed (None: no broker configured).
    kicker: Kicker | None = None
    #: prometheus_client multiprocess folder shared by the processes of `walletpass serve` (None: this
    #: process's own registry is the whole story).
    metrics_dir: Path | None = None

    @cached_property
    def read_uow(self) -> Callable[[], SqlUnitOfWork]:
        """Units of work for reads only (pass downloads, public pages): on SQLite, never the write lock."""
        return read_only_uow_factory(self.engine)

    @cached_property
    def api_keys(self) -> ApiKeyVerifier:
        """API key checks, keyed by the instance secret: the same in every process of the instance."""
        s = self.settings
        return ApiKeyVerifier(s.secret_key or load_secret_key(s.instance_path), read_uow=self.read_uow, uow=self.uow)

    @cached_property
    def device_reads(self) -> DeviceReads:
        """Prepared statements for the devices' list and fetch calls (the web service's hot path)."""
        if self.engine.dialect.name == "sqlite":
            return DeviceReads(self.engine)
        return DeviceReads(make_engine(self.settings.database_url, autocommit_reads=True), writer=self.engine)

    @cached_property
    def metrics(self) -> PushMetrics:
        from walletpass.jobs.metrics import PushMetrics

        return PushMetrics(self.registry)

    @cached_property
    def job_handlers(self) -> dict[str, Callable[[list[Any]], None]]:
        from walletpass.jobs.worker import default_handlers

        return default_handlers(self)

    @cached_property
    def google_signer(self) -> Any:
        """The save-link signer: the service-account key parsed once per process."""
        from walletpass.google.jwt import SaveLinkSigner

        return SaveLinkSigner.from_json(self.settings.google_key_path.read_bytes(),
                                        origins=[self.settings.base_url])

    def google_client(self) -> Any:
        """The Wallet REST client (one per process: token and connections reused)."""
        with self._lock:
            if self._google is None:
                from walletpass.google.client import GoogleWalletClient

                self._google = GoogleWalletClient.from_settings(self.settings)
            return self._google

    @cached_property
    def google_callbacks(self) -> Any:
        from walletpass.google.callbacks import CallbackVerifier, HttpKeyFetcher

        return CallbackVerifier(self.settings.google_issuer_id, HttpKeyFetcher(self.settings.google_callback_keys_url))

    def apns(self, pass_type_id: str) -> Any:
        """The APNs client of *pass_type_id* (its certificate is the TLS identity); one per process, kept open."""
        with self._lock:
            client = self._apns.get(pass_type_id)
            if client is None:
                from walletpass.push.apns import ApnsClient

                s = self.settings
                client = self._apns[pass_type_id] = ApnsClient(
                    s.apns_url, s.cert_path(pass_type_id), s.key_path(pass_type_id), s.key_password,
                    s.apns_ca_file, now=self.clock.now)
            return client

    @cached_property
    def push_status(self) -> Any:
        """The APNs state of each pass type, in the database: every process records and reads the same one."""
        from walletpass.push.status import PushStatusStore

        return PushStatusStore(self.engine)

    @cached_property
    def pass_builder(self) -> Any:
        """The Apple pass builder: certificates and keys parsed once per process, templates read once."""
        from walletpass.credentials import load_signer
        from walletpass.pass_templates import load_templates
        from walletpass.pkpass.builder import PassBuilder

        s = self.settings
        signers = {ptid: load_signer(s.cert_path(ptid), s.key_path(ptid), s.wwdr_path,
                                     s.key_password.encode() if s.key_password else None)
                   for ptid in s.pass_type_ids}
        templates = load_templates()
        return PassBuilder(signers=signers, templates=templates, team_id=s.team_id,
                           web_service_url=s.web_service_url)

    def close(self) -> None:
        with self._lock:
            clients, self._apns = list(self._apns.values()), {}
            if self._google is not None:
                clients.append(self._google)
                self._google = None
        for client in clients:
            client.close()
        if self.kicker is not None:
            self.kicker.close()
        reads = self.__dict__.get("device_reads")
        if reads is not None:
            reads.close()
        self.engine.dispose()


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
        from walletpass.jobs.celery_app import broker_kicker

        kicker = broker_kicker(settings)
    uow = uow_factory(engine, after_outbox_commit=kicker.kick if kicker else None)
    return Services(settings=settings, engine=engine, uow=uow, clock=clock or SystemClock(), kicker=kicker,
                    metrics_dir=metrics_dir)
