"""DELETE /api/v1/members/{id} (erasure: nothing personal left, passes voided on the phones and at Google) and
GET /api/v1/members/{id}/export (everything held about a member), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import JSON, String, Text, text

from tests.builders import make_program
from tests.helpers import (
    ISSUER,
    Device,
    auth_token_of,
    callback_body,
    count,
    drain,
    local,
    make_offer,
    pass_json,
    post,
    verify_with_openssl,
)
from walletpass.domain.privacy import ERASED_NAME
from walletpass.storage.tables import Base

pytestmark = pytest.mark.usefixtures("apns", "google")  # settings point at the stand-ins

NAME, EMAIL, PHONE, EXTERNAL = "Zelda Quixote", "zelda.q@example.org", "+886912000111", "crm-zelda-77"
PERSONAL = (NAME, EMAIL, PHONE, EXTERNAL, "Zelda", "zelda.q")


def _enrol(client, auth, program_id: int) -> dict:  # type: ignore[no-untyped-def]
    r = post(client, f"/api/v1/programs/{program_id}/members", auth,
             {"name": NAME, "email": EMAIL, "phone": "+886 912-000-111", "external_id": EXTERNAL,
              "birthday": "1990-04-01", "points": 50}, key="enrol-zelda")
    assert r.status_code == 201, r.json
    return dict(r.json)


def _personal_cells(services) -> list[str]:  # type: ignore[no-untyped-def]
    """Every text or JSON cell of every table that holds one of the member's personal values: table.column."""
    found = []
    with services.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, (String, Text, JSON)):
                    continue
                cell = f'CAST("{column.name}" AS TEXT)'
                hits = conn.execute(text(f'SELECT count(*) FROM "{table.name}" WHERE '
                                         + " OR ".join(f"{cell} LIKE :p{i}" for i in range(len(PERSONAL)))),
                                    {f"p{i}": f"%{v}%" for i, v in enumerate(PERSONAL)}).scalar_one()
                if hits:
                    found.append(f"{table.name}.{column.name}")
    return found


def test_erasure_leaves_nothing_personal_and_the_phone_fetches_a_voided_pass(  # type: ignore[no-untyped-def]
        client, auth, services, apns, google, pki, tmp_path: Path) -> None:
    pid = make_program(services)
    member = _enrol(client, auth, pid)
    mid, serial = member["id"], member["serial_number"]
    assert post(client, f"/api/v1/members/{mid}/transactions", auth,
                {"points": 20, "reason": f"latte for {NAME}"}).status_code == 201
    offer = make_offer(client, auth, pid)
    coupon = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": mid}).json
    # The card is on an iPhone (signed copy kept) and saved at Google.
    ptid = services.settings.member_pass_type_id
    token = auth_token_of(client, member)
    phone = Device(client, ptid)
    assert phone.register(serial, token).status_code == 201
    first = phone.fetch(serial, token)
    assert first.status_code == 200 and pass_json(first.data).get("voided") is None
    since = phone.list().json["lastUpdated"]
    assert client.get(local(member["links"]["google_save"])).status_code == 302
    object_id = f"{ISSUER}.{serial}"
    if ("loyaltyObject", object_id) not in google.store:  # the link carried the object: Google inserts it on save
        google.save_link(client.get(local(member["links"]["google_save"])).headers["Location"])
    assert client.post("/google/callback", data=callback_body(object_id)).status_code == 200
    drain(services)
    pushed_before = len(apns.requests_for(phone.token))
    assert _personal_cells(services)  # the scan does find the member before the erasure

    assert client.delete(f"/api/v1/members/{mid}", headers=auth).status_code == 204

    assert _personal_cells(services) == []
    with services.engine.connect() as conn:
        row = conn.execute(text("SELECT name, email, phone, birthday, external_id, erased_at FROM members "
                                "WHERE id = :id"), {"id": mid}).one()
        assert (row.name, row.email, row.phone, row.birthday, row.external_id) == (ERASED_NAME, None, None, None, None)
        assert row.erased_at is not None
        assert conn.execute(text("SELECT count(*) FROM passes WHERE voided")).scalar_one() == 2  # card + coupon
        assert conn.execute(text("SELECT state FROM coupons WHERE id = :id"), {"id": coupon["id"]}).scalar_one() \
            == "voided"
        ledger = conn.execute(text("SELECT points, balance, reason FROM ledger_entries ORDER BY id")).all()
        assert [tuple(e) for e in ledger] == [(50, 50, "erased"), (20, 70, "erased")]  # amounts kept
    # The member is gone for the API; a second DELETE succeeds again and changes nothing.
    assert client.get(f"/api/v1/members/{mid}", headers=auth).status_code == 404
    assert client.get(f"/api/v1/members/{mid}/export", headers=auth).status_code == 404
    assert post(client, f"/api/v1/members/{mid}/transactions", auth, {"points": 1, "reason": "x"}).status_code == 404
    assert client.patch(f"/api/v1/members/{mid}", json={"name": "Back"}, headers=auth).status_code == 404
    assert client.delete(f"/api/v1/members/{mid}", headers=auth).status_code == 204
    assert client.delete("/api/v1/members/99999", headers=auth).status_code == 404

    # The phone is pushed, lists the pass as changed and fetches it voided, signed.
    drain(services)
    assert [p.status for p in apns.requests_for(phone.token)[pushed_before:]] == [200]
    assert phone.list(since).json["serialNumbers"] == [serial]
    voided = phone.fetch(serial, token)
    assert voided.status_code == 200
    pj = pass_json(voided.data)
    assert pj["voided"] is True and NAME not in json.dumps(pj, ensure_ascii=False)
    verify_with_openssl(voided.data, pki.certs_dir / "wwdr-ca.pem", tmp_path)
    # Google's copy is expired (objects cannot be deleted), and shows no name either.
    stored = google.store[("loyaltyObject", object_id)]
    assert stored["state"] == "EXPIRED" and stored["accountName"] == ERASED_NAME
    assert _personal_cells(services) == []


