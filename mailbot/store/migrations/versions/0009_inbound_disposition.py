"""inbound: what a processed mail turned out to be when it is no work (spam, information)

Spam held back and robots' mail (newsletters, notifications, auto-replies) are stored
like every mail but open no ticket; the column says which of the two a row is, and
``released_at`` when a technician said a held mail is no spam (its reaction time
counts from then). Rows from before this revision are NULL: they were tickets.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "inbound",
        sa.Column("disposition", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    )
    op.add_column(
        "inbound", sa.Column("released_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
    )
    op.create_index("ix_inbound_disposition", "inbound", ["disposition"])


def downgrade() -> None:
    op.drop_index("ix_inbound_disposition", table_name="inbound")
    with op.batch_alter_table("inbound") as batch_op:
        batch_op.drop_column("released_at")
        batch_op.drop_column("disposition")
