"""Property-based fuzzing of every HTTP surface: never a 5xx, and every error is application/problem+json.

The marketer API is held to its own OpenAPI document by schemathesis: every phase (examples, coverage, fuzzing,
stateful along the document's links) with every check, on SQLite, seeded and bounded (test_openapi_contract); its
operations again on SQLite and PostgreSQL with real ids and ids at the edges of the id columns
(test_openapi_routes); plus raw bodies no generator writes (deep nesting, 5,000-digit numbers, lone surrogates, NUL).
Apple's /v1 web service and the public pages, which the document does not describe, get hand-written
strategies: odd identifiers, tokens, tags, dates and bodies. Every answer must be a status the route may give
(the document's for the API, apple.md §3's for /v1). Runs on SQLite and PostgreSQL, deterministically
(``derandomize``) and with few examples, so it stays a fast CI test; ``FUZZ_EXAMPLES=2000`` hunts longer.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events
from werkzeug.serving import make_server

from api.admin.openapi import document
from tests.builders import make_member, make_program
from walletpass.services import coupons, offers

SCALE = int(os.environ.get("FUZZ_EXAMPLES", "0")) or None


def fuzz(examples: int) -> Callable[[Any], Any]:
    """Hypothesis settings for CI: bounded, deterministic, no example database."""
    return settings(max_examples=SCALE or examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])


#: What Apple's devices may get from /v1 (apple.md §3), plus 404/405 for paths and methods that do not exist.
APPLE_STATUSES = {200, 201, 204, 304, 400, 401, 404, 405, 413}
PUBLIC_STATUSES = {200, 302, 404, 405, 413}
#: Integers at the edges of the id and tag columns (INTEGER, BIGINT) and past them.
EDGE_INTS = [0, 1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**30]


def assert_answer(status: int, content_type: str, body: bytes, allowed: set[int], what: object) -> None:
    """No 5xx; a 4xx is problem+json with a matching ``status`` (HEAD: no body); *status* is one of *allowed*."""
    assert status < 500, (status, what, body[:300])
    if status >= 400:
        assert content_type.split(";")[0].strip() == "application/problem+json", (status, content_type, what)
        if body:
            problem = json.loads(body)
            assert problem["status"] == status and problem["title"] and problem["detail"], (problem, what)
    assert status in allowed, (status, what, body[:300])


def _check(resp: Any, allowed: set[int], what: object) -> None:
    body = resp.get_data()
    assert body or resp.request.method == "HEAD" or resp.status_code < 400, (resp.status_code, what)
    assert_answer(resp.status_code, resp.headers.get("Content-Type", ""), body, allowed, what)


# -- text that breaks naive code ----------------------------------------------------------------------------

ODD_TEXT = ["", " ", ".", "..", "../..", "a b", "é", "²", "١٢", "-1", "+1", "1.0", "0x1F", "9" * 19, "9" * 30,
            "x" * 129, "x" * 5000, "\t", "a\nb", "abc\n", "\x00", "a\x00b", "\u202e", "\ufeff", "😀"]
#: Already percent-encoded path segments: NUL, a CESU-8 surrogate, a stray byte, an encoded slash.
RAW_SEGMENTS = ["%00", "a%00b", "%ED%A0%80", "%FF", "%C0%AE", "%2F", "%2E%2E", "abc%0A", "%20"]
#: Lone surrogates cannot be sent in a URL or header, but JSON spells them: keep them for bodies.
odd_text = st.one_of(st.sampled_from(ODD_TEXT), st.text(max_size=30))
odd_body_text = st.one_of(odd_text, st.sampled_from(["\ud800", "a\udfffb", "\udbff\udbff"]))


def segments(*real: str) -> st.SearchStrategy[str]:
    """A path segment: a real value, odd text (percent-encoded) or a raw escape."""
    utf8_text = st.one_of(st.sampled_from(ODD_TEXT), st.text(st.characters(codec="utf-8"), max_size=30))
    return st.one_of(st.sampled_from(real), utf8_text.map(lambda t: quote(t, safe="")),
                     st.sampled_from(RAW_SEGMENTS), st.sampled_from(real).map(lambda r: r + "%0A"))


header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=60)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | odd_body_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_body_text, inner, max_size=4), max_leaves=12)
raw_bodies = st.one_of(
    st.none(), st.binary(max_size=100), json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 70_000).map(lambda n: b"[" * n),
    st.integers(4_000, 6_000).map(lambda n: b'{"points": 1' + b"0" * n + b', "pushToken": 1, "logs": []}'),
    st.sampled_from([b"\xff\xfe", b"{", b"null", b'{"a": 1, "a": 2}', b'{"a": NaN}', b'{"a": 1e999}',
                     b"x" * 2_000_000]))


# -- the marketer API, from /api/v1/openapi.json ------------------------------------------------------------

#: What a request that fits the schema may get besides 2xx (schemathesis' default; 422 only where the document
#: lists rules beyond the schema, and then only for those fields: see _beyond_schema).
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def _document(services) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    s = services.settings
    return document(max_body_bytes=s.max_body_bytes, max_image_bytes=s.max_image_bytes)


def _documented(doc: dict[str, Any], path: str, method: str) -> set[int]:
    return {int(code) for code in doc["paths"][path][method]["responses"]}


def known_ids(services) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Real ids for every path parameter of the document: a program, a member, an offer, a coupon, a bulk issue."""
    program_id = make_program(services)
    member_id = make_member(services, program_id)["id"]
    offer_id = offers.create_offer(services.uow(), services.clock, program_id, {"title": "Offer"}).id
    issue = partial(coupons.issue, services.uow(), services.clock, services.settings, offer_id)
    return {"program_id": program_id, "member_id": member_id, "offer_id": offer_id,
            "coupon_id": issue({"member_id": member_id}).coupon.id, "issue_id": issue({"segment": {}}).id}


