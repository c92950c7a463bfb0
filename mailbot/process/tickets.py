"""Ticket bookkeeping shared by the process stage and the CLI: numbers, events, plans,
and the one way a ticket's field is changed."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, func, select

from mailbot.sla import BusinessCalendar, Plan, plan
from mailbot.store import EventKind, Message, Prepared, Ticket, pending_events
from mailbot.triage import Priority, Urgency

FIRST_NUMBER = 1001
_MAX_NUMBER = Prepared(select(func.max(Ticket.number)))
_SEQUENCE_TAKE = text("SELECT nextval('ticket_number_seq')")
_NUMBER_TAKEN = Prepared(select(Ticket.id).where(Ticket.number == bindparam("number")))
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
        return int(session.connection().execute(_SEQUENCE_TAKE).scalar_one())
    return _after_highest(session.connection())


class DraftNumbers:
    """The numbers new tickets are drafted for, before their write transaction.

    On PostgreSQL a draft takes its number from the sequence: it is its own, on any
    machine. On SQLite (one machine, its processes forked from one parent) the
    drafts of all processes share one counter, so two processes drafting at once get
    two numbers instead of both guessing the highest + 1; with that guess two in five
    acknowledgements of a 2-process drain had to be rendered again inside the write
    transaction. A drafted number that goes unused (the mail turned out to belong to
    a ticket) stays a gap on PostgreSQL, as sequences do.
    """

    def __init__(self) -> None:
        # Shared memory made before the fork: the children see one value.
        self._last = multiprocessing.get_context("fork").Value("q", 0)

    def reserve(self, connection: Connection) -> int:
        if connection.dialect.name == "postgresql":
            return int(connection.execute(_SEQUENCE_TAKE).scalar_one())
        highest_next = _after_highest(connection)
        with self._last.get_lock():
            number: int = max(highest_next, self._last.value + 1)
            self._last.value = number
        return number


def number_free(session: Session, number: int) -> bool:
    """No ticket has ``number`` yet (a draft's number, checked in the write turn)."""
    return _NUMBER_TAKEN.first(session.connection(), {"number": number}) is None


def _after_highest(connection: Connection) -> int:
    row = _MAX_NUMBER.first(connection, {})
    current = row[0] if row is not None else None
    return FIRST_NUMBER if current is None else int(current) + 1


def record(
    session: Session,
    *,
    kind: EventKind,
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


def ticket_plan(
    ticket: Ticket, calendar: BusinessCalendar, clock_from: datetime | None = None
) -> Plan:
    """The SLA plan for a ticket as it stands now (after a follow-up or a command).

    ``clock_from``: count from then instead of from the ticket's arrival.
    """
    return plan(
        clock_from or ticket.arrived_at,
        Priority(ticket.priority),
        ticket.contract,
        Urgency(ticket.urgency),
        ticket.deadline,
        ticket.planned_change,
        calendar,
    )


class TicketField(StrEnum):
    """The fields of a ticket that mail changes; each value is the column's name and
    the code the acknowledgement templates phrase."""

    STATUS = "status"
    PRIORITY = "priority"
    URGENCY = "urgency"
    DEADLINE = "deadline"
    PLANNED_CHANGE = "planned_change"
    ASSIGNEE = "assignee"


#: a change to one of these moves the due time
PLAN_FIELDS = frozenset(
    {TicketField.PRIORITY, TicketField.URGENCY, TicketField.DEADLINE, TicketField.PLANNED_CHANGE}
)


@dataclass(frozen=True)
class Change:
    field: TicketField
    value: str | date | bool

    def code(self) -> tuple[str, str]:
        """(what, value) as the templates and the events write it."""
        value = self.value
        if isinstance(value, bool):
            return self.field.value, "true" if value else "false"
        if isinstance(value, date):
            return self.field.value, value.isoformat()
        return self.field.value, value


@dataclass(frozen=True)
class Decision:
    """Who or what changed a ticket, and on which evidence: recorded as one event."""

    kind: EventKind
    actor: str
    #: "" for the changes themselves, ``what=value; ...``
    detail: str = ""
    reasons: Sequence[str] = ()
    inbound_id: int | None = None


def change_ticket(
    session: Session,
    ticket: Ticket,
    changes: Sequence[Change],
    decision: Decision,
    *,
    calendar: BusinessCalendar,
    now: datetime,
    clock_from: datetime | None = None,
) -> tuple[Change, ...]:
    """Set the fields that differ, replan if one of them moves the due time, and record
    the decision once. The changes made, in the order given; none: nothing recorded.

    ``clock_from``: the replanned due time counts from then (an alarm that escalates
    starts a new clock), not from the ticket's arrival.
    """
    made = tuple(c for c in changes if getattr(ticket, c.field.value) != c.value)
    if not made:
        return ()
    for change in made:
        setattr(ticket, change.field.value, change.value)
    if any(c.field in PLAN_FIELDS for c in made):
        ticket.due_at = ticket_plan(ticket, calendar, clock_from).due_at
    ticket.updated_at = now
    record(
        session,
        kind=decision.kind,
        actor=decision.actor,
        ticket=ticket,
        inbound_id=decision.inbound_id,
        detail=decision.detail or "; ".join("=".join(c.code()) for c in made),
        reasons=decision.reasons,
    )
    return made
