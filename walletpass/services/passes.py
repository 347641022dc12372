"""The current pkpass of a pass (download link, Apple's "send an updated pass"), each version signed once and
kept (:class:`SignedPasses`); campaign workers sign ahead (``pass_sign`` jobs); and finding passes."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from walletpass.domain.jobs import Job, JobOutcome, JobResult
from walletpass.domain.members import Member
from walletpass.domain.offers import Coupon, Offer
from walletpass.domain.passes import COUPON, MEMBER_CARD, News, Pass, StoredPass
from walletpass.domain.programs import Program
from walletpass.errors import ConfigurationError, CredentialError, DatabaseUnavailable, NotFound, WalletpassError
from walletpass.ids import is_token, new_token
from walletpass.ports import Clock, PassBuilder, UnitOfWork, UowFactory

log = logging.getLogger("walletpass.passes")


@dataclass(frozen=True, slots=True)
class BuiltPass:
    data: bytes
    serial_number: str
    pass_type_id: str
    update_tag: int
    last_modified: datetime

    @property
    def filename(self) -> str:
        return f"{self.serial_number}.pkpass"


@dataclass(frozen=True, slots=True)
class _Inputs:
    """Everything a pass is rendered from, read in one short transaction."""

    pass_: Pass
    program: Program
    images: dict[str, bytes]
    images_key: str
    member: Member | None = None
    news: News | None = None
    offer: Offer | None = None
    coupon: Coupon | None = None


class _Reads:
    """Reads the inputs of several passes in one transaction; a program's images are read once however many of
    its passes are signed, and :meth:`inputs_many` reads a whole campaign chunk's member cards in one query per
    table."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._programs: dict[int, tuple[Program, dict[str, bytes], str]] = {}

    def _program(self, program_id: int) -> tuple[Program, dict[str, bytes], str]:
        if program_id not in self._programs:
            images, images_key = self._uow.programs.images(program_id)
            self._programs[program_id] = (self._uow.programs.get(program_id), images, f"{program_id}:{images_key}")
        return self._programs[program_id]

    def inputs(self, pass_: Pass) -> _Inputs:
        uow = self._uow
        program, images, images_key = self._program(pass_.program_id)
        if pass_.kind == MEMBER_CARD and pass_.member_id is not None:
            news = None
            if pass_.news_campaign_id is not None:  # per pass: its variant, its own coupon link
                news = uow.campaigns.news(pass_.news_campaign_id, pass_.id)
            return _Inputs(pass_, program, images, images_key, uow.members.get(pass_.member_id), news)
        if pass_.kind == COUPON and pass_.coupon_id is not None:
            coupon = uow.offers.coupon(pass_.coupon_id)
            member = uow.members.get(coupon.member_id) if coupon.member_id else None
            return _Inputs(pass_, program, images, images_key, member, offer=uow.offers.get(coupon.offer_id),
                           coupon=coupon)
        raise ValueError(pass_.kind)  # pragma: no cover - the schema allows only the two kinds

    def inputs_many(self, passes: Sequence[Pass]) -> list[_Inputs]:
        """:meth:`inputs` of each of *passes*: member cards set-based (their members in one query, each campaign's
        news in three), coupons one by one."""
        uow = self._uow
        cards = [p for p in passes if p.kind == MEMBER_CARD and p.member_id is not None]
        members = uow.members.get_many([p.member_id for p in cards if p.member_id is not None])
        news: dict[int, News] = {}
        by_campaign: dict[int, list[int]] = {}
        for p in cards:
            if p.news_campaign_id is not None:
                by_campaign.setdefault(p.news_campaign_id, []).append(p.id)
        for campaign_id, ids in by_campaign.items():
            news |= uow.campaigns.news_of(campaign_id, ids)
        out = []
        for p in passes:
            if p.kind == MEMBER_CARD and p.member_id is not None and p.member_id in members:
                program, images, images_key = self._program(p.program_id)
                out.append(_Inputs(p, program, images, images_key, members[p.member_id], news.get(p.id)))
            else:
                out.append(self.inputs(p))
        return out


def _render(builder: PassBuilder, i: _Inputs) -> BuiltPass:
    """Render and sign (no database: nothing is held while the pass is signed)."""
    if i.coupon is None or i.offer is None:
        assert i.member is not None
        data = builder.build_member_pass(i.program, i.member, i.pass_.ref, images=i.images, images_key=i.images_key,
                                         news=i.news)
    else:
        data = builder.build_coupon_pass(i.program, i.offer, i.coupon, i.member, i.pass_.ref, images=i.images,
                                         images_key=i.images_key)
    return _built(i.pass_, data, i.pass_.update_tag, i.pass_.updated_at)