@pytest.fixture
def served(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on a loopback port, served by a thread of this process (for as long as the test runs).

    Not schemathesis' WSGI transport: in 4.32.5 its ``ignored_auth`` probe hands werkzeug the engine's
    ``max_redirects`` and fails every operation that has security, so the check would never run.
    """
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, name="openapi-fuzz", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def _whole_floats_to_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_floats_to_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_floats_to_ints(v) for v in value]
    return value


def _contract_config(api_key: str, known: dict[str, int], doc: dict[str, Any]) -> SchemathesisConfig:
    """Every check and phase, bounded and seeded; the known ids mixed into the path parameters."""
    exceptions = [{"include-name": f"{method.upper()} {path}", "checks": {"positive_data_acceptance": {
        "expected-statuses": [*POSITIVE_STATUSES, "422"]}}}
        for path, item in doc["paths"].items() for method, op in item.items() if "x-rules-beyond-schema" in op]
    return SchemathesisConfig.from_dict({
        "seed": 20260101,
        "headers": {"Authorization": f"Bearer {api_key}"},
        "generation": {"max-examples": SCALE or 12, "deterministic": True},
        "checks": {"enabled": True},
        "phases": {"stateful": {"max-steps": SCALE or 15}},
        "dictionaries": {name: {"values": [value]} for name, value in known.items()},
        "parameters": {name: {"dictionary": name, "probability": 0.5} for name in known},
        "operations": exceptions,
    })


def _beyond_schema(doc: dict[str, Any], case: Any, status: int, body: bytes) -> str | None:
    """Why a 422 to a request that fits the schema is not one the document lists, or None when it is."""
    if status != 422:
        return None
    rules = doc["paths"][case.operation.path][case.method.lower()].get("x-rules-beyond-schema", [])
    problem = json.loads(body)
    fields = [e["field"] for e in problem.get("errors", [])]
    if problem["type"].endswith("/idempotency_mismatch"):
        fields = ["Idempotency-Key"]
    listed = [rule["field"] for rule in rules]
    unlisted = [f for f in fields or [""] if not any(f == r or f.startswith((r + ".", r + "[")) for r in listed)]
    return f"422 for {unlisted}, which x-rules-beyond-schema does not list ({listed})" if unlisted else None


def _valid_upload(case: Any, doc: dict[str, Any]) -> bool:
    """Whether *case* is an image upload the document admits: schemathesis 4.32.5 cannot write an invalid raw
    body, so its "invalid" uploads are often valid ones (a known slot, a real image), rightly accepted."""
    if case.operation.path != "/programs/{program_id}/images/{slot}":
        return False
    slots = doc["paths"][case.operation.path]["parameters"][1]["schema"]["enum"]
    body = getattr(case.body, "data", case.body)
    return (case.path_parameters.get("slot") in slots and str(case.path_parameters.get("program_id")).isdigit()
            and isinstance(body, bytes) and len(body) > 0 and case.media_type in {"image/png", "image/jpeg"})


def _run_contract(schema: Any, doc: dict[str, Any]) -> list[str]:
    """Run every phase; return one line per failed check and per undocumented 422, and every engine error."""
    problems: list[str] = []
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.NonFatalError | events.FatalError):
            problems.append(f"engine error: {event!r}"[:2000])
        if not isinstance(event, events.ScenarioFinished):
            continue
        rec = event.recorder
        for case_id, node in rec.cases.items():
            case, answer = node.value, rec.interactions.get(case_id)
            request = (f"{case.method} {case.formatted_path} {case.media_type} {case.path_parameters} {case.headers or ''} "
                       f"{case.meta.phase.data if case.meta else ''} {case.body!r}")[:900]
            for check in rec.checks.get(case_id, []):
                if check.status == Status.FAILURE and check.failure_info is not None and not (
                        check.name == "negative_data_rejection" and _valid_upload(case, doc)):
                    failure = check.failure_info.failure
                    problems.append(f"{event.phase.name} {check.name}: {failure.title} — {failure.message}\n"
                                    f"  {request}\n  → {answer.response.status_code if answer and answer.response else '-'}"
                                    f" {(answer.response.content or b'')[:400] if answer and answer.response else ''}")
            if (answer is not None and answer.response is not None and case.meta is not None
                    and case.meta.generation.mode.is_positive):
                why = _beyond_schema(doc, case, answer.response.status_code, answer.response.content or b"")
                if why:
                    problems.append(f"{event.phase.name} {why}\n  {request}\n  → {answer.response.content[:400]!r}")
    return problems


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_openapi_contract(served, api_key, services) -> None:  # type: ignore[no-untyped-def]
    """The server does what /api/v1/openapi.json says, by every schemathesis check in every phase.

    Examples, coverage (boundary values of every keyword), fuzzing (data that fits the document and data that
    does not) and stateful runs along the document's links, with all checks: no 5xx, every status, content type,
    header and body as documented, schema-valid data accepted (a 422 only for x-rules-beyond-schema), invalid
    data rejected, resources created reachable, auth not ignored, 405 with Allow for undocumented methods.
    """
    doc = _document(services)
    schema = schemathesis.openapi.from_url(f"{served}/api/v1/openapi.json",
                                           config=_contract_config(api_key, known_ids(services), doc))

    # JSON Schema reads 10.0 as the integer 10, so schemathesis sends it as valid data; this API refuses it
    # (a till that sends 10.0 points has a bug to show), which the document says in words. Valid data is sent as
    # integers; invalid data keeps whatever it was.
    @schema.hook
    def map_case(context: Any, case: Any) -> Any:
        if case.meta is not None and case.meta.generation.mode.is_positive and case.body is not None:
            case.body = _whole_floats_to_ints(case.body)
        return case

    problems = _run_contract(schema, doc)
    assert not problems, f"{len(problems)} contract failures:\n" + "\n".join(problems[:40])


def test_openapi_routes(app, auth, services) -> None:  # type: ignore[no-untyped-def]
    """On SQLite and PostgreSQL: real ids, generated ids and ids at the edges of the id columns; every answer
    one the document lists for the operation, and a problem+json when it is an error."""
    known = known_ids(services)
    doc = _document(services)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(item) - ("parameters" in item) for item in doc["paths"].values())

    def cases(op: Any) -> st.SearchStrategy[Any]:
        names = [k for k in known if "{" + k + "}" in op.path]
        real = {k: known[k] for k in names}
        edge = st.sampled_from(EDGE_INTS).map(lambda n: dict.fromkeys(names, n))
        return st.one_of(*(op.as_strategy(generation_mode=mode) for mode in GenerationMode),
                         op.as_strategy(path_parameters=real),
                         edge.flatmap(lambda fixed: op.as_strategy(path_parameters=fixed)))

    @fuzz(150)
    @given(case=st.one_of(*(cases(op) for op in operations)))
    def answers(case: Any) -> None:
        r = case.call(headers=auth)
        allowed = _documented(doc, case.path, case.method.lower())
        assert_answer(r.status_code, r.headers.get("content-type", [""])[0], r.content, allowed,
                      (case.method, case.formatted_path, case.body))

    answers()


BODY_ROUTES = [(path, method) for path, item in document(max_body_bytes=1, max_image_bytes=1)["paths"].items()
               for method, op in item.items()
               if method != "parameters" and "application/json" in op.get("requestBody", {}).get("content", {})]


@pytest.mark.parametrize(("path", "method"), BODY_ROUTES)
def test_openapi_raw_bodies(client, auth, services, path, method) -> None:  # type: ignore[no-untyped-def]
    url = "/api/v1" + path.format(**known_ids(services))
    doc = _document(services)
    minimal = {"/programs": {"name": "P", "organization_name": "O"},
               "/members/{member_id}/transactions": {"points": 1, "reason": "r"},
               "/programs/{program_id}/offers": {"title": "T"}, "/offers/{offer_id}/coupons": {"segment": {}},
               }.get(path, {"name": "N"})
    edited = st.tuples(st.sampled_from(sorted(minimal) + ["texts", "tiers", "email", "external_id"]),
                       json_values).map(lambda kv: json.dumps({**minimal, kv[0]: kv[1]}).encode())

    @fuzz(40)
    @given(body=st.one_of(raw_bodies, edited), idempotency_key=st.one_of(st.none(), header_text))
    def answers(body: bytes | None, idempotency_key: str | None) -> None:
        headers = {**auth, **({"Idempotency-Key": idempotency_key} if idempotency_key is not None else {})}
        r = client.open(url, method=method.upper(), data=body, headers=headers, content_type="application/json")
        _check(r, _documented(doc, path, method), (url, body[:200] if body else body, idempotency_key))

    answers()


# -- Apple's web service (/v1) -------------------------------------------------------------------------------

@pytest.fixture
def device(client, services) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A member's pass with one registered device: the real values the strategies mix in."""
    member = make_member(services, make_program(services))
    with services.uow() as uow:
        row = uow.passes.of_member(member["id"])[0]
        real = {"ptid": row.pass_type_id, "serial": row.serial_number, "token": row.authentication_token,
                "public": row.public_token, "device": "fuzzdevice0001"}
    r = client.post(f"/v1/devices/{real['device']}/registrations/{real['ptid']}/{real['serial']}",
                    json={"pushToken": "ab" * 32}, headers={"Authorization": f"ApplePass {real['token']}"})
    assert r.status_code == 201
    return real


def _apple_auth(token: str) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.just(f"ApplePass {token}"), header_text, header_text.map("ApplePass ".__add__),
                     st.sampled_from(["ApplePass", "ApplePass ", f"applepass {token}", f"Bearer {token}",
                                      "ApplePass " + "x" * 300, f"ApplePass  {token} "]))


