"""funnel events: the first install, save and transaction of a card recorded once (a unique index over pass_id
and kind for those kinds); install, save and uninstall events carry the source of the card's member

Events recorded before: repeats of once-per-card kinds are dropped (the first kept), the source of the card's
member is written on install/save/uninstall events without one, and those of coupon passes (not part of the
funnel) are dropped.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_ONCE = "kind IN ('apple_install', 'google_save', 'first_transaction')"
_OF_PASS = "kind IN ('apple_install', 'google_save', 'uninstall')"


def upgrade() -> None:
    op.execute(f"DELETE FROM pass_events WHERE {_OF_PASS} AND pass_id IS NOT NULL AND pass_id NOT IN "
               "(SELECT id FROM passes WHERE kind = 'member')")
    op.execute(f"DELETE FROM pass_events WHERE {_ONCE} AND id NOT IN "
               f"(SELECT min(id) FROM pass_events WHERE {_ONCE} GROUP BY pass_id, kind)")
    op.execute(f"UPDATE pass_events SET source = (SELECT members.source FROM passes JOIN members ON "
               f"members.id = passes.member_id WHERE passes.id = pass_events.pass_id) "
               f"WHERE {_OF_PASS} AND source IS NULL AND pass_id IS NOT NULL")
    with op.batch_alter_table('pass_events', schema=None) as batch_op:
        batch_op.create_index('uq_pass_events_once', ['pass_id', 'kind'], unique=True,
                              sqlite_where=sa.text(_ONCE), postgresql_where=sa.text(_ONCE))


def downgrade() -> None:
    with op.batch_alter_table('pass_events', schema=None) as batch_op:
        batch_op.drop_index('uq_pass_events_once', sqlite_where=sa.text(_ONCE), postgresql_where=sa.text(_ONCE))
