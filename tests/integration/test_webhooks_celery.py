"""Webhooks in broker mode: two `walletpass worker` processes (Celery on Redis) deliver one webhook's events; the
receiver refuses the first tries, and still every event arrives, signed, in order per member."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.apns_server import FakeApns
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.helpers import wait_until
from tests.pki import TestPki
from tests.workers import Web, WorkerProcess
from walletpass.services import webhooks
from walletpass.services.webhooks import Created

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def test_two_celery_workers_deliver_every_event_in_order(tmp_path: Path, pki: TestPki, db_url: str, apns: FakeApns,
                                                         redis_url: str, queue: str) -> None:
    web = Web(tmp_path, pki, db_url, apns, broker_url=redis_url, queue=queue, members=2)
    receiver = WebhookReceiver()
    failures = {"left": 2}

    def script(message: dict) -> tuple[int, float, dict[str, str]]:  # type: ignore[type-arg]
        if failures["left"]:
            failures["left"] -= 1
            return 500, 0.0, {}
        return 204, 0.0, {}

    receiver.script = script
    created = webhooks.create(web.svc.uow(), web.svc.clock, web.settings.replace(webhooks_allow_private=True),
                              {"url": receiver.url, "events": ["points.changed"]})
    assert isinstance(created, Created)
    receiver.secret = created.webhook.secret
    workers: list[WorkerProcess] = []
    try:
        for _ in range(2):
            workers.append(WorkerProcess(web, pki, apns, redis_url, sweep=1,
                                         extra={"WALLETPASS_WEBHOOKS_ALLOW_PRIVATE": "1"}))
            workers[-1].wait_ready()
        for _ in range(5):
            for member in web.members:
                assert web.add_points(member, 3) == 201
        assert wait_until(lambda: len(receiver.accepted()) == 10, timeout=60), [w.text() for w in workers]
        got = receiver.accepted()
        for member in web.members:
            balances = [m["data"]["balance"] for m in got if m["data"]["member_id"] == member["id"]]
            assert balances == [3, 6, 9, 12, 15], balances
        assert all(r.signature_ok for r in receiver.received)
        assert len({m["id"] for m in got}) == 10
        for w in workers:
            assert w.stop() == 0, w.text()
    finally:
        for w in workers:
            w.kill()
        receiver.stop()
        web.close()
