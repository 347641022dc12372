"""The schema in one place: SQLAlchemy 2 mapped classes (SQLite and PostgreSQL).

Alembic migrations under ``storage/migrations`` create exactly these tables; a test compares them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite so autoincrement works there.
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: The largest id an ``Integer`` primary key holds (32-bit INTEGER on PostgreSQL). A larger number names no
#: row, and must not reach the driver: PostgreSQL rejects it ("integer out of range"), SQLite past 2**63 too.
MAX_ID = 2**31 - 1


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class ProgramRow(Base):
    __tablename__ = "programs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    organization_name: Mapped[str] = mapped_column(String(200))
    background_color: Mapped[str] = mapped_column(String(32))
    foreground_color: Mapped[str] = mapped_column(String(32))
    label_color: Mapped[str] = mapped_column(String(32))
    points_label: Mapped[str] = mapped_column(String(64))
    tiers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    locales: Mapped[list[Any]] = mapped_column(JSON, default=list)
    texts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    terms: Mapped[str] = mapped_column(Text, default="")
    #: IANA time zone of the program's day (campaign scheduling, quiet hours)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default=text("'UTC'"))
    #: {"start": "HH:MM", "end": "HH:MM"}: no campaign starts in these hours; null: none
    quiet_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    #: the PassOptions that differ from the defaults (walletpass.domain.programs); null: none
    pass_options: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    member_template: Mapped[str] = mapped_column(String(64), default="member-card")
    coupon_template: Mapped[str] = mapped_column(String(64), default="coupon")
    #: [{"header", "body", "uri"?}]: the program's benefits (Google value-added modules, Apple back fields)
    #: (the database's default only: rows written with the ORM against an older schema leave the column out)
    benefits: Mapped[list[Any]] = mapped_column(JSON, server_default=text("'[]'"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ProgramStoreRow(Base):
    """One store of a program (its place in the list kept): Google ``merchantLocations``, Apple ``locations``."""

    __tablename__ = "program_stores"
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(500), nullable=True)


class ProgramImageRow(Base):
    """One source image of a program (``icon``, ``logo``, ``strip``, ``hero``), already checked by Pillow."""

    __tablename__ = "program_images"
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"), primary_key=True)
    slot: Mapped[str] = mapped_column(String(16), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class MemberRow(Base):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("program_id", "external_id", name="uq_members_program_external"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    member_number: Mapped[str] = mapped_column(String(32), unique=True)
    points: Mapped[int] = mapped_column(Integer, default=0)
    tier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    birthday: Mapped[date | None] = mapped_column(Date, nullable=True)
    phone: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: when the member accepted the program's terms on the enrolment page, and the SHA-256 of the text they saw
    consented_at: Mapped[datetime | None] = mapped_column(nullable=True)
    consent_terms_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    #: when the member was erased (DELETE /members/{id}): personal data gone, passes voided; NULL: not erased
    erased_at: Mapped[datetime | None] = mapped_column(nullable=True)


# Segments (campaigns, bulk coupons) filter a program's members by these: each is index-backed.
Index("ix_members_program_tier", MemberRow.program_id, MemberRow.tier)
Index("ix_members_program_points", MemberRow.program_id, MemberRow.points)
Index("ix_members_program_created", MemberRow.program_id, MemberRow.created_at)
Index("ix_members_program_source", MemberRow.program_id, MemberRow.source)
# Pages of a program's members by id (the API's lists; also the program foreign key's index).
Index("ix_members_program_page", MemberRow.program_id, MemberRow.id)
# Lookups (a till, enrolment that recovers a member): email case-insensitively, phone as normalised.
Index("ix_members_program_email", MemberRow.program_id, func.lower(MemberRow.email))
Index("ix_members_program_phone", MemberRow.program_id, MemberRow.phone)


class MemberImportRow(Base):
    """A bulk import of members from a CSV or NDJSON file, carried out by the job worker: its progress. The rows
    still to import wait in ``member_import_rows``; each chunk deletes its own in the transaction that imports
    them, so a worker that dies mid-import leaves exactly the rows not yet imported."""

    __tablename__ = "member_imports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(8))  # csv | ndjson
    state: Mapped[str] = mapped_column(String(16))  # queued | running | done
    total: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    #: [{row, field, detail}] of the skipped and failed rows (the first MAX_REPORTED of them)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class MemberImportStagedRow(Base):
    """A row of an import's file not imported yet, as the file had it (text; checked when imported)."""

    __tablename__ = "member_import_rows"
    import_id: Mapped[int] = mapped_column(ForeignKey("member_imports.id", ondelete="CASCADE"), primary_key=True)
    row: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    email: Mapped[str | None] = mapped_column(Text, nullable=True)
    phone: Mapped[str | None] = mapped_column(Text, nullable=True)
    external_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    points: Mapped[str | None] = mapped_column(Text, nullable=True)
    birthday: Mapped[str | None] = mapped_column(Text, nullable=True)
    tier: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: "field: detail" of a row the parser could not read (a line that is not a JSON object, a cell too many)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)


