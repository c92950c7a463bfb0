"""inbound: why a mail is in quarantine, as a kind

Until now the only record of why was the error text, and the one decision taken on
it ("tell the technicians about mail too large to fetch") matched its wording. The
kind is a column of its own; rows quarantined before it existed get theirs from
their error text, once, here.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_INBOUND = sa.table(
    "inbound",
    sa.column("status", sa.String),
    sa.column("error", sa.Text),
    sa.column("quarantine_reason", sa.String),
)

#: the error texts each kind was written with before this revision (frozen here: the
#: code that wrote them may change its wording later)
_OLD_TEXTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("too_large", ("message too large%",)),
    ("conflict", ("store conflict persisted",)),
    (
        "unparsable",
        (
            "unparseable message%",
            "too many nested multiparts%",
            "too many MIME parts%",
            "MIME nesting deeper than%",
            "more than % MIME parts",
        ),
    ),
)


def upgrade() -> None:
    op.add_column(
        "inbound",
        sa.Column("quarantine_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    )
    quarantined = _INBOUND.c.status == "quarantined"
    unset = _INBOUND.c.quarantine_reason.is_(None)
    for reason, patterns in _OLD_TEXTS:
        matches = sa.or_(*(_INBOUND.c.error.like(p) for p in patterns))
        op.execute(
            _INBOUND.update().where(quarantined, unset, matches).values(quarantine_reason=reason)
        )
    # Whatever else was quarantined failed while it was processed (an exception's
    # name and where it was raised).
    op.execute(_INBOUND.update().where(quarantined, unset).values(quarantine_reason="failed"))


def downgrade() -> None:
    with op.batch_alter_table("inbound") as batch_op:
        batch_op.drop_column("quarantine_reason")