def _built(pass_: Pass, data: bytes, tag: int, last_modified: datetime) -> BuiltPass:
    return BuiltPass(data, pass_.serial_number, pass_.pass_type_id, tag, last_modified)


def build_pass(uow: UnitOfWork, builder: PassBuilder, pass_id: int) -> BuiltPass:
    """Render and sign the pass as it is now, keeping nothing (``walletpass pass build``; devices and links are
    served by :class:`SignedPasses`).

    The rows are read in one short transaction (pass a read-only unit of work); rendering and signing happen
    after it, so no database lock or snapshot is held while the pass is signed.
    """
    with uow:
        inputs = _Reads(uow).inputs(uow.passes.get(pass_id))
    return _render(builder, inputs)


#: How long a claim to sign a version stands before another process may take it over (its signer died or
#: hangs). Signing one pass takes about a millisecond, a sign-ahead group of SIGN_GROUP passes well under a second.
CLAIM_SECONDS = 10.0
#: Read → claim → wait rounds before a fetch stops waiting and signs for itself (its pass kept changing).
MAX_ROUNDS = 4
#: Passes a sign-ahead job claims, signs and stores together (one claim and one store transaction per group).
SIGN_GROUP = 25
#: First pause of a fetch waiting for another process's signature; it doubles up to POLL_MAX.
POLL_FIRST, POLL_MAX = 0.002, 0.05