class OfferRow(Base):
    __tablename__ = "offers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    discount: Mapped[str] = mapped_column(String(64), default="")
    valid_from: Mapped[datetime | None] = mapped_column(nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(nullable=True)
    terms: Mapped[str] = mapped_column(Text, default="")
    # {locale: {"title": …, "description": …, "discount": …, "terms": …}} — the offer's texts in other languages
    # (server default as in migration 0002, which gives the offers made before it an empty object)
    texts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    #: Google coupons show a rotating (TOTP) barcode (the key is per object: ``wallet_objects.barcode_key``)
    rotating_barcode: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# Pages of a program's offers by id (the API's lists; also the program foreign key's index).
Index("ix_offers_program_page", OfferRow.program_id, OfferRow.id)


class CouponRow(Base):
    __tablename__ = "coupons"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="issued")
    redeemed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# The expiry sweep walks the issued coupons of offers past valid_until: (offer_id, state) finds them.
Index("ix_coupons_offer_state", CouponRow.offer_id, CouponRow.state)
# Pages of an offer's or a member's coupons by id (the API's lists; also the foreign keys' indexes).
Index("ix_coupons_offer_page", CouponRow.offer_id, CouponRow.id)
Index("ix_coupons_member_page", CouponRow.member_id, CouponRow.id)


