"""campaign deliveries: what a wallet reported after the hand-over (notified, silent: no notification left that
day, failed), counted in a campaign's progress

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campaign_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.String(length=16), nullable=True))
    op.create_index('ix_campaign_deliveries_outcome', 'campaign_deliveries', ['campaign_id', 'outcome'],
                    postgresql_where=sa.text('outcome IS NOT NULL'), sqlite_where=sa.text('outcome IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_campaign_deliveries_outcome', table_name='campaign_deliveries')
    with op.batch_alter_table('campaign_deliveries', schema=None) as batch_op:
        batch_op.drop_column('outcome')
