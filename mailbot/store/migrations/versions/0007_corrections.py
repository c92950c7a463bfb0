"""correction: technicians' labels for the bot's judgements, with the judged text

Each authenticated ``#prio`` (and later a correction in a web view) is kept as a
labelled example: the field, the bot's value, the technician's, who and when, and
the subject and new text of the mail the bot judged. Nothing existing is changed;
corrections made before this revision are in the events only and are not read back.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("field", text(), nullable=False),
        sa.Column("bot_value", text(), nullable=False),
        sa.Column("before_value", text(), nullable=False),
        sa.Column("staff_value", text(), nullable=False),
        sa.Column("source", text(), nullable=False),
        sa.Column("actor", text(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("language", text(), nullable=False),
        sa.Column("subject", text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("correction") as batch_op:
        batch_op.create_index("ix_correction_at", ["at"], unique=False)
        batch_op.create_index("ix_correction_ticket_field", ["ticket_id", "field"], unique=False)


def downgrade() -> None:
    op.drop_table("correction")
