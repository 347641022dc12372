"""Repositories: every query walletpass makes, returning mapped rows or domain values.

Services reach the database only through these methods (via the unit of work).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, bindparam, case, delete, func, insert, literal, null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from walletpass.domain.members import Member
from walletpass.domain.offers import Coupon, Offer
from walletpass.domain.passes import PassRef, next_last_modified
from walletpass.domain.programs import Program, Tier
from walletpass.domain.segments import Segment
from walletpass.errors import Conflict, NotFound
from walletpass.storage.tables import (
    MAX_ID,
    ApiKeyRow,
    CounterRow,
    CouponIssueRow,
    CouponRow,
    DeviceRow,
    GoogleCallbackNonceRow,
    GoogleMessageRow,
    IdempotencyKeyRow,
    LedgerEntryRow,
    MemberRow,
    OfferRow,
    OutboxRow,
    PassEventRow,
    PassRow,
    ProgramImageRow,
    ProgramRow,
    RegistrationRow,
    UTCDateTime,
)

#: Passes whose Google object exists (inserted by REST, or saved by the user): changes are patched there.
GOOGLE_SYNCED_STATES = ("inserted", "saved")
#: ``available_at`` of a parked job: kept (with ``last_error``) for the operator, never claimed again.
PARKED_AT = datetime(9999, 1, 1, tzinfo=UTC)


def constraint_of(exc: IntegrityError) -> str:
    """The first line of the database's message: which constraint a write broke."""
    text = str(exc.orig).splitlines()[0] if exc.orig is not None else "integrity error"
    return text[:200]


def _is_id(ident: object) -> bool:
    """Whether *ident* can be a row id (a path segment may carry any integer, e.g. 10**30)."""
    return isinstance(ident, int) and not isinstance(ident, bool) and 0 < ident <= MAX_ID


# -- row → domain -----------------------------------------------------------------------------
def to_program(row: ProgramRow) -> Program:
    return Program(
        id=row.id, name=row.name, organization_name=row.organization_name,
        background_color=row.background_color, foreground_color=row.foreground_color,
        label_color=row.label_color, points_label=row.points_label,
        tiers=tuple(Tier(**t) for t in row.tiers), locales=tuple(row.locales), terms=row.terms,
        texts=row.texts, updated_at=row.updated_at, version=row.version,
    )


def to_member(row: MemberRow) -> Member:
    return Member(id=row.id, program_id=row.program_id, name=row.name, member_number=row.member_number,
                  points=row.points, tier=row.tier, email=row.email, external_id=row.external_id,
                  created_at=row.created_at)


def to_offer(row: OfferRow) -> Offer:
    return Offer(id=row.id, program_id=row.program_id, title=row.title, description=row.description,
                 discount=row.discount, valid_from=row.valid_from, valid_until=row.valid_until, terms=row.terms,
                 texts=row.texts or {})


def to_coupon(row: CouponRow) -> Coupon:
    return Coupon(id=row.id, offer_id=row.offer_id, code=row.code, state=row.state, member_id=row.member_id,
                  redeemed_at=row.redeemed_at)


def to_pass_ref(row: PassRow) -> PassRef:
    return PassRef(serial_number=row.serial_number, pass_type_id=row.pass_type_id,
                   authentication_token=row.authentication_token, kind=row.kind,
                   update_tag=row.update_tag, updated_at=row.updated_at, voided=row.voided)


#: Read on every pass build: built once (its cache key is memoised), not per call.
_PROGRAM_IMAGES = (select(ProgramImageRow).where(ProgramImageRow.program_id == bindparam("program_id"))
                   .order_by(ProgramImageRow.slot))


