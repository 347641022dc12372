"""Every operation of /api/v1/openapi.json has examples (api.admin.openapi_examples), every example fits its
schema as a client reads it, and the request examples work: sent to a real app, they get the documented answer.

What must have an example: each request body (in one of its media types: the import's NDJSON example is in its
description, as schemathesis, which sends every example, cannot send NDJSON), each 2xx answer with content, and each 404, 409 and 422 problem
an operation documents (a 422 names the field to fix). Bodies of raw bytes (image uploads, the QR code's
svg/png/pdf) are exempt: JSON cannot hold them.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
import pytest

from api.admin import openapi_examples
from api.admin.openapi import document
from tests.helpers import post
from walletpass.ports import FixedClock

PROBLEMS_WITH_EXAMPLES = ("404", "409", "422")


@pytest.fixture
def doc(client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.json  # type: ignore[no-any-return]


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in doc["paths"].items() for method, op in item.items()
            if method != "parameters"]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _raw_bytes(doc: dict[str, Any], media: dict[str, Any]) -> bool:
    return _resolve(doc, media.get("schema", {})).get("format") == "binary"


def _examples(media: dict[str, Any]) -> list[tuple[str, Any]]:
    named = [(name, example["value"]) for name, example in media.get("examples", {}).items()]
    return named + ([("example", media["example"])] if "example" in media else [])


def _what(method: str, path: str, op: dict[str, Any]) -> str:
    return f"{op.get('operationId', '?')} ({method.upper()} {path})"


def missing_examples(doc: dict[str, Any]) -> list[str]:
    """One line per operation, request body or answer that should have an example and has none."""
    missing = []
    for method, path, op in _operations(doc):
        content = op.get("requestBody", {}).get("content", {})
        textual = [media_type for media_type, media in content.items() if not _raw_bytes(doc, media)]
        if textual and not any(_examples(content[media_type]) for media_type in textual):
            missing.append(f"{_what(method, path, op)}: request body {' or '.join(textual)}")
        for status, answer in op["responses"].items():
            if not (status.startswith("2") or status in PROBLEMS_WITH_EXAMPLES):
                continue
            for media_type, media in answer.get("content", {}).items():
                if not _raw_bytes(doc, media) and not _examples(media):
                    missing.append(f"{_what(method, path, op)}: {status} {media_type}")
    return missing


def _fields_to_fix(doc: dict[str, Any], op: dict[str, Any]) -> set[str]:
    """What a 422 of *op* may name: a body property, a parameter, a field of x-rules-beyond-schema."""
    fields = {rule["field"] for rule in op.get("x-rules-beyond-schema", [])}
    fields |= {p["name"] for p in op.get("parameters", [])} | {"Content-Type"}
    for media in op.get("requestBody", {}).get("content", {}).values():
        fields |= set(_resolve(doc, media["schema"]).get("properties", {}))
    return fields


def invalid_examples(doc: dict[str, Any]) -> list[str]:
    """One line per example that does not fit its schema (read as a client reads it: formats asserted), and per
    422 example that names no field, or one its operation does not have."""
    invalid = []
    for method, path, op in _operations(doc):
        places = [("request body", media_type, media)
                  for media_type, media in op.get("requestBody", {}).get("content", {}).items()]
        places += [(status, media_type, media) for status, answer in op["responses"].items()
                   for media_type, media in answer.get("content", {}).items()]
        path_parameters = {p["name"] for p in doc["paths"][path].get("parameters", [])}
        for where, media_type, media in places:
            validator = jsonschema_rs.Draft202012Validator({**media["schema"], "components": doc["components"]},
                                                          validate_formats=True)
            for name, value in _examples(media):
                for error in validator.iter_errors(value):
                    invalid.append(f"{_what(method, path, op)}: {where} {media_type} example {name!r}: "
                                   f"{error.message} at {list(error.instance_path)}")
                if where == "422" and not value.get("type", "").endswith("/idempotency_mismatch"):
                    named = [e["field"] for e in value.get("errors", [])]
                    allowed = _fields_to_fix(doc, op) | path_parameters
                    if not named or any(re.split(r"[.\[]", f)[0] not in allowed for f in named):
                        invalid.append(f"{_what(method, path, op)}: 422 example {name!r} names {named}, not a "
                                       f"field of the operation ({sorted(allowed)})")
    return invalid


def test_every_operation_has_examples(doc) -> None:  # type: ignore[no-untyped-def]
    missing = missing_examples(doc)
    assert not missing, "add examples to api/admin/openapi_examples.py for:\n" + "\n".join(missing)


def test_every_example_fits_its_schema(doc) -> None:  # type: ignore[no-untyped-def]
    invalid = invalid_examples(doc)
    assert not invalid, f"{len(invalid)} examples do not fit:\n" + "\n".join(invalid)


def test_a_new_operation_without_examples_is_named(doc) -> None:  # type: ignore[no-untyped-def]
    grown = copy.deepcopy(doc)
    created = {"application/json": {"schema": {"$ref": "#/components/schemas/Created"}}}
    grown["paths"]["/gift-cards"] = {"post": {
        "operationId": "createGiftCard", "requestBody": {"content": {
            "application/json": {"schema": {"type": "object"}}}},
        "responses": {"201": {"description": "created", "content": created},
                      "422": {"description": "invalid", "content": {"application/problem+json": {
                          "schema": {"$ref": "#/components/schemas/Problem"}}}}}}}
    assert missing_examples(grown) == ["createGiftCard (POST /gift-cards): request body application/json",
                                       "createGiftCard (POST /gift-cards): 201 application/json",
                                       "createGiftCard (POST /gift-cards): 422 application/problem+json"]
    created["application/json"]["examples"] = {"wrong": {"value": {"id": "seven"}}}
    assert invalid_examples(grown) == [
        "createGiftCard (POST /gift-cards): 201 application/json example 'wrong': \"seven\" is not of type "
        "\"integer\" at ['id']"]


def test_examples_of_an_operation_the_document_lacks_are_refused() -> None:
    paths = document(max_body_bytes=1000, max_image_bytes=1000)["paths"]
    del paths["/members/{member_id}/transactions"]["post"]
    with pytest.raises(KeyError, match="addTransaction"):
        openapi_examples.attach(paths)


def test_examples_are_copies() -> None:
    # the document is built per request: a client's change to one answer must not reach the next
    paths = document(max_body_bytes=1000, max_image_bytes=1000)["paths"]
    paths["/programs"]["post"]["requestBody"]["content"]["application/json"]["examples"]["bean_there"]["value"][
        "name"] = "changed"
    assert openapi_examples.PROGRAM_REQUEST["name"] == "Bean There Rewards"


# -- the request examples, sent to a real app -----------------------------------------------------------------

@pytest.fixture
def services_clock() -> FixedClock:
    """1 December 2026: the examples' offers and campaigns (early 2027) are still ahead."""
    return FixedClock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))


