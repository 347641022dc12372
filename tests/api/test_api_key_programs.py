"""API keys bound to programs: a key for program A gets 404 on every resource of program B (the 404 of a
resource that does not exist), 2xx on its own, 403 where a route concerns every program (creating one)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from api.auth import IN_REQUEST
from tests.helpers import make_offer, png, post
from walletpass.errors import InvalidInput
from walletpass.services.api_keys import create_api_key

MISSING = 987_654  # an id no resource has

#: What the requests below change, to prove that a refused one changed nothing.
TABLES = ("programs", "program_images", "members", "ledger_entries", "offers", "coupons", "coupon_issues", "passes",
          "idempotency_keys", "outbox", "campaigns", "automations", "automation_days", "automation_runs",
          "member_imports", "member_import_rows", "program_stores")


@dataclass
class Program:
    """One program's resources, made with an unbound admin key."""

    program_id: int
    member_id: int
    offer_id: int
    coupon_id: int
    issue_id: int
    spare_coupon: int  # for the void, after the redeem of coupon_id
    campaign_id: int  # scheduled far ahead, so that it can be cancelled
    transaction_id: int
    import_id: int  # a bulk import of members, queued


def _make_program(client: Any, auth: dict[str, str], name: str) -> Program:
    r = post(client, "/api/v1/programs", auth, {"name": name, "organization_name": f"{name} Org"})
    assert r.status_code == 201, r.json
    pid = r.json["id"]
    member = post(client, f"/api/v1/programs/{pid}/members", auth, {"name": f"{name} member", "points": 100}).json
    offer = make_offer(client, auth, pid, valid_until="2099-12-31T00:00:00+00:00")
    coupons = [post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]}).json["id"]
               for _ in range(2)]
    bulk = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"segment": {}})
    assert bulk.status_code == 202, bulk.json
    campaign = post(client, "/api/v1/campaigns", auth,
                    {"program_id": pid, "message": "Hello", "send_at": "2099-01-01T12:00:00+00:00"})
    assert campaign.status_code == 202, campaign.json
    earned = post(client, f"/api/v1/members/{member['id']}/transactions", auth, {"points": 5, "reason": "latte"})
    assert earned.status_code == 201, earned.json
    imported = client.post(f"/api/v1/programs/{pid}/members:import", data=IMPORT_CSV, headers=auth,
                           content_type="text/csv")
    assert imported.status_code == 202, imported.json
    return Program(pid, member["id"], offer, coupons[0], bulk.json["id"], coupons[1], campaign.json["id"],
                   earned.json["id"], imported.json["id"])


IMPORT_CSV = b"name,external_id\nImported,crm-1\n"


@pytest.fixture
def two(client, auth) -> tuple[Program, Program]:  # type: ignore[no-untyped-def]
    return _make_program(client, auth, "Alpha"), _make_program(client, auth, "Beta")


def _bound_key(services: Any, *program_ids: int, scopes: tuple[str, ...] = ("admin",)) -> dict[str, str]:
    key = create_api_key(services.uow(), services.clock, services.api_keys.hasher, "till A", scopes,
                         programs=list(program_ids))
    return {"Authorization": f"Bearer {key}"}


def _key_routes(app: Any) -> list[tuple[Any, str, str | None]]:
    """Every (rule, method, owner argument) of the app that asks for an API key."""
    out = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if hasattr(view, "api_key_scope"):
            out.extend((rule, m, view.api_key_owner) for m in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return out


def _ids(p: Program) -> dict[str, int]:
    return {"program_id": p.program_id, "member_id": p.member_id, "offer_id": p.offer_id,
            "coupon_id": p.coupon_id, "issue_id": p.issue_id, "campaign_id": p.campaign_id,
            "transaction_id": p.transaction_id, "import_id": p.import_id}


def _send(client: Any, method: str, path: str, headers: dict[str, str], body: Any) -> Any:
    if isinstance(body, bytes):
        media = "text/csv" if path.endswith("/members:import") else "image/png"
        return client.open(path, method=method, data=body, headers={**headers, "Content-Type": media})
    return client.open(path, method=method, data=json.dumps(body), headers=headers, content_type="application/json")


def _snapshot(services: Any) -> dict[str, list[Any]]:
    with services.engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))] for t in TABLES}


