"""pass_files: the signed .pkpass of each pass's latest version, kept so that each version is signed once

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

import walletpass.storage.tables

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pass_files',
    sa.Column('pass_id', sa.Integer(), nullable=False),
    sa.Column('update_tag', sa.BigInteger(), nullable=False),
    sa.Column('build_key', sa.String(length=64), nullable=False),
    sa.Column('last_modified', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=True),
    sa.Column('claim_token', sa.String(length=32), nullable=True),
    sa.Column('claimed_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_pass_files_pass_id_passes'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pass_id', name=op.f('pk_pass_files'))
    )


def downgrade() -> None:
    op.drop_table('pass_files')
