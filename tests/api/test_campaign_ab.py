"""A/B and holdout for push campaigns, through the API against the APNs and Google stand-ins (SQLite and
PostgreSQL): members are assigned by the database exactly as the domain's hash says (the same after a worker
restart; proportional over 2,000 members), each sees its variant's text on the pass and in Google's message, the
holdout gets no push and its passes do not change, and the stats count redemptions and transactions within 7
days of each delivery and not outside them."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.builders import insert_members, make_member, make_program
from tests.helpers import (
    ISSUER,
    Device,
    auth_token_of,
    card_fields,
    count,
    drain,
    local,
    make_offer,
    pkpass_files,
    post,
    verify_with_openssl,
)
from walletpass.bootstrap import Services, bootstrap
from walletpass.config import Settings
from walletpass.domain.campaigns import bucket, make_split
from walletpass.domain.jobs import JobKind
from walletpass.ports import FixedClock
from walletpass.storage.tables import CampaignDeliveryRow

pytestmark = pytest.mark.usefixtures("apns")

LONG_TERMS = "Long terms. " * 150  # Google's class, then each object, is inserted by REST (so objects exist)
LONG_NAME = "晨光會員" * 50


@pytest.fixture
def clock() -> FixedClock:
    """The clock of the app and its worker: the test moves it (paced chunks, then days of transactions)."""
    return FixedClock(datetime.now(UTC) - timedelta(hours=2))


@pytest.fixture
def services(settings: Settings, clock: FixedClock) -> Iterator[Services]:
    with closing(bootstrap(settings, clock=clock)) as svc:
        yield svc


def within(n_hits: int, n: int, p: float) -> bool:
    """*n_hits* of *n* within four standard deviations of a binomial(n, p)."""
    return abs(n_hits - n * p) <= 4 * math.sqrt(n * p * (1 - p))


def assignments(services, campaign_id: int) -> dict[int, int | None]:  # type: ignore[no-untyped-def]
    with services.uow() as uow:
        return uow.campaigns.assignments(campaign_id)


def test_assignment_is_the_hash_stable_after_a_restart_proportional_and_the_holdout_untouched(  # type: ignore[no-untyped-def]
        client, auth, services, settings, clock) -> None:
    pid = make_program(services)
    ids = insert_members(services, pid, 2000, first_id=100_000, now=clock.now())
    body = {"program_id": pid, "holdout": 10, "ignore_quiet_hours": True,
            "variants": [{"name": "price", "message": "Half price today"}, {"name": "cake", "message": "Free cake"}]}
    r = post(client, "/api/v1/campaigns", auth, body)
    assert r.status_code == 202, r.json
    cid = r.json["id"]
    drain(services)
    clock.advance(minutes=5)  # the second chunk is paced (WALLETPASS_CAMPAIGN_RATE)
    drain(services)
    got = assignments(services, cid)
    split = make_split([1, 1], 10)
    assert got == {m: split.variant(bucket(cid, m)) for m in ids}  # the SQL computes the domain's hash
    groups = Counter(got.values())
    assert within(groups[None], 2000, 0.1), groups
    assert within(groups[0], 2000 - groups[None], 0.5), groups
    view = client.get(f"/api/v1/campaigns/{cid}", headers=auth).json
    assert view["state"] == "done" and view["total"] == 2000 and view["held_out"] == groups[None]
    assert count(services, f"SELECT total FROM campaigns WHERE id = {cid}") == 2000  # noqa: S608 - PG said -1
    assert view["sent"] == 2000 - groups[None] and view["pending"] == 0 and view["message"] is None
    assert view["variants"] == [{"name": "price", "weight": 1, "message": "Half price today"},
                                {"name": "cake", "weight": 1, "message": "Free cake"}] and view["holdout"] == 10
    held = ",".join(str(m) for m, v in got.items() if v is None)
    assert count(services, f"SELECT count(*) FROM passes WHERE member_id IN ({held}) "  # noqa: S608
                           "AND (update_tag <> 1 OR news_campaign_id IS NOT NULL)") == 0
    assert count(services, f"SELECT count(*) FROM passes WHERE news_campaign_id = {cid}") == 2000 - groups[None]

    # a worker restarted (another engine, another worker) computes the same assignment again
    with services.engine.begin() as conn:
        conn.execute(text("DELETE FROM campaign_deliveries WHERE campaign_id = :c"), {"c": cid})
        conn.execute(text("UPDATE campaigns SET state = 'scheduled' WHERE id = :c"), {"c": cid})
    with closing(bootstrap(settings, clock=clock)) as restarted:
        with restarted.uow() as uow:
            uow.outbox.enqueue(JobKind.CAMPAIGN_START, {"campaign_id": cid}, clock.now())
            uow.commit()
        drain(restarted)
        assert assignments(restarted, cid) == got


def test_each_variant_shows_its_text_and_the_holdout_gets_no_push(  # type: ignore[no-untyped-def]
        client, auth, services, apns, tmp_path) -> None:
    pid = make_program(services)
    members = [make_member(services, pid) for _ in range(16)]
    phones = {}
    for m in members:
        phones[m["id"]] = Device(client, services.settings.member_pass_type_id)
        assert phones[m["id"]].register(m["serial_number"], auth_token_of(client, m)).status_code == 201
    before = {m["id"]: pkpass_files(client.get(local(m["links"]["pkpass"])).data) for m in members}
    drain(services)
    pushed = len(apns.pushes)
    variants = [{"name": "bogo", "message": {"en": "Buy one get one free", "zh-Hant": "買一送一"}, "weight": 1},
                {"name": "cake", "message": "Free cake with any coffee", "weight": 1}]
    r = post(client, "/api/v1/campaigns", auth, {"program_id": pid, "variants": variants, "holdout": 25,
                                                 "ignore_quiet_hours": True, "name": "Weekend"})
    assert r.status_code == 202, r.json
    cid = r.json["id"]
    drain(services)
    got = assignments(services, cid)
    assert set(got.values()) == {None, 0, 1}, got  # every group has members (fixed ids: the same each run)

    reached = [m for m in members if got[m["id"]] is not None]
    new = [p.token for p in apns.pushes[pushed:] if p.status == 200]
    assert sorted(new) == sorted(phones[m["id"]].token for m in reached)  # once each, nobody held out
    texts = [({"en": "Buy one get one free", "zh-Hant": "買一送一", "zh-Hans": "Buy one get one free"}),
             {locale: "Free cake with any coffee" for locale in ("en", "zh-Hant", "zh-Hans")}]
    checked = set()
    for m in members:
        data = client.get(local(m["links"]["pkpass"])).data
        files = pkpass_files(data)
        if got[m["id"]] is None:  # held out: the very same pass
            assert files["pass.json"] == before[m["id"]]["pass.json"]
            assert "news" not in card_fields(json.loads(files["pass.json"]))
            continue
        variant = got[m["id"]]
        news = card_fields(json.loads(files["pass.json"]))["news"]
        assert news["value"] == f"news.{cid}.{variant}" and news["changeMessage"] == "%@"
        for locale, want in texts[variant].items():
            strings = files[f"{locale}.lproj/pass.strings"].decode("utf-16")
            assert f'"{news["value"]}" = "{want}";' in strings, (locale, strings)
        if variant not in checked:
            verify_with_openssl(data, services.settings.wwdr_path, tmp_path)
            checked.add(variant)
    view = client.get(f"/api/v1/campaigns/{cid}", headers=auth).json
    assert view["held_out"] == sum(v is None for v in got.values()) and view["sent"] == len(reached)
    stats = client.get(f"/api/v1/campaigns/{cid}/stats", headers=auth).json
    assert [v["members"] for v in stats["variants"]] == [sum(v == i for v in got.values()) for i in (0, 1)]
    assert [v["name"] for v in stats["variants"]] == ["bogo", "cake"]
    assert stats["holdout"]["members"] == view["held_out"] and stats["holdout"]["sent"] == 0


def _save(client, member) -> None:  # type: ignore[no-untyped-def]
    assert client.get(local(member["links"]["google_save"])).status_code == 302


def test_google_gets_each_objects_variant_and_a_whole_program_ab_test_goes_per_object(  # type: ignore[no-untyped-def]
        client, auth, services, google) -> None:
    pid = make_program(services, terms=LONG_TERMS)
    members = [make_member(services, pid, name=LONG_NAME) for _ in range(12)]
    for m in members:
        _save(client, m)
    objects = {m["id"]: f"{ISSUER}.{m['serial_number']}" for m in members}
    assert all(("loyaltyObject", o) in google.store for o in objects.values())
    base = {"program_id": pid, "ignore_quiet_hours": True}
    variants = [{"message": "Variant one"}, {"message": "Variant two"}]

    def path(extra: dict[str, Any]) -> str:
        r = post(client, "/api/v1/campaigns?dry_run=1", auth, {**base, **extra})
        assert r.status_code == 200, r.json
        return str(r.json["google_path"])

    assert path({"message": "All"}) == "class"
    assert path({"message": "All", "holdout": 10}) == "objects"
    assert path({"variants": variants}) == "objects"
    r = post(client, "/api/v1/campaigns", auth, {**base, "variants": variants, "holdout": 30})
    assert r.status_code == 202, r.json
    drain(services)
    got = assignments(services, r.json["id"])
    assert set(got.values()) == {None, 0, 1}, got
    sent = [q for q in google.api_requests("POST") if q.path.endswith("/addMessage")]
    assert not [q for q in sent if "loyaltyClass" in q.path]  # no class message: it would reach the holdout
    bodies = {q.path.split("/")[-2]: (q.body if isinstance(q.body, dict) else json.loads(q.body)) for q in sent}
    assert len(bodies) == len(sent)  # one message per object
    assert set(bodies) == {objects[m] for m, v in got.items() if v is not None}
    for member_id, variant in got.items():
        if variant is not None:
            assert bodies[objects[member_id]]["message"]["body"] == variants[variant]["message"]


def test_stats_count_redemptions_and_transactions_within_seven_days_of_delivery(  # type: ignore[no-untyped-def]
        client, auth, services, clock) -> None:
    t0 = clock.now() + timedelta(hours=2)  # the campaign's start; members enrol two hours before
    pid = make_program(services)
    offer = make_offer(client, auth, pid, valid_until=(t0 + timedelta(days=60)).isoformat())
    members = [make_member(services, pid)["id"] for _ in range(40)]

    def transact(ids: list[int]) -> None:
        for m in ids:
            r = post(client, f"/api/v1/members/{m}/transactions", auth, {"points": 5, "reason": "coffee"})
            assert r.status_code == 201, r.json

    def redeem(ids: list[int]) -> None:
        with services.engine.connect() as conn:
            coupons = [conn.execute(text("SELECT id FROM coupons WHERE member_id = :m AND offer_id = :o"),
                                    {"m": m, "o": offer}).scalar_one() for m in ids]
        for c in coupons:
            assert post(client, f"/api/v1/coupons/{c}/redeem", auth).status_code == 200

    kind = {m: i % 4 for i, m in enumerate(members)}  # 0: transacts in time, 1: before and too late, 2: redeems
    clock.advance(hours=1)                            # in time, 3: redeems too late
    transact([m for m in members if kind[m] == 1])
    clock.advance(hours=1)
    assert clock.now() == t0
    r = post(client, "/api/v1/campaigns", auth, {"program_id": pid, "offer_id": offer, "holdout": 25,
                                                 "ignore_quiet_hours": True,
                                                 "variants": [{"message": "A"}, {"message": "B", "weight": 2}]})
    assert r.status_code == 202, r.json
    cid = r.json["id"]
    drain(services)
    got = assignments(services, cid)
    assert set(got.values()) == {None, 0, 1}
    reached = [m for m in members if got[m] is not None]
    assert count(services, f"SELECT count(*) FROM coupons WHERE offer_id = {offer}") == len(reached)  # noqa: S608
    with services.engine.connect() as conn:  # the holdout got no coupon
        holders = set(conn.execute(text("SELECT member_id FROM coupons WHERE offer_id = :o"), {"o": offer}).scalars())
    assert holders == set(reached)

    clock.advance(days=2)
    redeem([m for m in reached if kind[m] == 2])
    clock.advance(days=5, seconds=-1)                 # the window's last second
    transact([m for m in members if kind[m] == 0])
    clock.advance(seconds=2)                          # its first second past
    transact([m for m in members if kind[m] == 1])
    clock.advance(days=3)
    redeem([m for m in reached if kind[m] == 3])

    stats = client.get(f"/api/v1/campaigns/{cid}/stats", headers=auth).json

    def expect(group: int | None) -> dict[str, int]:
        ids = [m for m in members if got[m] == group]
        transacted = sum(kind[m] == 0 for m in ids)
        redeemed = sum(kind[m] == 2 for m in ids) if group is not None else 0
        return {"members": len(ids), "sent": len(ids) if group is not None else 0, "redeemed": redeemed,
                "transacted": transacted, "converted": transacted + redeemed}

    assert stats["window_days"] == 7 and stats["offer_id"] == offer
    assert [{k: v[k] for k in expect(0)} for v in stats["variants"]] == [expect(0), expect(1)]
    assert [(v["name"], v["weight"]) for v in stats["variants"]] == [("A", 1), ("B", 2)]
    assert {k: stats["holdout"][k] for k in expect(None)} == expect(None) and stats["holdout"]["percent"] == 25
    assert expect(None)["transacted"] and expect(0)["redeemed"] and expect(1)["converted"]  # nothing vacuous
    with services.engine.connect() as conn:
        delivered = set(conn.execute(select(CampaignDeliveryRow.delivered_at).where(
            CampaignDeliveryRow.campaign_id == cid)).scalars())
    assert delivered == {t0}  # the holdout's window starts with the campaign, as the others' with their send


@pytest.mark.parametrize(("body", "field"), [
    ({"message": "x", "variants": [{"message": "a"}, {"message": "b"}]}, "variants"),
    ({"holdout": 5}, "message"),
    ({"variants": [{"message": "a"}]}, "variants"),
    ({"variants": [{"message": "a"}] * 6}, "variants"),
    ({"variants": [{"message": "a", "weight": 0}, {"message": "b"}]}, "variants[0].weight"),
    ({"variants": [{"message": "a", "weight": -3}, {"message": "b"}]}, "variants[0].weight"),
    ({"variants": [{"message": "a"}, {"message": {"fr": "b"}}]}, "variants[1].message.fr"),
    ({"variants": [{"message": "a", "name": "X"}, {"message": "b", "name": "X"}]}, "variants[1].name"),
    ({"variants": [{"message": "a"}, {"message": ""}]}, "variants[1].message"),
    ({"message": "x", "holdout": 50.5}, "holdout"),
    ({"message": "x", "holdout": -1}, "holdout"),
])
def test_bad_variants_and_holdouts_are_422_naming_the_field_and_write_nothing(  # type: ignore[no-untyped-def]
        client, auth, services, body, field) -> None:
    pid = make_program(services, locales=["en"], texts={})
    r = post(client, "/api/v1/campaigns", auth, {"program_id": pid, **body})
    assert r.status_code == 422 and r.mimetype == "application/problem+json", r.json
    assert r.json["errors"][0]["field"] == field, r.json
    assert count(services, "SELECT count(*) FROM campaigns") == 0
    assert count(services, "SELECT count(*) FROM outbox WHERE kind LIKE 'campaign%'") == 0