def _request(doc: dict[str, Any], operation_id: str, name: str, media_type: str = "application/json") -> Any:
    op = next(op for _, _, op in _operations(doc) if op["operationId"] == operation_id)
    return copy.deepcopy(op["requestBody"]["content"][media_type]["examples"][name]["value"])


def _documented(doc: dict[str, Any], operation_id: str, status: int) -> bool:
    op = next(op for _, _, op in _operations(doc) if op["operationId"] == operation_id)
    answer = op["responses"].get(str(status), {})
    return any(_examples(media) for media in answer.get("content", {}).values())


def test_request_examples_get_their_documented_answers(client, auth, doc, services_clock) -> None:  # type: ignore[no-untyped-def]
    """The core operations' request examples, in the order a coffee chain would send them (ids of the example
    replaced by the ones the app gave): each gets the status its answer example has."""
    def send(operation_id: str, example: str, url: str, status: int, body: Any = None, *,
             method: str = "post") -> dict[str, Any]:
        value = _request(doc, operation_id, example) if body is None else body
        r = client.open(url, method=method.upper(), json=value, headers=auth)
        assert r.status_code == status, (operation_id, example, r.json)
        assert _documented(doc, operation_id, status), (operation_id, status)
        return r.json  # type: ignore[no-any-return]

    program = send("createProgram", "bean_there", "/api/v1/programs", 201)["id"]
    send("createProgram", "minimal", "/api/v1/programs", 201)
    send("updateProgram", "quiet_hours", f"/api/v1/programs/{program}", 200, method="patch")
    enrol = f"/api/v1/programs/{program}/members"
    member = send("createMember", "from_crm", enrol, 201)
    assert member["points"] == 120 and member["tier"] == "Green" and member["phone"] == "+886912345678"
    send("createMember", "at_the_till", enrol, 201)
    send("createMember", "from_crm", enrol, 409)  # its external_id is taken now: the documented 409
    send("updateMember", "email", f"/api/v1/members/{member['id']}", 200, method="patch")

    points = f"/api/v1/members/{member['id']}/transactions"
    assert send("addTransaction", "earn", points, 201)["balance"] == 165
    assert send("addTransaction", "spend", points, 201)["balance"] == 65
    send("addTransaction", "spend", points, 409)  # 65 beans left: a spend beyond the balance

    offer = send("createOffer", "pastry", f"/api/v1/programs/{program}/offers", 201)["id"]
    send("createOffer", "minimal", f"/api/v1/programs/{program}/offers", 201)
    coupons = f"/api/v1/offers/{offer}/coupons"
    coupon = send("issueCoupons", "one_member", coupons, 201,
                  {**_request(doc, "issueCoupons", "one_member"), "member_id": member["id"]})
    send("issueCoupons", "segment", coupons, 202)
    services_clock.advance(days=32)  # 2 January 2027: the offer has begun
    send("redeemCouponByCode", "scanned", "/api/v1/coupons/redeem", 200,
         {**_request(doc, "redeemCouponByCode", "scanned"), "code": coupon["code"]})

    campaign = {**_request(doc, "createCampaign", "scheduled"), "program_id": program}
    reach = send("createCampaign", "scheduled", "/api/v1/campaigns?dry_run=1", 200, campaign)
    assert reach["passes"] == 0  # nobody is Gold yet
    assert send("createCampaign", "scheduled", "/api/v1/campaigns", 202, campaign)["state"] == "scheduled"
    send("createCampaign", "ab_test", "/api/v1/campaigns", 202,
         {**_request(doc, "createCampaign", "ab_test"), "program_id": program, "offer_id": offer})

    rules = _request(doc, "putAutomations", "all_three")
    rules["birthday"]["offer_id"] = offer
    send("putAutomations", "all_three", f"/api/v1/programs/{program}/automations", 200, rules, method="put")
    send("createWebhook", "crm", "/api/v1/webhooks", 201)
    send("createApiKey", "till", "/api/v1/api-keys", 201,
         {**_request(doc, "createApiKey", "till"), "programs": [program]})
    send("createApiKey", "crm", "/api/v1/api-keys", 201)


