"""/api/v1/openapi.json and the server agree, rule by rule: what the server refuses the document refuses, and the
reverse. The document is read as a client reads it — patterns as ECMA-262, formats asserted — by jsonschema_rs;
the server answers over HTTP. (D2: an email ending in a newline was stored; D3: a blank transaction reason was.)
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text as sql

from api import schemas
from api.idempotency import KEY_PATTERN
from tests.builders import make_member, make_program
from tests.helpers import count, post
from walletpass.domain.offers import parse_instant
from walletpass.domain.programs import parse_color
from walletpass.errors import InvalidInput


@pytest.fixture
def doc(client) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.json  # type: ignore[no-any-return]


def reader(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A validator of *schema* (which may $ref the document's components) as a client reads the document."""
    return jsonschema_rs.Draft202012Validator({**schema, "components": doc["components"]}, validate_formats=True)


def body_reader(doc: dict[str, Any], path: str, method: str) -> Any:
    return reader(doc, doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"])


def patch(client, path: str, auth, body: object):  # type: ignore[no-untyped-def]
    return client.patch(path, data=json.dumps(body), headers=auth, content_type="application/json")


# -- each pattern means the same to the server (Python re) and to a client (ECMA-262) ------------------------

PATTERNS = {"COLOR": schemas.COLOR, "EMAIL": schemas.EMAIL, "INSTANT": schemas.INSTANT, "TEXT": schemas.TEXT,
            "NON_BLANK": schemas.NON_BLANK, "PROGRAM_TEXT_KEY": schemas.PROGRAM_TEXT_KEY, "KEY": KEY_PATTERN}
#: Where Python's and ECMA's regexes part: final newline, \s (\x1c-\x1f, \x85 / \ufeff), Unicode digits, "." at \r.
TRICKY = ["", "\n", " ", "\t", "\x1c", "\x85", "\xa0", "\u3000", "\ufeff", "\u2028", "\r", "a\n", "a\r", "١", "x\x00",
          "rgb(1, 2, 3)", "rgb(1, 2, 3)\n", "rgb(١, 2, 3)", "#fff", "#fff\n", "a@b.c", "a@b.c\n", "a@b.c\x85",
          "a@b.c\ufeff", "2026-12-31T23:59:00Z", "2026-12-31T23:59:00Z\n", "name", "name\n", "tier.Gold", "tier.\n",
          "till-1", "till-1\n", " till", "till ", "é"]


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_every_pattern_reads_the_same_in_python_and_ecma(name: str) -> None:
    pattern = PATTERNS[name]
    ecma = jsonschema_rs.Draft202012Validator({"type": "string", "pattern": pattern})

    def agree(text: str) -> None:
        assert bool(re.search(pattern, text)) == ecma.is_valid(text), (name, text)

    for text in TRICKY:
        agree(text)

    @settings(max_examples=300, deadline=None, derandomize=True, database=None)
    @given(st.one_of(st.text(), st.sampled_from(TRICKY).flatmap(lambda t: st.text().map(lambda x: t + x)),
                     st.from_regex(pattern)))
    def agrees(text: str) -> None:
        agree(text)

    agrees()


def test_white_space_is_what_strip_removes() -> None:
    spaces = re.compile(f"[{schemas.WHITE_SPACE}]")
    assert [c for c in map(chr, range(sys.maxunicode + 1)) if spaces.fullmatch(c)] == \
        [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()]


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(st.text(st.sampled_from("rgb(), #0123456789abcdefABCDEFG\t\n١"), max_size=20) | st.from_regex(schemas.COLOR))
def test_every_colour_the_pattern_takes_parses(text: str) -> None:
    # the server checks the pattern first, then parse_color: what the pattern takes must parse
    if re.search(schemas.COLOR, text):
        assert parse_color(text).startswith("rgb(")


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.from_regex(schemas.INSTANT))
def test_every_instant_the_pattern_and_format_take_parses(text: str) -> None:
    if jsonschema_rs.Draft202012Validator({"format": "date-time"}, validate_formats=True).is_valid(text):
        assert parse_instant(text, "valid_until").tzinfo is not None


# -- the server answers as the document says ------------------------------------------------------------------

