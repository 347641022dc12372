"""PassBuilder: render, validate, hash, sign and zip a pass — pure (no file or database I/O).

Made once per process with the signers (one per pass type id) and the templates. A program's files that
do not change from one pass to the next — its 1x/@2x/@3x images and its pass.strings — are prepared once
per (template, program id, program version, program updated_at, images key) and kept with their SHA-1s and
encoded ZIP records; a pass then costs one pass.json, one manifest, one signature and a join of bytes.
A coupon's pass.strings also carry its offer's texts, so coupons have their own set per (that key, offer
contents): the program's images are reused from its set, only the strings files are written again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from walletpass import __version__
from walletpass.domain.members import Member
from walletpass.domain.offers import Coupon, Offer
from walletpass.domain.passes import News, PassRef
from walletpass.domain.programs import Program
from walletpass.errors import ConfigurationError, InvalidInput
from walletpass.pkpass import images as _images
from walletpass.pkpass import passjson
from walletpass.pkpass.manifest import ManifestBase
from walletpass.pkpass.package import Entry, make_entry, write_zip
from walletpass.pkpass.signing import PassSigner
from walletpass.pkpass.strings import encode_strings
from walletpass.render.passes import RenderContext, RenderedPass, coupon_pass_json, member_pass_json, news_link
from walletpass.render.template import COUPON, MEMBER, PassTemplate
from walletpass.render.texts import localized_strings

DEFAULT_TEMPLATES = {MEMBER: "member-card", COUPON: "coupon"}
#: The image slot of iOS 27's posterGeneric art (``artwork.png``, @2x, @3x).
POSTER_ART = "artwork"
_STRINGS_FILE = "/pass.strings"


@dataclass(frozen=True, slots=True)
class PreparedAssets:
    """A program's static files of one template: encoded entries, their digests, the strings tables."""

    entries: tuple[Entry, ...]
    digests: Mapping[str, str]
    strings: Mapping[str, Mapping[str, str]]
    manifest: ManifestBase


def _assemble(files: list[Entry], strings: dict[str, dict[str, str]]) -> PreparedAssets:
    passjson.check_localizations(strings)
    entries = files + [make_entry(f"{locale}.lproj{_STRINGS_FILE}", encode_strings(table))
                       for locale, table in strings.items()]
    entries.sort(key=lambda e: e.name)
    digests = {e.name: e.sha1 for e in entries}
    return PreparedAssets(tuple(entries), digests, strings, ManifestBase(digests))


def prepare_assets(template: PassTemplate, program: Program, images: Mapping[str, bytes] | None = None,
                   *, max_image_bytes: int = _images.DEFAULT_MAX_BYTES, offer: Offer | None = None) -> PreparedAssets:
    """Render images (program uploads override the template's, per slot) and pass.strings for *program*
    (with *offer*'s texts, for a coupon)."""
    slots = set(_images.SLOTS.get(template.style, {}))
    if program.pass_options.member_card_style != "posterGeneric":
        slots.discard(POSTER_ART)  # the poster's art only on poster cards
    # uploads of slots this style has no use for (Google's hero) are not Apple's: left out, not an error
    sources = {**template.images, **{slot: data for slot, data in (images or {}).items() if slot in slots}}
    files = _images.render_images(sources, style=template.style, max_bytes=max_image_bytes)
    passjson.check_files(files)
    return _assemble([make_entry(name, data) for name, data in files.items()],
                     localized_strings(template, program, offer))


def with_strings(assets: PreparedAssets, strings: dict[str, dict[str, str]]) -> PreparedAssets:
    """*assets* with its pass.strings files replaced by *strings*; the images are reused as they are."""
    return _assemble([e for e in assets.entries if not e.name.endswith(_STRINGS_FILE)], strings)


def offer_fingerprint(offer: Offer) -> tuple[Any, ...]:
    """A cache key for the texts *offer* adds to a coupon: its id and every text, so any change misses."""
    texts = tuple(sorted((locale, tuple(sorted(t.items()))) for locale, t in offer.texts.items()))
    return (offer.id, offer.title, offer.description, offer.discount, offer.terms, texts)


def images_fingerprint(images: Mapping[str, bytes]) -> str:
    """A cache key for uploaded images when the caller gives none."""
    h = hashlib.sha256()
    for slot in sorted(images):
        h.update(slot.encode() + b"\0" + hashlib.sha256(images[slot]).digest())
    return h.hexdigest()


