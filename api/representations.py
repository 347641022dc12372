"""What the marketer API answers: the JSON of each use case's result (services return values, never JSON)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from walletpass.domain.api_keys import ApiKey
from walletpass.domain.automations import RULES, Automation, Fired
from walletpass.domain.campaigns import GroupStats, Message
from walletpass.domain.contrast import program_warnings
from walletpass.domain.funnel import Funnel, FunnelCounts
from walletpass.domain.imports import EXPORT_COLUMNS, MemberImport, export_line
from walletpass.domain.members import LedgerEntry, Member
from walletpass.domain.offers import Coupon, CouponIssue, Offer
from walletpass.domain.passes import Pass
from walletpass.domain.privacy import MemberRecord
from walletpass.domain.programs import Program, Tier
from walletpass.domain.webhooks import PARKED, Delivery, Webhook
from walletpass.render.passes import w3c_date
from walletpass.services.automations import AutomationsView
from walletpass.services.campaigns import CampaignDetails, CampaignStats, Reach
from walletpass.services.coupons import CouponDetails
from walletpass.services.enrolment import MemberDetails
from walletpass.services.lists import DeviceRegistration, MemberSummary
from walletpass.services.offers import OfferDetails
from walletpass.services.points import PointsAdded
from walletpass.services.programs import design_of
from walletpass.services.webhooks import Created, WebhookDetails
from walletpass.urls import PublicUrls

Json = dict[str, Any]


def tier_json(t: Tier) -> Json:
    out: Json = {"name": t.name, "min_points": t.min_points}
    for key in ("background_color", "foreground_color", "label_color"):
        if getattr(t, key):
            out[key] = getattr(t, key)
    return out


def warnings_json(p: Program) -> list[Json]:
    """The program's colour pairs that fail WCAG AA (walletpass.domain.contrast), for POST/PATCH/GET answers."""
    return [{"field": w.field, "against": w.against, "ratio": w.ratio, "required": w.required, "detail": w.detail}
            for w in program_warnings(p)]


def program_json(p: Program) -> Json:
    return {"id": p.id, **design_of(p), "version": p.version, "warnings": warnings_json(p)}


def member_json(d: MemberDetails, urls: PublicUrls) -> Json:
    m, card = d.member, d.card
    devices = [{
        "device": dev.device_library_identifier[:8] + "…",
        "registered_at": reg.created_at.isoformat(),
        "last_pushed": reg.last_pushed_at.isoformat() if reg.last_pushed_at else None,
        "last_fetched": reg.last_fetched_at.isoformat() if reg.last_fetched_at else None,
        "up_to_date": reg.fetched_tag is not None and reg.fetched_tag >= p.update_tag,
    } for reg, dev, p in d.devices]
    return {
        "id": m.id, "program_id": m.program_id, "name": m.name, "email": m.email, "phone": m.phone,
        "external_id": m.external_id, "member_number": m.member_number,
        "serial_number": card.serial_number, "points": m.points, "tier": m.tier,
        "links": urls.links(card.public_token), "devices": devices,
        "google": {"object_id": d.google.object_id, "state": d.google.state},
        "birthday": m.birthday.isoformat() if m.birthday else None,
        "source": m.source,
        "consent": ({"at": m.consented_at.isoformat(), "terms_sha256": m.consent_terms_sha256}
                    if m.consented_at else None),
        "created_at": m.created_at.isoformat() if m.created_at else None,
    }


def member_summary_json(s: MemberSummary, urls: PublicUrls) -> Json:
    """A member in a list or a lookup: the member and their card's links (devices: GET /members/{id}/devices)."""
    m = s.member
    return {
        "id": m.id, "program_id": m.program_id, "name": m.name, "email": m.email, "phone": m.phone,
        "external_id": m.external_id, "member_number": m.member_number,
        "serial_number": s.card.serial_number if s.card else None, "points": m.points, "tier": m.tier,
        "links": urls.links(s.card.public_token) if s.card else None, "source": m.source,
        "birthday": m.birthday.isoformat() if m.birthday else None,
        "created_at": m.created_at.isoformat() if m.created_at else None,
    }


