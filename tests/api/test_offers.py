"""Offers and coupons through the marketer API: create, issue (one and bulk), redeem, void, expire (SQLite and
PostgreSQL). The pass side of each change (tag, list-since-tag, push, the pass itself) is in test_changes.py."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.builders import make_member, make_program
from tests.helpers import count, local, make_offer, post, verify_with_openssl
from walletpass.bootstrap import Services, bootstrap
from walletpass.jobs.worker import Worker
from walletpass.ports import FixedClock

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


@pytest.fixture
def services(settings) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    svc = bootstrap(settings, clock=FixedClock(NOW))
    yield svc
    svc.close()


@pytest.fixture
def program(services) -> int:  # type: ignore[no-untyped-def]
    return make_program(services)


def test_create_and_get_offer(client, auth, program) -> None:  # type: ignore[no-untyped-def]
    body = {"title": "Free latte", "description": "Any size", "discount": "100%",
            "valid_from": "2026-11-01T00:00:00+08:00", "valid_until": "2026-12-31T23:59:00+08:00",
            "terms": "One per visit", "texts": {"zh-Hant": {"title": "免費拿鐵", "terms": "每次限用一張"}}}
    r = post(client, f"/api/v1/programs/{program}/offers", auth, body)
    assert r.status_code == 201 and set(r.json) == {"id"}
    got = client.get(r.headers["Location"], headers=auth)
    assert got.status_code == 200
    assert got.json["title"] == "Free latte" and got.json["program_id"] == program
    assert got.json["valid_until"] == "2026-12-31T15:59:00+00:00"
    assert got.json["texts"] == {"zh-Hant": {"title": "免費拿鐵", "terms": "每次限用一張"}}
    assert got.json["coupons"] == {"issued": 0, "redeemed": 0, "voided": 0, "expired": 0, "total": 0}


@pytest.mark.parametrize(("body", "status", "field"), [
    ({}, 422, "title"),
    ({"title": "   "}, 422, "title"),
    ({"title": "x", "extra": 1}, 422, "extra"),
    ({"title": "x", "discount": "d" * 65}, 422, "discount"),
    ({"title": "x", "valid_until": "2026-12-31T23:59:00"}, 422, "valid_until"),
    ({"title": "x", "valid_until": "next tuesday"}, 422, "valid_until"),
    ({"title": "x", "valid_until": "2020-01-01T00:00:00Z"}, 422, "valid_until"),
    ({"title": "x", "valid_from": "2026-12-31T00:00:00Z", "valid_until": "2026-12-01T00:00:00Z"}, 422,
     "valid_until"),
    ({"title": "x", "texts": {"fr": {"title": "Latte gratuit"}}}, 422, "texts.fr"),
    ({"title": "x", "texts": {"zh-Hant": {"colour": "紅"}}}, 422, "texts.zh-Hant.colour"),
    ({"title": "a\x00b"}, 422, "title"),
    (b'{"title": ', 400, ""),
])
def test_bad_offers_change_nothing(client, auth, services, program, body, status, field) -> None:  # type: ignore[no-untyped-def]
    r = post(client, f"/api/v1/programs/{program}/offers", auth, body)
    assert r.status_code == status and r.mimetype == "application/problem+json", r.json
    if field:
        assert r.json["errors"][0]["field"] == field, r.json
    assert count(services, "SELECT count(*) FROM offers") == 0


def test_offer_of_unknown_program_is_404(client, auth) -> None:  # type: ignore[no-untyped-def]
    assert post(client, "/api/v1/programs/4242/offers", auth, {"title": "x"}).status_code == 404


def test_issue_one_coupon_download_and_verify(client, auth, services, program, tmp_path) -> None:  # type: ignore[no-untyped-def]
    offer = make_offer(client, auth, program)
    member = make_member(services, program, name="陳小明")
    r = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]})
    assert r.status_code == 201, r.json
    assert {"id", "serial_number", "code", "links"} <= set(r.json) and r.json["state"] == "issued"
    assert set(r.json["links"]) == {"page", "pkpass", "google_save", "smart"}
    assert r.headers["Location"].endswith(f"/api/v1/coupons/{r.json['id']}")
    assert client.get(r.headers["Location"], headers=auth).json == r.json
    dl = client.get(local(r.json["links"]["pkpass"]))
    assert dl.status_code == 200 and dl.mimetype == "application/vnd.apple.pkpass"
    verify_with_openssl(dl.data, services.settings.wwdr_path, tmp_path)
    with zipfile.ZipFile(io.BytesIO(dl.data)) as z:
        pj = json.loads(z.read("pass.json"))
    assert pj["serialNumber"] == r.json["serial_number"]
    assert pj["passTypeIdentifier"] == services.settings.coupon_pass_type_id
    assert pj["barcodes"][0]["message"] == r.json["code"] and "coupon" in pj
    assert pj["expirationDate"] == "2026-12-31T15:59:00+00:00" and "voided" not in pj
    assert "陳小明" in json.dumps(pj, ensure_ascii=False)
    assert client.get(local(r.json["links"]["page"])).status_code == 200
    # the smart link sends an iPhone to the coupon's .pkpass
    iphone = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
                            "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"}
    smart = client.get(local(r.json["links"]["smart"]), headers=iphone)
    assert smart.status_code == 302 and local(smart.headers["Location"]) == local(r.json["links"]["pkpass"])
    # a token, never the serial or the id, reaches the pass
    assert r.json["serial_number"] not in r.json["links"]["pkpass"]
    assert client.get(f"/api/v1/offers/{offer}", headers=auth).json["coupons"]["issued"] == 1


def test_bad_coupon_requests_change_nothing(client, auth, services, program) -> None:  # type: ignore[no-untyped-def]
    offer = make_offer(client, auth, program)
    member = make_member(services, program)
    stranger = make_member(services, make_program(services))
    passes = count(services, "SELECT count(*) FROM passes")
    for body, field in [({}, "member_id"), ({"member_id": member["id"], "segment": {}}, "member_id"),
                        ({"member_id": 999999}, "member_id"), ({"member_id": stranger["id"]}, "member_id"),
                        ({"member_id": "1"}, "member_id"), ({"segment": {"tier": ["Platinum"]}}, "segment.tier[0]"),
                        ({"segment": {"points": 5}}, "segment.points"), ({"member_id": 0}, "member_id")]:
        r = post(client, f"/api/v1/offers/{offer}/coupons", auth, body)
        assert r.status_code == 422 and r.mimetype == "application/problem+json", (body, r.json)
        assert r.json["errors"][0]["field"] == field, (body, r.json)
    assert post(client, "/api/v1/offers/4242/coupons", auth, {"member_id": member["id"]}).status_code == 404
    assert count(services, "SELECT count(*) FROM coupons") == 0
    assert count(services, "SELECT count(*) FROM coupon_issues") == 0
    assert count(services, "SELECT count(*) FROM passes") == passes


def test_issue_with_idempotency_key_answers_the_first_answer(client, auth, services, program) -> None:  # type: ignore[no-untyped-def]
    offer = make_offer(client, auth, program)
    member = make_member(services, program)
    first = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]}, key="till-7")
    again = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]}, key="till-7")
    assert first.status_code == again.status_code == 201 and first.json == again.json
    assert count(services, "SELECT count(*) FROM coupons") == 1
    other = make_member(services, program)
    r = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": other["id"]}, key="till-7")
    assert r.status_code == 422 and "different request" in r.json["detail"]
    assert count(services, "SELECT count(*) FROM coupons") == 1


def test_no_coupons_for_an_ended_offer(client, auth, services, program) -> None:  # type: ignore[no-untyped-def]
    offer = make_offer(client, auth, program, valid_until=(NOW + timedelta(hours=1)).isoformat())
    member = make_member(services, program)
    services.clock.advance(hours=2)  # type: ignore[attr-defined]
    r = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]})
    assert r.status_code == 409 and "no more coupons" in r.json["detail"]
    assert count(services, "SELECT count(*) FROM coupons") == 0


def issue(client, auth, services, program: int, offer: int) -> dict:  # type: ignore[no-untyped-def]
    member = make_member(services, program)
    r = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]})
    assert r.status_code == 201
    return r.json  # type: ignore[no-any-return]


def test_redeem_then_every_further_change_is_409(client, auth, services, program) -> None:  # type: ignore[no-untyped-def]
    offer = make_offer(client, auth, program)
    coupon = issue(client, auth, services, program, offer)
    r = post(client, f"/api/v1/coupons/{coupon['id']}/redeem", auth)
    assert r.status_code == 200 and r.json["state"] == "redeemed"
    tag = count(services, "SELECT value FROM counters WHERE name = 'pass_tag'")
    for action, detail in (("redeem", "already redeemed"), ("void", "already redeemed")):
        again = post(client, f"/api/v1/coupons/{coupon['id']}/{action}", auth)
        assert again.status_code == 409 and again.mimetype == "application/problem+json"
        assert detail in again.json["detail"]
    assert count(services, "SELECT value FROM counters WHERE name = 'pass_tag'") == tag
    got = client.get(f"/api/v1/coupons/{coupon['id']}", headers=auth).json
    assert got["state"] == "redeemed" and got["redeemed_at"]
    counts = client.get(f"/api/v1/offers/{offer}", headers=auth).json["coupons"]
    assert counts["redeemed"] == 1 and counts["issued"] == 0


def test_void_then_redeem_is_409(client, auth, services, program) -> None:  # type: ignore[no-untyped-def]
    offer = make_offer(client, auth, program)
    coupon = issue(client, auth, services, program, offer)
    r = post(client, f"/api/v1/coupons/{coupon['id']}/void", auth)
    assert r.status_code == 200 and r.json["state"] == "voided"
    again = post(client, f"/api/v1/coupons/{coupon['id']}/redeem", auth)
    assert again.status_code == 409 and "voided" in again.json["detail"]
    assert post(client, "/api/v1/coupons/4242/redeem", auth).status_code == 404


def test_redeem_retry_with_idempotency_key_is_200_again(client, auth, services, program) -> None:  # type: ignore[no-untyped-def]
    offer = make_offer(client, auth, program)
    coupon = issue(client, auth, services, program, offer)
    first = post(client, f"/api/v1/coupons/{coupon['id']}/redeem", auth, key="pos-1-redeem")
    again = post(client, f"/api/v1/coupons/{coupon['id']}/redeem", auth, key="pos-1-redeem")
    assert first.status_code == again.status_code == 200 and first.json == again.json
    assert post(client, f"/api/v1/coupons/{coupon['id']}/redeem", auth, key="pos-2").status_code == 409


def test_concurrent_redeems_exactly_one_wins(app, auth, services, program) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    offer = make_offer(client, auth, program)
    coupon = issue(client, auth, services, program, offer)
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def run() -> None:
        c = app.test_client()
        barrier.wait()
        statuses.append(post(c, f"/api/v1/coupons/{coupon['id']}/redeem", auth).status_code)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * 7
    assert count(services, f"SELECT version FROM coupons WHERE id = {coupon['id']}") == 2
    assert count(services, "SELECT count(*) FROM outbox WHERE kind = 'pass_changed'") == 1


def test_bulk_issue_once_per_member_even_when_the_job_runs_twice(client, auth, services, program) -> None:  # type: ignore[no-untyped-def]
    offer = make_offer(client, auth, program)
    gold = [make_member(services, program, points=2500) for _ in range(3)]
    rich_silver = make_member(services, program, points=1500)
    make_member(services, program, points=100)
    r = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"segment": {"tier": ["Gold", "Silver"],
                                                                          "min_points": 1000}}, key="bulk-1")
    assert r.status_code == 202, r.json
    assert r.json["state"] == "queued" and r.json["total"] == 4 and r.json["issued"] == 0
    assert post(client, f"/api/v1/offers/{offer}/coupons", auth, {"segment": {"tier": ["Gold", "Silver"],
                "min_points": 1000}}, key="bulk-1").json == r.json          # a retried POST: the same issue
    with services.engine.begin() as conn:  # the job delivered twice (a lease ran out, a retry)
        conn.execute(text("INSERT INTO outbox (kind, pass_id, payload, attempts, created_at, available_at) "
                          "SELECT kind, pass_id, payload, 0, created_at, available_at FROM outbox "
                          "WHERE kind = 'coupon_issue'"))
    worker = Worker(services)
    while worker.run_once():
        pass
    progress = client.get(r.headers["Location"], headers=auth)
    assert progress.status_code == 200
    assert progress.json["state"] == "done" and progress.json["issued"] == 4 and progress.json["finished_at"]
    with services.engine.connect() as conn:
        holders = {row[0] for row in conn.execute(text("SELECT member_id FROM coupons"))}
    assert holders == {m["id"] for m in gold} | {rich_silver["id"]}
    assert count(services, "SELECT count(*) FROM coupons") == 4
    assert count(services, "SELECT count(*) FROM passes WHERE kind = 'coupon'") == 4
    view = client.get(f"/api/v1/offers/{offer}", headers=auth).json
    assert view["coupons"]["issued"] == 4 and view["issues"][0]["state"] == "done"
    # the same segment again: everyone in it holds a coupon already
    again = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"segment": {"tier": ["Gold"]}})
    assert again.status_code == 202 and again.json["total"] == 0
    while worker.run_once():
        pass
    assert count(services, "SELECT count(*) FROM coupons") == 4


def test_bulk_issue_ends_when_a_tier_of_its_segment_is_renamed_before_it_runs(client, auth, services, program) -> None:  # type: ignore[no-untyped-def]
    offer = make_offer(client, auth, program)
    make_member(services, program, points=2500)                                  # Gold
    silver = make_member(services, program, points=600)
    r = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"segment": {"tier": ["Gold", "Silver"]}})
    assert r.status_code == 202 and r.json["total"] == 2
    tiers = [{"name": "Bronze", "min_points": 0}, {"name": "Silver", "min_points": 500},
             {"name": "Platinum", "min_points": 2000}]
    renamed = client.patch(f"/api/v1/programs/{program}", data=json.dumps({"tiers": tiers, "texts": {}}),
                           headers=auth, content_type="application/json")
    assert renamed.status_code == 200, renamed.json
    worker = Worker(services)
    while worker.run_once():
        pass
    progress = client.get(r.headers["Location"], headers=auth).json
    assert progress["state"] == "done" and progress["issued"] == 1                # "Gold" now matches nobody
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT member_id FROM coupons")).scalars().all() == [silver["id"]]
    assert count(services, "SELECT count(*) FROM outbox WHERE kind = 'coupon_issue'") == 0


def test_expiry_sweep_reads_the_passes_of_a_batch_in_one_query_and_commits_nothing_when_none_is_due(  # type: ignore[no-untyped-def]
        client, auth, services, program) -> None:
    from sqlalchemy import event

    from walletpass.services.coupons import expire_due

    offer = make_offer(client, auth, program, valid_until=(NOW + timedelta(hours=1)).isoformat())
    for _ in range(3):
        issue(client, auth, services, program, offer)
    services.clock.advance(hours=2)  # type: ignore[attr-defined]
    statements: list[str] = []
    commits: list[object] = []

    def seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    def committed(conn) -> None:  # type: ignore[no-untyped-def]
        commits.append(conn)

    event.listen(services.engine, "before_cursor_execute", seen)
    event.listen(services.engine, "commit", committed)
    try:
        assert expire_due(services.uow, services.clock, services.settings) == 3
        assert len([s for s in statements if "passes.coupon_id" in s]) == 1
        assert len(commits) == 1
        statements.clear(), commits.clear()
        assert expire_due(services.uow, services.clock, services.settings) == 0
        assert commits == [] and [s for s in statements if "passes" in s or "counters" in s] == []
    finally:
        event.remove(services.engine, "before_cursor_execute", seen)
        event.remove(services.engine, "commit", committed)
    assert count(services, "SELECT count(*) FROM coupons WHERE state = 'expired'") == 3


def test_expiry_sweep_expires_once(client, auth, services, program) -> None:  # type: ignore[no-untyped-def]
    offer = make_offer(client, auth, program, valid_until=(NOW + timedelta(hours=1)).isoformat())
    coupon = issue(client, auth, services, program, offer)
    kept = issue(client, auth, services, program, make_offer(client, auth, program))
    worker = Worker(services)
    worker.sweep()
    assert count(services, "SELECT count(*) FROM coupons WHERE state = 'expired'") == 0
    services.clock.advance(hours=2)  # type: ignore[attr-defined]
    assert client.get(f"/api/v1/coupons/{coupon['id']}", headers=auth).json["state"] == "expired"
    tag = count(services, "SELECT value FROM counters WHERE name = 'pass_tag'")
    Worker(services).sweep()
    assert count(services, f"SELECT count(*) FROM coupons WHERE state = 'expired' AND id = {coupon['id']}") == 1
    assert count(services, f"SELECT state = 'issued' FROM coupons WHERE id = {kept['id']}") == 1
    bumped = count(services, "SELECT value FROM counters WHERE name = 'pass_tag'")
    assert bumped == tag + 1
    assert count(services, f"SELECT update_tag FROM passes WHERE serial_number = '{coupon['serial_number']}'") == bumped
    Worker(services).sweep()                                                   # nothing left to expire
    assert count(services, "SELECT value FROM counters WHERE name = 'pass_tag'") == bumped
    r = post(client, f"/api/v1/coupons/{coupon['id']}/redeem", auth)
    assert r.status_code == 409 and "expired" in r.json["detail"]
    assert client.get(f"/api/v1/offers/{offer}", headers=auth).json["coupons"]["expired"] == 1


def test_bulk_issue_to_a_list_of_alternatives_with_birthdays_and_sources(client, auth, services, program) -> None:  # type: ignore[no-untyped-def]
    offer = make_offer(client, auth, program)
    may = post(client, f"/api/v1/programs/{program}/members", auth, {"name": "May", "birthday": "1990-05-17"}).json
    assert may["birthday"] == "1990-05-17"
    from_flyer = make_member(services, program, source="flyer-a")
    rich = make_member(services, program, points=3000)
    make_member(services, program, points=10)
    segment = [{"birthday_month": 5}, {"source": ["flyer-a"]}, {"min_points": 2500, "installed": "none"}]
    r = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"segment": segment})
    assert r.status_code == 202 and r.json["total"] == 3 and r.json["segment"] == segment
    worker = Worker(services)
    while worker.run_once():
        pass
    with services.engine.connect() as conn:
        holders = {row[0] for row in conn.execute(text("SELECT member_id FROM coupons"))}
    assert holders == {may["id"], from_flyer["id"], rich["id"]}
    bad = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"segment": [{"birthday_month": 13}]})
    assert bad.status_code == 422 and bad.json["errors"][0]["field"].startswith("segment[0].birthday_month")
    future = post(client, f"/api/v1/programs/{program}/members", auth, {"name": "X", "birthday": "2099-01-01"})
    assert future.status_code == 422 and future.json["errors"][0]["field"] == "birthday"