def _fingerprint(signers: Mapping[str, PassSigner], templates: Mapping[str, PassTemplate], context: RenderContext,
                 defaults: Mapping[str, str]) -> str:
    coupons = context.coupon_url("") if context.coupon_url else ""  # the news field's links carry the public URL
    h = hashlib.sha256(f"{__version__}\0{context.team_id}\0{context.web_service_url}\0{coupons}\0"
                       f"{sorted(defaults.items())}".encode())
    for name in sorted(templates):
        t = templates[name]
        h.update(f"\0{name}\0{t.version or hashlib.sha256(t.document.encode()).hexdigest()}".encode())
    for ptid in sorted(signers):
        signer = signers[ptid]
        h.update(b"\0" + ptid.encode() + signer.certificate.public_bytes(Encoding.DER)
                 + signer.wwdr.public_bytes(Encoding.DER))
    return h.hexdigest()[:32]


class PassBuilder:
    """Build signed .pkpass bytes for member cards and coupons.

    Args:
        signers: pass type id → PassSigner (made once per process by ``credentials.load_signer``).
        templates: template name → PassTemplate (``pass_templates.load_templates``).
        team_id: the Apple team id written into every pass (must be the certificates' OU).
        web_service_url: ``webServiceURL`` of every pass (``PublicUrls.web_service()``).
        default_templates: kind (``member``/``coupon``) → template name used when a call names none.
        cache_size: how many prepared (template, program, images[, offer]) sets to keep.
        on_signed: called after each pass is signed (the signature counter of /metrics).
    """

    def __init__(self, *, signers: Mapping[str, PassSigner], templates: Mapping[str, PassTemplate], team_id: str,
                 web_service_url: str, default_templates: Mapping[str, str] | None = None,
                 cache_size: int = 256, max_image_bytes: int = _images.DEFAULT_MAX_BYTES,
                 coupon_url: Callable[[str], str] | None = None,
                 on_signed: Callable[[], None] | None = None) -> None:
        self._signers = dict(signers)
        self._templates = dict(templates)
        self._context = RenderContext(team_id=team_id, web_service_url=web_service_url, coupon_url=coupon_url)
        self._defaults = {**DEFAULT_TEMPLATES, **(default_templates or {})}
        self._on_signed = on_signed
        self._fingerprint = _fingerprint(self._signers, self._templates, self._context, self._defaults)
        self._cache: OrderedDict[tuple[Any, ...], PreparedAssets] = OrderedDict()
        self._cache_size = cache_size
        self._max_image_bytes = max_image_bytes
        self._lock = threading.Lock()

    @property
    def context(self) -> RenderContext:
        return self._context

    @property
    def fingerprint(self) -> str:
        """A digest of everything a pass's bytes depend on besides the database: this code's version, the
        templates, the certificates, the team and web service URL (stored passes of another are signed again)."""
        return self._fingerprint

    def template(self, kind: str, name: str | None = None) -> PassTemplate:
        """The template *name*, or the default one for *kind*."""
        name = name or self._defaults[kind]
        try:
            tpl = self._templates[name]
        except KeyError:
            raise ConfigurationError(f"no pass template {name!r}; add a folder {name}/ to your pass templates (WALLETPASS_TEMPLATES_DIR)") from None
        if tpl.kind != kind:
            raise ConfigurationError(f"pass template {name!r} is for {tpl.kind} passes, not {kind} passes")
        return tpl

    def templates_in_use(self) -> tuple[PassTemplate, ...]:
        """The template of each kind that passes are made from."""
        return tuple(self.template(kind) for kind in self._defaults)

    def signer(self, pass_type_id: str) -> PassSigner:
        try:
            return self._signers[pass_type_id]
        except KeyError:
            raise ConfigurationError(f"no signing certificate for pass type {pass_type_id!r}; put "
                                     f"{pass_type_id}.pem and .key in the certs folder") from None

    def assets(self, template: PassTemplate, program: Program, images: Mapping[str, bytes] | None = None,
               images_key: str = "", offer: Offer | None = None) -> PreparedAssets:
        """The prepared images + strings of *program* for *template*, with *offer*'s texts if given (cached)."""
        if images and not images_key:
            images_key = images_fingerprint(images)
        key: tuple[Any, ...] = (template.name, template.version, program.id, program.version, program.updated_at,
                                images_key)
        if offer is None:
            return self._cached(key, lambda: prepare_assets(template, program, images,
                                                            max_image_bytes=self._max_image_bytes))
        return self._cached((*key, offer_fingerprint(offer)),
                            lambda: with_strings(self.assets(template, program, images, images_key),
                                                 localized_strings(template, program, offer)))

    def _cached(self, key: tuple[Any, ...], prepare: Callable[[], PreparedAssets]) -> PreparedAssets:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        prepared = prepare()
        with self._lock:
            self._cache[key] = prepared
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return prepared

    def package(self, pass_json: Mapping[str, Any], assets: PreparedAssets) -> bytes:
        """Validate *pass_json*, then hash, sign and zip it with *assets*."""
        signer = self.signer(str(pass_json.get("passTypeIdentifier", "")))
        passjson.validate(pass_json, signer=signer, files=assets.digests, strings=assets.strings)
        pass_entry = make_entry("pass.json", passjson.dump(pass_json))
        manifest = assets.manifest.build({"pass.json": pass_entry.sha1})
        signature = signer.sign(manifest)
        if self._on_signed is not None:
            self._on_signed()
        return write_zip((*assets.entries, pass_entry, make_entry("manifest.json", manifest, sha1=""),
                          make_entry("signature", signature, compress=False, sha1="")))

    def build_member_pass(self, program: Program, member: Member, pass_ref: PassRef, *,
                          images: Mapping[str, bytes] | None = None, images_key: str = "",
                          template: str | None = None, news: News | None = None) -> bytes:
        """Signed .pkpass bytes of *member*'s card.

        *images* are the program's uploaded source images per slot (``icon``, ``logo``, ``strip``),
        overriding the template's; *images_key* identifies them for the cache (e.g. their SHA-256).
        """
        if member.program_id != program.id:
            raise InvalidInput("member", f"member {member.id} belongs to program {member.program_id}, not {program.id}")
        tpl = self.template(MEMBER, template)
        assets = self.assets(tpl, program, images, images_key)
        link = news_link(self._context, news)
        if news is not None and link is not None:  # the strings carry the member's own coupon link: not shared
            assets = with_strings(assets, localized_strings(tpl, program, news=news, news_link=link))
        elif news is not None:  # the program's assets with the message's strings (per campaign: a few at a time)
            base = assets
            assets = self._cached((tpl.name, tpl.version, program.id, program.version, program.updated_at,
                                   images_key, "news", news.key),
                                  lambda: with_strings(base, localized_strings(tpl, program, news=news)))
        return self.package(member_pass_json(tpl, program, member, pass_ref, self._context, news), assets)

    def rendered_member_pass(self, program: Program, member: Member, pass_ref: PassRef, *,
                             images: Mapping[str, bytes] | None = None, images_key: str = "") -> RenderedPass:
        """pass.json and pass.strings of *member*'s card as :meth:`build_member_pass` signs them (without a
        campaign's news, which is on the back), for a picture of its front; nothing is signed."""
        tpl = self.template(MEMBER)
        assets = self.assets(tpl, program, images, images_key)
        return RenderedPass(member_pass_json(tpl, program, member, pass_ref, self._context),
                            {k: dict(v) for k, v in assets.strings.items()})

    def rendered_coupon_pass(self, program: Program, offer: Offer, coupon: Coupon, member: Member | None,
                             pass_ref: PassRef, *, images: Mapping[str, bytes] | None = None,
                             images_key: str = "") -> RenderedPass:
        """pass.json and pass.strings of *coupon* as :meth:`build_coupon_pass` signs them; nothing is signed."""
        tpl = self.template(COUPON)
        assets = self.assets(tpl, program, images, images_key, offer)
        return RenderedPass(coupon_pass_json(tpl, program, offer, coupon, member, pass_ref, self._context),
                            {k: dict(v) for k, v in assets.strings.items()})

    def build_coupon_pass(self, program: Program, offer: Offer, coupon: Coupon, member: Member | None,
                          pass_ref: PassRef, *, images: Mapping[str, bytes] | None = None, images_key: str = "",
                          template: str | None = None) -> bytes:
        """Signed .pkpass bytes of *coupon* (of *offer*), issued to *member* or to nobody in particular."""
        if offer.program_id != program.id:
            raise InvalidInput("offer", f"offer {offer.id} belongs to program {offer.program_id}, not {program.id}")
        if coupon.offer_id != offer.id:
            raise InvalidInput("coupon", f"coupon {coupon.id} belongs to offer {coupon.offer_id}, not {offer.id}")
        tpl = self.template(COUPON, template)
        assets = self.assets(tpl, program, images, images_key, offer)
        return self.package(coupon_pass_json(tpl, program, offer, coupon, member, pass_ref, self._context), assets)
