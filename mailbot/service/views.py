"""Read-only views of the store for the command line: the order of work, one ticket,
the quarantine, the health. Each is a dataclass; its ``--json`` form is the CLI contract."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, func, select

from mailbot.oauth.status import TokenView, token_problems
from mailbot.sla import work_order_key
from mailbot.store import (
    OPEN_STATES,
    Event,
    Inbound,
    InboundStatus,
    MailboxState,
    Message,
    Outbox,
    OutboxStatus,
    Setting,
    StoredAttachment,
    Ticket,
)
from mailbot.triage import Priority, Urgency

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


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


@dataclass(frozen=True)
class MessageView:
    direction: str
    author: str
    sender: str
    recipients: list[str]
    subject: str
    text: str
    message_id: str
    time: str | None
    #: the stored classification and its evidence, as the processor wrote it
    evidence: dict[str, Any] | None


@dataclass(frozen=True)
class EventView:
    time: str | None
    actor: str
    kind: str
    detail: str
    reasons: list[str]


@dataclass(frozen=True)
class AttachmentView:
    """A file of one of the ticket's mails; ``mailbot attachment ID`` writes it out."""

    id: int
    #: the Message-ID of the mail that carried it
    message_id: str
    direction: str
    sender: str
    name: str
    content_type: str
    size: int
    sha256: str
    inline: bool
    #: why it is a program or script; "" when it is none
    risk: str
    time: str | None


@dataclass(frozen=True)
class TicketDetail:
    """One ticket with its thread, its events and its files, oldest first."""

    ticket: Ticket
    messages: list[MessageView]
    events: list[EventView]
    attachments: list[AttachmentView]

    def as_json(self) -> dict[str, Any]:
        """``ticket --json``: the ticket's columns, then ``messages``, ``events`` and
        ``attachments``."""
        dumped = self.ticket.model_dump(mode="json")
        # In the table's order: the row's own order is whatever the ORM loaded first,
        # which changes with the order modules were imported in.
        data = {name: dumped[name] for name in Ticket.model_fields}
        data["messages"] = [asdict(m) for m in self.messages]
        data["events"] = [asdict(e) for e in self.events]
        data["attachments"] = [asdict(a) for a in self.attachments]
        return data


def ticket_detail(session: Session, number: int) -> TicketDetail | None:
    ticket = session.exec(select(Ticket).where(Ticket.number == number)).first()
    if ticket is None or ticket.id is None:
        return None
    messages = session.exec(
        select(Message).where(Message.ticket_id == ticket.id).order_by(col(Message.id))
    ).all()
    events = session.exec(
        select(Event).where(Event.ticket_id == ticket.id).order_by(col(Event.id))
    ).all()
    return TicketDetail(
        ticket=ticket,
        messages=[_message_view(m) for m in messages],
        events=[_event_view(e) for e in events],
        attachments=_attachments(session, ticket.id),
    )


def _attachments(session: Session, ticket_id: int) -> list[AttachmentView]:
    rows = session.exec(
        select(StoredAttachment, Message.message_id, Message.direction, Message.sender)
        .join(Message, col(Message.id) == col(StoredAttachment.message_row_id))
        .where(StoredAttachment.ticket_id == ticket_id)
        .order_by(col(StoredAttachment.id))
    ).all()
    return [
        AttachmentView(
            id=_stored_id(a.id),
            message_id=message_id,
            direction=direction,
            sender=sender,
            name=a.name,
            content_type=a.content_type,
            size=a.size,
            sha256=a.sha256,
            inline=a.inline,
            risk=a.risk,
            time=_iso(a.created_at),
        )
        for a, message_id, direction, sender in rows
    ]


def _message_view(m: Message) -> MessageView:
    return MessageView(
        direction=m.direction,
        author=m.author_kind,
        sender=m.sender,
        recipients=[r.strip() for r in m.recipients.split(",") if r.strip()],
        subject=m.subject,
        text=m.text,
        message_id=m.message_id,
        time=_iso(m.created_at),
        evidence=json.loads(m.evidence) if m.evidence else None,
    )


