"""A campaign to 2,000 passes with `walletpass worker` processes killed halfway (SIGKILL): the polling worker, and
Celery workers on a real Redis. Every target's phone is pushed exactly once, nobody outside the segment is, and
each delivery is recorded once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.builders import make_member
from tests.fakes.apns_server import FakeApns
from tests.helpers import BlackHole, Device, auth_token_of, post, wait_until
from tests.pki import TestPki
from tests.workers import Web, WorkerProcess

pytestmark = pytest.mark.slow

TARGETS = 2000
#: Passes per second: the campaign's second chunk (passes 1,001–2,000) comes due 20 s after its first.
PACE = {"WALLETPASS_CAMPAIGN_RATE": "50"}


def _campaign(web: Web, campaign_id: int) -> dict[str, Any]:
    r = web.client.get(f"/api/v1/campaigns/{campaign_id}", headers=web.auth)
    assert r.status_code == 200, r.json
    return dict(r.json)


def _pushes(apns: FakeApns) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in apns.pushes:
        if p.status == 200:
            out[p.token] = out.get(p.token, 0) + 1
    return out


@pytest.mark.parametrize(("db_url", "mode"), [
    ("sqlite", "polling"),  # one box: SQLite and the polling worker
    pytest.param("postgres", "celery", marks=[pytest.mark.postgres, pytest.mark.redis]),  # many: two Celery workers
], indirect=["db_url"])
def test_a_worker_killed_halfway_leaves_every_target_pushed_exactly_once(  # type: ignore[no-untyped-def]
        tmp_path: Path, pki: TestPki, db_url: str, apns: FakeApns, mode: str, request) -> None:
    redis = request.getfixturevalue("redis_url") if mode == "celery" else None
    queue = request.getfixturevalue("queue") if mode == "celery" else "walletpass"
    web = Web(tmp_path, pki, db_url, apns, broker_url=redis, queue=queue, members=TARGETS, member={"points": 150})
    outside = []
    for _ in range(20):
        m = make_member(web.svc, web.program_id, points=0)
        phone = Device(web.client, web.settings.member_pass_type_id)
        assert phone.register(m["serial_number"], auth_token_of(web.client, m)).status_code == 201
        outside.append(phone.token)
    targets = {web.phones[m["id"]].token for m in web.members}
    hole = BlackHole()
    hung = WorkerProcess(web, pki, apns, redis, sweep=0.5, lease=2, apns_url=f"https://127.0.0.1:{hole.port}",
                         extra=PACE)
    workers: list[WorkerProcess] = []
    try:
        if redis:
            hung.wait_ready()
        r = post(web.client, "/api/v1/campaigns", web.auth, {
            "program_id": web.program_id, "message": "Buy one get one free this weekend",
            "segment": {"min_points": 100}, "ignore_quiet_hours": True})
        assert r.status_code == 202, r.json
        cid = r.json["id"]
        # The first chunk is handed to the wallets (committed) and its pushes are under way to an APNs that hangs.
        assert wait_until(lambda: _campaign(web, cid)["sent"] == 1000 and len(hole.accepted) > 0, timeout=60), \
            hung.text()
        hung.kill()
        halfway = _campaign(web, cid)
        assert halfway["state"] == "sending" and halfway["sent"] == 1000 and halfway["total"] == TARGETS
        assert not apns.pushes
        workers = [WorkerProcess(web, pki, apns, redis, sweep=0.5, lease=2, extra=PACE)
                   for _ in range(2 if redis else 1)]
        assert wait_until(lambda: targets <= _pushes(apns).keys(), timeout=120), \
            "\n".join(w.text() for w in workers)
        assert wait_until(lambda: _campaign(web, cid)["state"] == "done")
        assert wait_until(lambda: web.outbox() == 0, timeout=30)
        pushed = _pushes(apns)
        assert {t: n for t, n in pushed.items() if n != 1} == {}          # each target exactly once
        assert pushed.keys() == targets and not pushed.keys() & set(outside)  # nobody outside the segment
        done = _campaign(web, cid)
        assert (done["total"], done["sent"], done["failed"]) == (TARGETS, TARGETS, 0)
        with web.svc.engine.connect() as conn:
            news = conn.execute(text("SELECT count(*) FROM passes WHERE news_campaign_id = :c"), {"c": cid})
            assert news.scalar_one() == TARGETS
            rows = conn.execute(text("SELECT count(*), count(DISTINCT pass_id) FROM campaign_deliveries "
                                     "WHERE campaign_id = :c AND state = 'sent'"), {"c": cid}).one()
            assert tuple(rows) == (TARGETS, TARGETS)
    finally:
        hung.kill()
        for w in workers:
            w.kill()
        web.close()
        hole.close()
