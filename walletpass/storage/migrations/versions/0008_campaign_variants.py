"""A/B and holdout for push campaigns: a campaign's message variants and holdout percentage, the variant each
delivery was assigned (or held_out), and the campaign a bulk coupon issue belongs to

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.alter_column('message', existing_type=sa.JSON(), nullable=True)
        batch_op.add_column(sa.Column('variants', sa.JSON(none_as_null=True), nullable=True))
        batch_op.add_column(sa.Column('holdout', sa.Float(), nullable=False, server_default=sa.text('0')))
    with op.batch_alter_table('campaign_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variant', sa.SmallInteger(), nullable=True))
    op.execute("UPDATE campaign_deliveries SET variant = 0")  # every earlier campaign had one message


def downgrade() -> None:
    with op.batch_alter_table('campaign_deliveries', schema=None) as batch_op:
        batch_op.drop_column('variant')
    op.execute("UPDATE campaign_deliveries SET state = 'skipped' WHERE state = 'held_out'")  # never sent
    # a campaign with variants keeps its first variant's message (the column holds one message again)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("UPDATE campaigns SET message = variants->0->'message' WHERE message IS NULL")
    else:
        op.execute("UPDATE campaigns SET message = json_extract(variants, '$[0].message') WHERE message IS NULL")
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('holdout')
        batch_op.drop_column('variants')
        batch_op.alter_column('message', existing_type=sa.JSON(), nullable=False)