def test_export_holds_everything_about_the_member_and_no_secret(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    pid = make_program(services)
    member = _enrol(client, auth, pid)
    mid = member["id"]
    post(client, f"/api/v1/members/{mid}/transactions", auth, {"points": 20, "reason": "latte"})
    offer = make_offer(client, auth, pid)
    coupon = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": mid}).json
    phone = Device(client, services.settings.member_pass_type_id)
    assert phone.register(member["serial_number"], auth_token_of(client, member)).status_code == 201

    r = client.get(f"/api/v1/members/{mid}/export", headers=auth)
    assert r.status_code == 200
    doc = r.json
    assert doc["member"]["name"] == NAME and doc["member"]["email"] == EMAIL and doc["member"]["phone"] == PHONE
    assert doc["member"]["birthday"] == "1990-04-01" and doc["member"]["external_id"] == EXTERNAL
    assert [p["kind"] for p in doc["passes"]] == ["member", "coupon"]
    assert [(t["points"], t["reason"]) for t in doc["transactions"]] == [(50, "initial balance"), (20, "latte")]
    assert [c["code"] for c in doc["coupons"]] == [coupon["code"]]
    # the funnel's events, the first points transaction included
    assert [e["kind"] for e in doc["events"]] == ["enrol", "first_transaction", "apple_install"]
    assert len(doc["devices"]) == 1 and doc["campaign_deliveries"] == []
    body = r.get_data(as_text=True)
    assert phone.token not in body and phone.id not in body  # no push token, no whole device id
    with services.engine.connect() as conn:
        for secret in conn.execute(text("SELECT authentication_token FROM passes")).scalars():
            assert secret not in body


def test_erasure_is_refused_to_a_key_of_another_program(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    from walletpass.services.api_keys import create_api_key

    pid, other = make_program(services), make_program(services, name="Other")
    member = _enrol(client, auth, pid)
    key = create_api_key(services.uow(), services.clock, services.api_keys.hasher, "other", ["members"],
                         programs=[other])
    assert client.delete(f"/api/v1/members/{member['id']}", headers={"Authorization": f"Bearer {key}"}) \
        .status_code == 404
    assert count(services, "SELECT count(*) FROM members WHERE erased_at IS NOT NULL") == 0
