"""Read-only views of the store for the command line: the order of work, one ticket."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, func, select

from mailbot.sla import work_order_key
from mailbot.store import Event, Inbound, Message, Ticket
from mailbot.triage import Priority, Urgency

OPEN_STATES = ("open", "waiting")


@dataclass(frozen=True)
class TicketRow:
    number: int
    subject: str
    customer: str
    contract: bool
    priority: str
    urgency: str
    deadline: str | None
    due_at: str | None
    status: str
    messages: int


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def work_list(session: Session, include_solved: bool = False) -> list[TicketRow]:
    """Open tickets in the order of triage.md: priority, contract, urgency, arrival."""
    query = select(Ticket)
    if not include_solved:
        query = query.where(col(Ticket.status).in_(OPEN_STATES))
    tickets = list(session.exec(query).all())
    counts: dict[int | None, int] = dict(
        session.exec(select(Message.ticket_id, func.count()).group_by(col(Message.ticket_id))).all()
    )
    tickets.sort(
        key=lambda t: work_order_key(
            Priority(t.priority), t.contract, Urgency(t.urgency), t.arrived_at
        )
    )
    return [
        TicketRow(
            number=t.number,
            subject=t.subject,
            customer=t.customer_address,
            contract=t.contract,
            priority=t.priority,
            urgency=t.urgency,
            deadline=_iso(t.deadline),
            due_at=_iso(t.due_at),
            status=t.status,
            messages=int(counts.get(t.id, 0)),
        )
        for t in tickets
    ]


def ticket_detail(session: Session, number: int) -> dict[str, Any] | None:
    ticket = session.exec(select(Ticket).where(Ticket.number == number)).first()
    if ticket is None or ticket.id is None:
        return None
    messages = session.exec(
        select(Message).where(Message.ticket_id == ticket.id).order_by(col(Message.id))
    ).all()
    events = session.exec(
        select(Event).where(Event.ticket_id == ticket.id).order_by(col(Event.id))
    ).all()
    data = ticket.model_dump(mode="json")
    data["messages"] = [
        {
            "direction": m.direction,
            "author": m.author_kind,
            "sender": m.sender,
            "recipients": [r.strip() for r in m.recipients.split(",") if r.strip()],
            "subject": m.subject,
            "text": m.text,
            "message_id": m.message_id,
            "time": _iso(m.created_at),
            "evidence": json.loads(m.evidence) if m.evidence else None,
        }
        for m in messages
    ]
    data["events"] = [
        {
            "time": _iso(e.at),
            "actor": e.actor,
            "kind": e.kind,
            "detail": e.detail,
            "reasons": json.loads(e.reasons or "[]"),
        }
        for e in events
    ]
    return data


def quarantine_list(session: Session) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Inbound).where(Inbound.status == "quarantined").order_by(col(Inbound.id))
    ).all()
    return [
        {
            "id": r.id,
            "received_at": _iso(r.received_at),
            "mailbox": r.mailbox,
            "message_id": r.message_id,
            "size": r.size,
            "attempts": r.attempts,
            "reason": r.error.splitlines()[0] if r.error else "",
        }
        for r in rows
    ]


def as_dicts(rows: list[TicketRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


@dataclass(frozen=True)
class MailboxHealth:
    mailbox: str
    last_fetch_ok_at: str | None
    last_error: str
    last_error_at: str | None


@dataclass(frozen=True)
class Health:
    mailboxes: list[MailboxHealth]
    last_send_ok_at: str | None
    outbox_queued: int
    outbox_failed: int
    quarantined: int
    unprocessed: int
    #: empty when healthy; otherwise why a monitoring system should alarm
    problems: list[str]


def health(
    session: Session, mailbox_names: list[str], stale_after_seconds: float, now: datetime
) -> Health:
    from mailbot.store import MailboxState, Outbox, Setting

    def count(query: Any) -> int:
        return int(session.exec(query).one())

    boxes: list[MailboxHealth] = []
    problems: list[str] = []
    states = {s.mailbox: s for s in session.exec(select(MailboxState)).all()}
    for name in mailbox_names:
        state = states.get(name)
        ok = state.last_fetch_ok_at if state else None
        boxes.append(
            MailboxHealth(
                name,
                _iso(ok),
                state.last_error if state else "",
                _iso(state.last_error_at) if state else None,
            )
        )
        if ok is None:
            problems.append(f"{name}: no successful fetch yet")
        elif (now - ok).total_seconds() > stale_after_seconds:
            minutes = int((now - ok).total_seconds() // 60)
            detail = f" (last error: {state.last_error})" if state and state.last_error else ""
            problems.append(f"{name}: no successful fetch for {minutes} minutes{detail}")
    sent = session.get(Setting, "last_send_ok_at")
    result = Health(
        mailboxes=boxes,
        last_send_ok_at=sent.value if sent else None,
        outbox_queued=count(
            select(func.count()).select_from(Outbox).where(Outbox.status == "queued")
        ),
        outbox_failed=count(
            select(func.count()).select_from(Outbox).where(Outbox.status == "failed")
        ),
        quarantined=count(
            select(func.count()).select_from(Inbound).where(Inbound.status == "quarantined")
        ),
        unprocessed=count(select(func.count()).select_from(Inbound).where(Inbound.status == "new")),
        problems=problems,
    )
    return result
