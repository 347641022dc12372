"""member_imports and member_import_rows (bulk imports of members, carried out by the worker); members.erased_at
(DELETE /members/{id} anonymises a member)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

import walletpass.storage.tables

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('members') as batch:
        batch.add_column(sa.Column('erased_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True))
    op.create_table('member_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('imported', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('created_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', walletpass.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_member_imports_program_id_programs'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_imports'))
    )
    op.create_index(op.f('ix_member_imports_program_id'), 'member_imports', ['program_id'])
    op.create_table('member_import_rows',
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('email', sa.Text(), nullable=True),
    sa.Column('phone', sa.Text(), nullable=True),
    sa.Column('external_id', sa.Text(), nullable=True),
    sa.Column('points', sa.Text(), nullable=True),
    sa.Column('birthday', sa.Text(), nullable=True),
    sa.Column('tier', sa.Text(), nullable=True),
    sa.Column('problem', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['import_id'], ['member_imports.id'],
                            name=op.f('fk_member_import_rows_import_id_member_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('import_id', 'row', name=op.f('pk_member_import_rows'))
    )


def downgrade() -> None:
    op.drop_table('member_import_rows')
    op.drop_index(op.f('ix_member_imports_program_id'), table_name='member_imports')
    op.drop_table('member_imports')
    # SQLite drops a column by copying the table, which would lose the lower(email) expression index of 0011:
    # set both of 0011's indexes aside and make them again.
    op.drop_index('ix_members_program_phone', table_name='members')
    op.drop_index('ix_members_program_email', table_name='members')
    with op.batch_alter_table('members') as batch:
        batch.drop_column('erased_at')
    op.create_index('ix_members_program_email', 'members', ['program_id', sa.text('lower(email)')])
    op.create_index('ix_members_program_phone', 'members', ['program_id', 'phone'])
