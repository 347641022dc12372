"""members.consented_at and members.consent_terms_sha256: when a member accepted the program's terms on the
enrolment page, and which text they accepted

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

import walletpass.storage.tables

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('members', sa.Column('consented_at', walletpass.storage.tables.UTCDateTime(timezone=True),
                                       nullable=True))
    op.add_column('members', sa.Column('consent_terms_sha256', sa.String(length=64), nullable=True))


def downgrade() -> None:
    # SQLite's batch mode copies the table and cannot carry an index on an expression: drop it, put it back.
    op.drop_index('ix_members_program_email', table_name='members')
    with op.batch_alter_table('members') as batch:
        batch.drop_column('consent_terms_sha256')
        batch.drop_column('consented_at')
    op.create_index('ix_members_program_email', 'members', ['program_id', sa.text('lower(email)')])
