"""offer texts in other languages; APNs status per topic

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa
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


def downgrade() -> None:
    with op.batch_alter_table('google_messages', schema=None) as batch_op:
        batch_op.drop_column('kind')
    with op.batch_alter_table('google_callback_nonces', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    op.drop_table('push_status')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_column('texts')
