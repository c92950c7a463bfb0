"""events: only the indexes a query uses

Every mail writes half a dozen events. Their indexes on ``kind`` (a handful of
values, so each kind's newest entries sit on a page of their own) and on
``inbound_id`` (read by no query) made up over a third of the pages each mail's
transaction wrote. The one query by kind, "which oversized mails were announced",
gets a partial index of its own.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TOO_LARGE = sa.text("kind = 'too_large_notified'")


def upgrade() -> None:
    op.drop_index("ix_event_kind", table_name="event")
    op.drop_index("ix_event_inbound_id", table_name="event")
    op.create_index(
        "ix_event_too_large",
        "event",
        ["inbound_id"],
        sqlite_where=_TOO_LARGE,
        postgresql_where=_TOO_LARGE,
    )


def downgrade() -> None:
    op.drop_index("ix_event_too_large", table_name="event")
    op.create_index("ix_event_inbound_id", "event", ["inbound_id"])
    op.create_index("ix_event_kind", "event", ["kind"])
