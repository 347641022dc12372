"""Examples for every operation of /api/v1/openapi.json: one coffee chain's loyalty program, "Bean There Rewards"
(豆在這裡集點卡), its members, points, offers, coupons, campaigns, webhooks, imports and API keys.

Kept apart from the schemas (``api.admin.openapi``, ``api.admin.openapi_lists``, ``api.schemas``) and keyed by
operationId, so a change to a schema and a change to its examples merge apart; :func:`attach` puts them on the
built document. Each example is an answer the server gave (ids, tokens and times made tidy): the request examples
are sent to a real app by ``tests/api/test_openapi_examples.py``, and every example is validated against its schema
there, so the two cannot drift apart unseen.
"""

from __future__ import annotations

import copy
from typing import Any

Example = dict[str, Any]

_SITE = "https://wallet.beanthere.example"
_PROBLEMS = "https://walletpass.dev/problems/"
_CREATED = "2026-11-02T01:15:42.318204+00:00"


def _ex(summary: str, value: Any) -> Example:
    return {"summary": summary, "value": value}


def _links(token: str) -> dict[str, str]:
    return {"page": f"{_SITE}/p/{token}", "pkpass": f"{_SITE}/p/{token}/pass.pkpass",
            "google_save": f"{_SITE}/p/{token}/google", "smart": f"{_SITE}/a/{token}"}


def _invalid(field: str, detail: str) -> dict[str, Any]:
    return {"type": _PROBLEMS + "invalid_input", "title": "Invalid input", "status": 422,
            "detail": f"{field}: {detail}", "errors": [{"field": field, "detail": detail}]}


def _not_found(detail: str) -> dict[str, Any]:
    return {"type": _PROBLEMS + "not_found", "title": "Not found", "status": 404, "detail": detail}


def _conflict(detail: str) -> dict[str, Any]:
    return {"type": _PROBLEMS + "conflict", "title": "Conflict", "status": 409, "detail": detail}


_IDEMPOTENCY_MISMATCH = {"type": _PROBLEMS + "idempotency_mismatch",
                         "title": "Idempotency-Key reused with a different request", "status": 422,
                         "detail": "this Idempotency-Key was used with a different request body"}
_BAD_CURSOR = _invalid("cursor", "not a cursor of this list and these filters: use the next link of the previous "
                                 "page as it is, or leave cursor out for the first page")

# -- the program -------------------------------------------------------------------------------------------------

_TIERS = [{"name": "Green", "min_points": 0},
          {"name": "Gold", "min_points": 500, "background_color": "#1f1a17", "label_color": "#e0b85c"}]
_ZH_HANT = {"name": "豆在這裡集點卡", "organization_name": "豆在這裡咖啡", "points_label": "咖啡豆",
            "how_to_earn": "每消費 NT$50 得 1 顆咖啡豆", "tier.Green": "綠卡", "tier.Gold": "金卡"}
PROGRAM_REQUEST = {
    "name": "Bean There Rewards", "organization_name": "Bean There Coffee", "locales": ["en", "zh-Hant"],
    "points_label": "Beans", "tiers": _TIERS,
    "background_color": "#3b2314", "foreground_color": "#ffffff", "label_color": "#f2d9b3",
    "time_zone": "Asia/Taipei", "quiet_hours": {"start": "21:30", "end": "08:30"},
    "description": "Bean There Rewards member card",
    "how_to_earn": "1 bean for every NT$50 spent in any Bean There store",
    "how_to_redeem": "Show the card at the till before you pay",
    "terms": "Beans expire 12 months after they are earned. See beanthere.example/rewards/terms.",
    "texts": {"zh-Hant": _ZH_HANT},
    "benefits_url": "https://beanthere.example/rewards", "coupon_relevant_dates": True,
    "coupon_sharing_prohibited": True,
    "benefits": [{"header": "Free refill", "body": "Gold members, any brewed coffee"},
                 {"header": "Birthday drink", "body": "A drink of your choice on us",
                  "uri": "https://beanthere.example/rewards/birthday"}],
}
_PROGRAM_VIEW = {
    "id": 3, "name": "Bean There Rewards", "organization_name": "Bean There Coffee",
    "tiers": [{"name": "Green", "min_points": 0},
              {"name": "Gold", "min_points": 500, "background_color": "rgb(31, 26, 23)",
               "label_color": "rgb(224, 184, 92)"}],
    "points_label": "Beans", "locales": ["en", "zh-Hant"],
    "background_color": "rgb(59, 35, 20)", "foreground_color": "rgb(255, 255, 255)",
    "label_color": "rgb(242, 217, 179)", "terms": PROGRAM_REQUEST["terms"],
    "description": PROGRAM_REQUEST["description"], "how_to_earn": PROGRAM_REQUEST["how_to_earn"],
    "coupon_description": "", "how_to_redeem": PROGRAM_REQUEST["how_to_redeem"], "time_zone": "Asia/Taipei",
    "quiet_hours": {"start": "21:30", "end": "08:30"}, "texts": {"zh-Hant": _ZH_HANT},
    "member_card_style": "storeCard", "footer_background_color": None, "use_automatic_colors": False,
    "benefits_url": "https://beanthere.example/rewards", "barcode_format": "qr", "coupon_relevant_dates": True,
    "coupon_sharing_prohibited": True, "benefits": PROGRAM_REQUEST["benefits"], "version": 1, "warnings": []}