def _event_view(e: Event) -> EventView:
    return EventView(
        time=_iso(e.at),
        actor=e.actor,
        kind=e.kind,
        detail=e.detail,
        reasons=json.loads(e.reasons or "[]"),
    )


@dataclass(frozen=True)
class QuarantineRow:
    id: int
    received_at: str | None
    mailbox: str
    message_id: str
    size: int
    attempts: int
    #: the first line of the stored error
    reason: str


def quarantine_list(session: Session) -> list[QuarantineRow]:
    rows = session.exec(
        select(Inbound).where(Inbound.status == InboundStatus.QUARANTINED).order_by(col(Inbound.id))
    ).all()
    return [
        QuarantineRow(
            id=_stored_id(r.id),
            received_at=_iso(r.received_at),
            mailbox=r.mailbox,
            message_id=r.message_id,
            size=r.size,
            attempts=r.attempts,
            reason=r.error.splitlines()[0] if r.error else "",
        )
        for r in rows
    ]


def _stored_id(value: int | None) -> int:
    if value is None:  # a row read from the store always has one
        raise ValueError("a stored row without an id")
    return value


def as_dicts(rows: Sequence[DataclassInstance]) -> list[dict[str, Any]]:
    """Rows of a view as the JSON objects the command line prints."""
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
    #: the OAuth2 token sets, without their tokens
    token_sets: list[TokenView] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """``status --json``."""
        return asdict(self)


def health(
    session: Session,
    mailbox_names: list[str],
    stale_after_seconds: float,
    now: datetime,
    token_sets: Sequence[TokenView] = (),
) -> Health:
    from mailbot.outbound.send import LAST_SEND_OK

    states = {s.mailbox: s for s in session.exec(select(MailboxState)).all()}
    boxes: list[MailboxHealth] = []
    problems: list[str] = []
    for name in mailbox_names:
        box, problem = _mailbox_health(name, states.get(name), stale_after_seconds, now)
        boxes.append(box)
        if problem:
            problems.append(problem)
    # A broken sign-in is a problem at once, not after the fetch has gone stale.
    problems.extend(token_problems(list(token_sets)))
    sent = session.get(Setting, LAST_SEND_OK)
    return Health(
        mailboxes=boxes,
        last_send_ok_at=sent.value if sent else None,
        outbox_queued=_count(session, Outbox, Outbox.status == OutboxStatus.QUEUED),
        outbox_failed=_count(session, Outbox, Outbox.status == OutboxStatus.FAILED),
        quarantined=_count(session, Inbound, Inbound.status == InboundStatus.QUARANTINED),
        unprocessed=_count(session, Inbound, Inbound.status == InboundStatus.NEW),
        problems=problems,
        token_sets=list(token_sets),
    )


def _mailbox_health(
    name: str, state: MailboxState | None, stale_after_seconds: float, now: datetime
) -> tuple[MailboxHealth, str]:
    """The mailbox's line of ``status`` and its problem ("" when it fetches)."""
    ok = state.last_fetch_ok_at if state else None
    box = MailboxHealth(
        name,
        _iso(ok),
        state.last_error if state else "",
        _iso(state.last_error_at) if state else None,
    )
    if ok is None:
        return box, f"{name}: no successful fetch yet"
    if (now - ok).total_seconds() <= stale_after_seconds:
        return box, ""
    minutes = int((now - ok).total_seconds() // 60)
    detail = f" (last error: {state.last_error})" if state and state.last_error else ""
    return box, f"{name}: no successful fetch for {minutes} minutes{detail}"


def _count(session: Session, table: type[Outbox] | type[Inbound], where: Any) -> int:
    return int(session.exec(select(func.count()).select_from(table).where(where)).one())