if_modified_since = st.one_of(st.none(), header_text, st.sampled_from([
    "Mon, 01 Jan 0001 00:00:00 +2359", "Fri, 31 Dec 9999 23:59:59 -2359", "Thu, 01 Jan 1970 00:00:00 +9999",
    "Sun, 06 Nov 1994 08:49:37", "Mon, 32 Jan 2020 25:61:61 GMT", "Tue, 1 Jan 10000 00:00:00 GMT", "0"]))
passes_updated_since = st.one_of(st.none(), odd_text, st.sampled_from(EDGE_INTS).map(str),
                                 st.integers(min_value=0, max_value=2**70).map(str))


def test_apple_web_service(client, device) -> None:  # type: ignore[no-untyped-def]
    d = device
    dev, ptid, serial = segments(d["device"]), segments(d["ptid"]), segments(d["serial"])
    registration = st.tuples(st.sampled_from(["POST", "DELETE", "GET"]), dev, ptid, serial).map(
        lambda t: (t[0], f"/v1/devices/{t[1]}/registrations/{t[2]}/{t[3]}"))
    listing = st.tuples(dev, ptid).map(lambda t: ("GET", f"/v1/devices/{t[0]}/registrations/{t[1]}"))
    latest = st.tuples(st.sampled_from(["GET", "HEAD", "POST"]), ptid, serial).map(
        lambda t: (t[0], f"/v1/passes/{t[1]}/{t[2]}"))
    log = st.sampled_from(["POST", "GET"]).map(lambda m: (m, "/v1/log"))

    @fuzz(250)
    @given(route=st.one_of(registration, listing, latest, log), authorization=_apple_auth(d["token"]),
           since=passes_updated_since, ims=if_modified_since, body=raw_bodies,
           content_type=st.sampled_from(["application/json", "text/plain", None]))
    def answers(route: tuple[str, str], authorization: str | None, since: str | None, ims: str | None,
                body: bytes | None, content_type: str | None) -> None:
        method, path = route
        headers = {k: v for k, v in (("Authorization", authorization), ("If-Modified-Since", ims),
                                     ("Content-Type", content_type)) if v is not None}
        query = {"passesUpdatedSince": since} if since is not None else {}
        r = client.open(path, method=method, headers=headers, query_string=query, data=body)
        _check(r, APPLE_STATUSES, (method, path, headers, since, body[:200] if body else body))

    answers()


