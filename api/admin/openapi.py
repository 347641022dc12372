"""/api/v1/openapi.json: the OpenAPI 3.1 document of the marketer API.

It says what the server enforces, no more and no less: the request schemas are the ones the routes validate with
(``api.schemas``), the answers are what the routes return (``walletpass/services`` views), and every status an
operation can give is listed. What no schema can state is listed per operation under ``x-rules-beyond-schema``
(the field the 422 problem names, and the rule): a request that fits the schema may still get a 422 for those
rules, and for no other reason. ``tests/api/test_fuzz.py`` holds the server to this document with schemathesis.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from api import schemas
from api.admin import bp
from api.context import services
from api.idempotency import KEY_PATTERN
from walletpass.domain.members import MAX_POINTS
from walletpass.domain.programs import SUPPORTED_LOCALES
from walletpass.pkpass.images import MAX_PIXELS, MAX_SIDE

_PROBLEM_TEXT = {
    "400": "the body is not a JSON object in UTF-8 sent as application/json (malformed, a key twice, a lone "
           "surrogate, too deep, a number with too many digits)",
    "401": "no API key, or not a valid one",
    "403": "the API key lacks this operation's scope",
    "404": "no such resource",
    "413": "the body is larger than the server's limit",
    "422": "the request breaks a rule of the schema, or one of x-rules-beyond-schema; errors[] names each field",
}

_IDEMPOTENCY_RULE = ("Idempotency-Key", "a key already used (by this API key) with another request answers 422 "
                                        "(problem type …/idempotency_mismatch)")
_PROGRAM_RULES = [
    ("tiers", "tier names are unique within the program, and so are their min_points"),
    ("texts", "each locale of texts is one of the program's locales, and a tier.<name> key names one of its tiers"),
    ("time_zone", "an IANA time zone name the server knows"),
]

#: What a request that fits the schema may still break (422), per operation: (the field the problem names, rule).
RULES_BEYOND_SCHEMA: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("post", "/programs"): [*_PROGRAM_RULES, _IDEMPOTENCY_RULE],
    ("patch", "/programs/{program_id}"): [(f, r + " (the program's, after the change)") for f, r in _PROGRAM_RULES],
    ("put", "/programs/{program_id}/images/{slot}"): [
        ("image", f"a PNG or JPEG that decodes in full, at most {MAX_PIXELS:,} pixels and {MAX_SIDE:,} px a side")],
    ("post", "/programs/{program_id}/members"): [("birthday", "not after today"), _IDEMPOTENCY_RULE],
    ("patch", "/members/{member_id}"): [("birthday", "not after today")],
    ("post", "/members/{member_id}/transactions"): [
        ("points", f"the balance after the transaction is at most {MAX_POINTS:,}"), _IDEMPOTENCY_RULE],
    ("post", "/programs/{program_id}/offers"): [
        _IDEMPOTENCY_RULE, ("valid_until", "later than valid_from, and not already past"),
        ("texts", "each locale of texts is one of the program's locales")],
    ("post", "/offers/{offer_id}/coupons"): [
        ("member_id", "a member of the offer's program"),
        ("segment", "tier names of the offer's program; min_points ≤ max_points; enrolled_after before "
                    "enrolled_before"), _IDEMPOTENCY_RULE],
    ("post", "/coupons/{coupon_id}/redeem"): [_IDEMPOTENCY_RULE],
    ("post", "/coupons/{coupon_id}/void"): [_IDEMPOTENCY_RULE],
    ("post", "/campaigns"): [
        ("program_id", "an existing program"),
        ("message", "texts in the program's locales; message or variants is required"),
        ("variants", "not together with message; names differ; texts in the program's locales"),
        ("send_at", "not in the past"), ("offer_id", "an offer of the program that has not ended"),
        ("segment", "tier names of the program; min_points ≤ max_points; enrolled_after before enrolled_before"),
        _IDEMPOTENCY_RULE],
    ("put", "/programs/{program_id}/automations"): [
        (f"{rule}.{field}", text) for rule in ("birthday", "welcome", "win_back") for field, text in (
            ("offer_id", "an offer of the program that has not ended"), ("message", "texts in the program's locales"),
            ("segment", "tier names of the program; min_points ≤ max_points; enrolled_after before "
                        "enrolled_before"))],
    ("post", "/programs/{program_id}/members:import"): [
        ("header", "CSV: the first row names the columns: a name column, each column once, only name, email, "
                   "phone, external_id, points, birthday, tier (and an export's member_number, serial_number, page, "
                   "pkpass, google_save)"),
        ("file", "no NUL character; CSV that parses (quotes closed); at least one row; NDJSON objects with only "
                 "the columns above"), _IDEMPOTENCY_RULE],
    ("get", "/campaigns"): [("cursor", "a positive integer"), ("limit", "1–100"), ("program_id", "a positive integer"),
                            ("state", "one of scheduled, sending, done, cancelled")],
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}


def _answer(description: str, schema: str, *, location: str | None = None, links: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}
    if location:
        out["headers"] = {"Location": {"description": location, "required": True,
                                       "schema": {"type": "string", "format": "uri-reference"}}}
    if links:
        out["links"] = links
    return out


def _link(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


def _op(operation_id: str, summary: str, ok: dict[str, dict[str, Any]], *, body: dict[str, Any] | None = None,
        problems: dict[str, str] | None = None, idempotent: bool = False) -> dict[str, Any]:
    """An operation: its answers, the problems every operation may give, and those of *body* and *problems*."""
    statuses = {"401": _PROBLEM_TEXT["401"], "403": _PROBLEM_TEXT["403"], **(problems or {})}
    if body is not None:
        statuses.update({"400": _PROBLEM_TEXT["400"], "413": _PROBLEM_TEXT["413"], "422": _PROBLEM_TEXT["422"]})
    if idempotent:
        statuses.setdefault("422", _PROBLEM_TEXT["422"])
    responses: dict[str, Any] = {**ok}
    responses.update({code: _problem(text) for code, text in sorted(statuses.items())})
    responses["401"]["headers"] = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}}
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "security": [{"bearer": []}],
                          "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if idempotent:
        op["parameters"] = [_IDEMPOTENCY_PARAM]
    return op


_IDEMPOTENCY_PARAM = {"name": "Idempotency-Key", "in": "header", "required": False,
                      "description": "a retry with the same key (per API key) and request answers the first answer "
                                     "again and changes nothing",
                      "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN}}


def _id(name: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]


def _object(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": [k for k in properties if k not in optional]}


_STR, _INT, _BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
_NULL_STR, _NULL_INT = {"type": ["string", "null"]}, {"type": ["integer", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
_COLOR = {"type": "string", "pattern": schemas.COLOR}
_TEXTS = {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": _STR}}
_URL = {"type": "string", "format": "uri"}
_MESSAGE = {"oneOf": [_STR, {"type": "object", "additionalProperties": _STR}]}
#: A group of a campaign's members in its stats; redeemed is null when the campaign has no offer.
_GROUP = {"members": _INT, "sent": _INT, "redeemed": _NULL_INT, "transacted": _INT, "converted": _INT}

#: What the routes answer (walletpass/services/*.py views), every field listed.
VIEWS: dict[str, dict[str, Any]] = {
    "Created": _object({"id": _INT}),
    "CampaignView": _object({
        "id": _INT, "program_id": _INT, "name": _STR, "state": {"enum": ["scheduled", "sending", "done", "cancelled"]},
        "total": {**_INT, "description": "passes the campaign reaches: sent + skipped + pending + held_out"},
        "sent": {**_INT, "description": "passes handed to the wallets (their news field set, their change pushed)"},
        "failed": {**_INT, "description": "of sent, passes a wallet could not show the message on: Google's "
                                          "addMessage failed for good after retries (for a whole-program "
                                          "campaign, its one class message). Apple reports none: a push only "
                                          "prompts the device to fetch the pass, and is retried by its own job"},
        "skipped": {**_INT, "description": "passes not sent to (the campaign was cancelled first)"},
        "pending": {**_INT, "description": "passes not sent to yet"},
        "held_out": {**_INT, "description": "passes of the holdout: counted, never sent"},
        "skipped_notification": {**_INT, "description": "of sent, Google objects that got the message without a "
                                                        "notification (TEXT): they had their 3 notifications of "
                                                        "the last 24 hours already"},
        "message": {"oneOf": [_MESSAGE, {"type": "null"}]},
        "variants": {"oneOf": [{"type": "array", "items": _object({"name": _STR, "weight": _INT,
                                                                   "message": _MESSAGE})}, {"type": "null"}]},
        "holdout": {"type": "number"}, "segment": schemas.SEGMENT,
        "offer_id": _NULL_INT, "send_at": _TIME, "created_at": _TIME, "started_at": _NULL_TIME,
        "finished_at": _NULL_TIME}),
    "CampaignStatsView": _object({
        "id": _INT, "state": {"enum": ["scheduled", "sending", "done", "cancelled"]}, "offer_id": _NULL_INT,
        "window_days": _INT,
        "variants": {"type": "array", "items": _object({"name": _NULL_STR, "weight": _INT, **_GROUP})},
        "holdout": _object({"percent": {"type": "number"}, **_GROUP})}),
    "CampaignPage": _object({"data": {"type": "array", "items": _ref("CampaignView")},
                             "next": {"type": ["string", "null"]}}),
    "ReachView": _object({"passes": _INT, "apple_devices": _INT, "google_objects": _INT, "google_over_quota": _INT,
                          "google_path": {"enum": ["objects", "class"]}, "estimated_seconds": {"type": "number"},
                          "start_at": _TIME}),
    "AutomationView": {"type": ["object", "null"], "additionalProperties": False, "required": [
        "enabled", "offer_id", "message", "segment", "days", "fired", "last_fired_at", "updated_at"], "properties": {
        "enabled": _BOOL, "offer_id": _NULL_INT,
        "message": {"oneOf": [{"type": "null"}, _STR, {"type": "object", "additionalProperties": _STR}]},
        "segment": schemas.SEGMENT, "days": _NULL_INT,
        "fired": {"type": "integer", "description": "members the rule reached so far"},
        "last_fired_at": _NULL_TIME, "updated_at": _TIME}},
    "AutomationsView": _object({
        "program_id": _INT, "time_zone": _STR, "birthday": _ref("AutomationView"), "welcome": _ref("AutomationView"),
        "win_back": _ref("AutomationView"),
        "next_run_at": {**_NULL_TIME, "description": "when the next daily run (birthday, win-back) is due"}}),
    "ProgramView": _object({
        "id": _INT, "name": _STR, "organization_name": _STR,
        "tiers": {"type": "array", "items": _object(
            {"name": _STR, "min_points": _INT, "background_color": _COLOR, "foreground_color": _COLOR,
             "label_color": _COLOR}, optional=("background_color", "foreground_color", "label_color"))},
        "points_label": _STR, "locales": {"type": "array", "items": {"enum": list(SUPPORTED_LOCALES)}},
        "background_color": _COLOR, "foreground_color": _COLOR, "label_color": _COLOR, "terms": _STR,
        "description": _STR, "how_to_earn": _STR, "coupon_description": _STR, "how_to_redeem": _STR,
        "time_zone": _STR, "quiet_hours": {"type": ["object", "null"]},
        "texts": _TEXTS, "version": _INT}),
    "Links": _object({"page": _URL, "pkpass": _URL, "google_save": _URL}),
    "MemberView": _object({
        "id": _INT, "program_id": _INT, "name": _STR, "email": _NULL_STR, "phone": _NULL_STR, "external_id": _NULL_STR,
        "member_number": _STR, "serial_number": _STR, "points": _INT, "tier": _NULL_STR, "links": _ref("Links"),
        "devices": {"type": "array", "items": _object({
            "device": _STR, "registered_at": _TIME, "last_pushed": _NULL_TIME, "last_fetched": _NULL_TIME,
            "up_to_date": _BOOL})},
        "google": _object({"object_id": _NULL_STR, "state": _NULL_STR}),
        "birthday": {"type": ["string", "null"], "format": "date"}, "created_at": _TIME}),
    "TransactionView": _object({"id": _INT, "member_id": _INT, "points": _INT, "balance": _INT, "tier": _NULL_STR,
                                "reason": _STR, "created_at": _TIME}),
    "Ledger": _object({"transactions": {"type": "array", "items": _object(
        {"id": _INT, "points": _INT, "balance": _INT, "reason": _STR, "created_at": _TIME})}}),
    "CouponIssueView": _object({
        "id": _INT, "offer_id": _INT,
        "segment": schemas.SEGMENT,
        "state": {"enum": ["queued", "running", "done"]}, "total": _INT, "issued": _INT, "created_at": _TIME,
        "finished_at": _NULL_TIME}),
    "OfferView": _object({
        "id": _INT, "program_id": _INT, "title": _STR, "description": _STR, "discount": _STR,
        "valid_from": _NULL_TIME, "valid_until": _NULL_TIME, "terms": _STR, "texts": _TEXTS,
        "coupons": _object({state: _INT for state in ("issued", "redeemed", "voided", "expired", "total")}),
        "issues": {"type": "array", "items": _ref("CouponIssueView")}, "created_at": _TIME}),
    "CouponView": _object({
        "id": _INT, "offer_id": _INT, "member_id": _NULL_INT, "code": _STR,
        "state": {"enum": ["issued", "redeemed", "voided", "expired"]}, "serial_number": _STR,
        "links": _ref("Links"), "redeemed_at": _NULL_TIME, "created_at": _TIME}),
    "CouponState": _object({"id": _INT, "state": {"enum": ["redeemed", "voided"]}, "redeemed_at": _NULL_TIME}),
    "MemberImportView": _object({
        "id": _INT, "program_id": _INT, "format": {"enum": ["csv", "ndjson"]},
        "state": {"enum": ["queued", "running", "done"]},
        "total": {**_INT, "description": "rows in the file"},
        "imported": {**_INT, "description": "rows that created a member (with their pass, opening balance and "
                                            "enrol event)"},
        "unchanged": {**_INT, "description": "rows that matched a member (by external_id, else email, else phone) "
                                             "with the same name, email, phone and birthday: nothing changed"},
        "skipped": {**_INT, "description": "rows not imported: invalid, or matching a member with other data "
                                           "(known members are never changed by an import)"},
        "failed": {**_INT, "description": "rows the server could not write (run the import again)"},
        "errors": {"type": "array", "description": "why each skipped or failed row was (the first 1,000)",
                   "items": _object({"row": {**_INT, "description": "CSV: the row as a spreadsheet numbers it "
                                                                   "(the header is 1); NDJSON: the line"},
                                     "field": _STR, "detail": _STR})},
        "created_at": _TIME, "finished_at": _NULL_TIME}),
    "MemberRecord": {"type": "object", "description": "everything held about a member: profile, passes, devices "
                                                      "(without push tokens), transactions, coupons, funnel events, "
                                                      "campaign deliveries",
                     "required": ["member", "passes", "devices", "transactions", "coupons", "events",
                                  "campaign_deliveries"],
                     "properties": {k: {"type": "object" if k == "member" else "array"} for k in (
                         "member", "passes", "devices", "transactions", "coupons", "events",
                         "campaign_deliveries")}},
    "Problem": _object({
        "type": {"type": "string", "format": "uri-reference"}, "title": _STR,
        "status": {"type": "integer", "minimum": 400, "maximum": 599}, "detail": _STR,
        "errors": {"type": "array", "minItems": 1, "items": _object({"field": _STR, "detail": _STR})}},
        optional=("errors",)),
}

_program_links = {"GetProgram": _link("getProgram", program_id="$response.body#/id"),
                  "UpdateProgram": _link("updateProgram", program_id="$response.body#/id"),
                  "EnrolMember": _link("createMember", program_id="$response.body#/id"),
                  "CreateOffer": _link("createOffer", program_id="$response.body#/id")}
_member_links = {"GetMember": _link("getMember", member_id="$response.body#/id"),
                 "UpdateMember": _link("updateMember", member_id="$response.body#/id"),
                 "AddTransaction": _link("addTransaction", member_id="$response.body#/id"),
                 "ListTransactions": _link("listTransactions", member_id="$response.body#/id")}
_coupon_links = {"GetCoupon": _link("getCoupon", coupon_id="$response.body#/id"),
                 "RedeemCoupon": _link("redeemCoupon", coupon_id="$response.body#/id"),
                 "VoidCoupon": _link("voidCoupon", coupon_id="$response.body#/id")}


def _paths(max_image_bytes: int) -> dict[str, Any]:
    conflict = {"409": "the coupon was already redeemed or voided, or has expired"}
    return {
        "/programs": {"post": _op(
            "createProgram", "Create a loyalty program",
            {"201": _answer("created", "Created", location="the program", links=_program_links)},
            body=_ref("Program"), idempotent=True)},
        "/programs/{program_id}": {
            "parameters": _id("program_id"),
            "get": _op("getProgram", "Get a program", {"200": _answer("the program", "ProgramView")},
                       problems={"404": _PROBLEM_TEXT["404"]}),
            "patch": _op("updateProgram", "Change a program's design (every pass of it is updated on the phones)",
                         {"200": _answer("the program after the change", "ProgramView")},
                         body=_ref("ProgramPatch"), problems={"404": _PROBLEM_TEXT["404"]})},
        "/programs/{program_id}/images/{slot}": {
            "parameters": _id("program_id") + [{"name": "slot", "in": "path", "required": True,
                                                 "schema": {"type": "string", "enum": ["icon", "logo", "strip",
                                                                                       "hero"]}}],
            "put": {**_op("putProgramImage", "Upload a PNG/JPEG source image (icon, logo, strip: Apple; logo, hero: "
                                             "Google); every pass of the program is updated",
                          {"204": {"description": "stored"}}, problems={
                              "400": "no image bytes in the body", "404": _PROBLEM_TEXT["404"],
                              "413": f"the image is larger than {max_image_bytes} bytes",
                              "422": _PROBLEM_TEXT["422"]}),
                    "requestBody": {"required": True, "description": f"the image file's bytes, 1 to {max_image_bytes}"
                                                                     " (400 when empty, 413 when larger)",
                                    "content": {media: {"schema": {"type": "string", "format": "binary", "minLength": 1}}
                                                for media in ("image/png", "image/jpeg")}}}},
        "/programs/{program_id}/automations": {
            "parameters": _id("program_id"),
            "get": _op("getAutomations", "A program's automations (birthday, welcome, win-back), how often each fired",
                       {"200": _answer("the automations", "AutomationsView")}, problems={"404": _PROBLEM_TEXT["404"]}),
            "put": _op("putAutomations", "Set a program's automations: each rule given replaces the program's, one "
                                         "absent or null is off; with a daily rule on, today's run starts now",
                       {"200": _answer("the automations after the change", "AutomationsView")},
                       body=_ref("Automations"), problems={"404": _PROBLEM_TEXT["404"]})},
        "/programs/{program_id}/members": {
            "parameters": _id("program_id"),
            "post": _op("createMember", "Enrol a member (creates their pass)",
                        {"201": _answer("the member", "MemberView", location="the member", links=_member_links)},
                        body=_ref("Member"), idempotent=True,
                        problems={"404": _PROBLEM_TEXT["404"], "409": "a member of the program has this external_id"})},
        "/members/{member_id}": {
            "parameters": _id("member_id"),
            "get": _op("getMember", "Get a member, their links and devices",
                       {"200": _answer("the member", "MemberView")}, problems={"404": _PROBLEM_TEXT["404"]}),
            "patch": _op("updateMember", "Change a member's name, email or external_id",
                         {"200": _answer("the member after the change", "MemberView")}, body=_ref("MemberPatch"),
                         problems={"404": _PROBLEM_TEXT["404"],
                                   "409": "another member of the program has this external_id"}),
            "delete": _op("eraseMember", "Erase a member: name, email, phone, birthday and external_id erased, "
                                         "passes voided (pushed to Apple devices; Google objects expired), issued "
                                         "coupons voided, ledger kept without its reasons. 204 again for a member "
                                         "erased before; the member's other routes then answer 404",
                          {"204": {"description": "erased"}}, problems={"404": _PROBLEM_TEXT["404"]})},
        "/programs/{program_id}/members:import": {
            "parameters": _id("program_id"),
            "post": {**_op("importMembers", "Import members from a CSV or NDJSON file (202): the worker creates "
                                            "them; poll the Location. Known members (by external_id, else email, "
                                            "else phone) are never changed: a re-run changes nothing",
                           {"202": _answer("accepted: the import, queued", "MemberImportView",
                                           location="the import: poll it", links={
                                               "GetImport": _link("getImport", import_id="$response.body#/id")})},
                           idempotent=True, problems={
                               "400": "the file is not UTF-8", "404": _PROBLEM_TEXT["404"],
                               "413": "the file is larger than 50 MiB, or has more than 500,000 rows",
                               "415": "the Content-Type is not text/csv or application/x-ndjson (UTF-8)",
                               "422": _PROBLEM_TEXT["422"]}),
                     "requestBody": {"required": True, "description": (
                         "CSV with a header row, or NDJSON (one object a line). Columns: name (required), email, "
                         "phone, external_id, points (opening balance), birthday (YYYY-MM-DD), tier (a tier of the "
                         "program: overrides the one the points give); an export's member_number, serial_number, "
                         "page, pkpass, google_save are ignored. A row without external_id, email and phone is "
                         "skipped. A cell an export escaped with ' (before = + - @) is read without it"),
                                     "content": {"text/csv": {"schema": {"type": "string"}},
                                                 "application/x-ndjson": {"schema": {"type": "string"}}}}}},
        "/imports/{import_id}": {
            "parameters": _id("import_id"),
            "get": _op("getImport", "Progress of a member import, with the reason of each skipped row",
                       {"200": _answer("the import", "MemberImportView")}, problems={"404": _PROBLEM_TEXT["404"]})},
        "/programs/{program_id}/members:export": {
            "parameters": _id("program_id"),
            "get": _op("exportMembers", "The program's members as CSV (streamed): the import's columns, then "
                                        "member_number, serial_number and the links; a cell starting with = + - @ "
                                        "is written with a ' before it (CSV injection)",
                       {"200": {"description": "the CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}},
                       problems={"404": _PROBLEM_TEXT["404"]})},
        "/members/{member_id}/export": {
            "parameters": _id("member_id"),
            "get": _op("exportMember", "Everything held about a member (404 once erased)",
                       {"200": _answer("the member's data", "MemberRecord")},
                       problems={"404": _PROBLEM_TEXT["404"]})},
        "/members/{member_id}/transactions": {
            "parameters": _id("member_id"),
            "post": _op("addTransaction", "Add or spend points",
                        {"201": _answer("the transaction and the new balance", "TransactionView",
                                        location="the member's transactions")},
                        body=_ref("Transaction"), idempotent=True,
                        problems={"404": _PROBLEM_TEXT["404"], "409": "a spend beyond the balance"}),
            "get": _op("listTransactions", "List a member's transactions",
                       {"200": _answer("the ledger, oldest first", "Ledger")}, problems={"404": _PROBLEM_TEXT["404"]})},
        "/programs/{program_id}/offers": {
            "parameters": _id("program_id"),
            "post": _op("createOffer", "Create an offer",
                        {"201": _answer("created", "Created", location="the offer", links={
                            "GetOffer": _link("getOffer", offer_id="$response.body#/id"),
                            "IssueCoupons": _link("issueCoupons", offer_id="$response.body#/id")})},
                        body=_ref("Offer"), idempotent=True, problems={"404": _PROBLEM_TEXT["404"]})},
        "/offers/{offer_id}": {
            "parameters": _id("offer_id"),
            "get": _op("getOffer", "Get an offer, its coupons by state, its bulk issues",
                       {"200": _answer("the offer", "OfferView")}, problems={"404": _PROBLEM_TEXT["404"]})},
        "/offers/{offer_id}/coupons": {
            "parameters": _id("offer_id"),
            "post": _op("issueCoupons", "Issue a coupon to member_id (201), or one to every member of segment "
                                        "through the worker (202)",
                        {"201": _answer("the coupon", "CouponView", location="the coupon", links=_coupon_links),
                         "202": _answer("the bulk issue, queued", "CouponIssueView", location="the bulk issue: poll it",
                                        links={"GetCouponIssue": _link("getCouponIssue",
                                                                       issue_id="$response.body#/id")})},
                        body=_ref("Coupons"), idempotent=True,
                        problems={"404": _PROBLEM_TEXT["404"], "409": "the offer has ended"})},
        "/coupon-issues/{issue_id}": {
            "parameters": _id("issue_id"),
            "get": _op("getCouponIssue", "Progress of a bulk coupon issue",
                       {"200": _answer("the bulk issue", "CouponIssueView")}, problems={"404": _PROBLEM_TEXT["404"]})},
        "/coupons/{coupon_id}": {
            "parameters": _id("coupon_id"),
            "get": _op("getCoupon", "Get a coupon, its state and links", {"200": _answer("the coupon", "CouponView")},
                       problems={"404": _PROBLEM_TEXT["404"]})},
        "/coupons/{coupon_id}/redeem": {
            "parameters": _id("coupon_id"),
            "post": _op("redeemCoupon", "Redeem a coupon", {"200": _answer("redeemed", "CouponState")},
                        idempotent=True, problems={"404": _PROBLEM_TEXT["404"], **conflict})},
        "/coupons/{coupon_id}/void": {
            "parameters": _id("coupon_id"),
            "post": _op("voidCoupon", "Void a coupon", {"200": _answer("voided", "CouponState")},
                        idempotent=True, problems={"404": _PROBLEM_TEXT["404"], **conflict})},
        "/campaigns": {
            "post": {**_op("createCampaign", "Schedule a push campaign to a segment (sent by the worker at send_at, "
                                              "out of the program's quiet hours); ?dry_run=1: what it would reach",
                           {"202": _answer("scheduled", "CampaignView", location="the campaign", links={
                               "GetCampaign": _link("getCampaign", campaign_id="$response.body#/id"),
                               "GetCampaignStats": _link("getCampaignStats", campaign_id="$response.body#/id")}),
                            "200": _answer("the reach of a dry run: nothing written or sent", "ReachView")},
                           body=_ref("Campaign"), idempotent=True),
                     "parameters": [_IDEMPOTENCY_PARAM, {"name": "dry_run", "in": "query", "required": False,
                                                         "schema": {"type": "string", "enum": ["0", "1", "true",
                                                                                               "false"]}}]},
            "get": {**_op("listCampaigns", "Campaigns, oldest first (cursor pages)",
                          {"200": _answer("a page", "CampaignPage")}, problems={"422": _PROBLEM_TEXT["422"]}),
                    "parameters": [_query_int("program_id"), _query_int("cursor"), _query_int("limit", 100),
                                   {"name": "state", "in": "query", "required": False,
                                    "schema": {"type": "string", "enum": ["scheduled", "sending", "done",
                                                                          "cancelled"]}}]}},
        "/campaigns/{campaign_id}": {
            "parameters": _id("campaign_id"),
            "get": _op("getCampaign", "A campaign and its progress", {"200": _answer("the campaign", "CampaignView")},
                       problems={"404": _PROBLEM_TEXT["404"]})},
        "/campaigns/{campaign_id}/stats": {
            "parameters": _id("campaign_id"),
            "get": _op("getCampaignStats", "How each variant and the holdout did: members, sent, and how many "
                                           "redeemed the campaign's offer, made a transaction, or either, within "
                                           "7 days of their delivery (the holdout's: the campaign's start)",
                       {"200": _answer("the stats", "CampaignStatsView")}, problems={"404": _PROBLEM_TEXT["404"]})},
        "/campaigns/{campaign_id}/cancel": {
            "parameters": _id("campaign_id"),
            "post": _op("cancelCampaign", "Cancel a campaign: nothing more is sent", {"200": _answer(
                "cancelled", "CampaignView")}, problems={"404": _PROBLEM_TEXT["404"],
                                                        "409": "the campaign is done or cancelled already"})},
    }


def _query_int(name: str, maximum: int = 2**31 - 1) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False,
            "schema": {"type": "string", "pattern": r"^[1-9][0-9]{0,9}$", "description": f"1–{maximum}"}}


def document(*, max_body_bytes: int, max_image_bytes: int) -> dict[str, Any]:
    """The OpenAPI document of a server that takes JSON bodies up to *max_body_bytes* and images up to
    *max_image_bytes*."""
    paths = _paths(max_image_bytes)
    for (method, path), rules in RULES_BEYOND_SCHEMA.items():
        op = paths[path][method]
        op["x-rules-beyond-schema"] = [{"field": field, "rule": rule} for field, rule in rules]
        op["responses"]["422"]["description"] += "; beyond the schema: " + "; ".join(
            f"{field}: {rule}" for field, rule in rules)
    for item in paths.values():
        for method, op in item.items():
            if method != "parameters" and "application/json" in op.get("requestBody", {}).get("content", {}):
                op["requestBody"]["description"] = f"at most {max_body_bytes} bytes (413 otherwise)"
    return {
        "openapi": "3.1.0",
        "info": {"title": "walletpass marketer API", "version": "1", "description": (
            "Patterns are ECMA-262 and mean the same under Python's re (white space spelled out; no $). "
            "Integers are JSON integer literals: 10.0 is refused with 422. A request that fits its schema gets "
            "a 422 only for a rule listed in its operation's x-rules-beyond-schema.")},
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Program": schemas.PROGRAM, "Member": schemas.MEMBER, "Transaction": schemas.TRANSACTION,
                "ProgramPatch": schemas.PROGRAM_PATCH, "MemberPatch": schemas.MEMBER_PATCH, "Offer": schemas.OFFER,
                "Coupons": schemas.COUPONS, "Campaign": schemas.CAMPAIGN,
                "Automations": schemas.AUTOMATIONS, **VIEWS,
            },
        },
        "paths": paths,
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    settings = services().settings
    return jsonify(document(max_body_bytes=settings.max_body_bytes, max_image_bytes=settings.max_image_bytes))