_LOW_CONTRAST = {"field": "foreground_color", "against": "background_color", "ratio": 1.61, "required": 4.5,
                 "detail": "foreground_color on background_color has a contrast of 1.61:1; WCAG AA needs 4.5:1 for "
                           "text this size — the pass will be hard to read. Darken or lighten one of them"}

# -- members, points ---------------------------------------------------------------------------------------------

MEMBER_REQUEST = {"name": "Mei-Ling Chen", "email": "meiling.chen@example.com", "phone": "+886 912 345 678",
                  "external_id": "CRM-100042", "points": 120, "birthday": "1991-04-18", "source": "flyer-xinyi"}
_MEMBER_LINKS = _links("7XcJ2HqhYwQqRDypsUCE2mLLYrYF8D0S")
_MEMBER = {
    "id": 1042, "program_id": 3, "name": "Mei-Ling Chen", "email": "meiling.chen@example.com",
    "phone": "+886912345678", "external_id": "CRM-100042", "member_number": "747360850751",
    "serial_number": "P3FZ8FHBTNXUPH45ZMPGKC8EZZ", "points": 120, "tier": "Green", "links": _MEMBER_LINKS,
    "devices": [], "google": {"object_id": None, "state": None}, "birthday": "1991-04-18", "source": "flyer-xinyi",
    "consent": None, "created_at": _CREATED}
_MEMBER_INSTALLED = {
    **_MEMBER, "points": 165, "devices": [{
        "device": "a1f3c9e2…", "registered_at": "2026-11-02T01:17:05+00:00", "last_pushed": "2026-11-20T06:02:11+00:00",
        "last_fetched": "2026-11-20T06:02:13+00:00", "up_to_date": True}],
    "google": {"object_id": "3388000000022291184.P3FZ8FHBTNXUPH45ZMPGKC8EZZ", "state": "ACTIVE"},
    "consent": {"at": "2026-11-02T01:15:40+00:00",
                "terms_sha256": "9f2c6b1e0d4a7c3e5b8f1a2d4c6e8f0a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e"}}
_MEMBER_SUMMARY = {k: _MEMBER_INSTALLED[k] for k in (
    "id", "program_id", "name", "email", "phone", "external_id", "member_number", "serial_number", "points", "tier",
    "links", "source", "birthday", "created_at")}
_MEMBER_SUMMARY_2 = {
    **_MEMBER_SUMMARY, "id": 1043, "name": "林志明 (Jason Lin)", "email": "jason.lin@example.com",
    "phone": "+886933221100", "external_id": "CRM-100043", "member_number": "512908337164",
    "serial_number": "Q8MRT2KXWD5C7HJN3BVZ4LPAYE", "points": 640, "tier": "Gold",
    "links": _links("kP2Zr9wVxQ1mN4bT7yHcE6sJ0aLdF3gU"), "source": "api", "birthday": None,
    "created_at": "2026-11-02T03:40:09.114520+00:00"}
_NEXT = f"{_SITE}/api/v1/programs/3/members?limit=2&cursor=eyJpZCI6MTA0M30"
TRANSACTION_REQUEST = {"points": 45, "reason": "Order A-2291: 2 lattes, 1 croissant"}
_TRANSACTION = {"id": 88213, "member_id": 1042, "points": 45, "balance": 165, "tier": "Green",
                "reason": TRANSACTION_REQUEST["reason"], "created_at": "2026-11-20T06:02:10.481377+00:00"}
_SPEND = {"points": -100, "reason": "Free drink (100 beans)"}

# -- offers, coupons ---------------------------------------------------------------------------------------------

OFFER_REQUEST = {
    "title": "Free pastry with any latte", "description": "Any pastry from the counter, with a latte of any size",
    "discount": "Free pastry", "valid_from": "2027-01-01T00:00:00+08:00", "valid_until": "2027-03-31T23:59:00+08:00",
    "terms": "One coupon per visit. Not valid with other offers.",
    "texts": {"zh-Hant": {"title": "點拿鐵送糕點", "description": "任一尺寸拿鐵，櫃檯糕點任選一個",
                          "discount": "免費糕點", "terms": "每次消費限用一張，不得與其他優惠併用。"}}}
_OFFER_SUMMARY = {
    "id": 17, "program_id": 3, "title": OFFER_REQUEST["title"], "description": OFFER_REQUEST["description"],
    "discount": "Free pastry", "valid_from": "2026-12-31T16:00:00+00:00", "valid_until": "2027-03-31T15:59:00+00:00",
    "terms": OFFER_REQUEST["terms"], "texts": OFFER_REQUEST["texts"], "rotating_barcode": False,
    "created_at": "2026-12-01T02:00:00.120044+00:00"}
_ISSUE = {"id": 6, "offer_id": 17, "segment": {"tier": ["Gold"]}, "state": "done", "total": 412, "issued": 412,
          "created_at": "2026-12-01T02:05:00.501233+00:00", "finished_at": "2026-12-01T02:05:03.770912+00:00"}
_COUPON = {"id": 5531, "offer_id": 17, "member_id": 1042, "code": "LYEJ-3TKW-26T3", "state": "issued",
           "serial_number": "GGVNLMJA8XXXJ9TB4LTBEUDRVT", "links": _links("jsP-Gr2jjCx6CFRCC9E4BSoQY5IOl1ui"),
           "redeemed_at": None, "created_at": "2026-12-01T02:05:01.004518+00:00"}
_REDEEMED = {"id": 5531, "state": "redeemed", "redeemed_at": "2026-12-03T00:41:27.902311+00:00"}
_COUPON_409 = _conflict("coupon already redeemed")

