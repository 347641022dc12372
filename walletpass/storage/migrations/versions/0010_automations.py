"""automations: programs' standing rules (birthday, welcome, win_back), the runs that fired them (unique per
program, rule, member and period), and the daily runs (one per program and day)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

import walletpass.storage.tables

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('automations',
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=True),
    sa.Column('message', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('segment', sa.JSON(), nullable=False),
    sa.Column('days', sa.Integer(), nullable=True),
    sa.Column('updated_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], name=op.f('fk_automations_offer_id_offers')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_automations_program_id_programs'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('program_id', 'rule', name=op.f('pk_automations'))
    )
    op.create_table('automation_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=16), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=32), nullable=False),
    sa.Column('coupon_id', sa.Integer(), nullable=True),
    sa.Column('notify', sa.Boolean(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_automation_runs_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['coupon_id'], ['coupons.id'], name=op.f('fk_automation_runs_coupon_id_coupons')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_automation_runs_member_id_members'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_automation_runs_program_id_programs'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_runs')),
    sa.UniqueConstraint('program_id', 'rule', 'member_id', 'period', name='uq_automation_runs_key')
    )
    op.create_index('ix_automation_runs_messages', 'automation_runs', ['program_id', 'notify', 'campaign_id'])
    op.create_table('automation_days',
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('due_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_automation_days_program_id_programs'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('program_id', 'day', name=op.f('pk_automation_days'))
    )


def downgrade() -> None:
    op.drop_table('automation_days')
    op.drop_index('ix_automation_runs_messages', table_name='automation_runs')
    op.drop_table('automation_runs')
    op.drop_table('automations')
