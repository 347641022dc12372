"""what each wallet provider knows of our passes and classes, in tables of their own

passes.google_object_id / google_state / google_synced_tag move to wallet_objects (one row per pass and provider),
programs.google_class_version and offers.google_class_version to wallet_classes (one row per class and provider):
a wallet added later keeps its state beside Google's, with no column of its own in the core tables.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('wallet_objects',
    sa.Column('pass_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=True),
    sa.Column('synced_tag', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['pass_id'], ['passes.id'], name=op.f('fk_wallet_objects_pass_id_passes'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pass_id', 'provider', name=op.f('pk_wallet_objects')),
    sa.UniqueConstraint('provider', 'object_id', name='uq_wallet_objects_provider_object')
    )
    op.create_index('ix_wallet_objects_provider_state', 'wallet_objects', ['provider', 'state', 'pass_id'])
    op.create_table('wallet_classes',
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('owner_kind', sa.String(length=8), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('provider', 'owner_kind', 'owner_id', name=op.f('pk_wallet_classes'))
    )
    op.execute("INSERT INTO wallet_objects (pass_id, provider, object_id, state, synced_tag) "
               "SELECT id, 'google', google_object_id, google_state, google_synced_tag FROM passes "
               "WHERE google_object_id IS NOT NULL OR google_state IS NOT NULL OR google_synced_tag IS NOT NULL")
    op.execute("INSERT INTO wallet_classes (provider, owner_kind, owner_id, version) "
               "SELECT 'google', 'program', id, google_class_version FROM programs "
               "WHERE google_class_version IS NOT NULL")
    op.execute("INSERT INTO wallet_classes (provider, owner_kind, owner_id, version) "
               "SELECT 'google', 'offer', id, google_class_version FROM offers WHERE google_class_version IS NOT NULL")
    with op.batch_alter_table('passes', schema=None) as batch_op:
        batch_op.drop_constraint('uq_passes_google_object_id', type_='unique')
        batch_op.drop_column('google_synced_tag')
        batch_op.drop_column('google_state')
        batch_op.drop_column('google_object_id')
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_column('google_class_version')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_column('google_class_version')


def downgrade() -> None:
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('google_class_version', sa.Integer(), nullable=True))
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('google_class_version', sa.Integer(), nullable=True))
    with op.batch_alter_table('passes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('google_object_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('google_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('google_synced_tag', sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint('uq_passes_google_object_id', ['google_object_id'])
    op.execute("UPDATE passes SET google_object_id = (SELECT object_id FROM wallet_objects w WHERE w.pass_id = "
               "passes.id AND w.provider = 'google'), google_state = (SELECT state FROM wallet_objects w WHERE "
               "w.pass_id = passes.id AND w.provider = 'google'), google_synced_tag = (SELECT synced_tag FROM "
               "wallet_objects w WHERE w.pass_id = passes.id AND w.provider = 'google')")
    op.execute("UPDATE programs SET google_class_version = (SELECT version FROM wallet_classes c WHERE c.provider = "
               "'google' AND c.owner_kind = 'program' AND c.owner_id = programs.id)")
    op.execute("UPDATE offers SET google_class_version = (SELECT version FROM wallet_classes c WHERE c.provider = "
               "'google' AND c.owner_kind = 'offer' AND c.owner_id = offers.id)")
    op.drop_table('wallet_classes')
    op.drop_index('ix_wallet_objects_provider_state', table_name='wallet_objects')
    op.drop_table('wallet_objects')
