"""Where an outgoing mail sits in Outlook's conversation view: its Thread-Topic and
Thread-Index.

Outlook and Microsoft 365 group a mailbox into conversations by the Thread-Index's
header block (and by the topic where there is none), not only by In-Reply-To and
References. Our subjects carry the ``[#n]`` tag the customer's did not, so without
both headers an acknowledgement could stand apart from the mail it answers.

A mail continues, as Outlook's own replies do, the index of the mail it answers;
failing that the latest index known on its side of the ticket (the customer's side
or the technicians', see :class:`mailbot.kinds.ConversationSide`); failing that it
starts a conversation. Its topic is the ticket's subject: the customer's first
subject without reply prefixes and without our tag, the same for the whole thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, or_
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from mailbot.kinds import STAFF_KINDS, AuthorKind, ConversationSide, Direction, OutboxKind
from mailbot.mail.threadindex import ThreadIndex, new_index, parse_thread_index
from mailbot.store import Message, Outbox, Prepared, Ticket


@dataclass(frozen=True)
class Placement:
    """The two headers of one outgoing mail, as their values."""

    topic: str
    #: the mail's own Thread-Index, also stored on its message row for the next mail
    index: str


def side_of(kind: OutboxKind) -> ConversationSide:
    return ConversationSide.STAFF if kind in STAFF_KINDS else ConversationSide.CUSTOMER


def _latest_on(side: ConversationSide) -> Prepared:
    """The newest Thread-Index among a ticket's messages on one side, built once."""
    # OR of equalities rather than IN: Prepared hands an IN list back to SQLAlchemy.
    # Sorted: the same statement text in every process.
    to_staff = or_(*(col(Outbox.kind) == kind for kind in sorted(STAFF_KINDS)))
    from_staff = col(Message.author_kind) == AuthorKind.STAFF
    incoming = col(Message.direction) == Direction.IN
    if side is ConversationSide.STAFF:
        mine = or_(and_(incoming, from_staff), to_staff)
    else:
        # Outgoing rows always have their outbox row, so the outer join finds a kind.
        mine = or_(
            and_(incoming, ~from_staff),
            and_(col(Message.direction) == Direction.OUT, ~to_staff),
        )
    return Prepared(
        select(Message.thread_index)
        .select_from(Message)
        .outerjoin(Outbox, col(Message.outbox_id) == col(Outbox.id))
        .where(
            col(Message.ticket_id) == bindparam("ticket"),
            col(Message.thread_index) != "",
            mine,
        )
        .order_by(col(Message.id).desc())
        .limit(1)
    )


_LATEST = {side: _latest_on(side) for side in ConversationSide}


def latest_index(
    connection: Connection, ticket_id: int, side: ConversationSide
) -> ThreadIndex | None:
    row = _LATEST[side].first(connection, {"ticket": ticket_id})
    return parse_thread_index(row[0]) if row is not None else None


def place(
    connection: Connection,
    *,
    kind: OutboxKind,
    ticket: Ticket | None,
    subject: str,
    answers_index: str,
    now: datetime,
) -> Placement:
    """The Thread-Topic and Thread-Index of a mail of ``kind`` queued at ``now``.

    ``answers_index``: the Thread-Index of the mail it answers, as that mail carried it
    or as its message row stores it ("" when it answers none, or none was carried).
    ``subject``: the topic of mail outside any ticket.
    """
    parent = parse_thread_index(answers_index) if answers_index else None
    if parent is None and ticket is not None and ticket.id is not None:
        parent = latest_index(connection, ticket.id, side_of(kind))
    index = parent.child(now) if parent is not None else new_index(now)
    return Placement(ticket.subject if ticket is not None else subject, index.encode())
