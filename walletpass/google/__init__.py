"""Google Wallet: pass mapping, save links, REST client and callback verification.

Pure parts (:mod:`.objects`, :mod:`.jwt`) are imported eagerly; the adapters (:mod:`.client`,
:mod:`.callbacks`) load on first use so that pure callers do not pull in HTTP libraries.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from walletpass.google.jwt import MAX_SAVE_URL_LENGTH, NeedsInsert, SaveLink, SaveLinkSigner
from walletpass.google.objects import (
    loyalty_class,
    loyalty_object,
    message,
    message_type_for,
    object_id,
    offer_class,
    offer_class_id,
    offer_object,
    program_class_id,
)

_LAZY = {
    "GoogleWalletClient": "walletpass.google.client",
    "RetryPolicy": "walletpass.google.client",
    "TokenBucket": "walletpass.google.client",
    "CallbackEvent": "walletpass.google.callbacks",
    "CallbackRejected": "walletpass.google.callbacks",
    "CallbackVerifier": "walletpass.google.callbacks",
    "HttpKeyFetcher": "walletpass.google.callbacks",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MAX_SAVE_URL_LENGTH",
    "CallbackEvent",
    "CallbackRejected",
    "CallbackVerifier",
    "GoogleWalletClient",
    "HttpKeyFetcher",
    "NeedsInsert",
    "RetryPolicy",
    "SaveLink",
    "SaveLinkSigner",
    "TokenBucket",
    "loyalty_class",
    "loyalty_object",
    "message",
    "message_type_for",
    "object_id",
    "offer_class",
    "offer_class_id",
    "offer_object",
    "program_class_id",
]
