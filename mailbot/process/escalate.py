"""Escalation: a ticket whose reaction time passed with no technician's reply.

One reminder to ``[staff] notify`` per deadline, recorded as an event; a ticket
whose due time moves (a follow-up replanned it) may be reminded again for the new one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mailbot.config import Config
from mailbot.outbound.outgoing import Outgoing
from mailbot.outbound.render import Renderer
from mailbot.process.tickets import record, thread_ids
from mailbot.store import (
    OPEN_STATES,
    AuthorKind,
    Event,
    EventKind,
    Message,
    OutboxKind,
    Ticket,
    session_scope,
)


def remind_overdue(
    config: Config, engine: Engine, renderer: Renderer, now: datetime | None = None
) -> int:
    if not config.staff.notify:
        return 0
    now = now or datetime.now(UTC)
    outgoing = Outgoing(config)
    zone = ZoneInfo(config.sla.timezone)
    sent = 0
    with session_scope(engine) as session:
        overdue = session.exec(
            select(Ticket).where(
                col(Ticket.status).in_(OPEN_STATES),
                col(Ticket.due_at).is_not(None),
                col(Ticket.due_at) < now,
            )
            # Two workers: each overdue ticket is reminded by whoever locks it first.
            .with_for_update(skip_locked=True)
        ).all()
        for ticket in overdue:
            assert ticket.id is not None and ticket.due_at is not None
            answered = session.exec(
                select(Message.id).where(
                    Message.ticket_id == ticket.id,
                    Message.author_kind == AuthorKind.STAFF,
                )
            ).first()
            if answered is not None:
                continue
            marker = ticket.due_at.isoformat()
            done = session.exec(
                select(Event.id).where(
                    Event.ticket_id == ticket.id,
                    Event.kind == EventKind.ESCALATED,
                    Event.detail == marker,
                )
            ).first()
            if done is not None:
                continue
            context = {"ticket": ticket, "due_local": ticket.due_at.astimezone(zone)}
            lang = config.staff.language
            outgoing.queue(
                session,
                kind=OutboxKind.REMINDER,
                ticket=ticket,
                to=[config.staff.notify],
                subject=renderer.subject("reminder", lang, **context),
                body=renderer.render("reminder", lang, title=f"#{ticket.number}", **context),
                now=now,
                references=thread_ids(session, ticket.id),
                auto_reply=False,
            )
            record(session, kind=EventKind.ESCALATED, actor="sla", ticket=ticket, detail=marker)
            sent += 1
    return sent
