"""The unit of work calls its after-outbox-commit hook once per commit that wrote outbox rows, and only then."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.builders import make_member, make_program
from walletpass.errors import Conflict
from walletpass.services.api_keys import create_api_key
from walletpass.services.points import add_transaction
from walletpass.storage.uow import uow_factory


def test_hook_runs_after_commits_that_wrote_the_outbox(services) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services))
    calls: list[int] = []
    uow = uow_factory(services.engine, after_outbox_commit=lambda: calls.append(1), wallets=services.wallets)
    s = services.settings

    add_transaction(uow(), services.clock, s, member["id"], 5, "latte")
    assert calls == [1]                                  # pass changed: job written and committed
    create_api_key(uow(), services.clock, services.api_keys.hasher, "pos", ["points"])
    assert calls == [1]                                  # no outbox row, no kick
    with pytest.raises(Conflict):
        add_transaction(uow(), services.clock, s, member["id"], -10_000, "overdraw")
    assert calls == [1]                                  # rolled back: nothing to deliver
    with uow() as u:                                     # written but never committed
        u.outbox.enqueue("pass_changed", {"reasons": ["x"]}, services.clock.now())
    assert calls == [1]
    add_transaction(uow(), services.clock, s, member["id"], 5, "latte")
    with services.engine.connect() as conn:
        jobs = conn.execute(text("SELECT count(*) FROM outbox")).scalar_one()
    assert jobs == 1 and calls == [1]                    # absorbed by the pending job, which was kicked already