#: A body each route accepts (for the 2xx requests with the key's own program).
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/v1/programs/<int:program_id>"): {"terms": "New terms"},
    ("PUT", "/api/v1/programs/<int:program_id>/images/<slot>"): png(240, 240),
    ("PUT", "/api/v1/programs/<int:program_id>/stores"): {"stores": [{"name": "Harbour", "latitude": 25.0,
                                                                      "longitude": 121.5}]},
    ("POST", "/api/v1/programs/<int:program_id>/members"): {"name": "New member"},
    ("PATCH", "/api/v1/members/<int:member_id>"): {"name": "Renamed"},
    ("POST", "/api/v1/members/<int:member_id>/transactions"): {"points": 5, "reason": "latte"},
    ("POST", "/api/v1/programs/<int:program_id>/offers"): {"title": "Tea"},
    ("POST", "/api/v1/offers/<int:offer_id>/coupons"): {"member_id": None},  # filled with the key's member
    ("POST", "/api/v1/programs/<int:program_id>/members:import"): IMPORT_CSV,
}


def _path(rule: Any, ids: dict[str, int], owner: str | None, owner_id: int | None = None) -> str:
    values = {arg: ids.get(arg, 0) for arg in rule.arguments}
    if "slot" in values:
        values["slot"] = "logo"
    if owner is not None and owner_id is not None:
        values[owner] = owner_id
    return rule.build(values)[1]


def test_a_key_bound_to_a_program_gets_404_on_every_resource_of_another(app, client, services, two) -> None:  # type: ignore[no-untyped-def]
    a, b = two
    bound = _bound_key(services, a.program_id)
    routes = [(rule, method, owner) for rule, method, owner in _key_routes(app) if owner not in (None, IN_REQUEST)]
    assert {owner for _, _, owner in routes} == {"program_id", "member_id", "offer_id", "coupon_id", "issue_id",
                                                 "campaign_id", "transaction_id", "import_id"}
    before = _snapshot(services)
    for rule, method, owner in routes:
        body = BODIES.get((method, rule.rule), {})
        body = {"member_id": b.member_id} if body == {"member_id": None} else body
        foreign = _send(client, method, _path(rule, _ids(b), owner), bound, body)
        missing = _send(client, method, _path(rule, _ids(b), owner, MISSING), bound, body)
        where = f"{method} {rule.rule}"
        assert foreign.status_code == 404 and foreign.mimetype == "application/problem+json", (where, foreign.json)
        assert missing.status_code == 404, (where, missing.json)
        # Word for word the answer for a resource that does not exist: nothing tells that B's exists.
        b_id = str(_ids(b)[owner])
        assert foreign.json == {**missing.json, "detail": missing.json["detail"].replace(str(MISSING), b_id)}, where
    assert _snapshot(services) == before


def test_the_same_key_gets_2xx_on_every_route_of_its_own_program(app, client, services, two) -> None:  # type: ignore[no-untyped-def]
    a, _ = two
    bound = _bound_key(services, a.program_id)
    routes = [(rule, method, owner) for rule, method, owner in _key_routes(app) if owner not in (None, IN_REQUEST)]
    # The redeem first and the void of another coupon after it, so that neither meets a coupon state it refuses;
    # the member's erasure last (the member's routes answer 404 after it).
    routes.sort(key=lambda r: (r[1] == "DELETE", r[0].rule.endswith("/void")))
    for rule, method, owner in routes:
        body = BODIES.get((method, rule.rule), {})
        body = {"member_id": a.member_id} if body == {"member_id": None} else body
        ids = {**_ids(a), "coupon_id": a.spare_coupon} if rule.rule.endswith("/void") else _ids(a)
        r = _send(client, method, _path(rule, ids, owner), bound, body)
        assert 200 <= r.status_code < 300, (method, rule.rule, r.status_code, r.get_data(as_text=True))


