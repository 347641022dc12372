"""programs.pass_options: a program's choices among Apple's 2024–2026 pass keys (poster member card, iOS 18
colours, featured benefits link, 1-D barcode, coupons' relevantDates and sharingProhibited); null: none

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pass_options', sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_column('pass_options')
