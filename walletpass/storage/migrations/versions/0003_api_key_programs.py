"""API keys bound to programs (api_keys.programs: a JSON list of program ids, NULL for every program)

The keyed-hash form of api_keys.key_hash needs no schema change: the column holds either form, and a legacy
PBKDF2 hash is rewritten when its key is next used.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('programs', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    # Without the column a program-bound key would reach every program: revoke those keys instead.
    op.execute("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE programs IS NOT NULL AND revoked_at IS NULL")
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('programs')
