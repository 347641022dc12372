"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

import walletpass.storage.tables

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=24), nullable=False),
    sa.Column('key_hash', sa.String(length=255), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('prefix', name=op.f('uq_api_keys_prefix'))
    )
    op.create_table('counters',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_counters'))
    )
    op.create_table('devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_library_identifier', sa.String(length=128), nullable=False),
    sa.Column('push_token', sa.String(length=256), nullable=False),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices')),
    sa.UniqueConstraint('device_library_identifier', name=op.f('uq_devices_device_library_identifier'))
    )
    op.create_table('google_callback_nonces',
    sa.Column('nonce', sa.String(length=128), nullable=False),
    sa.Column('received_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('nonce', name=op.f('pk_google_callback_nonces'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('pass_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('available_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('locked_by', sa.String(length=64), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_due', ['available_at', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_pass_id'), ['pass_id'], unique=False)

    op.create_table('pass_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('pass_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pass_events'))
    )
    with op.batch_alter_table('pass_events', schema=None) as batch_op:
        batch_op.create_index('ix_pass_events_program_day', ['program_id', 'day'], unique=False)

    op.create_table('programs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('organization_name', sa.String(length=200), nullable=False),
    sa.Column('background_color', sa.String(length=32), nullable=False),
    sa.Column('foreground_color', sa.String(length=32), nullable=False),
    sa.Column('label_color', sa.String(length=32), nullable=False),
    sa.Column('points_label', sa.String(length=64), nullable=False),
    sa.Column('tiers', sa.JSON(), nullable=False),
    sa.Column('locales', sa.JSON(), nullable=False),
    sa.Column('texts', sa.JSON(), nullable=False),
    sa.Column('terms', sa.Text(), nullable=False),
    sa.Column('member_template', sa.String(length=64), nullable=False),
    sa.Column('coupon_template', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('google_class_version', sa.Integer(), nullable=True),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programs'))
    )
    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('api_key_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_idempotency_keys_api_key_id_api_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('api_key_id', 'key', name='uq_idempotency_keys_api_key_key')
    )
    op.create_table('members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('member_number', sa.String(length=32), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('tier', sa.String(length=64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_members_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members')),
    sa.UniqueConstraint('member_number', name=op.f('uq_members_member_number')),
    sa.UniqueConstraint('program_id', 'external_id', name='uq_members_program_external')
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_members_program_id'), ['program_id'], unique=False)

    op.create_table('offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('discount', sa.String(length=64), nullable=False),
    sa.Column('valid_from', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('valid_until', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('terms', sa.Text(), nullable=False),
    sa.Column('google_class_version', sa.Integer(), nullable=True),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_offers_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offers_program_id'), ['program_id'], unique=False)

    op.create_table('program_images',
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('slot', sa.String(length=16), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('updated_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_program_images_program_id_programs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('program_id', 'slot', name=op.f('pk_program_images'))
    )
    op.create_table('coupons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('redeemed_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_coupons_member_id_members')),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_coupons_offer_id_offers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupons')),
    sa.UniqueConstraint('code', name=op.f('uq_coupons_code'))
    )
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupons_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_coupons_offer_id'), ['offer_id'], unique=False)

    op.create_table('ledger_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('balance', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_ledger_entries_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_entries_member_id'), ['member_id'], unique=False)

    op.create_table('passes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('serial_number', sa.String(length=64), nullable=False),
    sa.Column('pass_type_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('coupon_id', sa.Integer(), nullable=True),
    sa.Column('authentication_token', sa.String(length=64), nullable=False),
    sa.Column('public_token', sa.String(length=64), nullable=False),
    sa.Column('update_tag', sa.BigInteger(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('google_object_id', sa.String(length=255), nullable=True),
    sa.Column('google_state', sa.String(length=16), nullable=True),
    sa.Column('google_synced_tag', sa.BigInteger(), nullable=True),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_passes_coupon_id_coupons')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_passes_member_id_members')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_passes_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passes')),
    sa.UniqueConstraint('google_object_id', name=op.f('uq_passes_google_object_id')),
    sa.UniqueConstraint('pass_type_id', 'serial_number', name='uq_passes_type_serial'),
    sa.UniqueConstraint('public_token', name=op.f('uq_passes_public_token'))
    )
    with op.batch_alter_table('passes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passes_coupon_id'), ['coupon_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_passes_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_passes_program_id'), ['program_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_passes_update_tag'), ['update_tag'], unique=False)

    op.create_table('google_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pass_id', sa.Integer(), nullable=False),
    sa.Column('notify', sa.Boolean(), nullable=False),
    sa.Column('sent_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_google_messages_pass_id_passes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_google_messages'))
    )
    with op.batch_alter_table('google_messages', schema=None) as batch_op:
        batch_op.create_index('ix_google_messages_pass_sent', ['pass_id', 'sent_at'], unique=False)

    op.create_table('registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('pass_id', sa.Integer(), nullable=False),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_pushed_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pushed_tag', sa.BigInteger(), nullable=True),
    sa.Column('last_fetched_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('fetched_tag', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_registrations_device_id_devices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_registrations_pass_id_passes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations')),
    sa.UniqueConstraint('device_id', 'pass_id', name='uq_registrations_device_pass')
    )
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registrations_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registrations_pass_id'), ['pass_id'], unique=False)

    op.bulk_insert(sa.table('counters', sa.column('name', sa.String), sa.column('value', sa.BigInteger)),
                   [{'name': 'pass_tag', 'value': 0}])


def downgrade() -> None:
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registrations_pass_id'))
        batch_op.drop_index(batch_op.f('ix_registrations_device_id'))

    op.drop_table('registrations')
    with op.batch_alter_table('google_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_google_messages_pass_sent')

    op.drop_table('google_messages')
    with op.batch_alter_table('passes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passes_update_tag'))
        batch_op.drop_index(batch_op.f('ix_passes_program_id'))
        batch_op.drop_index(batch_op.f('ix_passes_member_id'))
        batch_op.drop_index(batch_op.f('ix_passes_coupon_id'))

    op.drop_table('passes')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entries_member_id'))

    op.drop_table('ledger_entries')
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupons_offer_id'))
        batch_op.drop_index(batch_op.f('ix_coupons_member_id'))

    op.drop_table('coupons')
    op.drop_table('program_images')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offers_program_id'))

    op.drop_table('offers')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_members_program_id'))

    op.drop_table('members')
    op.drop_table('idempotency_keys')
    op.drop_table('programs')
    with op.batch_alter_table('pass_events', schema=None) as batch_op:
        batch_op.drop_index('ix_pass_events_program_day')

    op.drop_table('pass_events')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_pass_id'))
        batch_op.drop_index('ix_outbox_due')

    op.drop_table('outbox')
    op.drop_table('google_callback_nonces')
    op.drop_table('devices')
    op.drop_table('counters')
    op.drop_table('api_keys')