class CouponIssueRow(Base):
    """A bulk issue of an offer's coupons to a segment of members, done by the job worker (its progress)."""

    __tablename__ = "coupon_issues"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"), index=True)
    segment: Mapped[Any] = mapped_column(JSON, default=dict)  # an object of conditions, or a list of them
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done
    total: Mapped[int] = mapped_column(Integer, default=0)  # members matching (without a coupon) when requested
    issued: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class PassRow(Base):
    """A pass: serial, tokens, update tag; what each wallet knows of it is in ``wallet_objects``."""

    __tablename__ = "passes"
    __table_args__ = (UniqueConstraint("pass_type_id", "serial_number", name="uq_passes_type_serial"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial_number: Mapped[str] = mapped_column(String(64))
    pass_type_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True, index=True)
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id"), nullable=True, index=True)
    authentication_token: Mapped[str] = mapped_column(String(64))
    public_token: Mapped[str] = mapped_column(String(64), unique=True)
    update_tag: Mapped[int] = mapped_column(BigInteger, index=True)
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the campaign whose message the pass shows in its news field (the latest one delivered to it)
    news_campaign_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PassFileRow(Base):
    """The signed ``.pkpass`` of a pass's latest version (signed once, served to every device that asks), or
    the claim of the process signing it now (``data`` NULL, ``claim_token`` set): see services.passes."""

    __tablename__ = "pass_files"
    pass_id: Mapped[int] = mapped_column(ForeignKey("passes.id", ondelete="CASCADE"), primary_key=True)
    update_tag: Mapped[int] = mapped_column(BigInteger)
    build_key: Mapped[str] = mapped_column(String(64))
    last_modified: Mapped[datetime]
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class WalletObjectRow(Base):
    """A wallet provider's copy of a pass: its id there, its state (Google: ``inserted`` by REST, ``saved`` /
    ``deleted`` by the user) and the oldest pass version it may show (``synced_tag``)."""

    __tablename__ = "wallet_objects"
    __table_args__ = (UniqueConstraint("provider", "object_id", name="uq_wallet_objects_provider_object"),
                      Index("ix_wallet_objects_provider_state", "provider", "state", "pass_id"))
    pass_id: Mapped[int] = mapped_column(ForeignKey("passes.id", ondelete="CASCADE"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    object_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    synced_tag: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Samsung: the cc2 of the card's ADDED event (later calls must use it) and the base URL it named (callback)
    region: Mapped[str | None] = mapped_column(String(8), nullable=True)
    callback_url: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: the TOTP key (hex) of the object's rotating barcode; None: none made (never leaves the server but to Google)
    barcode_key: Mapped[str | None] = mapped_column(String(64), nullable=True)


class WalletClassRow(Base):
    """The version (a fingerprint of its body) of a program's or an offer's class known to be at a wallet."""

    __tablename__ = "wallet_classes"
    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # program | offer
    owner_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class CampaignRow(Base):
    """A push campaign: a message to a segment of a program's members, now or at ``send_at``."""

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_program_state", "program_id", "state", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    name: Mapped[str] = mapped_column(String(200), default="")
    #: {locale: text, "*": the default text}; NULL for a campaign with variants
    message: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    #: [{name, weight, message: {locale: text, "*": …}}] (2 or more), or NULL for one message to all
    variants: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    #: per cent of the segment held out (sent nothing; the control group of the stats)
    holdout: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    segment: Mapped[Any] = mapped_column(JSON, default=dict)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"), nullable=True)
    state: Mapped[str] = mapped_column(String(16))  # scheduled | sending | done | cancelled
    send_at: Mapped[datetime]
    total: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class CampaignDeliveryRow(Base):
    """One pass a campaign reaches: written when the campaign starts, in chunks a worker takes one at a time;
    the unique key makes a pass reached once whatever happens to the workers."""

    __tablename__ = "campaign_deliveries"
    __table_args__ = (UniqueConstraint("campaign_id", "pass_id", name="uq_campaign_deliveries_campaign_pass"),
                      Index("ix_campaign_deliveries_chunk", "campaign_id", "chunk", "state"),
                      # partial: only deliveries a wallet reported on (Google's), counted by progress()
                      Index("ix_campaign_deliveries_outcome", "campaign_id", "outcome",
                            postgresql_where=text("outcome IS NOT NULL"), sqlite_where=text("outcome IS NOT NULL")))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    pass_id: Mapped[int] = mapped_column(ForeignKey("passes.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(Integer)
    chunk: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # pending | sent | skipped | cancelled | held_out
    #: the campaign's variant (index) the member was assigned; 0 without variants; NULL when held out
    variant: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    #: when handed to the wallets (sent), cancelled, or — held out — when the campaign started
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    #: what a wallet reported after the hand-over: notified | silent | failed (domain.campaigns.OUTCOMES)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)


class AutomationRow(Base):
    """A program's standing rule (birthday, welcome, win_back): what it gives, to whom, and whether it is on."""

    __tablename__ = "automations"
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"), primary_key=True)
    rule: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"), nullable=True)
    #: {locale: text, "*": the default text}, or null for no message
    message: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    segment: Mapped[Any] = mapped_column(JSON, default=dict)
    days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime]


class AutomationRunRow(Base):
    """A rule fired for a member: the unique key (program, rule, member, period) makes it fire at most once per
    period, whichever workers run it; written in the transaction of the coupon it gives."""

    __tablename__ = "automation_runs"
    __table_args__ = (UniqueConstraint("program_id", "rule", "member_id", "period", name="uq_automation_runs_key"),
                      Index("ix_automation_runs_messages", "program_id", "notify", "campaign_id"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(32))
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id"), nullable=True)
    #: whether the member is to get the rule's message (through a campaign: ``campaign_id`` once it exists)
    notify: Mapped[bool] = mapped_column(Boolean, default=False)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), nullable=True)
    created_at: Mapped[datetime]


class AutomationDayRow(Base):
    """A program's daily run of its automations for one day of its time zone: one row per program and day, so a
    day is queued once (``pending``) however many workers schedule it; ``done`` once it ran."""

    __tablename__ = "automation_days"
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # pending | done
    due_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class CounterRow(Base):
    """Named monotonic counters; ``pass_tag`` orders pass changes (locked row, so commit order = tag order)."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class DeviceRow(Base):
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_library_identifier: Mapped[str] = mapped_column(String(128), unique=True)
    push_token: Mapped[str] = mapped_column(String(4096))  # APNs: 64 hex; FCM registration ids: up to 4 KB
    #: The app that registered (walletpass.domain.devices.PushClient); None: Apple Wallet (rows before 0017).
    push_client: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RegistrationRow(Base):
    __tablename__ = "registrations"
    __table_args__ = (UniqueConstraint("device_id", "pass_id", name="uq_registrations_device_pass"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    pass_id: Mapped[int] = mapped_column(ForeignKey("passes.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    last_pushed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    pushed_tag: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_fetched_at: Mapped[datetime | None] = mapped_column(nullable=True)
    fetched_tag: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: PassWallet's relay for this registration (its ``pushServiceUrl``), else None.
    push_service_url: Mapped[str | None] = mapped_column(String(512), nullable=True)


class OutboxRow(Base):
    """A job recorded in the same transaction as the change that needs it (transactional outbox)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "available_at", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    pass_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    available_at: Mapped[datetime]
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    locked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class WebhookRow(Base):
    """A webhook subscription: where to POST which events, and the secret they are signed with.

    ``locked_until`` / ``locked_by``: the lease of the worker delivering the webhook's events now (one at a time
    per webhook, so a member's events go out in order)."""

    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: the Standard Webhooks secret (whsec_…): kept as is, since every delivery is signed with it
    secret: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime]
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    locked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class WebhookDeliveryRow(Base):
    """An event on its way to one webhook (written in the transaction of the change), and how its tries went.

    The event's values are columns (ids and changed values only), so a change of 100,000 members writes its
    events with one INSERT … SELECT; the body is built from them at each try (domain.webhooks.body)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "webhook_id", "state", "next_attempt_at", "id"),
                      Index("ix_webhook_deliveries_lane", "webhook_id", "member_id", "id"),
                      Index("ix_webhook_deliveries_list", "webhook_id", "id"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | parked
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    program_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: also the delivery's lane: a member's events reach a webhook in id order
    member_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pass_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    coupon_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    offer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    campaign_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    transaction_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    points: Mapped[int | None] = mapped_column(Integer, nullable=True)
    balance: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    previous_tier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    wallet: Mapped[str | None] = mapped_column(String(16), nullable=True)


class LedgerEntryRow(Base):
    """A points transaction: the source of truth of a member's balance."""

    __tablename__ = "ledger_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    points: Mapped[int] = mapped_column(Integer)
    balance: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    api_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime]


# A member's transactions by id (the ledger list; also the member foreign key's index).
Index("ix_ledger_entries_member_page", LedgerEntryRow.member_id, LedgerEntryRow.id)


class ApiKeyRow(Base):
    """An API key: only a prefix (for lookup) and a hash are stored.

    ``key_hash`` is ``hmac-sha256$<hasher id>$<hex>`` (keyed by the instance secret), or passlib's
    ``$pbkdf2-sha256$…`` for a key made before migration 0003, rewritten to the HMAC form on its next use.
    ``programs``: the program ids the key may touch; NULL for every program.
    """

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(24), unique=True)
    key_hash: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    programs: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("api_key_id", "key", name="uq_idempotency_keys_api_key_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


#: Funnel events recorded once per pass at most (walletpass.domain.funnel.ONCE_PER_PASS).
_ONCE_PER_PASS = "kind IN ('apple_install', 'google_save', 'first_transaction', 'samsung_add')"


class PassEventRow(Base):
    """Funnel events for stats (walletpass.domain.funnel): visit, enrol, apple_install, google_save,
    first_transaction, uninstall, with the source of the visit or of the card's member."""

    __tablename__ = "pass_events"
    __table_args__ = (
        Index("ix_pass_events_program_day", "program_id", "day"),
        # The first install, save and transaction of a card: a repeat (another device, a re-save) adds no row.
        Index("uq_pass_events_once", "pass_id", "kind", unique=True, sqlite_where=text(_ONCE_PER_PASS),
              postgresql_where=text(_ONCE_PER_PASS)),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    program_id: Mapped[int] = mapped_column(Integer)
    pass_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD (UTC): narrows a range's scan to its index
    at: Mapped[datetime]


class GoogleCallbackNonceRow(Base):
    __tablename__ = "google_callback_nonces"
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[datetime]
    #: the message's expTimeMillis: after it a replay fails verification, so the nonce may be pruned
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)


class GoogleMessageRow(Base):
    """Messages sent to a Google object, to keep under 3 notifying messages per pass per 24 h."""

    __tablename__ = "google_messages"
    __table_args__ = (Index("ix_google_messages_pass_sent", "pass_id", "sent_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pass_id: Mapped[int] = mapped_column(ForeignKey("passes.id", ondelete="CASCADE"))
    notify: Mapped[bool] = mapped_column(Boolean)
    sent_at: Mapped[datetime]
    #: "message" (addMessage) or "update" (a PATCH with notifyPreference): both count against the cap
    kind: Mapped[str] = mapped_column(String(16), default="message", server_default=text("'message'"))


class PushStatusRow(Base):
    """The APNs state of one topic (pass type), shared by every process: set when Apple answers 403, cleared by
    the next accepted push. /healthz reads it, whichever process sent the push."""

    __tablename__ = "push_status"
    topic: Mapped[str] = mapped_column(String(128), primary_key=True)
    forbidden_at: Mapped[datetime | None] = mapped_column(nullable=True)
    forbidden_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    ok_at: Mapped[datetime | None] = mapped_column(nullable=True)
