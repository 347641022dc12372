"""webhooks: subscriptions (url, events, signing secret, the delivering worker's lease) and their deliveries
(one per event and webhook, with the event's values as columns, tries, state)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

import walletpass.storage.tables

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhooks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('secret', sa.String(length=120), nullable=False),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('locked_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhooks'))
    )
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('webhook_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    *(sa.Column(name, sa.Integer(), nullable=True) for name in (
        'program_id', 'member_id', 'pass_id', 'coupon_id', 'offer_id', 'campaign_id', 'transaction_id', 'points',
        'balance', 'total')),
    sa.Column('tier', sa.String(length=64), nullable=True),
    sa.Column('previous_tier', sa.String(length=64), nullable=True),
    sa.Column('code', sa.String(length=32), nullable=True),
    sa.Column('wallet', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['webhook_id'], ['webhooks.id'], name=op.f('fk_webhook_deliveries_webhook_id_webhooks'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries',
                    ['webhook_id', 'state', 'next_attempt_at', 'id'])
    op.create_index('ix_webhook_deliveries_lane', 'webhook_deliveries', ['webhook_id', 'member_id', 'id'])
    op.create_index('ix_webhook_deliveries_list', 'webhook_deliveries', ['webhook_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_webhook_deliveries_list', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_lane', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_due', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhooks')