class SignedPasses:
    """The signed ``.pkpass`` of each pass's latest version, each version signed **at most once**.

    After a push every device comes back for its pass at once (an iPhone and its Watch separately, retries, the
    public download link), and each signature costs an RSA operation. So the signed bytes are kept, keyed by pass
    and update tag (``uow.pass_files``: one row per pass, the latest version only), and served to every fetch of
    that version; a new tag replaces them.

    **Once, across processes, without a lock held while signing.** A fetch that finds no bytes for its version
    *claims* it: one short transaction writes a claim token into the pass's row (an INSERT … ON CONFLICT DO UPDATE
    that only one transaction can win: see storage.repositories.pass_files). The winner commits, signs with no
    transaction open, and stores the bytes where its token is (a second short transaction). A loser polls the row
    (read-only, a few milliseconds apart) and serves the winner's bytes when they land. Holding a row lock (PostgreSQL
    ``SELECT … FOR UPDATE``) or, on SQLite, the database's single write lock across the signature would be simpler,
    but it would keep a connection busy per signature and, on SQLite, let only one process in the whole instance
    sign at a time — and write nothing else meanwhile; a claim costs one extra small write per version instead.

    The price of no lock: a claim must expire. A signer that fails gives its claim up at once; one that dies (or
    hangs) holds it for :data:`CLAIM_SECONDS` (by the claim's time, or by the waiter's own wait), after which a
    waiter takes it over and signs. "At most once" therefore holds unless a signer stalls for longer than that —
    far beyond the milliseconds a signature takes; in that case two signatures are made and the later one is kept.

    Bytes built with another builder (templates, certificates, web service URL, walletpass version: ``builder.
    fingerprint``) are signed again. Every change that alters a pass moves its tag (services.changes), which is
    what makes the tag a sufficient key.
    """

    def __init__(self, *, read_uow: UowFactory, uow: UowFactory, builder: PassBuilder, clock: Clock,
                 claim_seconds: float = CLAIM_SECONDS, sleep: Callable[[float], None] = time.sleep) -> None:
        self._read_uow, self._uow, self._builder, self._clock = read_uow, uow, builder, clock
        self._claim_seconds = claim_seconds
        self._sleep = sleep

    def latest(self, pass_id: int) -> BuiltPass:
        """The signed pass as it is now: the stored bytes of its version, else signed (once) and stored."""
        key = self._builder.fingerprint
        take_over: str | None = None
        for _ in range(MAX_ROUNDS):
            with self._read_uow() as uow:
                pass_ = uow.passes.get(pass_id)
                stored = uow.pass_files.get(pass_id)
                if stored is not None and stored.data is not None and stored.serves(pass_.update_tag, key):
                    return _built(pass_, stored.data, stored.update_tag, stored.last_modified)
                inputs = _Reads(uow).inputs(pass_)
            token = new_token(16)
            if self._claim([pass_], {pass_id: token}, take_over):
                return self._sign_and_store(inputs, token)
            stored, take_over = self._wait(pass_id, pass_.update_tag, key)
            if stored is not None and stored.data is not None and stored.serves(pass_.update_tag, key):
                return _built(pass_, stored.data, stored.update_tag, stored.last_modified)
        log.warning("pass %s kept changing while it was signed; signing it for this request only", pass_id)
        return _render(self._builder, inputs)

    def sign_ahead(self, pass_ids: Sequence[int], *, hold_until: datetime | None = None) -> int:
        """:meth:`sign_ahead_within` with no time limit; return how many were signed."""
        return self.sign_ahead_within(pass_ids, hold_until=hold_until)[0]

    def sign_ahead_within(self, pass_ids: Sequence[int], *, hold_until: datetime | None = None,
                          budget: float | None = None) -> tuple[int, list[int]]:
        """Sign and store the current version of those of *pass_ids* that a device will fetch (a registration)
        and that are not stored yet; return how many were signed, and the pass ids left when *budget* seconds
        ran out (the caller comes back for them: a worker thread busy signing pushes nothing meanwhile).

        The inputs are read set-based, in one short transaction (a query per table for the whole list); then
        group by group: one claim statement, the signatures, one store statement, and the jobs of the group's
        passes held until *hold_until* (their pushes, written by a campaign chunk) are made due, so devices are
        pushed once their pass is ready. A pass that cannot be signed (no certificate for its type, …) is logged
        and left to the fetch, which reports it.
        """
        key = self._builder.fingerprint
        started = time.monotonic()
        with self._read_uow() as uow:
            fetched = {t.pass_id for t in uow.devices.push_targets(pass_ids)}
            passes = uow.passes.get_many([p for p in pass_ids if p in fetched])
            signed_tags = uow.pass_files.signed(list(passes), key)
            todo = [p for p in passes.values() if signed_tags.get(p.id, -1) < p.update_tag]
            inputs = {i.pass_.id: i for i in _Reads(uow).inputs_many(todo)}
        signed = 0
        ids = list(pass_ids)
        for start in range(0, len(ids), SIGN_GROUP):
            if budget is not None and start and time.monotonic() - started > budget:
                return signed, ids[start:]
            group = ids[start:start + SIGN_GROUP]
            signed += self._sign_group(group, [inputs[p] for p in group if p in inputs], hold_until)
        return signed, []

    def _sign_group(self, group: list[int], todo: list[_Inputs], hold_until: datetime | None) -> int:
        tokens = {i.pass_.id: new_token(16) for i in todo}
        won = self._claim_many([i.pass_ for i in todo], tokens) if todo else set()
        files: dict[int, tuple[str, bytes]] = {}
        try:
            for i in todo:
                if i.pass_.id in won:
                    try:
                        files[i.pass_.id] = (tokens[i.pass_.id], _render(self._builder, i).data)
                    except WalletpassError as exc:
                        log.warning("cannot sign pass %s ahead (%s); its fetch will say why", i.pass_.id, exc)
        finally:
            with self._uow() as uow:
                uow.pass_files.store_many(files)
                uow.pass_files.release_many({p: tokens[p] for p in won if p not in files})
                if hold_until is not None:
                    uow.outbox.hasten(group, self._clock.now(), hold_until)
                uow.commit()
        return len(files)

    def _claim_many(self, passes: Sequence[Pass], tokens: Mapping[int, str]) -> set[int]:
        """Claim the current version of each of *passes* in one statement; return the ids this process won."""
        now = self._clock.now()
        with self._uow() as uow:
            won = uow.pass_files.claim_many([(p.id, p.update_tag, p.updated_at, tokens[p.id]) for p in passes],
                                            build_key=self._builder.fingerprint, now=now,
                                            stale_before=now - timedelta(seconds=self._claim_seconds))
            uow.commit()
        return won

    def _claim(self, passes: Sequence[Pass], tokens: Mapping[int, str], take_over: str | None = None) -> set[int]:
        """Claim the current version of each of *passes* (with its token of *tokens*) in one transaction; return
        the ids of those this process won."""
        now = self._clock.now()
        stale_before = now - timedelta(seconds=self._claim_seconds)
        key = self._builder.fingerprint
        with self._uow() as uow:
            won = {p.id for p in passes
                   if uow.pass_files.claim(p.id, tag=p.update_tag, build_key=key, last_modified=p.updated_at,
                                           token=tokens[p.id], now=now, stale_before=stale_before,
                                           take_over=take_over)}
            uow.commit()
        return won

    def _sign_and_store(self, inputs: _Inputs, token: str) -> BuiltPass:
        pass_id = inputs.pass_.id
        try:
            built = _render(self._builder, inputs)
        except BaseException:
            with contextlib.suppress(Exception), self._uow() as uow:  # the error being raised says what matters
                uow.pass_files.release(pass_id, token)
                uow.commit()
            raise
        try:
            with self._uow() as uow:
                uow.pass_files.store(pass_id, token, built.data)
                uow.commit()
        except DatabaseUnavailable as exc:  # signed all the same: this device gets it; the next fetch signs again
            log.warning("could not keep the signed pass %s (%s)", pass_id, exc)
        return built

    def _wait(self, pass_id: int, tag: int, key: str) -> tuple[StoredPass | None, str | None]:
        """Wait while another process signs version *tag*: return the row once it holds bytes, a newer version,
        or no claim of that version; with the claim still standing after a whole claim period, also return its
        token (the caller takes it over)."""
        deadline = time.monotonic() + self._claim_seconds
        pause = POLL_FIRST
        seen: str | None = None
        while True:
            with self._read_uow() as uow:
                stored = uow.pass_files.get(pass_id)
            if (stored is None or stored.data is not None or stored.update_tag != tag or stored.build_key != key
                    or stored.claim_token is None or (seen is not None and stored.claim_token != seen)):
                return stored, None
            seen = stored.claim_token
            if time.monotonic() >= deadline:
                return stored, seen
            self._sleep(pause)
            pause = min(pause * 2, POLL_MAX)


