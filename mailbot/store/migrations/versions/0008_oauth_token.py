"""oauth_token: one OAuth2 token set per [oauth.NAME]

Microsoft 365 and Google mailboxes log in with OAuth2 access tokens. The tokens of a
configured token set live here, shared by every worker of the store, with what
``mailbot auth status`` shows (flow, account, scopes, expiry, last refresh, last
error) and whether a refresh was refused for good (a new login is then needed, and
staff are told once).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString()
    when = sqlmodel.sql.sqltypes.UTCDateTime()
    op.create_table(
        "oauth_token",
        sa.Column("name", text, nullable=False),
        sa.Column("flow", text, nullable=False),
        sa.Column("account", text, nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("expires_at", when, nullable=True),
        sa.Column("obtained_at", when, nullable=True),
        sa.Column("refreshed_at", when, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("failed_at", when, nullable=True),
        sa.Column("broken", sa.Boolean(), nullable=False),
        sa.Column("notified_at", when, nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("oauth_token")
