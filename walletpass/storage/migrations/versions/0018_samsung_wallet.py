"""Samsung Wallet: wallet_objects.region (the cc2 of a card's ADDED event) and callback_url (the base URL Samsung
named); the funnel's samsung_add event is recorded once per card (the partial unique index covers it)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_OLD = "kind IN ('apple_install', 'google_save', 'first_transaction')"
_NEW = "kind IN ('apple_install', 'google_save', 'first_transaction', 'samsung_add')"


def _index(where: str) -> None:
    with op.batch_alter_table('pass_events', schema=None) as batch_op:
        batch_op.create_index('uq_pass_events_once', ['pass_id', 'kind'], unique=True,
                              sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def _drop_index(where: str) -> None:
    with op.batch_alter_table('pass_events', schema=None) as batch_op:
        batch_op.drop_index('uq_pass_events_once', sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def upgrade() -> None:
    with op.batch_alter_table('wallet_objects') as batch:
        batch.add_column(sa.Column('region', sa.String(length=8), nullable=True))
        batch.add_column(sa.Column('callback_url', sa.String(length=255), nullable=True))
    _drop_index(_OLD)
    _index(_NEW)


def downgrade() -> None:
    _drop_index(_NEW)
    op.execute("DELETE FROM pass_events WHERE kind = 'samsung_add'")
    _index(_OLD)
    with op.batch_alter_table('wallet_objects') as batch:
        batch.drop_column('callback_url')
        batch.drop_column('region')