COLOURS = ["rgb(0, 0, 0)", "rgb(255,255,255)", "rgb( 1 , 2 , 3 )", "rgb(001, 002, 255)", "#fff", "#A0b1C2",
           "rgb(256, 0, 0)", "rgb(300, 0, 0)", "rgb(0255, 0, 0)", "rgb(1, 2)", "rgb(1,2,3,4)", "rgb(١, 2, 3)",
           "rgb(\t1, 2, 3)", " #fff", "#fff ", "#fff\n", "rgb(1, 2, 3)\n", "#ffff", "#ggg", "red", ""]


def test_colours(client, auth, doc) -> None:  # type: ignore[no-untyped-def]
    program = body_reader(doc, "/programs", "post")
    for colour in COLOURS:
        body = {"name": "P", "organization_name": "O", "background_color": colour,
                "tiers": [{"name": "Gold", "min_points": 5, "label_color": colour}]}
        r = post(client, "/api/v1/programs", auth, body)
        assert r.status_code in (201, 422), (colour, r.json)
        assert (r.status_code == 201) == program.is_valid(body), (colour, r.json)
        if r.status_code == 201:
            got = client.get(f"/api/v1/programs/{r.json['id']}", headers=auth).json
            assert got["background_color"] == parse_color(colour)
        else:
            assert r.json["errors"][0]["field"] == "background_color" and "is not a colour" in r.json["detail"]


INSTANTS = ["2099-12-31T23:59:00+08:00", "2099-12-31T23:59:00Z", "2099-12-31T23:59:00.123456789Z",
            "2099-12-31T23:59:00-00:00", "9998-12-31T00:00:00Z", "2099-12-31t23:59:00Z", "2099-12-31T23:59:00z",
            "2099-12-31T23:59:60Z", "2099-12-31T23:59:00", "2099-12-31 23:59:00Z", "2099-02-30T00:00:00Z",
            "2099-12-31T23:59:00+08:60", "2099-12-31T23:59:00+24:00", "9999-01-01T00:00:00Z", "2099-12-31T23:59Z",
            "20991231T235900Z", "2099-12-31T23:59:00Z\n", "2099-12-31T23:59:00,5Z", "next tuesday"]


def test_instants(client, auth, services, doc) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    offer = body_reader(doc, "/programs/{program_id}/offers", "post")
    for instant in INSTANTS:
        body = {"title": "T", "valid_until": instant}
        r = post(client, f"/api/v1/programs/{program}/offers", auth, body)
        assert r.status_code in (201, 422), (instant, r.json)
        assert (r.status_code == 201) == offer.is_valid(body), (instant, r.json)


EMAILS = ["a@b.co", "first.last+tag@mail.example.org", "李@例子.中国", "a@b.c\ufeff", "a@b.co\n", "a@b.co\r",
          "a@b.co\x85", "a@b.co\u3000", "a b@c.de", "a@b", "@b.co", "a@.b.co", "a@b..co", "a@b.co.", "a@@b.co",
          "a@b@c.co"]


def test_emails_d2(client, auth, services, doc) -> None:  # type: ignore[no-untyped-def]
    # D2: "a@b.co\n" was stored: a JSON Schema pattern is searched with Python's re, whose $ matched before it
    program = make_program(services)
    member = make_member(services, program)
    enrol = body_reader(doc, "/programs/{program_id}/members", "post")
    change = body_reader(doc, "/members/{member_id}", "patch")
    for email in EMAILS:
        r = post(client, f"/api/v1/programs/{program}/members", auth, {"name": "N", "email": email})
        assert r.status_code in (201, 422), (email, r.json)
        assert (r.status_code == 201) == enrol.is_valid({"name": "N", "email": email}), (email, r.json)
        p = patch(client, f"/api/v1/members/{member['id']}", auth, {"email": email})
        assert (p.status_code == 200) == change.is_valid({"email": email}) == (r.status_code == 201), (email, p.json)
        if r.status_code == 422:
            assert r.json["errors"][0]["field"] == "email" and "does not match" in r.json["errors"][0]["detail"]
    with services.engine.connect() as conn:
        stored = [row[0] for row in conn.execute(sql("SELECT email FROM members WHERE email IS NOT NULL"))]
    assert stored and not [e for e in stored if not re.fullmatch(r"[^\s@]+@[^\s@]+", e)], stored