def device_json(d: DeviceRegistration) -> Json:
    """A device holding one of a member's passes (its library identifier shortened: the device's own id)."""
    reg, p = d.registration, d.pass_
    return {"id": reg.id, "device": d.device.device_library_identifier[:8] + "…", "serial_number": p.serial_number,
            "registered_at": reg.created_at.isoformat(),
            "last_pushed": reg.last_pushed_at.isoformat() if reg.last_pushed_at else None,
            "last_fetched": reg.last_fetched_at.isoformat() if reg.last_fetched_at else None,
            "up_to_date": reg.fetched_tag is not None and reg.fetched_tag >= p.update_tag}


def api_key_json(k: ApiKey) -> Json:
    """An API key as listed: never the key or its hash; its prefix tells it apart (``wp_<prefix>_…``)."""
    return {"id": k.id, "prefix": k.prefix, "name": k.name, "scopes": list(k.scopes),
            "programs": None if k.programs is None else list(k.programs), "created_at": k.created_at.isoformat(),
            "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}


def transaction_json(t: PointsAdded) -> Json:
    e = t.entry
    return {"id": e.id, "member_id": e.member_id, "points": e.points, "balance": e.balance, "tier": t.tier,
            "reason": e.reason, "created_at": e.created_at.isoformat()}


def ledger_json(e: LedgerEntry) -> Json:
    return {"id": e.id, "points": e.points, "balance": e.balance, "reason": e.reason,
            "created_at": e.created_at.isoformat()}


def issue_json(i: CouponIssue) -> Json:
    """A bulk issue and its progress."""
    return {"id": i.id, "offer_id": i.offer_id, "segment": i.segment, "state": i.state, "total": i.total,
            "issued": i.issued, "created_at": i.created_at.isoformat(),
            "finished_at": i.finished_at.isoformat() if i.finished_at else None}


def offer_summary_json(o: Offer) -> Json:
    """An offer in a list (its coupon counts and bulk issues: GET /offers/{id})."""
    return {
        "id": o.id, "program_id": o.program_id, "title": o.title, "description": o.description,
        "discount": o.discount, "valid_from": w3c_date(o.valid_from) if o.valid_from else None,
        "valid_until": w3c_date(o.valid_until) if o.valid_until else None, "terms": o.terms, "texts": o.texts,
        "rotating_barcode": o.rotating_barcode, "created_at": o.created_at.isoformat() if o.created_at else None,
    }


def offer_json(d: OfferDetails) -> Json:
    summary = offer_summary_json(d.offer)
    created_at = summary.pop("created_at")
    return {**summary, "coupons": {**d.coupons, "total": sum(d.coupons.values())},
            "issues": [issue_json(i) for i in d.issues], "created_at": created_at}


def coupon_json(d: CouponDetails, urls: PublicUrls) -> Json:
    c = d.coupon
    return {"id": c.id, "offer_id": c.offer_id, "member_id": c.member_id, "code": c.code, "state": d.state,
            "serial_number": d.pass_.serial_number, "links": urls.links(d.pass_.public_token),
            "redeemed_at": c.redeemed_at.isoformat() if c.redeemed_at else None,
            "created_at": c.created_at.isoformat() if c.created_at else None}


def coupon_state_json(c: Coupon) -> Json:
    return {"id": c.id, "state": c.state, "redeemed_at": c.redeemed_at.isoformat() if c.redeemed_at else None}


def message_json(m: Message) -> str | dict[str, str]:
    """A message as the API takes it (a campaign's, an automation's): the text, or {locale: text} when it has
    translations."""
    texts = dict(m.texts)
    default = texts.pop("*")
    return texts or default


def campaign_json(d: CampaignDetails) -> Json:
    c, p = d.campaign, d.progress
    return {"id": c.id, "program_id": c.program_id, "name": c.name, "state": c.state,
            "total": p.total, "sent": p.sent, "failed": p.failed, "skipped": p.skipped, "pending": p.pending,
            "skipped_notification": p.skipped_notification,
            "held_out": p.held_out, "message": message_json(c.message) if c.message is not None else None,
            "variants": [{"name": v.name, "weight": v.weight, "message": message_json(v.message)}
                         for v in c.variants] or None,
            "holdout": c.holdout, "segment": c.segment, "offer_id": c.offer_id,
            "send_at": c.send_at.isoformat(), "created_at": c.created_at.isoformat(),
            "started_at": c.started_at.isoformat() if c.started_at else None,
            "finished_at": c.finished_at.isoformat() if c.finished_at else None}


def _group_json(g: GroupStats) -> Json:
    return {"members": g.members, "sent": g.sent, "redeemed": g.redeemed, "transacted": g.transacted,
            "converted": g.converted}


def campaign_stats_json(s: CampaignStats) -> Json:
    c = s.campaign
    variants = c.variants or (None,)
    return {"id": c.id, "state": c.state, "offer_id": c.offer_id, "window_days": s.window_days,
            "variants": [{"name": v.name if v else None, "weight": v.weight if v else 1, **_group_json(g)}
                         for v, g in zip(variants, s.variants, strict=True)],
            "holdout": {"percent": c.holdout, **_group_json(s.holdout)}}


def reach_json(r: Reach) -> Json:
    return {"passes": r.passes, "apple_devices": r.apple_devices, "google_objects": r.google_objects,
            "google_over_quota": r.google_over_quota, "google_path": r.google_path,
            "estimated_seconds": r.estimated_seconds, "start_at": r.start_at.isoformat()}


def automation_json(a: Automation, fired: Fired) -> Json:
    return {"enabled": a.enabled, "offer_id": a.offer_id, "message": message_json(a.message) if a.message else None,
            "segment": a.segment, "days": a.days, "fired": fired.count,
            "last_fired_at": fired.last_at.isoformat() if fired.last_at else None,
            "updated_at": a.updated_at.isoformat() if a.updated_at else None}


def automations_json(v: AutomationsView) -> Json:
    """A program's automations: each rule (null: off), how often it fired, and the next daily run."""
    rules = {name: automation_json(v.rules[name], v.fired.get(name, Fired())) if name in v.rules else None
             for name in RULES}
    return {"program_id": v.program.id, "time_zone": v.program.time_zone, **rules,
            "next_run_at": v.next_run_at.isoformat() if v.next_run_at else None}


def _funnel_counts_json(c: FunnelCounts) -> Json:
    return {"visits": c.visits, "enrolments": c.enrolments, "apple_installs": c.apple_installs,
            "google_saves": c.google_saves, "first_transactions": c.first_transactions, "uninstalls": c.uninstalls,
            "samsung_adds": c.samsung_adds, "conversion": c.rates()}


def funnel_json(f: Funnel) -> Json:
    key = "source" if f.by == "source" else "day"
    return {"program_id": f.program_id, "from": f.start.isoformat(), "to": f.end.isoformat(), "by": f.by,
            "time_zone": f.time_zone, "totals": _funnel_counts_json(f.totals),
            "rows": [{key: r.key, **_funnel_counts_json(r.counts)} for r in f.rows]}
def webhook_json(w: Webhook, deliveries: dict[str, int] | None = None) -> Json:
    """A webhook; never its secret (shown once, by :func:`created_webhook_json`)."""
    out: Json = {"id": w.id, "url": w.url, "events": list(w.events), "created_at": w.created_at.isoformat()}
    if deliveries is not None:
        out["deliveries"] = dict(deliveries)
    return out


def webhook_details_json(d: WebhookDetails) -> Json:
    return webhook_json(d.webhook, dict(d.deliveries))


def created_webhook_json(c: Created) -> Json:
    """A new webhook, with its secret when it was made for it (the one time it is shown)."""
    out = webhook_json(c.webhook)
    if c.secret_generated:
        out["secret"] = c.webhook.secret
    return out


def delivery_json(d: Delivery) -> Json:
    return {"id": d.id, "event_id": d.event_id, "type": d.type, "state": d.state, "parked": d.state == PARKED,
            "attempts": d.attempts, "last_status": d.last_status, "last_error": d.last_error,
            "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
            "created_at": d.created_at.isoformat(),
            "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None}
def import_json(i: MemberImport) -> Json:
    """A bulk import of members and its progress: rows imported, unchanged (known already, same data), skipped
    (each reason listed, up to a cap) and failed."""
    return {"id": i.id, "program_id": i.program_id, "format": i.format, "state": i.state, "total": i.total,
            "imported": i.imported, "unchanged": i.unchanged, "skipped": i.skipped, "failed": i.failed,
            "errors": [e.as_json() for e in i.errors], "created_at": i.created_at.isoformat(),
            "finished_at": i.finished_at.isoformat() if i.finished_at else None}


def members_csv(pages: Iterable[list[tuple[Member, Pass]]], urls: PublicUrls) -> Iterator[str]:
    """The CSV of exported members, a page of rows at a time (streamed: never the whole file in memory)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for page in pages:
        for m, card in page:
            writer.writerow(export_line({
                "name": m.name, "email": m.email, "phone": m.phone, "external_id": m.external_id,
                "points": m.points, "birthday": m.birthday.isoformat() if m.birthday else None, "tier": m.tier,
                "member_number": m.member_number, "serial_number": card.serial_number,
                **urls.links(card.public_token)}))
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    if buf.tell():
        yield buf.getvalue()


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def member_record_json(r: MemberRecord, urls: PublicUrls) -> Json:
    """Everything held about a member (device push tokens and pass authentication tokens left out: they are
    secrets, not data about the person)."""
    m = r.member
    objects = {(o.pass_id, o.provider): o for o in r.wallet_objects}
    return {
        "member": {"id": m.id, "program_id": m.program_id, "name": m.name, "email": m.email, "phone": m.phone,
                   "external_id": m.external_id, "member_number": m.member_number, "points": m.points,
                   "tier": m.tier, "birthday": _when(m.birthday), "source": m.source,
                   "created_at": _when(m.created_at), "updated_at": _when(m.updated_at)},
        "passes": [{"id": p.id, "kind": p.kind, "serial_number": p.serial_number, "pass_type_id": p.pass_type_id,
                    "coupon_id": p.coupon_id, "voided": p.voided, "links": urls.links(p.public_token),
                    "created_at": _when(p.created_at), "updated_at": _when(p.updated_at),
                    "google": ({"object_id": o.object_id, "state": o.state}
                               if (o := objects.get((p.id, "google"))) is not None else None)}
                   for p in r.passes],
        "devices": [{"device": d.device_prefix + "…", "pass_id": d.registration.pass_id,
                     "registered_at": _when(d.registration.created_at),
                     "last_pushed": _when(d.registration.last_pushed_at),
                     "last_fetched": _when(d.registration.last_fetched_at)} for d in r.devices],
        "transactions": [ledger_json(e) for e in r.ledger],
        "coupons": [{"id": c.id, "offer_id": c.offer_id, "code": c.code, "state": c.state,
                     "redeemed_at": _when(c.redeemed_at), "created_at": _when(c.created_at)} for c in r.coupons],
        "events": [{"pass_id": e.pass_id, "kind": e.kind, "source": e.source, "at": _when(e.at)} for e in r.events],
        "campaign_deliveries": [{"campaign_id": d.campaign_id, "pass_id": d.pass_id, "state": d.state,
                                 "delivered_at": _when(d.delivered_at), "outcome": d.outcome}
                                for d in r.deliveries],
    }