#: Seconds a worker signs ahead before it hands the rest of its ``pass_sign`` jobs back (AGAIN, due at once), so
#: the pushes made due meanwhile go out between them instead of after all of them.
SIGN_BUDGET = 2.0


def run_sign_jobs(jobs: Sequence[Job], *, signed: Callable[[], SignedPasses], now: Callable[[], datetime],
                  budget: float = SIGN_BUDGET) -> list[JobResult]:
    """Handle ``pass_sign`` jobs (a JobHandler): sign their passes ahead of the devices' fetches, *budget*
    seconds' worth; the rest comes back (AGAIN, with the pass ids still to sign).

    Signing ahead only saves the fetches work: without certificates (this worker cannot load them) the jobs are
    dropped with a warning, never retried, and the held pushes go out at the end of their hold.
    """
    try:
        signer = signed()
    except (ConfigurationError, CredentialError) as exc:
        log.warning("cannot sign passes ahead (%s); their fetches will sign them", exc)
        return [JobResult(job, JobOutcome.SKIPPED, error=str(exc)) for job in jobs]
    results = []
    deadline = time.monotonic() + budget
    for job in jobs:
        left = deadline - time.monotonic()
        if left <= 0:
            results.append(JobResult(job, JobOutcome.AGAIN, at=now()))
            continue
        until = job.payload.get("hold_until")
        _, rest = signer.sign_ahead_within([int(p) for p in job.payload["pass_ids"]],
                                    hold_until=datetime.fromisoformat(until) if until else None, budget=left)
        results.append(JobResult(job, JobOutcome.AGAIN, at=now(), payload={**job.payload, "pass_ids": rest})
                       if rest else JobResult(job, JobOutcome.DONE))
    return results


def pass_id_for_token(uow: UnitOfWork, public_token: str) -> int | None:
    """The pass behind an unguessable public token, or None (also for text no token has, such as NUL)."""
    if not is_token(public_token):
        return None
    with uow:
        found = uow.passes.by_public_token(public_token)
        return found.id if found else None


def pass_id_for_serial(uow: UnitOfWork, *, member_id: int | None = None, serial: str | None = None) -> int:
    """Find a pass by member id (their member card) or by serial number, for the CLI."""
    with uow:
        if member_id is not None:
            passes = uow.passes.of_member(member_id)
            if not passes:
                raise NotFound(f"member {member_id} not found")
            return passes[0].id
        found = uow.passes.by_serial_any(serial or "")
        if found is None:
            raise NotFound(f"no pass with serial {serial!r}")
        return found.id