BLANKS = ["", " ", "   ", "\t", "\n", "\u3000", "\x85", "\x1c", "\xa0 \u2028"]
NOT_BLANK = ["x", " x ", "\ufeff", "·"]


def test_blank_text_is_422_d3(client, auth, services, doc) -> None:  # type: ignore[no-untyped-def]
    # D3: a reason of "  " was stored; names and titles were refused by the service but not by the document
    program = make_program(services)
    member = make_member(services, program)
    routes = [  # path, method, body for a text, field
        ("/programs", "post", lambda t: {"name": t, "organization_name": "O"}, "name"),
        ("/programs", "post", lambda t: {"name": "P", "organization_name": t}, "organization_name"),
        ("/programs", "post", lambda t: {"name": "P", "organization_name": "O", "points_label": t}, "points_label"),
        ("/programs", "post", lambda t: {"name": "P", "organization_name": "O",
                                         "tiers": [{"name": t, "min_points": 0}]}, "tiers[0].name"),
        ("/programs/{program_id}", "patch", lambda t: {"name": t}, "name"),
        ("/programs/{program_id}/members", "post", lambda t: {"name": t}, "name"),
        ("/members/{member_id}", "patch", lambda t: {"name": t}, "name"),
        ("/members/{member_id}/transactions", "post", lambda t: {"points": 1, "reason": t}, "reason"),
        ("/programs/{program_id}/offers", "post", lambda t: {"title": t}, "title"),
    ]
    for path, method, body, field in routes:
        url = "/api/v1" + path.format(program_id=program, member_id=member["id"])
        schema = body_reader(doc, path, method)
        for text in BLANKS + NOT_BLANK:
            r = (post if method == "post" else patch)(client, url, auth, body(text))
            blank = text in BLANKS
            assert r.status_code == (422 if blank else 200 if method == "patch" else 201), (url, text, r.json)
            assert schema.is_valid(body(text)) is not blank, (url, text)
            if blank:
                assert r.json["errors"][0]["field"] == field, (url, text, r.json)
    assert count(services, "SELECT count(*) FROM ledger_entries") == len(NOT_BLANK)


KEYS = ["a", "till-1-0001", "x" * 255, "a b", "~!#$%&'*+-.^_`|", "x" * 256, " a", "a ", "é", "a\tb", "a\x7fb"]


def test_idempotency_keys(client, auth, services, doc) -> None:  # type: ignore[no-untyped-def]
    member = make_member(services, make_program(services))
    header = reader(doc, doc["paths"]["/members/{member_id}/transactions"]["post"]["parameters"][0]["schema"])
    for i, key in enumerate(KEYS):
        r = post(client, f"/api/v1/members/{member['id']}/transactions", auth, {"points": 1, "reason": f"r{i}"},
                 key=key)
        assert r.status_code in (201, 422), (key, r.json)
        assert (r.status_code == 201) == header.is_valid(key), (key, r.json)
        if r.status_code == 422:
            assert r.json["errors"][0]["field"] == "Idempotency-Key"


def test_coupons_take_member_id_or_segment(client, auth, services, doc) -> None:  # type: ignore[no-untyped-def]
    program = make_program(services)
    member = make_member(services, program)
    offer = post(client, f"/api/v1/programs/{program}/offers", auth, {"title": "T"}).json["id"]
    schema = body_reader(doc, "/offers/{offer_id}/coupons", "post")
    for body, status in [({"member_id": member["id"]}, 201), ({"segment": {}}, 202), ({}, 422),
                         ({"member_id": member["id"], "segment": {}}, 422)]:
        r = post(client, f"/api/v1/offers/{offer}/coupons", auth, body)
        assert r.status_code == status and schema.is_valid(body) is (status != 422), (body, r.json)
        if status == 422:
            assert r.json["errors"][0]["field"] == "member_id" and "not both" in r.json["detail"]


