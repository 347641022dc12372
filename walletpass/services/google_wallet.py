"""Google Wallet use cases: the save link, save/delete callbacks, and keeping saved objects current."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from walletpass.config import Settings
from walletpass.domain.passes import MEMBER_CARD
from walletpass.google import objects as g
from walletpass.google.jwt import NeedsInsert, SaveLink
from walletpass.ports import Clock
from walletpass.storage.repositories import to_coupon, to_member, to_offer, to_pass_ref, to_program
from walletpass.storage.uow import SqlUnitOfWork

log = logging.getLogger("walletpass.google")


def image_urls(settings: Settings, program_id: int) -> Callable[[str], str | None]:
    base = settings.base_url.rstrip("/")
    return lambda slot: f"{base}/assets/programs/{program_id}/{slot}.png"


def _render(uow: SqlUnitOfWork, settings: Settings, clock: Clock, pass_id: int) -> tuple[Any, str, dict, dict]:
    """(pass row, kind, class json, object json) of a pass, as Google should show it now."""
    row = uow.pass_(pass_id)
    program = to_program(uow.program(row.program_id))
    ref = to_pass_ref(row)
    images = image_urls(settings, program.id)
    issuer = settings.google_issuer_id
    callback = settings.base_url.rstrip("/") + "/google/callback"
    callback_url = callback if callback.startswith("https://") else None
    if row.kind == MEMBER_CARD:
        member = to_member(uow.member(row.member_id))
        return (row, "loyalty",
                g.loyalty_class(program, issuer_id=issuer, images=images, callback_url=callback_url),
                g.loyalty_object(program, member, ref, issuer_id=issuer))
    coupon_row = uow.coupon(row.coupon_id)
    offer = to_offer(uow.offer(coupon_row.offer_id))
    return (row, "offer",
            g.offer_class(offer, program, issuer_id=issuer, images=images, callback_url=callback_url),
            g.offer_object(to_coupon(coupon_row), offer, ref, issuer_id=issuer, now=clock.now()))


def save_url(uow: SqlUnitOfWork, settings: Settings, clock: Clock, signer: Any, client_factory: Callable[[], Any],
             pass_id: int) -> str:
    """The "Add to Google Wallet" URL of a pass: a fat JWT when short enough, else insert by REST + skinny JWT."""
    now = clock.now()
    with uow:
        row, kind, class_, object_ = _render(uow, settings, clock, pass_id)
        already = row.google_state in ("inserted", "saved")
        object_id = object_["id"]
        if row.google_object_id != object_id:
            row.google_object_id = object_id
            uow.commit()
    if already:
        return signer.skinny_url(kind, object_id, object_["classId"], now)
    plan = signer.plan_save(kind, class_, object_, now)
    if isinstance(plan, SaveLink):
        return plan.url
    assert isinstance(plan, NeedsInsert)
    client = client_factory()
    client.insert_class(kind, class_)
    client.insert_object(kind, object_)
    with uow:
        row = uow.pass_(pass_id)
        row.google_state = "inserted"
        row.google_synced_tag = row.update_tag
        uow.commit()
    return signer.skinny_url(kind, object_id, object_["classId"], now)


def record_callback(uow: SqlUnitOfWork, clock: Clock, event: Any) -> str:
    """Record a verified save/delete callback once per nonce; return what happened (for logs and tests)."""
    now = clock.now()
    with uow:
        if not uow.claim_callback_nonce(event.nonce, now):
            return "duplicate"
        row = uow.pass_by_google_object(event.object_id)
        if row is None:
            uow.commit()
            return "unknown object"
        if event.event_type == "save":
            row.google_state = "saved"
            uow.record_event(row.program_id, "google_save", now, pass_id=row.id)
        else:
            row.google_state = "deleted"
            uow.record_event(row.program_id, "uninstall", now, pass_id=row.id)
        uow.commit()
        return event.event_type


def sync_objects(jobs: Sequence[Any], *, uow: Callable[[], SqlUnitOfWork], settings: Settings, clock: Clock,
                 client_factory: Callable[[], Any]) -> list[int]:
    """Patch the Google objects of changed passes; return the ids of jobs that are done."""
    done: list[int] = []
    client = client_factory()
    for job in jobs:
        with uow() as u:
            row, kind, class_, object_ = _render(u, settings, clock, job.pass_id)
            if row.google_state not in ("inserted", "saved"):
                done.append(job.id)
                continue
            tag = row.update_tag
        notify = bool(set(job.payload.get("reasons", [])) & {"points", "tier"})
        body = {k: v for k, v in object_.items() if k not in ("id", "classId")}
        client.patch_object(kind, object_["id"], body, notify=notify)
        with uow() as u:
            u.pass_(job.pass_id).google_synced_tag = tag
            u.commit()
        done.append(job.id)
    return done