# -- public pages -------------------------------------------------------------------------------------------

def test_public_routes(client, device) -> None:  # type: ignore[no-untyped-def]
    # The real token is kept from /google: with it the save link would call Google's servers.
    pages = st.tuples(segments(device["public"]), st.sampled_from(["", "/pass.pkpass", "/x"])).map(
        lambda t: ("GET", f"/p/{t[0]}{t[1]}"))
    google = segments("not-a-token").map(lambda t: ("GET", f"/p/{t}/google"))
    images = st.tuples(st.one_of(st.sampled_from(EDGE_INTS).map(str), segments("1")),
                       st.one_of(st.sampled_from(["icon", "logo", "strip", "hero"]), segments("logo"))).map(
        lambda t: ("GET", f"/assets/programs/{t[0]}/{t[1]}.png"))
    callback = st.just(("POST", "/google/callback"))

    @fuzz(100)
    @given(route=st.one_of(pages, google, images, callback), method=st.sampled_from([None, "HEAD", "POST"]),
           body=raw_bodies)
    def answers(route: tuple[str, str], method: str | None, body: bytes | None) -> None:
        verb, path = route
        r = client.open(path, method=method or verb, data=body, content_type="application/json")
        allowed = PUBLIC_STATUSES | ({400, 401} if path == "/google/callback" else set())
        _check(r, allowed, (method or verb, path, body[:200] if body else body))

    answers()
