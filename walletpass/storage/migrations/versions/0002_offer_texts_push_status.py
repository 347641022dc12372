"""offer texts in other languages; APNs status per topic; bulk coupon issues and the coupon expiry index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

import walletpass.storage.tables

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('texts', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))

    op.create_table('push_status',
    sa.Column('topic', sa.String(length=128), nullable=False),
    sa.Column('forbidden_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('forbidden_reason', sa.Text(), nullable=True),
    sa.Column('ok_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('topic', name=op.f('pk_push_status'))
    )

    # Google: when a callback's message expires (its nonce can be pruned after), and what a message row was.
    with op.batch_alter_table('google_callback_nonces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', walletpass.storage.tables.UTCDateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table('google_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=False,
                                      server_default=sa.text("'message'")))
    op.create_table('coupon_issues',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('segment', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('issued', sa.Integer(), nullable=False),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_coupon_issues_offer_id_offers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_issues'))
    )
    with op.batch_alter_table('coupon_issues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coupon_issues_offer_id'), ['offer_id'], unique=False)
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.create_index('ix_coupons_offer_state', ['offer_id', 'state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('google_messages', schema=None) as batch_op:
        batch_op.drop_column('kind')
    with op.batch_alter_table('google_callback_nonces', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('coupons', schema=None) as batch_op:
        batch_op.drop_index('ix_coupons_offer_state')
    with op.batch_alter_table('coupon_issues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coupon_issues_offer_id'))
    op.drop_table('coupon_issues')
    op.drop_table('push_status')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_column('texts')
