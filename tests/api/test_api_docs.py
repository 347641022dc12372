"""A readable API: the docs page (Swagger UI served by us, under the pages' CSP), a created transaction's
Location, and Idempotent-Replayed on a replay."""

from __future__ import annotations

import re

from tests.builders import make_member, make_program
from tests.helpers import post


def test_docs_page_serves_its_own_assets_under_the_csp(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    html = page.get_data(as_text=True)
    assert "<script>" not in html and "://" not in html  # no inline script, nothing from another site
    refs = re.findall(r'(?:src|href|data-openapi)="([^"]+)"', html)
    assert len(refs) == 5
    for ref in refs:
        r = client.get(ref)
        assert r.status_code == 200 and r.get_data(), ref
    assert client.get("/api/v1/docs/assets/index.html").status_code == 404
    assert client.get("/api/v1/docs/assets/..%2Fswagger-ui.css").status_code == 404
    assert "SwaggerUIBundle" in client.get("/api/v1/docs/assets/swagger-ui-bundle.js").get_data(as_text=True)


def test_transaction_location_and_idempotent_replay(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services))
    first = post(client, f"/api/v1/members/{member['id']}/transactions", auth, {"points": 7, "reason": "latte"},
                 key="t-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    where = first.headers["Location"]
    assert where.endswith(f"/api/v1/transactions/{first.json['id']}")
    got = client.get(where, headers=auth)
    assert got.status_code == 200 and got.json["id"] == first.json["id"] and got.json["points"] == 7
    assert got.json["member_id"] == member["id"]
    again = post(client, f"/api/v1/members/{member['id']}/transactions", auth, {"points": 7, "reason": "latte"},
                 key="t-1")
    assert again.status_code == 201 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true" and again.headers["Location"] == where
    assert client.get("/api/v1/transactions/987654", headers=auth).status_code == 404