def test_not_found_examples_are_the_servers_words(client, auth, doc) -> None:  # type: ignore[no-untyped-def]
    # every GET by id, asked for the id its 404 example names (none exists in a new app), answers that example
    checked = []
    for method, path, op in _operations(doc):
        if method != "get" or "{" not in path:
            continue
        for example in op["responses"]["404"]["content"]["application/problem+json"]["examples"].values():
            found = re.search(r"([0-9]+) not found$", example["value"]["detail"])
            assert found, (op["operationId"], example)
            url = "/api/v1" + re.sub(r"\{[a-z_]+\}", found[1], path)
            r = client.get(url, headers=auth)
            assert (r.status_code, r.json) == (404, example["value"]), (op["operationId"], url)
            checked.append(op["operationId"])
    assert len(checked) >= 20, checked


@pytest.mark.parametrize("media_type", ["text/csv", "application/x-ndjson"])
def test_import_examples_are_accepted(client, auth, doc, media_type) -> None:  # type: ignore[no-untyped-def]
    program = post(client, "/api/v1/programs", auth, _request(doc, "createProgram", "bean_there")).json["id"]
    if media_type == "text/csv":
        body = _request(doc, "importMembers", "csv", media_type)
    else:
        op = doc["paths"]["/programs/{program_id}/members:import"]["post"]
        body = op["requestBody"]["description"].split("```\n")[1].split("```")[0]
        assert body == openapi_examples.IMPORT_NDJSON
    r = client.post(f"/api/v1/programs/{program}/members:import", data=body.encode(), headers=auth,
                    content_type=media_type)
    assert r.status_code == 202 and r.json["total"] == 2 and _documented(doc, "importMembers", 202), r.json
