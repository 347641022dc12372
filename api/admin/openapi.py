"""/api/v1/openapi.json: the OpenAPI 3.1 document of the marketer API.

It says what the server enforces, no more and no less: the request schemas are the ones the routes validate with
(``api.schemas``), the answers are what the routes return (``walletpass/services`` views), and every status an
operation can give is listed. What no schema can state is listed per operation under ``x-rules-beyond-schema``
(the field the 422 problem names, and the rule): a request that fits the schema may still get a 422 for those
rules, and for no other reason. ``tests/api/test_fuzz.py`` holds the server to this document with schemathesis.
The examples of every operation live in ``api.admin.openapi_examples`` and are attached last.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from api import schemas
from api.admin import bp, openapi_examples, openapi_lists
from api.context import services
from api.idempotency import KEY_PATTERN
from walletpass.domain.funnel import DEFAULT_DAYS, FIRST_DAY, LAST_DAY, MAX_DAYS
from walletpass.domain.members import MAX_POINTS, MAX_SOURCE
from walletpass.domain.programs import BARCODE_CHOICES, MEMBER_CARD_STYLES, SUPPORTED_LOCALES
from walletpass.domain.webhooks import EVENT_TYPES as WEBHOOK_EVENTS
from walletpass.pkpass.images import MAX_PIXELS, MAX_SIDE
from walletpass.render import qr

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
    ("benefits_url", "an https URL whose host parses (a bracketed host must be an IPv6 address)"),
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
    ("get", "/programs/{program_id}/qr"): [
        ("scale", "svg and png only: the flyer (pdf) lays its code out itself"),
        ("border", "svg and png only: the flyer (pdf) lays its code out itself")],
    ("get", "/programs/{program_id}/stats"): [
        ("from", f"{FIRST_DAY} to {LAST_DAY}; not after to"),
        ("to", f"{FIRST_DAY} to {LAST_DAY}; at most {MAX_DAYS} days from from (both included; from defaults to "
               f"{DEFAULT_DAYS} days before to, to to today)")],
    ("post", "/webhooks"): [
        ("url", "a URL Python's urllib reads (a valid port, brackets only around an IPv6 address) whose host, when "
                "an address or localhost, is one webhooks may call: public; loopback and private ones only with "
                "WALLETPASS_WEBHOOKS_ALLOW_PRIVATE=1; never link-local (169.254.0.0/16, fe80::/10) or cloud "
                "metadata names"),
        ("secret", "the base64 after whsec_ decodes to 24–64 bytes"), _IDEMPOTENCY_RULE],
    ("get", "/webhooks"): openapi_lists.PAGE_RULES,
    ("get", "/webhooks/{webhook_id}/deliveries"): [*openapi_lists.PAGE_RULES,
                                                   ("state", "one of pending, delivered, parked")],
    ("post", "/programs/{program_id}/members:import"): [
        ("header", "CSV: the first row names the columns: a name column, each column once, only name, email, "
                   "phone, external_id, points, birthday, tier (and an export's member_number, serial_number, page, "
                   "pkpass, google_save)"),
        ("file", "no NUL character; CSV that parses (quotes closed); at least one row; NDJSON objects with only "
                 "the columns above"), _IDEMPOTENCY_RULE],
}

#: How a receiver checks a delivery (README "Webhooks" has the same).
WEBHOOK_GUIDE = """Each event is POSTed as JSON `{id, type, created_at, data}` with the Standard Webhooks headers `webhook-id` (the event id: the same on every retry, dedupe on it), `webhook-timestamp` (Unix seconds of this try) and `webhook-signature` (`v1,` + base64 of HMAC-SHA256 over `id.timestamp.body` keyed with the base64-decoded part of the secret after `whsec_`). Answer 2xx within 5 s. No answer, 408, 425, 429 (Retry-After honoured) and 5xx are retried with exponential backoff and jitter for 24 hours, then parked; other 3xx/4xx answers park the delivery at once. A member's events reach a webhook in order. Verify in Python:

```python
import base64, hashlib, hmac, json, time

def verify(secret: str, headers: dict, body: bytes) -> dict:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > 300:
        raise ValueError("timestamp too old or too new")
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    if not any(hmac.compare_digest(expected, s) for s in headers["webhook-signature"].split()):
        raise ValueError("bad signature")
    return json.loads(body)
```

