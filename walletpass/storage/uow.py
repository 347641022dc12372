"""Unit of work: one SQLAlchemy session and its repositories; ``with uow:`` … ``uow.commit()``.

Leaving the block without commit rolls back. Database errors are translated at this boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from walletpass.errors import Conflict, DatabaseUnavailable
from walletpass.ports import WalletProvider
from walletpass.storage.db import READ_ONLY_OPTION, is_unavailable, unavailable, unavailable_as_error
from walletpass.storage.outbox import OutboxWriter
from walletpass.storage.repositories import (
    ApiKeyRepository,
    AutomationRepository,
    CampaignRepository,
    DeviceRepository,
    EventRepository,
    IdempotencyRepository,
    ImportRepository,
    LedgerRepository,
    MemberRepository,
    OfferRepository,
    PageRepository,
    PassFileRepository,
    PassRepository,
    PrivacyRepository,
    ProgramRepository,
    WalletRepository,
    WebhookRepository,
    constraint_of,
)


class SqlUnitOfWork:
    """The repositories of one session; ``commit()`` makes everything (changes + outbox rows) durable at once.

    *after_outbox_commit* is called after a commit that wrote outbox rows (broker mode: kick the workers). It
    runs after the data is durable and must not raise: the change has happened whatever it does. *wallets* are
    the wallet providers, told of every pass change inside the transaction (they record their jobs).
    """

    api_keys: ApiKeyRepository
    automations: AutomationRepository
    campaigns: CampaignRepository
    programs: ProgramRepository
    members: MemberRepository
    ledger: LedgerRepository
    offers: OfferRepository
    passes: PassRepository
    imports: ImportRepository
    privacy: PrivacyRepository
    pass_files: PassFileRepository
    devices: DeviceRepository
    idempotency: IdempotencyRepository
    events: EventRepository
    wallet_state: WalletRepository
    webhooks: WebhookRepository
    outbox: OutboxWriter

    def __init__(self, session_factory: Callable[[], Session],
                 after_outbox_commit: Callable[[], None] | None = None,
                 wallets: Sequence[WalletProvider] = ()) -> None:
        self._factory = session_factory
        self._after_outbox_commit = after_outbox_commit
        self._outbox_written = False
        self.wallets = tuple(wallets)
        self.session: Session | None = None

    def __enter__(self) -> SqlUnitOfWork:
        self.session = s = self._factory()
        self._outbox_written = False
        self.programs, self.members, self.ledger = ProgramRepository(s), MemberRepository(s), LedgerRepository(s)
        self.offers, self.passes, self.devices = OfferRepository(s), PassRepository(s), DeviceRepository(s)
        self.idempotency, self.events = IdempotencyRepository(s), EventRepository(s)
        self.wallet_state, self.api_keys = WalletRepository(s), ApiKeyRepository(s)
        self.campaigns, self.pass_files = CampaignRepository(s), PassFileRepository(s)
        self.automations, self.pages = AutomationRepository(s), PageRepository(s)
        self.imports, self.privacy = ImportRepository(s), PrivacyRepository(s)
        self.outbox = OutboxWriter(s, self.outbox_written)
        self.webhooks = WebhookRepository(s, self.outbox.enqueue_once)
        return self

    def outbox_written(self) -> None:
        """Outbox rows were written in this transaction: the hook runs once it commits."""
        self._outbox_written = True

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self.session is not None
        try:
            with unavailable_as_error():
                try:
                    self.session.rollback()
                finally:
                    self.session.close()
                    self.session = None
        except DatabaseUnavailable:
            if exc is None:
                raise
        # A lost connection anywhere in the block (a query, a flush) is a 503 to retry, not a bug.
        if exc is not None and is_unavailable(exc):
            raise unavailable(exc) from exc

    def flush(self) -> None:
        assert self.session is not None
        try:
            self.session.flush()
        except IntegrityError as exc:
            raise Conflict("conflicts with existing data: " + constraint_of(exc)) from exc

    def commit(self) -> None:
        assert self.session is not None
        try:
            with unavailable_as_error():  # leaving the block rolls back what is left
                self.session.commit()
        except IntegrityError as exc:
            self.session.rollback()
            raise Conflict("conflicts with existing data: " + constraint_of(exc)) from exc
        if self._outbox_written:
            self._outbox_written = False
            if self._after_outbox_commit is not None:
                self._after_outbox_commit()

    def rollback(self) -> None:
        assert self.session is not None
        self.session.rollback()
        self._outbox_written = False


def uow_factory(engine: Engine, *, wallets: Sequence[WalletProvider],
                after_outbox_commit: Callable[[], None] | None = None) -> Callable[[], SqlUnitOfWork]:
    """Units of work on *engine*; *wallets* are told of every pass change (pass them all: a wallet left out
    would silently get no deliveries)."""
    maker = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
    return lambda: SqlUnitOfWork(maker, after_outbox_commit, wallets)


class ReadOnlyUnitOfWork(SqlUnitOfWork):
    """A unit of work for reads only (pass downloads, public pages): on SQLite it never takes the write lock.

    ``commit()`` refuses, so a write cannot slip in through it; leaving the block rolls back as always.
    """

    def commit(self) -> None:
        raise RuntimeError("a read-only unit of work cannot commit; use Services.uow() to write")


def read_only_uow_factory(engine: Engine) -> Callable[[], SqlUnitOfWork]:
    maker = sessionmaker(bind=engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False,
                         autoflush=False)
    return lambda: ReadOnlyUnitOfWork(maker)
