"""push campaigns: campaigns, their deliveries (one per pass reached, in chunks), the news a pass shows, a
program's time zone and quiet hours

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

import walletpass.storage.tables

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=False, server_default=sa.text("'UTC'")))
        batch_op.add_column(sa.Column('quiet_hours', sa.JSON(none_as_null=True), nullable=True))
    op.execute("""UPDATE programs SET quiet_hours = '{"start": "21:00", "end": "09:00"}'""")
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('message', sa.JSON(), nullable=False),
    sa.Column('segment', sa.JSON(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('send_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_campaigns_offer_id_offers')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_campaigns_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    op.create_index('ix_campaigns_program_state', 'campaigns', ['program_id', 'state', 'id'])
    op.create_table('campaign_deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('pass_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('chunk', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('delivered_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                            name=op.f('fk_campaign_deliveries_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_campaign_deliveries_pass_id_passes'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_deliveries')),
    sa.UniqueConstraint('campaign_id', 'pass_id', name='uq_campaign_deliveries_campaign_pass')
    )
    op.create_index('ix_campaign_deliveries_chunk', 'campaign_deliveries', ['campaign_id', 'chunk', 'state'])
    with op.batch_alter_table('passes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('news_campaign_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('passes', schema=None) as batch_op:
        batch_op.drop_column('news_campaign_id')
    op.drop_index('ix_campaign_deliveries_chunk', table_name='campaign_deliveries')
    op.drop_table('campaign_deliveries')
    op.drop_index('ix_campaigns_program_state', table_name='campaigns')
    op.drop_table('campaigns')
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_column('quiet_hours')
        batch_op.drop_column('time_zone')
