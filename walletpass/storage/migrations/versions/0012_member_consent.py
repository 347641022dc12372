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
    with op.batch_alter_table('members') as batch:
        batch.add_column(sa.Column('consented_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('consent_terms_sha256', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('members') as batch:
        batch.drop_column('consent_terms_sha256')
        batch.drop_column('consented_at')
