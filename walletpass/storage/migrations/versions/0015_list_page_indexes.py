"""Indexes for the API's lists (keyset pages by id): members and offers by (program, id), coupons by (offer, id)
and (member, id), the ledger by (member, id). Each replaces the one-column index of the same foreign key, which
it serves as well.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

#: (table, old one-column index, its column, new index, its columns)
_CHANGES = [
    ('members', 'ix_members_program_id', 'program_id', 'ix_members_program_page', ['program_id', 'id']),
    ('offers', 'ix_offers_program_id', 'program_id', 'ix_offers_program_page', ['program_id', 'id']),
    ('coupons', 'ix_coupons_offer_id', 'offer_id', 'ix_coupons_offer_page', ['offer_id', 'id']),
    ('coupons', 'ix_coupons_member_id', 'member_id', 'ix_coupons_member_page', ['member_id', 'id']),
    ('ledger_entries', 'ix_ledger_entries_member_id', 'member_id', 'ix_ledger_entries_member_page',
     ['member_id', 'id']),
]


def upgrade() -> None:
    for table, old, _column, new, columns in _CHANGES:
        op.create_index(new, table, columns)
        op.drop_index(old, table_name=table)


def downgrade() -> None:
    for table, old, column, new, _columns in reversed(_CHANGES):
        op.create_index(old, table, [column])
        op.drop_index(new, table_name=table)
