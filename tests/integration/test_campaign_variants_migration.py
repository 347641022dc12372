"""Migration 0008 (A/B and holdout) both ways with data: a downgrade keeps a campaign with variants readable (its
first variant becomes its message) and turns held-out deliveries into skipped ones; the upgrade after it gives
every delivery variant 0. On SQLite and PostgreSQL, each on a database of its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, text

from walletpass.demo import DEMO_PROGRAM
from walletpass.domain.campaigns import Message, Variant
from walletpass.domain.segments import Segment
from walletpass.ports import SystemClock
from walletpass.services.programs import create_program
from walletpass.storage.db import downgrade, upgrade
from walletpass.storage.tables import MemberRow, PassRow
from walletpass.storage.uow import uow_factory


def test_a_campaign_with_variants_and_a_holdout_survives_a_downgrade(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    now = datetime.now(UTC)
    uow = uow_factory(empty_engine, wallets=())
    program_id = create_program(uow(), SystemClock(), DEMO_PROGRAM).id
    with empty_engine.begin() as conn:
        conn.execute(insert(MemberRow), [{"id": i, "program_id": program_id, "name": "M", "member_number": str(i),
                                          "points": 0, "version": 1, "created_at": now, "updated_at": now}
                                         for i in range(1, 41)])
        conn.execute(insert(PassRow), [{"id": i, "serial_number": f"S{i}", "pass_type_id": "pass.x", "kind": "member",
                                        "program_id": program_id, "member_id": i, "authentication_token": "t",
                                        "public_token": f"p{i}", "update_tag": 1, "created_at": now,
                                        "updated_at": now} for i in range(1, 41)])
    first = {"en": "First", "*": "First"}
    with uow() as u:
        campaign = u.campaigns.add(program_id=program_id, name="AB", message=None, segment=Segment(),
                                   state="sending", send_at=now, offer_id=None, now=now, holdout=50,
                                   variants=(Variant("A", 1, Message(first)), Variant("B", 1, Message({"*": "B"}))))
        assert u.campaigns.write_deliveries(campaign.id, program_id, Segment(), campaign.split, now) == 40
        held = u.campaigns.progress(campaign.id).held_out
        u.commit()
    assert 0 < held < 40

    downgrade(empty_engine, "0007")
    with empty_engine.connect() as conn:
        message = conn.execute(text("SELECT message FROM campaigns")).scalar_one()
        states = dict(conn.execute(text("SELECT state, count(*) FROM campaign_deliveries GROUP BY state")).all())
    assert (json.loads(message) if isinstance(message, str) else message) == first
    assert states == {"pending": 40 - held, "skipped": held}

    upgrade(empty_engine)
    with uow() as u:
        again = u.campaigns.get(campaign.id)
        assert again.message == Message(first) and again.variants == () and again.holdout == 0
        assert set(u.campaigns.assignments(campaign.id).values()) == {0}