def test_a_key_bound_to_programs_cannot_create_one_or_use_routes_for_every_program(app, client, services,  # type: ignore[no-untyped-def]
                                                                                   two) -> None:
    a, b = two
    bound = _bound_key(services, a.program_id, b.program_id)
    unowned = [(rule, method) for rule, method, owner in _key_routes(app) if owner is None]
    in_request = {(rule.rule, method) for rule, method, owner in _key_routes(app) if owner == IN_REQUEST}
    assert in_request == PROGRAM_IN_REQUEST
    # A new route must say which program its resource belongs to (require_key(..., owner=)), or be listed here
    # as one for keys of every program (bound keys get 403 there), or in PROGRAM_IN_REQUEST.
    assert {(rule.rule, method) for rule, method in unowned} == {
        ("/api/v1/programs", "POST"), ("/api/v1/api-keys", "POST"), ("/api/v1/api-keys", "GET"),
        ("/api/v1/api-keys/<int:key_id>", "GET"), ("/api/v1/api-keys/<int:key_id>", "DELETE"),
        # webhooks hear the events of every program
        ("/api/v1/webhooks", "POST"), ("/api/v1/webhooks", "GET"), ("/api/v1/webhooks/<int:webhook_id>", "GET"),
        ("/api/v1/webhooks/<int:webhook_id>", "DELETE"), ("/api/v1/webhooks/<int:webhook_id>/deliveries", "GET")}
    before = _snapshot(services)
    for rule, method in unowned:
        r = _send(client, method, _path(rule, {}, None), bound, {"name": "P", "organization_name": "O"})
        assert r.status_code == 403 and r.mimetype == "application/problem+json", (rule.rule, r.json)
        assert "limited to programs" in r.json["detail"] and str(a.program_id) in r.json["detail"]
    assert _snapshot(services) == before
    # Bound to both: both programs' resources answer.
    for p in two:
        assert client.get(f"/api/v1/members/{p.member_id}", headers=bound).status_code == 200
        assert client.get(f"/api/v1/coupons/{p.coupon_id}", headers=bound).status_code == 200


#: Routes whose program comes in the body or the query: checked against the key's programs there.
PROGRAM_IN_REQUEST = {("/api/v1/campaigns", "POST"), ("/api/v1/campaigns", "GET"),
                      # lists across programs and the till's lookups: they hold the key's programs only
                      ("/api/v1/programs", "GET"), ("/api/v1/members", "GET"), ("/api/v1/coupons", "GET"),
                      ("/api/v1/coupons/redeem", "POST")}


def test_routes_with_the_program_in_the_request_check_it_against_the_key(client, services, two) -> None:  # type: ignore[no-untyped-def]
    a, b = two
    bound = _bound_key(services, a.program_id)
    before = _snapshot(services)
    for dry_run in ("", "?dry_run=1"):
        r = post(client, f"/api/v1/campaigns{dry_run}", bound, {"program_id": b.program_id, "message": "Hi"})
        missing = post(client, f"/api/v1/campaigns{dry_run}", bound, {"program_id": MISSING, "message": "Hi"})
        assert r.status_code == 404 and r.mimetype == "application/problem+json", r.json
        assert r.json == {**missing.json, "detail": missing.json["detail"].replace(str(MISSING), str(b.program_id))}
    assert _snapshot(services) == before
    assert client.get(f"/api/v1/campaigns?program_id={b.program_id}", headers=bound).status_code == 404
    listed = client.get("/api/v1/campaigns", headers=bound)
    assert listed.status_code == 200 and [c["id"] for c in listed.json["data"]] == [a.campaign_id]
    assert post(client, "/api/v1/campaigns?dry_run=1", bound,
                {"program_id": a.program_id, "message": "Hi"}).status_code == 200


def test_scopes_still_apply_to_a_bound_key(client, services, two) -> None:  # type: ignore[no-untyped-def]
    a, b = two
    till = _bound_key(services, a.program_id, scopes=("points",))
    assert post(client, f"/api/v1/members/{a.member_id}/transactions", till, {"points": 1, "reason": "x"}).status_code == 201
    assert client.get(f"/api/v1/members/{a.member_id}", headers=till).status_code == 403  # members scope
    assert post(client, f"/api/v1/members/{b.member_id}/transactions", till,
                {"points": 1, "reason": "x"}).status_code == 404


def test_unknown_or_no_program_at_creation_is_a_clear_error_and_stores_nothing(services, two) -> None:  # type: ignore[no-untyped-def]
    a, _ = two
    hasher = services.api_keys.hasher
    with services.engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM api_keys")).scalar_one()
    with pytest.raises(InvalidInput, match=f"there is no program {MISSING}"):
        create_api_key(services.uow(), services.clock, hasher, "x", ["admin"], programs=[a.program_id, MISSING])
    with pytest.raises(InvalidInput, match="at least one program"):
        create_api_key(services.uow(), services.clock, hasher, "x", ["admin"], programs=[])
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == before
    create_api_key(services.uow(), services.clock, hasher, "y", ["admin"], programs=[a.program_id, a.program_id])
    with services.engine.connect() as conn:
        stored = conn.execute(text("SELECT programs FROM api_keys WHERE name = 'y'")).scalar_one()
        unbound = conn.execute(text("SELECT programs FROM api_keys WHERE name = 'test admin'")).scalar_one()
    assert (json.loads(stored) if isinstance(stored, str) else stored) == [a.program_id]
    assert unbound is None  # SQL NULL: every program
