"""Repositories, one per aggregate, each over the unit of work's session and mapping rows to domain values."""

from walletpass.storage.repositories._base import constraint_of
from walletpass.storage.repositories.api_keys import ApiKeyRepository
from walletpass.storage.repositories.automations import AutomationRepository
from walletpass.storage.repositories.campaigns import CampaignRepository
from walletpass.storage.repositories.devices import DeviceRepository
from walletpass.storage.repositories.imports import ImportRepository
from walletpass.storage.repositories.members import LedgerRepository, MemberRepository
from walletpass.storage.repositories.offers import OfferRepository
from walletpass.storage.repositories.pages import PageRepository
from walletpass.storage.repositories.pass_files import PassFileRepository
from walletpass.storage.repositories.passes import PassRepository
from walletpass.storage.repositories.privacy import PrivacyRepository
from walletpass.storage.repositories.programs import ProgramRepository
from walletpass.storage.repositories.records import EventRepository, IdempotencyRepository
from walletpass.storage.repositories.wallets import WalletRepository
from walletpass.storage.repositories.webhooks import WebhookRepository

__all__ = [
    "ApiKeyRepository",
    "AutomationRepository",
    "CampaignRepository",
    "DeviceRepository",
    "EventRepository",
    "IdempotencyRepository",
    "ImportRepository",
    "LedgerRepository",
    "MemberRepository",
    "OfferRepository",
    "PageRepository",
    "PassFileRepository",
    "PassRepository",
    "PrivacyRepository",
    "ProgramRepository",
    "WalletRepository",
    "WebhookRepository",
    "constraint_of",
]