# -- campaigns ---------------------------------------------------------------------------------------------------

CAMPAIGN_REQUEST = {
    "program_id": 3, "name": "Winter latte launch",
    "message": {"en": "Our winter latte is back: show your card for double beans this weekend",
                "zh-Hant": "冬季拿鐵回來了：本週末出示會員卡享雙倍咖啡豆"},
    "segment": {"tier": ["Gold"]}, "send_at": "2027-01-15T10:00:00+08:00"}
_AB_REQUEST = {
    "program_id": 3, "name": "Pastry offer A/B", "offer_id": 17, "holdout": 10,
    "variants": [{"name": "A", "message": "A free pastry is waiting in your wallet"},
                 {"name": "B", "message": {"en": "Latte + pastry on us", "zh-Hant": "拿鐵配糕點，我們請客"},
                  "weight": 2}],
    "segment": [{"installed": "any", "min_points": 100}, {"source": ["flyer-xinyi"]}]}
_CAMPAIGN = {
    "id": 12, "program_id": 3, "name": "Winter latte launch", "state": "scheduled", "total": 0, "sent": 0,
    "failed": 0, "skipped": 0, "pending": 0, "held_out": 0, "skipped_notification": 0,
    "message": CAMPAIGN_REQUEST["message"], "variants": None, "holdout": 0.0, "segment": {"tier": ["Gold"]},
    "offer_id": None, "send_at": "2027-01-15T02:00:00+00:00", "created_at": "2026-12-02T08:30:12.402991+00:00",
    "started_at": None, "finished_at": None}
_CAMPAIGN_DONE = {**_CAMPAIGN, "state": "done", "total": 412, "sent": 412, "failed": 3, "skipped_notification": 27,
                  "started_at": "2027-01-15T02:00:01.220114+00:00", "finished_at": "2027-01-15T02:01:09.553870+00:00"}
_REACH = {"passes": 412, "apple_devices": 305, "google_objects": 131, "google_over_quota": 0,
          "google_path": "objects", "estimated_seconds": 2.4, "start_at": "2027-01-15T02:00:00+00:00"}
_GROUP = {"members": 0, "sent": 0, "redeemed": None, "transacted": 0, "converted": 0}

# -- automations, stats ------------------------------------------------------------------------------------------

AUTOMATIONS_REQUEST: dict[str, Any] = {
    "birthday": {"offer_id": 17, "message": {"en": "Happy birthday! A pastry on us this week",
                                             "zh-Hant": "生日快樂！本週送你一個糕點"}},
    "welcome": {"message": "Welcome to Bean There Rewards: your first bean is on us"},
    "win_back": {"days": 45, "message": "We miss you: double beans on your next visit",
                 "segment": {"installed": "any"}}}
_RULE: dict[str, Any] = {"enabled": True, "offer_id": None, "message": None, "segment": {}, "days": None, "fired": 0,
         "last_fired_at": None, "updated_at": "2026-12-01T02:10:00.000000+00:00"}
_AUTOMATIONS = {
    "program_id": 3, "time_zone": "Asia/Taipei",
    "birthday": {**_RULE, "offer_id": 17, "message": AUTOMATIONS_REQUEST["birthday"]["message"], "fired": 38,
                 "last_fired_at": "2026-12-03T16:00:02.118003+00:00"},
    "welcome": {**_RULE, "message": AUTOMATIONS_REQUEST["welcome"]["message"], "fired": 211,
                "last_fired_at": "2026-12-04T05:21:44.900321+00:00"},
    "win_back": {**_RULE, "message": AUTOMATIONS_REQUEST["win_back"]["message"], "segment": {"installed": "any"},
                 "days": 45, "fired": 64, "last_fired_at": "2026-12-03T16:00:02.431190+00:00"},
    "next_run_at": "2026-12-04T16:00:00+00:00"}


