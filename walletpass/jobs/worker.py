"""Job workers. (Delivery of outbox jobs is completed by the push pipeline.)"""

from __future__ import annotations

from typing import Any


def start_embedded_worker(services: Any) -> None:
    """Start the in-process worker thread (single-box mode)."""
    return None
