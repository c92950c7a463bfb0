"""ticket numbers from a sequence on PostgreSQL

Several workers open tickets at the same time; a sequence hands out numbers without
the max()+1 race. SQLite serialises writers, so it keeps max()+1.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE SEQUENCE IF NOT EXISTS ticket_number_seq START 1001")
    # An existing store continues after its highest number.
    op.execute(
        "SELECT setval('ticket_number_seq', GREATEST(1000, COALESCE(MAX(number), 1000)))"
        " FROM ticket"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS ticket_number_seq")