def _funnel(visits: int, enrolments: int, apple: int, google: int, first: int, gone: int) -> dict[str, Any]:
    def rate(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None
    return {"visits": visits, "enrolments": enrolments, "apple_installs": apple, "google_saves": google,
            "first_transactions": first, "uninstalls": gone, "samsung_adds": 0,
            "conversion": {"visit_to_enrolment": rate(enrolments, visits),
                           "enrolment_to_wallet": rate(apple + google, enrolments),
                           "enrolment_to_first_transaction": rate(first, enrolments)}}


_STATS = {"program_id": 3, "from": "2026-11-05", "to": "2026-12-04", "by": "source", "time_zone": "Asia/Taipei",
          "totals": _funnel(1840, 502, 331, 140, 287, 12),
          "rows": [{"source": "flyer-xinyi", **_funnel(1210, 344, 240, 88, 203, 7)},
                   {"source": "counter-poster", **_funnel(630, 139, 91, 52, 84, 5)},
                   {"source": None, **_funnel(0, 19, 0, 0, 0, 0)}]}

# -- webhooks, imports, API keys ---------------------------------------------------------------------------------

_SECRET = "whsec_MfKQ9r4GKSJ0pT7vN2xL8bYcW3eH6uAZdq1sRkPmVto="
WEBHOOK_REQUEST = {"url": "https://crm.beanthere.example/hooks/walletpass",
                   "events": ["member.enrolled", "points.changed", "coupon.redeemed", "pass.installed"]}
_WEBHOOK = {"id": 4, "url": WEBHOOK_REQUEST["url"], "events": WEBHOOK_REQUEST["events"],
            "created_at": "2026-11-01T09:00:00.250117+00:00"}
_WEBHOOK_VIEW = {**_WEBHOOK, "deliveries": {"pending": 2, "delivered": 1873, "parked": 1}}
_DELIVERY = {"id": 90211, "event_id": "evt_2bT9wQmK4yXr7cVn", "type": "points.changed", "state": "delivered",
             "parked": False, "attempts": 1, "last_status": 200, "last_error": None, "next_attempt_at": None,
             "created_at": "2026-11-20T06:02:10.481377+00:00", "delivered_at": "2026-11-20T06:02:10.902114+00:00"}
_DELIVERY_PARKED = {**_DELIVERY, "id": 90188, "event_id": "evt_7nLp2VdQ8sZk3hRw", "type": "member.enrolled",
                    "state": "parked", "parked": True, "attempts": 1, "last_status": 410,
                    "last_error": "HTTP 410 Gone", "delivered_at": None,
                    "created_at": "2026-11-19T11:30:00.002219+00:00"}
IMPORT_CSV = ("name,email,phone,external_id,points,birthday,tier\n"
              "Mei-Ling Chen,meiling.chen@example.com,+886 912 345 678,CRM-100042,120,1991-04-18,\n"
              "林志明,jason.lin@example.com,0933-221-100,CRM-100043,640,,Gold\n")
IMPORT_NDJSON = ('{"name": "Mei-Ling Chen", "email": "meiling.chen@example.com", "external_id": "CRM-100042", '
                 '"points": 120}\n{"name": "林志明", "phone": "0933-221-100", "external_id": "CRM-100043", '
                 '"tier": "Gold"}\n')
_IMPORT = {"id": 9, "program_id": 3, "format": "csv", "state": "queued", "total": 2, "imported": 0, "unchanged": 0,
           "skipped": 0, "failed": 0, "errors": [], "created_at": "2026-12-01T01:00:00.030121+00:00",
           "finished_at": None}
_IMPORT_DONE = {**_IMPORT, "state": "done", "total": 200000, "imported": 198734, "unchanged": 1200, "skipped": 66,
                "errors": [{"row": 1188, "field": "email", "detail": "'amy.wu@example' does not match an email "
                                                                    "address: name@domain.tld, without white space"},
                           {"row": 40522, "field": "external_id", "detail": "matches member 2210 (CRM-040519) "
                                                                            "with other data: not changed"}],
                "finished_at": "2026-12-01T01:00:41.877310+00:00"}
_KEY = {"id": 7, "prefix": "6ad691346cee", "name": "pos-taipei-xinyi-1", "scopes": ["pos"], "programs": [3],
        "created_at": "2026-11-01T08:00:00.101010+00:00", "last_used_at": "2026-12-04T05:20:00+00:00",
        "revoked_at": None}

# -- the examples, by operationId ----------------------------------------------------------------------------------

#: Request bodies: operationId → media type → examples.
_STORES = {"stores": [
    {"name": "Bean There Xinyi A11", "latitude": 25.0339, "longitude": 121.5645,
     "address": "No. 11, Songgao Rd, Xinyi District, Taipei"},
    {"name": "Bean There Zhongshan", "latitude": 25.0527, "longitude": 121.5203, "address": None}]}

REQUESTS: dict[str, dict[str, dict[str, Example]]] = {
    "putStores": {"application/json": {
        "two": _ex("Two stores, the busiest first", {"stores": [
            {k: v for k, v in store.items() if v is not None} for store in _STORES["stores"]]}),
        "none": _ex("No stores any more", {"stores": []})}},
    "createProgram": {"application/json": {
        "bean_there": _ex("A coffee chain's program in English and Traditional Chinese, with two tiers",
                          PROGRAM_REQUEST),
        "minimal": _ex("Only what is required", {"name": "Bean There Rewards",
                                                 "organization_name": "Bean There Coffee"})}},
    "updateProgram": {"application/json": {
        "colours": _ex("New colours for the winter season", {"background_color": "#1f3b2d",
                                                             "label_color": "rgb(230, 214, 180)"}),
        "quiet_hours": _ex("No campaigns before 10:00 or after 20:00", {"quiet_hours": {"start": "20:00",
                                                                                         "end": "10:00"}})}},
    "putAutomations": {"application/json": {
        "all_three": _ex("Birthday coupon, welcome message, win-back after 45 days", AUTOMATIONS_REQUEST),
        "welcome_only": _ex("Only a welcome message (birthday and win-back off)",
                            {"welcome": AUTOMATIONS_REQUEST["welcome"]})}},
    "createMember": {"application/json": {
        "from_crm": _ex("A member synced from the CRM, with an opening balance", MEMBER_REQUEST),
        "at_the_till": _ex("A member signed up at the till", {"name": "林志明", "phone": "0933-221-100"})}},
    "updateMember": {"application/json": {
        "email": _ex("A new email address", {"email": "meiling.chen@example.org"}),
        "clear": _ex("Clear the phone and the external_id", {"phone": None, "external_id": None})}},
    # NDJSON's example is in the description: schemathesis sends every example and has no NDJSON serializer
    "importMembers": {"text/csv": {"csv": _ex("Two members, one with a tier override", IMPORT_CSV)}},
    "addTransaction": {"application/json": {
        "earn": _ex("Earn beans for an order", TRANSACTION_REQUEST),
        "spend": _ex("Spend beans on a free drink", _SPEND)}},
    "createOffer": {"application/json": {
        "pastry": _ex("A first-quarter offer in two languages", OFFER_REQUEST),
        "minimal": _ex("Only a title: valid from now, without end", {"title": "Double beans on Mondays"})}},
    "issueCoupons": {"application/json": {
        "one_member": _ex("A coupon for one member (201)", {"member_id": 1042}),
        "segment": _ex("A coupon for every Gold member (202, issued by the worker)",
                       {"segment": {"tier": ["Gold"]}})}},
    "redeemCouponByCode": {"application/json": {
        "scanned": _ex("The code a till scanned from the coupon", {"code": "LYEJ-3TKW-26T3"})}},
    "createCampaign": {"application/json": {
        "scheduled": _ex("A message to Gold members, in two languages, on a Friday morning", CAMPAIGN_REQUEST),
        "ab_test": _ex("An A/B test of two messages with a coupon and a 10 % holdout", _AB_REQUEST)}},
    "createWebhook": {"application/json": {
        "crm": _ex("The CRM hears about enrolments, points, redeemed coupons and installs", WEBHOOK_REQUEST),
        "everything": _ex("Every event, with a secret of your own",
                          {"url": "https://bi.beanthere.example/ingest/wallet", "events": ["*"],
                           "secret": _SECRET})}},
    "createApiKey": {"application/json": {
        "till": _ex("A till's key: lookups, transactions and redeems in one program",
                    {"name": "pos-taipei-xinyi-1", "scopes": ["pos"], "programs": [3]}),
        "crm": _ex("The CRM's key: members, points and offers in every program",
                   {"name": "crm-sync", "scopes": ["members", "points", "offers"]})}},
}

#: The 404 of an operation whose path ends with this id (the server's words; ids that do not exist).
_404 = {"program_id": "program 8 not found", "member_id": "member 99999 not found", "offer_id": "offer 99 not found",
        "coupon_id": "coupon 99999 not found", "campaign_id": "campaign 99 not found",
        "webhook_id": "webhook 99 not found", "import_id": "member import 99 not found",
        "issue_id": "coupon issue 99 not found", "key_id": "API key 99 not found",
        "transaction_id": "transaction 999999 not found"}


def _page(*rows: Any, next_: str | None = None) -> dict[str, Any]:
    return {"data": list(rows), "next": next_}


#: Added to the request body's description, for a media type whose example cannot go in ``examples``.
REQUEST_NOTES: dict[str, str] = {
    "importMembers": "\n\nThe same two members as NDJSON:\n\n```\n" + IMPORT_NDJSON + "```",
}

#: Answers: operationId → status → examples (application/json, or application/problem+json for 4xx).
RESPONSES: dict[str, dict[str, dict[str, Example]]] = {
    "createProgram": {
        "201": {"created": _ex("Created, every colour pair readable", {"id": 3, "warnings": []}),
                "low_contrast": _ex("Created, with a warning: white text on a light background",
                                    {"id": 4, "warnings": [_LOW_CONTRAST]})},
        "422": {"time_zone": _ex("An unknown time zone", _invalid(
            "time_zone", "'Asia/Taipe' is not an IANA time zone name such as 'Asia/Taipei'")),
                "tiers": _ex("A tier named twice", _invalid("tiers[1].name", "tier 'Gold' appears twice"))}},
    "listPrograms": {"200": {"page": _ex("The one program the key sees", _page(_PROGRAM_VIEW))},
                     "422": {"cursor": _ex("A cursor of another list", _BAD_CURSOR)}},
    "getProgram": {"200": {"program": _ex("Bean There Rewards", _PROGRAM_VIEW)}},
    "getStores": {"200": {"stores": _ex("Two stores", _STORES)}},
    "putStores": {"200": {"stores": _ex("The stores as kept", _STORES)},
                  "422": {"latitude": _ex("A latitude past the pole", _invalid("stores[0].latitude", "must be ≤ 90"))}},
    "updateProgram": {
        "200": {"changed": _ex("After the change (version 2: the passes are being updated)", {
            **_PROGRAM_VIEW, "background_color": "rgb(31, 59, 45)", "label_color": "rgb(230, 214, 180)",
            "version": 2})},
        "422": {"texts": _ex("Texts in a locale the program does not have",
                             _invalid("texts.ja", "must be one of ['en', 'zh-Hant', 'zh-Hans']"))}},
    "putProgramImage": {"422": {"image": _ex("Not an image", _invalid(
        "image", "not a PNG or JPEG image; upload a .png or .jpg file"))}},
    "getAutomations": {"200": {"automations": _ex("All three rules on", _AUTOMATIONS)}},
    "putAutomations": {
        "200": {"automations": _ex("After the change", _AUTOMATIONS)},
        "422": {"offer_id": _ex("An offer of another program", _invalid("birthday.offer_id", "there is no offer 99"))}},
    "getProgramStats": {
        "200": {"by_source": _ex("The last 30 days by source", _STATS)},
        "422": {"range": _ex("More than a year", _invalid(
            "to", "a range spans at most 366 days (from and to included)"))}},
    "getProgramQr": {"409": {"font": _ex("A name the flyer font cannot draw", _conflict(
        "the program's name has characters the flyer font (DejaVuSans) cannot draw: '豆在這裡集點卡'; rename "
        "the program, or ask the operator for a font that has them (WALLETPASS_FLYER_FONT)"))}, "422": {"scale": _ex("scale with format=pdf", _invalid(
            "scale", "sizes the svg and png images only; the flyer lays its code out itself"))}},
    "createMember": {
        "201": {"member": _ex("Enrolled: the card is ready to add", _MEMBER)},
        "409": {"external_id": _ex("The external_id is taken", _conflict(
            "a member with external_id 'CRM-100042' already exists in program 3"))},
        "422": {"email": _ex("An email without a domain", _invalid(
            "email", "'meiling.chen@example' does not match an email address: name@domain.tld, without white space")),
                "birthday": _ex("A birthday in the future", _invalid("birthday", "2099-01-01 is in the future"))}},
    "listMembers": {"200": {"page": _ex("A page of two, with more to come", _page(
        _MEMBER_SUMMARY, _MEMBER_SUMMARY_2, next_=_NEXT))},
                    "422": {"cursor": _ex("A cursor of another list", _BAD_CURSOR)}},
    "findMembers": {"404": {"program_id": _ex("?program_id= names no program the key sees",
                                              _not_found("program 8 not found"))},
                    "200": {"by_barcode": _ex("The member whose card the till scanned (?barcode=747360850751)",
                                              _page(_MEMBER_SUMMARY))},
                    "422": {"min_points": _ex("min_points out of range", _invalid(
                        "min_points", "must be an integer 0–1000000000"))}},
    "getMember": {"200": {"member": _ex("A member with the card on an iPhone and in Google Wallet",
                                        _MEMBER_INSTALLED)}},
    "updateMember": {
        "200": {"member": _ex("After the change", {**_MEMBER_INSTALLED, "email": "meiling.chen@example.org"})},
        "409": {"external_id": _ex("Another member has this external_id", _conflict(
            "a member with external_id 'CRM-100042' already exists in program 3 (member 1042)"))},
        "422": {"phone": _ex("Not a phone number", _invalid(
            "phone", "'12-34' is not a phone number: an optional + and 6 to 15 digits"))}},
    "importMembers": {
        "202": {"queued": _ex("Accepted: poll the Location", _IMPORT)},
        "415": {"media_type": _ex("Neither CSV nor NDJSON", {
            "type": _PROBLEMS + "unsupported_media_type", "title": "Unsupported media type", "status": 415,
            "detail": "Content-Type: 'text/plain' is not accepted: send text/csv or application/x-ndjson, in UTF-8",
            "errors": [{"field": "Content-Type", "detail": "'text/plain' is not accepted: send text/csv or "
                                                           "application/x-ndjson, in UTF-8"}]})},
        "422": {"header": _ex("A CSV without a name column", _invalid(
            "header", "the header has no name column: the first row names the columns, e.g. "
                      "name,email,phone,external_id,points,birthday,tier"))}},
    "getImport": {"200": {"queued": _ex("Queued, not started yet", _IMPORT),
                          "done": _ex("200,000 rows from the old CRM, done", _IMPORT_DONE)}},
    "exportMembers": {"200": {"csv": _ex("Two members", "name,email,phone,external_id,points,birthday,tier,"
                                                       "member_number,serial_number,page,pkpass,google_save\n"
                                                       f"Mei-Ling Chen,meiling.chen@example.com,+886912345678,"
                                                       f"CRM-100042,165,1991-04-18,Green,747360850751,"
                                                       f"P3FZ8FHBTNXUPH45ZMPGKC8EZZ,{_MEMBER_LINKS['page']},"
                                                       f"{_MEMBER_LINKS['pkpass']},{_MEMBER_LINKS['google_save']}\n")}},
    "exportMember": {"200": {"record": _ex("Everything held about Mei-Ling Chen", {
        "member": {**{k: _MEMBER_INSTALLED[k] for k in (
            "id", "program_id", "name", "email", "phone", "external_id", "member_number", "points", "tier",
            "birthday", "source", "created_at")}, "updated_at": _TRANSACTION["created_at"]},
        "passes": [{"id": 2210, "kind": "member", "serial_number": _MEMBER["serial_number"],
                    "pass_type_id": "pass.example.beanthere.member", "coupon_id": None, "voided": False,
                    "links": _MEMBER_LINKS, "created_at": _CREATED, "updated_at": "2026-11-20T06:02:11+00:00",
                    "google": _MEMBER_INSTALLED["google"]}],
        "devices": [{"device": "a1f3c9e2…", "pass_id": 2210, "registered_at": "2026-11-02T01:17:05+00:00",
                     "last_pushed": "2026-11-20T06:02:11+00:00", "last_fetched": "2026-11-20T06:02:13+00:00"}],
        "transactions": [{"id": 88100, "points": 120, "balance": 120, "reason": "initial balance",
                          "created_at": _CREATED},
                         {k: _TRANSACTION[k] for k in ("id", "points", "balance", "reason", "created_at")}],
        "coupons": [{"id": 5531, "offer_id": 17, "code": "LYEJ-3TKW-26T3", "state": "redeemed",
                     "redeemed_at": _REDEEMED["redeemed_at"], "created_at": _COUPON["created_at"]}],
        "events": [{"pass_id": 2210, "kind": "enrol", "source": "flyer-xinyi", "at": _CREATED},
                   {"pass_id": 2210, "kind": "first_transaction", "source": "flyer-xinyi",
                    "at": _TRANSACTION["created_at"]}],
        "campaign_deliveries": [{"campaign_id": 12, "pass_id": 2210, "state": "sent",
                                 "delivered_at": "2027-01-15T02:00:03+00:00", "outcome": "TEXT_AND_NOTIFY"}]})}},
    "addTransaction": {
        "201": {"earned": _ex("45 beans earned: the pass shows 165", _TRANSACTION)},
        "409": {"balance": _ex("A spend beyond the balance", _conflict(
            "insufficient points: balance is 165, cannot spend 5000"))},
        "422": {"reason": _ex("A blank reason", _invalid("reason", "must not be blank (white space alone)")),
                "idempotency": _ex("An Idempotency-Key reused for another order", _IDEMPOTENCY_MISMATCH)}},
    "listTransactions": {"200": {"page": _ex("The opening balance and an order", _page(
        {"id": 88100, "points": 120, "balance": 120, "reason": "initial balance", "created_at": _CREATED},
        {k: _TRANSACTION[k] for k in ("id", "points", "balance", "reason", "created_at")}))},
                         "422": {"cursor": _ex("A cursor of another list", _BAD_CURSOR)}},
    "getTransaction": {"200": {"transaction": _ex("An order", {k: _TRANSACTION[k] for k in (
        "id", "points", "balance", "reason", "created_at", "member_id")})}},
    "createOffer": {
        "201": {"created": _ex("Created: issue coupons of it", {"id": 17})},
        "422": {"valid_until": _ex("An end already past", _invalid(
            "valid_until", "is already past (now is 2026-12-04T13:50:59+00:00)"))}},
    "listOffers": {"200": {"page": _ex("The program's offers", _page(_OFFER_SUMMARY))},
                   "422": {"cursor": _ex("A cursor of another list", _BAD_CURSOR)}},
    "getOffer": {"200": {"offer": _ex("An offer with its coupons by state and one bulk issue", {
        **_OFFER_SUMMARY, "coupons": {"issued": 301, "redeemed": 108, "voided": 3, "expired": 0, "total": 412},
        "issues": [_ISSUE]})}},
    "issueCoupons": {
        "201": {"coupon": _ex("A coupon for one member", _COUPON)},
        "202": {"queued": _ex("A bulk issue to the Gold tier, queued", {**_ISSUE, "state": "queued", "total": 0,
                                                                         "issued": 0, "finished_at": None})},
        "409": {"ended": _ex("The offer has ended", _conflict(
            "offer 17 ended at 2027-03-31T15:59:00+00:00; no more coupons can be issued for it"))},
        "422": {"member_id": _ex("No such member in the offer's program", _invalid(
            "member_id", "there is no member 99999")), "segment": _ex("A tier the program lacks", _invalid(
                "segment.tier[0]", "'Platinum' is not a tier of this program; its tiers are ['Green', 'Gold']"))}},
    "listOfferCoupons": {"200": {"page": _ex("The offer's coupons", _page(_COUPON))},
                         "422": {"cursor": _ex("A cursor of another list", _BAD_CURSOR)}},
    "listMemberCoupons": {"200": {"page": _ex("A member's coupons", _page(_COUPON))},
                          "422": {"cursor": _ex("A cursor of another list", _BAD_CURSOR)}},
    "findCoupons": {"404": {"offer_id": _ex("?offer_id= names no offer the key sees",
                                              _not_found("offer 99 not found"))},
                    "200": {"by_code": _ex("The coupon the till scanned (?code=LYEJ-3TKW-26T3)", _page(_COUPON))},
                    "422": {"offer_id": _ex("offer_id out of range", _invalid("offer_id", "must be an integer 1–2147483647"))}},
    "getCouponIssue": {"200": {"done": _ex("412 coupons issued to the Gold tier", _ISSUE)}},
    "getCoupon": {"200": {"coupon": _ex("An issued coupon", _COUPON)}},
    "redeemCoupon": {"200": {"redeemed": _ex("Redeemed at the till", _REDEEMED)},
                     "409": {"redeemed": _ex("Redeemed before", _COUPON_409)},
                     "422": {"idempotency": _ex("An Idempotency-Key reused for another coupon",
                                                _IDEMPOTENCY_MISMATCH)}},
    "voidCoupon": {"200": {"voided": _ex("Voided", {"id": 5531, "state": "voided", "redeemed_at": None})},
                   "409": {"redeemed": _ex("Redeemed before", _COUPON_409)},
                   "422": {"idempotency": _ex("An Idempotency-Key reused for another coupon",
                                              _IDEMPOTENCY_MISMATCH)}},
    "redeemCouponByCode": {
        "200": {"redeemed": _ex("Redeemed at the till", _REDEEMED)},
        "404": {"code": _ex("No coupon has this code", _not_found("no coupon has the code 'LYEJ-3TKW-26T4'"))},
        "409": {"redeemed": _ex("Redeemed before", _COUPON_409)},
        "422": {"code": _ex("A blank code", _invalid("code", "length must be at least 1"))}},
    "createCampaign": {
        "202": {"scheduled": _ex("Scheduled for 15 January, 10:00 in Taipei", _CAMPAIGN)},
        "200": {"dry_run": _ex("?dry_run=1: whom it would reach, nothing sent", _REACH)},
        "422": {"send_at": _ex("A send_at in the past", _invalid(
            "send_at", "is in the past (now is 2026-12-04T13:50:59+00:00)")),
                "program_id": _ex("No such program", _invalid("program_id", "there is no program 99"))}},
    "listCampaigns": {"404": {"program_id": _ex("?program_id= names no program the key sees",
                                                _not_found("program 8 not found"))},
                      "200": {"page": _ex("The program's campaigns", _page(_CAMPAIGN_DONE, _CAMPAIGN))},
                      "422": {"program_id": _ex("program_id out of range", _invalid(
                          "program_id", "must be an integer 1–2147483647"))}},
    "getCampaign": {"200": {"done": _ex("Sent to 412 passes", _CAMPAIGN_DONE)}},
    "getCampaignStats": {"200": {"ab": _ex("An A/B test with a holdout, a week on", {
        "id": 13, "state": "done", "offer_id": 17, "window_days": 7,
        "variants": [{"name": "A", "weight": 1, **_GROUP, "members": 124, "sent": 124, "redeemed": 31,
                      "transacted": 40, "converted": 52},
                     {"name": "B", "weight": 2, **_GROUP, "members": 247, "sent": 247, "redeemed": 74,
                      "transacted": 88, "converted": 119}],
        "holdout": {"percent": 10.0, **_GROUP, "members": 41, "redeemed": 0, "transacted": 9, "converted": 9}})}},
    "cancelCampaign": {"200": {"cancelled": _ex("Cancelled before it started", {
        **_CAMPAIGN, "state": "cancelled", "finished_at": "2026-12-03T09:12:40.118842+00:00"})},
                       "409": {"cancelled": _ex("Cancelled before", _conflict("campaign 12 is already cancelled"))}},
    "createWebhook": {
        "201": {"created": _ex("Created, with a secret made for it (shown this once)",
                               {**_WEBHOOK, "secret": _SECRET})},
        "422": {"url": _ex("A cloud metadata address", _invalid(
            "url", "169.254.169.254 is not an address webhooks may call (a private, loopback, link-local or "
                   "metadata address)"))}},
    "listWebhooks": {"200": {"page": _ex("The CRM's webhook", _page(_WEBHOOK_VIEW))},
                     "422": {"cursor": _ex("A cursor of another list", _BAD_CURSOR)}},
    "getWebhook": {"200": {"webhook": _ex("A webhook and its deliveries by state", _WEBHOOK_VIEW)}},
    "listWebhookDeliveries": {"200": {"page": _ex("A delivered event and a parked one", _page(
        _DELIVERY_PARKED, _DELIVERY))}, "422": {"state": _ex("An unknown state", _invalid(
            "state", "must be one of pending, delivered, parked"))}},
    "listDevices": {"200": {"page": _ex("An iPhone holding the card", _page(
        {"id": 301, "device": "a1f3c9e2…", "serial_number": _MEMBER["serial_number"],
         "registered_at": "2026-11-02T01:17:05+00:00", "last_pushed": "2026-11-20T06:02:11+00:00",
         "last_fetched": "2026-11-20T06:02:13+00:00", "up_to_date": True}))},
                    "422": {"cursor": _ex("A cursor of another list", _BAD_CURSOR)}},
    "listApiKeys": {"200": {"page": _ex("A till's key and a revoked one", _page(
        _KEY, {**_KEY, "id": 5, "prefix": "0c9e1d77ab42", "name": "pos-taipei-xinyi-old",
               "revoked_at": "2026-10-31T23:00:00+00:00", "last_used_at": "2026-10-31T12:40:00+00:00"}))},
                    "422": {"cursor": _ex("A cursor of another list", _BAD_CURSOR)}},
    "createApiKey": {
        "201": {"created": _ex("The key, shown this once", {
            **_KEY, "last_used_at": None, "key": "wp_6ad691346cee_S8DUIhzy3-RJ4al-E7r9_g9R452DfTFiiwAw8S_xt2c"})},
        "422": {"program": _ex("A program that does not exist", _invalid(
            "program", "there is no program 99; give the id of an existing program"))}},
    "getApiKey": {"200": {"key": _ex("A till's key", _KEY)}},
    "revokeApiKey": {"409": {"self": _ex("The key of this very request", _conflict(
        "this is the API key of this request: revoke it with another admin key, or with 'walletpass apikey "
        "revoke'"))}},
}


def _path_ids(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def attach(paths: dict[str, Any]) -> None:
    """Put the examples on the operations of *paths* (an OpenAPI ``paths`` object, changed in place).

    A 404 without an example of its own gets one naming the last id of its path. Raises KeyError for examples of
    an operation, status or media type the document lacks, so a renamed operation cannot lose its examples
    silently.
    """
    operations = {op["operationId"]: (path, op) for path, item in paths.items()
                  for method, op in item.items() if method != "parameters"}
    for operation_id in {*REQUESTS, *REQUEST_NOTES, *RESPONSES} - set(operations):
        raise KeyError(f"examples for {operation_id}, which the document does not have")
    for operation_id, note in REQUEST_NOTES.items():
        operations[operation_id][1]["requestBody"]["description"] += note
    for operation_id, media in REQUESTS.items():
        content = operations[operation_id][1]["requestBody"]["content"]
        for media_type, examples in media.items():
            content[media_type]["examples"] = copy.deepcopy(examples)
    for operation_id, (path, op) in operations.items():
        answers = {status: copy.deepcopy(examples) for status, examples in RESPONSES.get(operation_id, {}).items()}
        ids = [name for name in _path_ids(path) if name in _404]
        if "404" in op["responses"] and "404" not in answers and ids:
            answers["404"] = {"not_found": _ex("No such resource", _not_found(_404[ids[-1]]))}
        for status, examples in answers.items():
            content = op["responses"][status]["content"]
            for media_type in content:
                content[media_type]["examples"] = examples
