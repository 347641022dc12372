"""What the public pass page shows (by the pass's public token) and the picture of the card on it, drawn once
per pass version and kept in memory."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime

from walletpass.domain.members import Member
from walletpass.domain.offers import Coupon, Offer
from walletpass.domain.passes import COUPON, Pass
from walletpass.domain.programs import Program
from walletpass.ids import is_token
from walletpass.ports import DeviceReads, PassBuilder, UnitOfWork, UowFactory
from walletpass.render.preview import FontBook, PreviewText, render_preview

#: Bump when the picture's drawing changes: old ETags then stop matching.
PREVIEW_VERSION = 2


@dataclass(frozen=True, slots=True)
class PassPageView:
    """A pass and what its page shows: the program, the member (a member card, or a coupon issued to one), the
    offer and coupon (a coupon), and the coupon's state as of the request (``issued``, ``redeemed``, ``voided``,
    ``expired``; None for a member card)."""

    pass_: Pass
    program: Program
    member: Member | None = None
    offer: Offer | None = None
    coupon: Coupon | None = None
    state: str | None = None

    @property
    def usable(self) -> bool:
        """Whether the pass is worth adding to a wallet: not voided, and not a used-up or expired coupon."""
        return not self.pass_.voided and self.state in (None, "issued")


def pass_page(uow: UnitOfWork, token: str, now: datetime) -> PassPageView | None:
    """The page of the pass behind *token*, or None (any text that is no pass's token: same answer)."""
    if not is_token(token):
        return None
    with uow:
        p = uow.passes.by_public_token(token)
        if p is None:
            return None
        program = uow.programs.get(p.program_id)
        if p.kind == COUPON and p.coupon_id is not None:
            coupon = uow.offers.coupon(p.coupon_id)
            offer = uow.offers.get(coupon.offer_id)
            member = uow.members.get(coupon.member_id) if coupon.member_id else None
            return PassPageView(p, program, member, offer, coupon, coupon.effective_state(offer, now))
        member = uow.members.get(p.member_id) if p.member_id is not None else None
        return PassPageView(p, program, member)


class PassPages:
    """The pass pages' views, kept per process and checked on each request with one indexed read.

    A page is opened far more often than its pass changes (a link in an e-mail, a flyer's QR code, a reload), and
    reading its pass, program, member, offer and coupon costs several statements. So the view is kept by token and
    served again while the pass's update tag and the program's version are the ones it was read at (one prepared
    statement, ``DeviceReads.page_version``): every change to what a page shows moves one of them
    (services.changes). A coupon's state is worked out again at each request: it expires with time, not a change.
    """

    def __init__(self, *, read_uow: UowFactory, reads: DeviceReads, size: int = 4096) -> None:
        self._read_uow, self._reads, self._size = read_uow, reads, size
        self._kept: OrderedDict[str, PassPageView] = OrderedDict()
        self._lock = threading.Lock()

    def exists(self, token: str) -> bool:
        """Whether *token* opens a pass (one indexed read)."""
        return is_token(token) and self._reads.page_version(token) is not None

    def view(self, token: str, now: datetime) -> PassPageView | None:
        """The page of the pass behind *token* as of *now*, or None (same answer for any text that is no token)."""
        if not is_token(token):
            return None
        version = self._reads.page_version(token)
        if version is None:
            return None
        with self._lock:
            kept = self._kept.get(token)
            if kept is not None:
                self._kept.move_to_end(token)
        if kept is not None and (kept.pass_.id, kept.pass_.update_tag, kept.program.version) == version:
            if kept.coupon is None or kept.offer is None:
                return kept
            return replace(kept, state=kept.coupon.effective_state(kept.offer, now))
        fresh = pass_page(self._read_uow(), token, now)
        if fresh is not None:
            with self._lock:
                self._kept[token] = fresh
                while len(self._kept) > self._size:
                    self._kept.popitem(last=False)
        return fresh


@dataclass(frozen=True, slots=True)
class Preview:
    """A card picture (PNG) and its validators."""

    data: bytes
    etag: str
    last_modified: datetime


class PassPreviews:
    """Card pictures, drawn from the pass as it is signed (same pass.json, same strings) and kept per version.

    Keyed by pass, update tag, language, coupon state and the builder's fingerprint: every change to what a pass
    shows moves its tag (services.changes), so a kept picture is never stale; a coupon that expires with time
    changes state, hence key. Up to *size* pictures per process (~30 KB each: 15 MB for 512), least recently
    used dropped.
    """

    def __init__(self, *, read_uow: UowFactory, builder: PassBuilder, fonts: FontBook, size: int = 512) -> None:
        self._read_uow, self._builder, self._fonts = read_uow, builder, fonts
        self._size = size
        self._kept: OrderedDict[str, Preview] = OrderedDict()
        self._lock = threading.Lock()
        self.drawn = 0  # pictures drawn by this process (tests and the bench read it)

    def etag(self, view: PassPageView, locale: str) -> str:
        """The ETag of the picture of *view* in *locale*, known without drawing it."""
        p = view.pass_
        return (f'"pv{PREVIEW_VERSION}-{p.id}-{p.update_tag}-{locale}-{view.state or "card"}-'
                f'{self._builder.fingerprint[:12]}"')

    def get(self, view: PassPageView, locale: str, banner: str | None = None) -> Preview:
        """The picture of *view* in *locale* (*banner*: the coupon state's text, drawn across the barcode)."""
        etag = self.etag(view, locale)
        with self._lock:
            hit = self._kept.get(etag)
            if hit is not None:
                self._kept.move_to_end(etag)
                return hit
        preview = Preview(self._draw(view, locale, banner), etag, view.pass_.updated_at)
        with self._lock:
            self._kept[etag] = preview
            self.drawn += 1
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return preview

    def _draw(self, view: PassPageView, locale: str, banner: str | None) -> bytes:
        p, program = view.pass_, view.program
        with self._read_uow() as uow:
            images, images_key = uow.programs.images(program.id)
        key = f"{program.id}:{images_key}"
        if view.coupon is not None and view.offer is not None:
            rendered = self._builder.rendered_coupon_pass(program, view.offer, view.coupon, view.member, p.ref,
                                                          images=images, images_key=key)
        else:
            assert view.member is not None
            rendered = self._builder.rendered_member_pass(program, view.member, p.ref, images=images, images_key=key)
        strings = rendered.strings
        table = strings.get(locale) or strings.get("en") or next(iter(strings.values()), {})
        logo = images.get("logo") or self._builder.template(p.kind).images.get("logo")
        return render_preview(rendered.pass_json, table, locale, self._fonts, logo=logo,
                              text=PreviewText(banner=banner))