def test_texts_keys(client, auth, doc) -> None:  # type: ignore[no-untyped-def]
    schema = body_reader(doc, "/programs", "post")
    base = {"name": "P", "organization_name": "O", "locales": ["en", "zh-Hant"], "tiers": [{"name": "Gold",
                                                                                               "min_points": 5}]}
    for texts, ok in [({"en": {"name": "P", "tier.Gold": "G"}}, True), ({"zh-Hant": {"terms": "t"}}, True),
                      ({"fr": {"name": "P"}}, False), ({"en": {"slogan": "x"}}, False),
                      ({"en": {"name\n": "x"}}, False), ({"en": {"tier.": "x"}}, False)]:
        r = post(client, "/api/v1/programs", auth, {**base, "texts": texts})
        assert (r.status_code == 201) is ok and schema.is_valid({**base, "texts": texts}) is ok, (texts, r.json)
        if not ok:
            assert r.json["errors"][0]["field"].startswith(f"texts.{next(iter(texts))}"), r.json


def test_integers_are_integer_literals(client, auth, services, doc) -> None:  # type: ignore[no-untyped-def]
    # JSON Schema reads 10.0 as the integer 10; the server does not, and the document says so in words
    program = make_program(services)
    r = post(client, f"/api/v1/programs/{program}/members", auth, {"name": "N", "points": 10.0})
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "points"
    points = doc["components"]["schemas"]["Member"]["properties"]["points"]
    assert points["type"] == "integer" and "10.0" in points["description"]


def test_rules_beyond_schema_name_the_fields_the_server_names(doc) -> None:  # type: ignore[no-untyped-def]
    listed = {(m, p): [r["field"] for r in op["x-rules-beyond-schema"]]
              for p, item in doc["paths"].items() for m, op in item.items() if "x-rules-beyond-schema" in op}
    assert listed[("post", "/programs")] == ["tiers", "texts", "time_zone", "benefits_url", "Idempotency-Key"]  # D7: every POST takes the key
    assert "member_id" in listed[("post", "/offers/{offer_id}/coupons")]
    for (method, path), _ in listed.items():
        assert "422" in doc["paths"][path][method]["responses"]


def test_every_string_of_a_body_refuses_nul(doc) -> None:  # type: ignore[no-untyped-def]
    # the server refuses NUL in any string (PostgreSQL text cannot hold it): each string schema says so
    def strings(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("type") in ("string", ["string", "null"]) and "enum" not in node:
                yield node
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)

    for name in ("Program", "ProgramPatch", "Member", "MemberPatch", "Transaction", "Offer", "Coupons"):
        for node in strings(doc["components"]["schemas"][name]):
            assert not reader(doc, node).is_valid("a\x00b"), (name, node)


# -- found by schemathesis -----------------------------------------------------------------------------------

def test_a_coupon_changed_right_after_its_programs_design_is_200(client, auth, services) -> None:  # type: ignore[no-untyped-def]
    # SQLite stored the payload of set-based pass jobs as 0 (CAST(… AS JSON) has numeric affinity there), so a
    # coupon voided within the coalescing window of a design change merged into that job and failed with a 500.
    program = make_program(services)
    member = make_member(services, program)
    offer = post(client, f"/api/v1/programs/{program}/offers", auth, {"title": "T"}).json["id"]
    coupon = post(client, f"/api/v1/offers/{offer}/coupons", auth, {"member_id": member["id"]}).json["id"]
    assert patch(client, f"/api/v1/programs/{program}", auth, {"name": "New name"}).status_code == 200
    r = post(client, f"/api/v1/coupons/{coupon}/void", auth)
    assert r.status_code == 200 and r.json["state"] == "voided"
    with services.engine.connect() as conn:
        payloads = [row[0] for row in conn.execute(sql("SELECT payload FROM outbox"))]
    assert payloads and all(isinstance(json.loads(p) if isinstance(p, str) else p, dict) for p in payloads)


def test_invalid_input_details_come_from_the_schema() -> None:
    # the messages clients see for a failed pattern are the schema's own x-detail
    from api.validation import validate

    with pytest.raises(InvalidInput) as exc:
        validate({"name": "P", "organization_name": "O", "background_color": "rgb(300, 0, 0)"}, schemas.PROGRAM)
    assert exc.value.field == "background_color" and "0–255" in exc.value.detail
