"""Android pkpass apps: devices.push_client (which app registered: apple, walletpasses, pass2u, passwallet,
poll), push tokens up to 4,096 characters (FCM registration ids), registrations.push_service_url (PassWallet's
relay, per registration)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('devices') as batch:
        batch.alter_column('push_token', existing_type=sa.String(length=256), type_=sa.String(length=4096),
                           existing_nullable=False)
        batch.add_column(sa.Column('push_client', sa.String(length=16), nullable=True))
    with op.batch_alter_table('registrations') as batch:
        batch.add_column(sa.Column('push_service_url', sa.String(length=512), nullable=True))


def downgrade() -> None:
    # The Android apps' devices cannot be pushed by the code before 0017 (and their tokens may not fit 256):
    # they go, with their registrations; the apps register again against a walletpass that knows them.
    op.execute("DELETE FROM registrations WHERE device_id IN (SELECT id FROM devices WHERE push_client IS NOT NULL)")
    op.execute("DELETE FROM devices WHERE push_client IS NOT NULL")
    with op.batch_alter_table('registrations') as batch:
        batch.drop_column('push_service_url')
    with op.batch_alter_table('devices') as batch:
        batch.drop_column('push_client')
        batch.alter_column('push_token', existing_type=sa.String(length=4096), type_=sa.String(length=256),
                           existing_nullable=False)
