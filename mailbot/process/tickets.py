"""Ticket bookkeeping shared by the process stage and the CLI: numbers, events, plans."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import bindparam, text
from sqlmodel import Session, col, func, select

from mailbot.sla import BusinessCalendar, Plan, plan
from mailbot.store import Message, Prepared, Ticket, pending_events
from mailbot.triage import Priority, Urgency

FIRST_NUMBER = 1001
_MAX_NUMBER = Prepared(select(func.max(Ticket.number)))
_THREAD_IDS = (
    select(Message.message_id)
    .where(Message.ticket_id == bindparam("thread_ticket"), Message.message_id != "")
    .order_by(col(Message.id))
)


def next_number(session: Session) -> int:
    """The next ticket number: a sequence on PostgreSQL (several workers), else max+1.

    SQLite transactions here start with BEGIN IMMEDIATE, so max+1 cannot race.
    """
    if session.get_bind().dialect.name == "postgresql":
        seq = text("SELECT nextval('ticket_number_seq')")
        return int(session.connection().execute(seq).scalar_one())
    row = _MAX_NUMBER.first(session.connection(), {})
    current = row[0] if row is not None else None
    return FIRST_NUMBER if current is None else int(current) + 1


def record(
    session: Session,
    *,
    kind: str,
    actor: str,
    detail: str = "",
    reasons: Iterable[str] = (),
    ticket: Ticket | None = None,
    inbound_id: int | None = None,
    at: datetime | None = None,
) -> None:
    """One audit event: who or what decided, what, and on which evidence.

    Events are written in one batch when the transaction commits
    (:func:`mailbot.store.session_scope`): a mail makes half a dozen of them, and
    one multi-row INSERT costs a fraction of as many ORM objects.
    """
    pending_events(session).append(
        {
            "ticket_id": ticket.id if ticket is not None else None,
            "inbound_id": inbound_id,
            "at": at or datetime.now(UTC),
            "actor": actor,
            "kind": kind,
            "detail": detail,
            "reasons": json.dumps(list(reasons), ensure_ascii=False),
        }
    )


def thread_ids(session: Session, ticket_id: int) -> list[str]:
    """Message-IDs of the ticket's mail, oldest first, for a References header."""
    rows: Sequence[str] = (
        session.connection().execute(_THREAD_IDS, {"thread_ticket": ticket_id}).scalars().all()
    )
    return list(dict.fromkeys(rows))


def ticket_plan(ticket: Ticket, calendar: BusinessCalendar) -> Plan:
    """The SLA plan for a ticket as it stands now (after a follow-up or a command)."""
    return plan(
        ticket.arrived_at,
        Priority(ticket.priority),
        ticket.contract,
        Urgency(ticket.urgency),
        ticket.deadline,
        ticket.planned_change,
        calendar,
    )
