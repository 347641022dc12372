"""members' birthday, and the indexes segments use (program with tier, points, enrolment time, source)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

INDEXES = {"ix_members_program_tier": ["program_id", "tier"], "ix_members_program_points": ["program_id", "points"],
           "ix_members_program_created": ["program_id", "created_at"],
           "ix_members_program_source": ["program_id", "source"]}


def upgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('birthday', sa.Date(), nullable=True))
    for name, columns in INDEXES.items():
        op.create_index(name, 'members', columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name='members')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('birthday')
