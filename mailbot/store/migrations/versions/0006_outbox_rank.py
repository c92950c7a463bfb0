"""outbox: the order of sending, and an index on the time a mail was accepted

Mail is sent most important first (pages and critical acknowledgements, relays,
other acknowledgements, staff mail); the rank is fixed when a mail is queued.
Queued rows from before this revision get theirs from their kind (an
acknowledgement's ticket priority is not looked up: they keep the customer rank).
The relay's limit counts the mails accepted in the last minute, by ``sent_at``.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_OUTBOX = sa.table("outbox", sa.column("kind", sa.String), sa.column("rank", sa.Integer))

#: the ranks by kind as they were when this revision was written (frozen here)
_BY_KIND = (("oncall", 0), ("relay", 1), ("notify", 3), ("reminder", 3))


def upgrade() -> None:
    op.add_column(
        "outbox", sa.Column("rank", sa.Integer(), nullable=False, server_default="2")
    )
    for kind, rank in _BY_KIND:
        op.execute(_OUTBOX.update().where(_OUTBOX.c.kind == kind).values(rank=rank))
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("rank")
