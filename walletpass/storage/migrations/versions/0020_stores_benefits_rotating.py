"""program_stores (a program's stores: Google merchantLocations, Apple locations); programs.benefits (Google
value-added modules, Apple back fields); offers.rotating_barcode and wallet_objects.barcode_key (TOTP key per
Google object)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('program_stores',
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=False),
    sa.Column('longitude', sa.Float(), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_program_stores_program_id_programs'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('program_id', 'position', name=op.f('pk_program_stores'))
    )
    with op.batch_alter_table('programs') as batch:
        batch.add_column(sa.Column('benefits', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    with op.batch_alter_table('offers') as batch:
        batch.add_column(sa.Column('rotating_barcode', sa.Boolean(), server_default=sa.text('false'),
                                   nullable=False))
    with op.batch_alter_table('wallet_objects') as batch:
        batch.add_column(sa.Column('barcode_key', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('wallet_objects') as batch:
        batch.drop_column('barcode_key')
    with op.batch_alter_table('offers') as batch:
        batch.drop_column('rotating_barcode')
    with op.batch_alter_table('programs') as batch:
        batch.drop_column('benefits')
    op.drop_table('program_stores')