class Repositories:
    """All queries over one session."""

    def __init__(self, session: Session) -> None:
        self._s = session

    # -- generic --------------------------------------------------------------------------------
    def add(self, row: Any) -> Any:
        """Insert *row* now; a unique or foreign key it breaks (e.g. a concurrent insert committed first) is a
        Conflict, never a bare driver error. The transaction is then spoilt: the caller's unit of work rolls back.
        """
        self._s.add(row)
        try:
            self._s.flush()
        except IntegrityError as exc:
            raise Conflict("conflicts with existing data: " + constraint_of(exc)) from exc
        return row

    def add_unless_taken(self, row: Any) -> bool:
        """Insert *row* in a savepoint; False (nothing written, the transaction still usable) when a unique key
        of it is taken — also by a concurrent transaction that committed while this one waited on the index.
        """
        try:
            with self._s.begin_nested():
                self._s.add(row)
        except IntegrityError:
            return False
        return True

    def _get(self, cls: type, ident: int, what: str, *, for_update: bool = False) -> Any:
        if not _is_id(ident):
            raise NotFound(f"{what} {ident!r} not found")
        # Session.get: the mapper's cached primary-key load (or the identity map), not a SELECT built per call.
        row = self._s.get(cls, ident, with_for_update=True if for_update else None)
        if row is None:
            raise NotFound(f"{what} {ident} not found")
        return row

    # -- creation -------------------------------------------------------------------------------
    def add_program(self, **values: Any) -> ProgramRow:
        return self.add(ProgramRow(**values))

    def add_member(self, **values: Any) -> MemberRow:
        return self.add(MemberRow(**values))

    def add_offer(self, **values: Any) -> OfferRow:
        return self.add(OfferRow(**values))

    def add_coupon(self, **values: Any) -> CouponRow:
        return self.add(CouponRow(**values))

    def add_pass(self, **values: Any) -> PassRow:
        return self.add(PassRow(**values))

    def add_api_key(self, **values: Any) -> ApiKeyRow:
        return self.add(ApiKeyRow(**values))

    def save_idempotency(self, api_key_id: int, key: str, request_hash: str, status: int,
                         response: dict[str, Any], now: datetime) -> None:
        self.add(IdempotencyKeyRow(api_key_id=api_key_id, key=key, request_hash=request_hash, status=status,
                                   response=response, created_at=now))

    # -- counters / tags --------------------------------------------------------------------------
    def next_tag(self) -> int:
        """Take the next pass update tag; the counter row stays locked until commit, so tags commit in order."""
        return int(self._s.execute(
            update(CounterRow).where(CounterRow.name == "pass_tag")
            .values(value=CounterRow.value + 1).returning(CounterRow.value)
        ).scalar_one())

    def current_tag(self) -> int:
        return int(self._s.scalar(select(CounterRow.value).where(CounterRow.name == "pass_tag")) or 0)

    # -- programs --------------------------------------------------------------------------------
    def program(self, program_id: int) -> ProgramRow:
        return self._get(ProgramRow, program_id, "program")

    def programs(self) -> Sequence[ProgramRow]:
        return self._s.scalars(select(ProgramRow).order_by(ProgramRow.id)).all()

    def program_images(self, program_id: int) -> tuple[dict[str, bytes], str]:
        """The program's uploaded source images by slot, and a cache key that changes with them."""
        rows = self._s.scalars(_PROGRAM_IMAGES, {"program_id": program_id}).all()
        return {r.slot: r.data for r in rows}, ",".join(f"{r.slot}:{r.sha256[:16]}" for r in rows)

    def program_image(self, program_id: int, slot: str) -> ProgramImageRow | None:
        return self._s.get(ProgramImageRow, (program_id, slot))

    def put_program_image(self, program_id: int, slot: str, content_type: str, data: bytes, sha256: str,
                          now: datetime) -> None:
        row = self._s.get(ProgramImageRow, (program_id, slot))
        if row is None:
            self._s.add(ProgramImageRow(program_id=program_id, slot=slot, content_type=content_type, data=data,
                                        sha256=sha256, updated_at=now))
        else:
            row.content_type, row.data, row.sha256, row.updated_at = content_type, data, sha256, now
        self._s.flush()

    # -- members ----------------------------------------------------------------------------------
    def member(self, member_id: int, *, for_update: bool = False) -> MemberRow:
        return self._get(MemberRow, member_id, "member", for_update=for_update)

    def member_by_external_id(self, program_id: int, external_id: str) -> MemberRow | None:
        return self._s.scalars(select(MemberRow).where(MemberRow.program_id == program_id,
                                                       MemberRow.external_id == external_id)).first()

    def member_number_taken(self, number: str) -> bool:
        return self._s.scalar(select(func.count()).where(MemberRow.member_number == number)) > 0

    # -- offers / coupons --------------------------------------------------------------------------
    def offer(self, offer_id: int, *, for_update: bool = False) -> OfferRow:
        return self._get(OfferRow, offer_id, "offer", for_update=for_update)

    def coupon(self, coupon_id: int, *, for_update: bool = False) -> CouponRow:
        return self._get(CouponRow, coupon_id, "coupon", for_update=for_update)

    def coupon_code_taken(self, code: str) -> bool:
        return self._s.scalar(select(func.count()).where(CouponRow.code == code)) > 0

    def coupon_counts(self, offer_id: int) -> dict[str, int]:
        """The offer's coupons by stored state."""
        rows = self._s.execute(select(CouponRow.state, func.count()).where(CouponRow.offer_id == offer_id)
                               .group_by(CouponRow.state)).all()
        return {state: int(n) for state, n in rows}

    def add_coupon_issue(self, **values: Any) -> CouponIssueRow:
        return self.add(CouponIssueRow(**values))

    def coupon_issue(self, issue_id: int, *, for_update: bool = False) -> CouponIssueRow:
        return self._get(CouponIssueRow, issue_id, "coupon issue", for_update=for_update)

    def coupon_issues(self, offer_id: int) -> Sequence[CouponIssueRow]:
        return self._s.scalars(select(CouponIssueRow).where(CouponIssueRow.offer_id == offer_id)
                               .order_by(CouponIssueRow.id)).all()

    @staticmethod
    def _segment_without_coupon(program_id: int, segment: Segment, offer_id: int) -> list[Any]:
        """Members of *segment* in the program who hold no coupon of *offer_id* yet."""
        holds = select(CouponRow.id).where(CouponRow.offer_id == offer_id, CouponRow.member_id == MemberRow.id)
        where: list[Any] = [MemberRow.program_id == program_id, ~holds.exists()]
        if segment.tiers is not None:
            where.append(MemberRow.tier.in_(segment.tiers))
        if segment.min_points is not None:
            where.append(MemberRow.points >= segment.min_points)
        return where

    def segment_members_without_coupon(self, program_id: int, segment: Segment, offer_id: int,
                                       limit: int) -> Sequence[MemberRow]:
        return self._s.scalars(select(MemberRow).where(*self._segment_without_coupon(program_id, segment, offer_id))
                               .order_by(MemberRow.id).limit(limit)).all()

    def count_segment_members_without_coupon(self, program_id: int, segment: Segment, offer_id: int) -> int:
        return int(self._s.scalar(select(func.count()).select_from(MemberRow).where(
            *self._segment_without_coupon(program_id, segment, offer_id))) or 0)

    def expiring_coupons(self, now: datetime, limit: int) -> Sequence[CouponRow]:
        """Issued coupons whose offer ended by *now*, locked (skipping rows another sweep holds)."""
        return self._s.scalars(
            select(CouponRow).join(OfferRow, OfferRow.id == CouponRow.offer_id)
            .where(CouponRow.state == "issued", OfferRow.valid_until <= now)
            .order_by(CouponRow.id).limit(limit).with_for_update(of=CouponRow, skip_locked=True)).all()

    # -- passes ------------------------------------------------------------------------------------
    def pass_(self, pass_id: int, *, for_update: bool = False) -> PassRow:
        return self._get(PassRow, pass_id, "pass", for_update=for_update)

    def pass_by_public_token(self, token: str) -> PassRow | None:
        return self._s.scalars(select(PassRow).where(PassRow.public_token == token)).first()

    def pass_by_serial(self, pass_type_id: str, serial: str) -> PassRow | None:
        return self._s.scalars(select(PassRow).where(PassRow.pass_type_id == pass_type_id,
                                                     PassRow.serial_number == serial)).first()

    def pass_by_serial_any(self, serial: str) -> PassRow | None:
        return self._s.scalars(select(PassRow).where(PassRow.serial_number == serial)).first()

    def pass_by_google_object(self, object_id: str) -> PassRow | None:
        return self._s.scalars(select(PassRow).where(PassRow.google_object_id == object_id)).first()

    def member_passes(self, member_id: int) -> Sequence[PassRow]:
        if not _is_id(member_id):
            return []
        return self._s.scalars(select(PassRow).where(PassRow.member_id == member_id).order_by(PassRow.id)).all()

    def coupon_passes(self, coupon_id: int) -> Sequence[PassRow]:
        return self._s.scalars(select(PassRow).where(PassRow.coupon_id == coupon_id)).all()

    def member_coupon_passes(self, member_id: int) -> Sequence[PassRow]:
        """The passes of the coupons issued to *member_id* (they show the member's name)."""
        return self._s.scalars(select(PassRow).join(CouponRow, CouponRow.id == PassRow.coupon_id)
                               .where(CouponRow.member_id == member_id).order_by(PassRow.id)).all()

    def program_passes(self, program_id: int) -> Sequence[PassRow]:
        return self._s.scalars(select(PassRow).where(PassRow.program_id == program_id).order_by(PassRow.id)).all()

    def touch_passes(self, rows: Iterable[PassRow], now: datetime, *, reason: str,
                     coalesce_seconds: float = 0.0) -> int:
        """Mark *rows* changed: one new tag, a strictly later Last-Modified, and an outbox job each.

        The job is written in this same transaction (the caller commits), so a change that commits
        always has its push recorded. Last-Modified is computed from the rows as they are once the tag
        counter is held: a change of the same pass that committed while this one waited for the counter
        has a smaller tag, and must have an earlier Last-Modified too (not the one read before waiting).
        """
        rows = list(rows)
        if not rows:
            return self.current_tag()
        tag = self.next_tag()
        latest = dict(self._s.execute(select(PassRow.id, PassRow.updated_at)
                                      .where(PassRow.id.in_([row.id for row in rows]))).all())
        for row in rows:
            row.update_tag = tag
            row.updated_at = next_last_modified(max(row.updated_at, latest.get(row.id, row.updated_at)), now)
            self.enqueue_pass_update(row.id, now, reason=reason, coalesce_seconds=coalesce_seconds)
            if row.google_state in GOOGLE_SYNCED_STATES:
                self.enqueue_google_sync(row.id, now, reason=reason, coalesce_seconds=coalesce_seconds)
        self._s.flush()
        return tag

    @staticmethod
    def change_row(row: Any, values: Mapping[str, Any], now: datetime) -> set[str]:
        """Set the *values* that differ on a versioned *row* (bumping ``version`` and ``updated_at`` if any did);
        return the names of those that changed."""
        changed = {k for k, v in values.items() if getattr(row, k) != v}
        if changed:
            for key in changed:
                setattr(row, key, values[key])
            row.version += 1
            row.updated_at = now
        return changed

    def touch_program_passes(self, program_id: int, now: datetime, *, reason: str,
                             coalesce_seconds: float = 0.0) -> int:
        """:meth:`touch_passes` for every pass of a program, set-based: a handful of statements, whether the
        program has ten passes or 100,000 (no ORM object per pass). One tag for all; return it.

        Last-Modified moves to this second, or one second past a row's own value when that is not earlier
        (the rule of ``next_last_modified``), read once the tag counter is held. Every pass gets a job of its own
        (none is merged into a pending one, which a worker may be claiming), and each Google object a sync.
        """
        self._s.flush()
        of_program = PassRow.program_id == program_id
        if not self._s.scalar(select(func.count()).select_from(PassRow).where(of_program)):
            return self.current_tag()
        tag = self.next_tag()
        second = now.replace(microsecond=0)
        late = self._s.scalars(select(PassRow.updated_at).where(of_program, PassRow.updated_at >= second)
                               .distinct()).all()
        for previous in sorted(late, reverse=True):  # latest first: a moved row never meets a later UPDATE
            self._s.execute(update(PassRow).where(of_program, PassRow.updated_at == previous)
                            .values(update_tag=tag, updated_at=next_last_modified(previous, now)))
        self._s.execute(update(PassRow).where(of_program, PassRow.updated_at < second)
                        .values(update_tag=tag, updated_at=second))
        self._enqueue_for(select(PassRow.id).where(of_program), "pass_changed", reason, now, coalesce_seconds)
        self._enqueue_for(select(PassRow.id).where(of_program, PassRow.google_state.in_(GOOGLE_SYNCED_STATES)),
                          "google_sync", reason, now, coalesce_seconds)
        self._s.expire_all()  # rows loaded before hold the old tag and time
        return tag

    def _enqueue_for(self, pass_ids: Any, kind: str, reason: str, now: datetime, delay_seconds: float) -> None:
        """One *kind* job per pass id the select yields: INSERT … SELECT, in the caller's transaction."""
        stamp = UTCDateTime()
        rows = pass_ids.add_columns(
            # no CAST: SQLite's CAST(… AS JSON) has numeric affinity and stored the payload as 0
            literal(kind), literal({"reasons": [reason]}, JSON), literal(0),
            literal(now, stamp), literal(now + timedelta(seconds=delay_seconds), stamp))
        self._s.execute(insert(OutboxRow).from_select(
            ["pass_id", "kind", "payload", "attempts", "created_at", "available_at"], rows))
        self.outbox_written()

    def outbox_written(self) -> None:
        """Hook: outbox rows were written without :meth:`enqueue` (the unit of work then kicks the workers)."""

    def recompute_tiers(self, program_id: int, tiers: Sequence[Tier], now: datetime) -> int:
        """Set every member's tier from their points and *tiers* (set-based); return how many changed."""
        ranked = sorted(tiers, key=lambda t: t.min_points, reverse=True)
        tier = case(*[(MemberRow.points >= t.min_points, t.name) for t in ranked]) if ranked else null()
        result = self._s.execute(
            update(MemberRow).where(MemberRow.program_id == program_id, MemberRow.tier.is_distinct_from(tier))
            .values(tier=tier, version=MemberRow.version + 1, updated_at=now)
            .execution_options(synchronize_session=False))
        self._s.expire_all()
        return int(result.rowcount or 0)

    # -- outbox --------------------------------------------------------------------------------------
    def enqueue(self, kind: str, payload: dict[str, Any], now: datetime, *, pass_id: int | None = None,
                delay_seconds: float = 0.0) -> OutboxRow:
        row = OutboxRow(kind=kind, pass_id=pass_id, payload=payload, attempts=0, created_at=now,
                        available_at=now + timedelta(seconds=delay_seconds))
        self._s.add(row)
        return row

    def enqueue_pass_update(self, pass_id: int, now: datetime, *, reason: str, coalesce_seconds: float,
                            kind: str = "pass_changed") -> None:
        """Record that *pass_id* changed (a *kind* job: ``pass_changed``, or ``google_sync``). A pending job for
        the same pass that has not been tried yet absorbs this one (several changes within the window become one
        push).

        A job already tried and waiting out a backoff (429/5xx, or parked after a 403) is left alone: it
        holds only the devices that failed, and merging a new change into it would make every device wait
        for that backoff. The new change gets a job of its own, due after the coalescing window.

        A job a worker has claimed, or is claiming, is never merged into: the worker may already have read the
        old version, and this change would then commit with no push of its own. The pending job is locked
        (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) so no claim can take it before this transaction ends, and
        one a claim holds locked is skipped; on SQLite the write lock already keeps claims out.
        """
        pending = self._s.scalars(
            select(OutboxRow).where(OutboxRow.kind == kind, OutboxRow.pass_id == pass_id,
                                    OutboxRow.locked_until.is_(None), OutboxRow.locked_by.is_(None),
                                    OutboxRow.attempts == 0)
            .limit(1).with_for_update(skip_locked=True)
        ).first()
        if pending is not None:
            reasons = list(pending.payload.get("reasons", []))
            if reason not in reasons:
                pending.payload = {**pending.payload, "reasons": [*reasons, reason][-10:]}
            return
        self.enqueue(kind, {"reasons": [reason]}, now, pass_id=pass_id, delay_seconds=coalesce_seconds)

    # Parked jobs (available_at = PARKED_AT) are counted by parked_jobs() alone: they wait for nobody.
    def outbox_backlog(self) -> int:
        return int(self._s.scalar(select(func.count()).select_from(OutboxRow)
                                  .where(OutboxRow.available_at < PARKED_AT)) or 0)

    def oldest_outbox(self) -> datetime | None:
        return self._s.scalar(select(func.min(OutboxRow.created_at)).where(OutboxRow.available_at < PARKED_AT))

    def oldest_due_outbox(self, now: datetime) -> datetime | None:
        """When the job that has waited longest for a worker became due (None when no job is due)."""
        return self._s.scalar(select(func.min(OutboxRow.available_at)).where(OutboxRow.available_at <= now))

    def failing_outbox(self, min_attempts: int) -> int:
        """Jobs tried *min_attempts* times or more and still not done (devices unreachable, or parked on 403)."""
        return int(self._s.scalar(select(func.count()).select_from(OutboxRow)
                                  .where(OutboxRow.attempts >= min_attempts,
                                         OutboxRow.available_at < PARKED_AT)) or 0)

    # -- ledger, idempotency, api keys, events -------------------------------------------------------
    def add_ledger_entry(self, member_id: int, points: int, balance: int, reason: str, api_key_id: int | None,
                         now: datetime) -> LedgerEntryRow:
        return self.add(LedgerEntryRow(member_id=member_id, points=points, balance=balance, reason=reason,
                                       api_key_id=api_key_id, created_at=now))

    def ledger(self, member_id: int) -> Sequence[LedgerEntryRow]:
        return self._s.scalars(select(LedgerEntryRow).where(LedgerEntryRow.member_id == member_id)
                               .order_by(LedgerEntryRow.id)).all()

    def idempotency(self, api_key_id: int, key: str) -> IdempotencyKeyRow | None:
        return self._s.scalars(select(IdempotencyKeyRow).where(IdempotencyKeyRow.api_key_id == api_key_id,
                                                               IdempotencyKeyRow.key == key)).first()

    def api_key_by_prefix(self, prefix: str) -> ApiKeyRow | None:
        return self._s.scalars(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix)).first()

    def api_keys(self) -> Sequence[ApiKeyRow]:
        return self._s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id)).all()

    def record_event(self, program_id: int, kind: str, now: datetime, *, pass_id: int | None = None,
                     source: str | None = None) -> None:
        self._s.add(PassEventRow(program_id=program_id, pass_id=pass_id, kind=kind, source=source,
                                 day=now.date().isoformat(), at=now))

    def event_counts(self, program_id: int) -> Sequence[tuple[str, str | None, str, int]]:
        """(day, source, kind, count) rows for a program's funnel."""
        stmt = (select(PassEventRow.day, PassEventRow.source, PassEventRow.kind, func.count())
                .where(PassEventRow.program_id == program_id)
                .group_by(PassEventRow.day, PassEventRow.source, PassEventRow.kind)
                .order_by(PassEventRow.day, PassEventRow.source, PassEventRow.kind))
        return [(d, s, k, int(n)) for d, s, k, n in self._s.execute(stmt).all()]

    # -- devices / registrations (Apple web service) ------------------------------------------------
    def device(self, device_library_identifier: str) -> DeviceRow | None:
        return self._s.scalars(select(DeviceRow).where(
            DeviceRow.device_library_identifier == device_library_identifier)).first()

    def add_device(self, device_library_identifier: str, push_token: str, now: datetime) -> DeviceRow:
        """The device row, inserted now — or the one a concurrent first registration of it committed."""
        row = DeviceRow(device_library_identifier=device_library_identifier, push_token=push_token,
                        created_at=now, updated_at=now)
        if self.add_unless_taken(row):
            return row
        existing = self.device(device_library_identifier)
        if existing is None:  # the other transaction's device is gone again (unregistered meanwhile)
            raise Conflict(f"device {device_library_identifier} changed concurrently; try again")
        return existing

    def add_registration(self, device_id: int, pass_id: int, now: datetime) -> bool:
        """Register the device for the pass; False when it already was (also by a concurrent request)."""
        return self.add_unless_taken(RegistrationRow(device_id=device_id, pass_id=pass_id, created_at=now))

    def stale_devices(self, older_than: datetime) -> int:
        """Devices with a registration pushed before *older_than* whose pass they have not fetched since."""
        return int(self._s.scalar(select(func.count(RegistrationRow.device_id.distinct())).where(
            RegistrationRow.last_pushed_at.is_not(None), RegistrationRow.last_pushed_at < older_than,
            (RegistrationRow.fetched_tag.is_(None)) | (RegistrationRow.fetched_tag < RegistrationRow.pushed_tag),
        )) or 0)

    def registration(self, device_id: int, pass_id: int) -> RegistrationRow | None:
        return self._s.scalars(select(RegistrationRow).where(RegistrationRow.device_id == device_id,
                                                             RegistrationRow.pass_id == pass_id)).first()

    def delete_registration(self, reg: RegistrationRow) -> None:
        device_id = reg.device_id
        self._s.delete(reg)
        self._s.flush()
        left = self._s.scalar(select(func.count()).where(RegistrationRow.device_id == device_id))
        if not left:
            self._s.execute(delete(DeviceRow).where(DeviceRow.id == device_id))

    def pass_devices(self, pass_id: int) -> Sequence[tuple[RegistrationRow, DeviceRow]]:
        stmt = (select(RegistrationRow, DeviceRow).join(DeviceRow, DeviceRow.id == RegistrationRow.device_id)
                .where(RegistrationRow.pass_id == pass_id).order_by(RegistrationRow.id))
        return [(r, d) for r, d in self._s.execute(stmt).all()]

    def push_targets(self, pass_ids: Sequence[int]) -> list[tuple[int, int, str, str, int]]:
        """(registration id, pass id, pass type id, push token, pass tag) for every device of *pass_ids*."""
        if not pass_ids:
            return []
        stmt = (select(RegistrationRow.id, PassRow.id, PassRow.pass_type_id, DeviceRow.push_token,
                       PassRow.update_tag)
                .join(PassRow, PassRow.id == RegistrationRow.pass_id)
                .join(DeviceRow, DeviceRow.id == RegistrationRow.device_id)
                .where(RegistrationRow.pass_id.in_(list(pass_ids))).order_by(RegistrationRow.id))
        return [(r, p, t, tok, int(tag)) for r, p, t, tok, tag in self._s.execute(stmt).all()]

    def mark_pushed(self, pushed: Sequence[tuple[int, int]], now: datetime) -> None:
        """Record a successful push of version *tag* to registration *reg_id* for each (reg_id, tag)."""
        for reg_id, tag in pushed:
            self._s.execute(update(RegistrationRow).where(RegistrationRow.id == reg_id)
                            .values(last_pushed_at=now, pushed_tag=tag))

    def forget_push_tokens(self, tokens: Sequence[str]) -> int:
        """APNs said these tokens are dead (410 / BadDeviceToken): delete their devices and registrations."""
        if not tokens:
            return 0
        ids = self._s.scalars(select(DeviceRow.id).where(DeviceRow.push_token.in_(list(tokens)))).all()
        if ids:
            self._s.execute(delete(RegistrationRow).where(RegistrationRow.device_id.in_(ids)))
            self._s.execute(delete(DeviceRow).where(DeviceRow.id.in_(ids)))
        return len(ids)

    def registration_count(self) -> int:
        return int(self._s.scalar(select(func.count()).select_from(RegistrationRow)) or 0)

    # -- Google -------------------------------------------------------------------------------------
    def enqueue_google_sync(self, pass_id: int, now: datetime, *, reason: str, coalesce_seconds: float) -> None:
        """Record that *pass_id*'s Google object must be patched; an untried, unclaimed job for it absorbs this
        change (merged exactly as :meth:`enqueue_pass_update` merges pushes: never into a claimed job)."""
        self.enqueue_pass_update(pass_id, now, reason=reason, coalesce_seconds=coalesce_seconds, kind="google_sync")

    def drop_parked_jobs(self, kind: str, pass_id: int) -> None:
        """A newer job for the pass succeeded: its parked jobs of *kind* are out of date."""
        self._s.execute(delete(OutboxRow).where(OutboxRow.kind == kind, OutboxRow.pass_id == pass_id,
                                                OutboxRow.available_at >= PARKED_AT))

    def parked_jobs(self) -> dict[str, int]:
        """Parked jobs by kind (for /metrics)."""
        stmt = (select(OutboxRow.kind, func.count()).where(OutboxRow.available_at >= PARKED_AT)
                .group_by(OutboxRow.kind))
        return {kind: int(n) for kind, n in self._s.execute(stmt).all()}

    def claim_callback_nonce(self, nonce: str, now: datetime, expires_at: datetime | None = None) -> bool:
        """True the first time *nonce* is seen (the caller commits); False for a replay.

        ``INSERT … ON CONFLICT DO NOTHING``: two deliveries of one callback at the same moment cannot both
        insert; the second waits for the first's commit (PostgreSQL) or the write lock (SQLite) and is a replay.
        """
        values = {"nonce": nonce, "received_at": now, "expires_at": expires_at}
        dialect = self._s.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = (insert(GoogleCallbackNonceRow).values(**values).on_conflict_do_nothing(index_elements=["nonce"])
                .returning(GoogleCallbackNonceRow.nonce))
        return self._s.execute(stmt).first() is not None

    def prune_callback_nonces(self, now: datetime) -> int:
        """Forget nonces whose message has expired (a replay fails verification anyway); return how many."""
        result = self._s.execute(delete(GoogleCallbackNonceRow).where(GoogleCallbackNonceRow.expires_at < now))
        return int(result.rowcount or 0)

    def reserve_notification(self, pass_id: int, kind: str, wanted: bool, now: datetime, *, limit: int,
                             window: timedelta) -> tuple[int, bool]:
        """Decide and record whether a message/update to *pass_id* may notify: (record id, notify).

        Notifying messages and notifying updates share one cap per pass (google.md §3.5). The pass row is
        locked first, so two senders cannot both take the last slot; the caller commits, then sends, and
        :meth:`forget_notification` the record if nothing was sent.
        """
        self.pass_(pass_id, for_update=True)
        notify = wanted
        if wanted:
            recent = self._s.scalar(select(func.count()).where(
                GoogleMessageRow.pass_id == pass_id, GoogleMessageRow.notify.is_(True),
                GoogleMessageRow.sent_at > now - window)) or 0
            notify = recent < limit
        row = self.add(GoogleMessageRow(pass_id=pass_id, notify=notify, sent_at=now, kind=kind))
        return row.id, notify

    def forget_notification(self, record_id: int) -> None:
        self._s.execute(delete(GoogleMessageRow).where(GoogleMessageRow.id == record_id))

    def set_notification(self, record_id: int, notify: bool) -> None:
        self._s.execute(update(GoogleMessageRow).where(GoogleMessageRow.id == record_id).values(notify=notify))

    def google_messages(self, pass_id: int) -> Sequence[GoogleMessageRow]:
        return self._s.scalars(select(GoogleMessageRow).where(GoogleMessageRow.pass_id == pass_id)
                               .order_by(GoogleMessageRow.id)).all()

    def program_offers(self, program_id: int) -> Sequence[OfferRow]:
        return self._s.scalars(select(OfferRow).where(OfferRow.program_id == program_id).order_by(OfferRow.id)).all()

    def passes_of_coupons(self, coupon_ids: Sequence[int]) -> Sequence[PassRow]:
        """The passes of the coupons *coupon_ids*, in one query."""
        if not coupon_ids:
            return []
        return self._s.scalars(select(PassRow).where(PassRow.coupon_id.in_(list(coupon_ids)))
                               .order_by(PassRow.id)).all()
