"""The webhook sender against a loopback receiver: signed headers, the checked address pinned, refused addresses
never connected to (a name resolving to the metadata service), answers and timeouts as outcomes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.webhook_receiver import WebhookReceiver
from walletpass.domain.webhooks import Delivery, Webhook, body
from walletpass.ids import new_webhook_secret
from walletpass.webhooks.sender import WebhookSender

NOW = datetime(2026, 12, 3, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        r.secret = new_webhook_secret()
        yield r


def resolving_to(address: str) -> Any:
    def resolve(host: str, port: int, type: int = 0) -> list[Any]:  # noqa: A002 - getaddrinfo's name
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
    return resolve


def delivery() -> Delivery:
    return Delivery(id=1, webhook_id=1, event_id="evt_test", type="points.changed", created_at=NOW,
                    values={"program_id": 1, "member_id": 2, "points": 5, "balance": 5, "transaction_id": 9})


def test_a_name_is_pinned_to_its_checked_address(receiver: WebhookReceiver) -> None:
    sender = WebhookSender(allow_private=True, resolve=resolving_to("127.0.0.1"))
    hook = Webhook(1, f"http://crm.test:{receiver.port}/in?x=1", ("*",), receiver.secret or "", NOW)
    outcome = sender.send(hook, delivery(), body(delivery()))
    sender.close()
    assert outcome.ok and outcome.status == 204
    [got] = receiver.received
    assert got.signature_ok and got.headers["host"] == f"crm.test:{receiver.port}"
    assert got.headers["webhook-id"] == "evt_test" and got.message["data"]["balance"] == 5


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.1", "127.0.0.1"])
def test_a_name_resolving_to_a_refused_address_is_never_called(receiver: WebhookReceiver, address: str) -> None:
    sender = WebhookSender(allow_private=False, resolve=resolving_to(address))
    hook = Webhook(1, f"http://crm.test:{receiver.port}/in", ("*",), receiver.secret or "", NOW)
    outcome = sender.send(hook, delivery(), body(delivery()))
    sender.close()
    assert not outcome.allowed and not outcome.retryable and address in outcome.error
    assert receiver.received == []


def test_answers_and_timeouts_become_outcomes(receiver: WebhookReceiver) -> None:
    sender = WebhookSender(timeout=0.3, allow_private=True)
    hook = Webhook(1, receiver.url, ("*",), receiver.secret or "", NOW)
    receiver.script = lambda m: (429, 0.0, {"Retry-After": "30"})
    limited = sender.send(hook, delivery(), b"{}")
    receiver.script = lambda m: (200, 1.0, {})
    slow = sender.send(hook, delivery(), b"{}")
    receiver.stop()
    down = sender.send(hook, delivery(), b"{}")
    sender.close()
    assert (limited.status, limited.retry_after, limited.retryable) == (429, 30.0, True)
    assert limited.error.startswith("HTTP 429")
    assert slow.status == 0 and slow.retryable and "no answer within 0.3 s" in slow.error
    assert down.status == 0 and down.retryable and "connection failed" in down.error
