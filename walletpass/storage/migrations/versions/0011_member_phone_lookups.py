"""members.phone, and the indexes a till's and the enrolment page's lookups use: email (case-insensitive) and phone
per program

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('members') as batch:
        batch.add_column(sa.Column('phone', sa.String(length=16), nullable=True))
    op.create_index('ix_members_program_email', 'members', ['program_id', sa.text('lower(email)')])
    op.create_index('ix_members_program_phone', 'members', ['program_id', 'phone'])


def downgrade() -> None:
    op.drop_index('ix_members_program_phone', table_name='members')
    op.drop_index('ix_members_program_email', table_name='members')
    with op.batch_alter_table('members') as batch:
        batch.drop_column('phone')