or with the `standardwebhooks` package: `Webhook(secret).verify(body, headers)`."""


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

_RATE = {"type": ["number", "null"], "minimum": 0}
#: A step of the funnel: counts of the window (walletpass.domain.funnel), conversions null where nothing came before.
_FUNNEL_ROW = _object({
    "visits": {**_INT, "description": "views of the enrolment page (bots excluded)"},
    "enrolments": {**_INT, "description": "members enrolled (page or API)"},
    "apple_installs": {**_INT, "description": "member cards registered by a first device"},
    "google_saves": {**_INT, "description": "member cards saved to Google Wallet (first save)"},
    "first_transactions": {**_INT, "description": "members' first points transactions"},
    "uninstalls": {**_INT, "description": "devices unregistering a card, Google deletes and Samsung DELETED events"},
    "samsung_adds": {**_INT, "description": "member cards added to Samsung Wallet (first ADDED event)"},
    "conversion": _object({"visit_to_enrolment": _RATE, "enrolment_to_wallet": {
        **_RATE, "description": "(apple_installs + google_saves + samsung_adds) / enrolments: over 1 when members "
                          "use several wallets"},
        "enrolment_to_first_transaction": _RATE})})
_WARNINGS = {"type": "array", "items": _ref("ContrastWarning"),
             "description": "the program's colour pairs that fail WCAG 2.2 AA contrast (4.5:1) on its passes: "
                            "saved all the same, but hard to read; empty when every pair passes"}

#: What the routes answer (walletpass/services/*.py views), every field listed.
VIEWS: dict[str, dict[str, Any]] = {
    "Created": _object({"id": _INT}),
    "ProgramCreated": _object({"id": _INT, "warnings": _WARNINGS}),
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
        "member_card_style": {"enum": list(MEMBER_CARD_STYLES)}, "footer_background_color": {**_COLOR, "type": [
            "string", "null"]}, "use_automatic_colors": _BOOL, "benefits_url": _NULL_STR,
        "barcode_format": {"enum": list(BARCODE_CHOICES)}, "coupon_relevant_dates": _BOOL,
        "coupon_sharing_prohibited": _BOOL,
        "benefits": {"type": "array", "items": _object({"header": _STR, "body": _STR,
                                                        "uri": {"type": "string", "pattern": schemas.URL}},
                                                       optional=("body", "uri"))},
        "texts": _TEXTS, "version": _INT, "warnings": _WARNINGS}),
    "StoresView": _object({"stores": {"type": "array", "items": _object(
        {"name": _STR, "latitude": {"type": "number"}, "longitude": {"type": "number"}, "address": _NULL_STR})}}),
    "Links": _object({
        "page": {**_URL, "description": "the pass page: a picture of the card and the Add to Apple Wallet / Add to "
                                        "Google Wallet badges, ordered for the visitor's phone"},
        "pkpass": {**_URL, "description": "the signed .pkpass (application/vnd.apple.pkpass)"},
        "google_save": {**_URL, "description": "a redirect to Google's save page"},
        "smart": {**_URL, "description": "the one link to send in an e-mail or SMS: the .pkpass on iOS, Google's "
                                         "save redirect on Android, the pass page elsewhere"}}),
    "ContrastWarning": _object({
        "field": {**_STR, "description": "the colour that is hard to read, e.g. foreground_color or "
                                         "tiers[2].label_color"},
        "against": {**_STR, "description": "the background it is read on"},
        "ratio": {"type": "number", "description": "their contrast ratio (1–21)"},
        "required": {"type": "number", "description": "what WCAG 2.2 AA asks for text this size: 4.5"},
        "detail": _STR}),
    "MemberView": _object({
        "id": _INT, "program_id": _INT, "name": _STR, "email": _NULL_STR, "phone": _NULL_STR, "external_id": _NULL_STR,
        "member_number": _STR, "serial_number": _STR, "points": _INT, "tier": _NULL_STR, "links": _ref("Links"),
        "devices": {"type": "array", "items": _object({
            "device": _STR, "registered_at": _TIME, "last_pushed": _NULL_TIME, "last_fetched": _NULL_TIME,
            "up_to_date": _BOOL})},
        "google": _object({"object_id": _NULL_STR, "state": _NULL_STR}),
        "birthday": {"type": ["string", "null"], "format": "date"},
        "source": {**_NULL_STR, "description": "where the member enrolled from (the flyer's src, import, api)"},
        "consent": {"oneOf": [{"type": "null"}, _object({
            "at": _TIME, "terms_sha256": {**_NULL_STR, "description": "SHA-256 of the terms the member agreed to"}})],
            "description": "when the member agreed to the program's terms on the enrolment page (null: not recorded)"},
        "created_at": _TIME}),
    "TransactionView": _object({"id": _INT, "member_id": _INT, "points": _INT, "balance": _INT, "tier": _NULL_STR,
                                "reason": _STR, "created_at": _TIME}),
    "CouponIssueView": _object({
        "id": _INT, "offer_id": _INT,
        "segment": schemas.SEGMENT,
        "state": {"enum": ["queued", "running", "done"]}, "total": _INT, "issued": _INT, "created_at": _TIME,
        "finished_at": _NULL_TIME}),
    "OfferView": _object({
        "id": _INT, "program_id": _INT, "title": _STR, "description": _STR, "discount": _STR,
        "valid_from": _NULL_TIME, "valid_until": _NULL_TIME, "terms": _STR, "texts": _TEXTS,
        "rotating_barcode": _BOOL, "coupons": _object({state: _INT for state in ("issued", "redeemed", "voided", "expired", "total")}),
        "issues": {"type": "array", "items": _ref("CouponIssueView")}, "created_at": _TIME}),
    "CouponView": _object({
        "id": _INT, "offer_id": _INT, "member_id": _NULL_INT, "code": _STR,
        "state": {"enum": ["issued", "redeemed", "voided", "expired"]}, "serial_number": _STR,
        "links": _ref("Links"), "redeemed_at": _NULL_TIME, "created_at": _TIME}),
    "CouponState": _object({"id": _INT, "state": {"enum": ["redeemed", "voided"]}, "redeemed_at": _NULL_TIME}),
    "FunnelView": _object({
        "program_id": _INT, "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
        "by": {"enum": ["source", "day"]},
        "time_zone": {**_STR, "description": "the program's: days are its days"},
        "totals": _ref("FunnelCounts"),
        "rows": {"type": "array", "description": "by source: one per source seen (source null: events without "
                                                 "one), by day: one per day of the range, zeros included",
                 "items": {**_FUNNEL_ROW, "properties": {
                     "source": {**_NULL_STR, "description": "by=source"},
                     "day": {"type": "string", "format": "date", "description": "by=day"},
                     **_FUNNEL_ROW["properties"]},
                     "oneOf": [{"required": ["source"]}, {"required": ["day"]}]}}}),
    "FunnelCounts": _FUNNEL_ROW,
    "WebhookView": _object({
        "id": _INT, "url": _URL, "events": {"type": "array", "items": {"enum": [*WEBHOOK_EVENTS, "*"]}},
        "created_at": _TIME,
        "deliveries": {**_object({state: _INT for state in ("pending", "delivered", "parked")}),
                       "description": "deliveries by state (delivered ones are kept 7 days)"}}),
    "CreatedWebhook": _object({
        "id": _INT, "url": _URL, "events": {"type": "array", "items": {"enum": [*WEBHOOK_EVENTS, "*"]}},
        "created_at": _TIME,
        "secret": {**_STR, "description": "the signing secret, present when it was made for this webhook: shown "
                                          "this once"}}, optional=("secret",)),
    "WebhookPage": _object({"data": {"type": "array", "items": _ref("WebhookView")},
                            "next": {"type": ["string", "null"]}}),
    "DeliveryView": _object({
        "id": _INT, "event_id": {**_STR, "description": "the event's id (webhook-id header, body's id)"},
        "type": {"enum": list(WEBHOOK_EVENTS)}, "state": {"enum": ["pending", "delivered", "parked"]},
        "parked": {**_BOOL, "description": "given up: the receiver answered 3xx/4xx (not 408/425/429), or 24 hours "
                                           "of retries passed, or the URL resolves to an address webhooks may not "
                                           "call"},
        "attempts": _INT, "last_status": {**_NULL_INT, "description": "the receiver's last HTTP status (null: no "
                                                                        "answer)"},
        "last_error": _NULL_STR, "next_attempt_at": _NULL_TIME, "created_at": _TIME, "delivered_at": _NULL_TIME}),
    "DeliveryPage": _object({"data": {"type": "array", "items": _ref("DeliveryView")},
                             "next": {"type": ["string", "null"]}}),
    "WebhookMessage": {**_object({"id": _STR, "type": {"enum": list(WEBHOOK_EVENTS)}, "created_at": _TIME,
                                  "data": {"type": "object", "description": "ids and changed values: program_id, "
                                           "member_id, pass_id, coupon_id, offer_id, campaign_id, transaction_id, "
                                           "points, balance, total, tier, previous_tier, code, wallet (as the type "
                                           "has them)"}}),
                       "description": WEBHOOK_GUIDE},
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
            {"201": _answer("created (warnings: colours that fail contrast)", "ProgramCreated",
                            location="the program", links=_program_links)},
            body=_ref("Program"), idempotent=True)},
        "/programs/{program_id}": {
            "parameters": _id("program_id"),
            "get": _op("getProgram", "Get a program", {"200": _answer("the program", "ProgramView")},
                       problems={"404": _PROBLEM_TEXT["404"]}),
            "patch": _op("updateProgram", "Change a program's design (every pass of it is updated on the phones)",
                         {"200": _answer("the program after the change", "ProgramView")},
                         body=_ref("ProgramPatch"), problems={"404": _PROBLEM_TEXT["404"]})},
        "/programs/{program_id}/stores": {
            "parameters": _id("program_id"),
            "get": _op("getStores", "A program's stores, in the order the passes use them",
                       {"200": _answer("the stores", "StoresView")}, problems={"404": _PROBLEM_TEXT["404"]}),
            "put": _op("putStores", "Replace a program's stores; the passes carry the first 10 (Apple locations, "
                                    "Google merchantLocations) and every pass of the program is updated",
                       {"200": _answer("the stores after the change", "StoresView")},
                       body=_ref("Stores"), problems={"404": _PROBLEM_TEXT["404"]})},
        "/programs/{program_id}/images/{slot}": {
            "parameters": _id("program_id") + [{"name": "slot", "in": "path", "required": True,
                                                 "schema": {"type": "string", "enum": ["icon", "logo", "strip",
                                                                                       "hero", "artwork"]}}],
            "put": {**_op("putProgramImage", "Upload a PNG/JPEG source image (icon, logo, strip: Apple; artwork: "
                                             "Apple's iOS 27 poster member card; logo, hero: Google); every pass "
                                             "of the program is updated",
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
        "/programs/{program_id}/qr": {
            "parameters": _id("program_id"),
            "get": {**_op("getProgramQr", "The QR code of the program's enrolment page /join/{id}?src=… (svg, png), "
                                          "or a printable A6 flyer with it (pdf: the program's name, logo and a call "
                                          "to action in its first locale)",
                          {"200": {"description": "the image or the flyer; ETag from every input, so If-None-Match "
                                                  "answers 304 without drawing",
                                   "headers": {"ETag": {"required": True, "schema": _STR}},
                                   "content": {media: {"schema": {"type": "string", "format": "binary"}}
                                               for media in ("image/svg+xml", "image/png", "application/pdf")}},
                           "304": {"description": "If-None-Match names the current ETag"}},
                          problems={"404": _PROBLEM_TEXT["404"], "422": _PROBLEM_TEXT["422"],
                                    "409": "format=pdf: the program's name has characters the flyer font cannot "
                                           "draw (rename the program, or configure another font)",
                                    "503": "format=pdf: the flyer font (WALLETPASS_FLYER_FONT) cannot be read, or "
                                           "lacks the call to action's characters"}),
                    "parameters": [
                        {"name": "src", "in": "query", "required": False, "description": "where the code is put (a "
                         "flyer, a poster): kept through enrolment and counted in the program's stats",
                         "schema": {"type": "string", "maxLength": MAX_SOURCE, "pattern": schemas.SOURCE}},
                        {"name": "format", "in": "query", "required": False,
                         "schema": {"type": "string", "enum": list(qr.FORMATS), "default": "svg"}},
                        {"name": "ec", "in": "query", "required": False, "description": "error correction: L 7 %, "
                         "M 15 %, Q 25 %, H 30 % of the code may be damaged",
                         "schema": {"type": "string", "enum": [*qr.ERROR_LEVELS, *(e.lower() for e in qr.ERROR_LEVELS)],
                                    "default": qr.DEFAULT_ERROR}},
                        {"name": "scale", "in": "query", "required": False, "description": "pixels (png) or user "
                         "units (svg) per module", "schema": {"type": "integer", "minimum": qr.SCALE[0],
                                                              "maximum": qr.SCALE[1], "default": qr.SCALE[2]}},
                        {"name": "border", "in": "query", "required": False, "description": "the quiet zone, in "
                         "modules (the standard's is 4)", "schema": {"type": "integer", "minimum": qr.BORDER[0],
                                                                     "maximum": qr.BORDER[1], "default": qr.BORDER[2]}},
                        {"name": "If-None-Match", "in": "header", "required": False, "schema": _STR}]}},
        "/programs/{program_id}/stats": {
            "parameters": _id("program_id"),
            "get": {**_op("getProgramStats", "The install funnel by source or by day of the program's time zone: "
                                             "visits → enrolments → Apple installs and Google saves → first "
                                             "transactions, and uninstalls",
                          {"200": _answer("the funnel", "FunnelView")},
                          problems={"404": _PROBLEM_TEXT["404"], "422": _PROBLEM_TEXT["422"]}),
                    "parameters": [
                        *({"name": name, "in": "query", "required": False, "description": text,
                           "schema": {"type": "string", "format": "date",
                                      "pattern": schemas.whole("[0-9]{4}-[0-9]{2}-[0-9]{2}")}}
                          for name, text in (("from", f"the first day (default: {DEFAULT_DAYS} days before to)"),
                                             ("to", "the last day, included (default: today)"))),
                        {"name": "by", "in": "query", "required": False,
                         "schema": {"type": "string", "enum": ["source", "day"], "default": "source"}}]}},
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
                                        location="the transaction", links={
                                            "GetTransaction": _link("getTransaction",
                                                                    transaction_id="$response.body#/id")})},
                        body=_ref("Transaction"), idempotent=True,
                        problems={"404": _PROBLEM_TEXT["404"], "409": "a spend beyond the balance"})},
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
                                                                                               "false"]}}]}},
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
        "/webhooks": {
            "post": {**_op("createWebhook", "Subscribe a URL to events (signed, retried for 24 h, in order per member)",
                           {"201": _answer("the webhook; with its secret when made here (shown once)", "CreatedWebhook",
                                           location="the webhook", links={
                                               "GetWebhook": _link("getWebhook", webhook_id="$response.body#/id"),
                                               "ListWebhookDeliveries": _link("listWebhookDeliveries",
                                                                              webhook_id="$response.body#/id"),
                                               "DeleteWebhook": _link("deleteWebhook",
                                                                      webhook_id="$response.body#/id")})},
                           body=_ref("Webhook"), idempotent=True),
                     "description": WEBHOOK_GUIDE},
            "get": {**_op("listWebhooks", "Webhooks, oldest first (cursor pages)",
                          {"200": _answer("a page", "WebhookPage")}, problems={"422": _PROBLEM_TEXT["422"]}),
                    "parameters": openapi_lists.PAGE_PARAMS}},
        "/webhooks/{webhook_id}": {
            "parameters": _id("webhook_id"),
            "get": _op("getWebhook", "A webhook and its deliveries by state",
                       {"200": _answer("the webhook", "WebhookView")}, problems={"404": _PROBLEM_TEXT["404"]}),
            "delete": _op("deleteWebhook", "Delete a webhook and its deliveries: nothing more is sent to it",
                          {"204": {"description": "deleted"}}, problems={"404": _PROBLEM_TEXT["404"]})},
        "/webhooks/{webhook_id}/deliveries": {
            "parameters": _id("webhook_id"),
            "get": {**_op("listWebhookDeliveries", "A webhook's deliveries, oldest first: tries, state, last status "
                                                   "and error, next try, parked",
                          {"200": _answer("a page", "DeliveryPage")},
                          problems={"404": _PROBLEM_TEXT["404"], "422": _PROBLEM_TEXT["422"]}),
                    "parameters": [*openapi_lists.PAGE_PARAMS,
                                   {"name": "state", "in": "query", "required": False,
                                    "schema": {"type": "string", "enum": ["pending", "delivered", "parked"]}}]}},
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
    list_paths, list_rules = openapi_lists.paths(_op, _IDEMPOTENCY_RULE)
    for path, item in list_paths.items():
        paths.setdefault(path, {}).update(item)
    for (method, path), rules in {**RULES_BEYOND_SCHEMA, **list_rules}.items():
        op = paths[path][method]
        op["x-rules-beyond-schema"] = [{"field": field, "rule": rule} for field, rule in rules]
        op["responses"]["422"]["description"] += "; beyond the schema: " + "; ".join(
            f"{field}: {rule}" for field, rule in rules)
    for item in paths.values():
        for method, op in item.items():
            if method != "parameters" and "application/json" in op.get("requestBody", {}).get("content", {}):
                op["requestBody"]["description"] = f"at most {max_body_bytes} bytes (413 otherwise)"
    openapi_examples.attach(paths)
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
                "Coupons": schemas.COUPONS, "Campaign": schemas.CAMPAIGN, "Stores": schemas.STORES,
                "Automations": schemas.AUTOMATIONS, "Webhook": schemas.WEBHOOK, **VIEWS, **openapi_lists.VIEWS,
            },
        },
        "paths": paths,
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    settings = services().settings
    return jsonify(document(max_body_bytes=settings.max_body_bytes, max_image_bytes=settings.max_image_bytes))
