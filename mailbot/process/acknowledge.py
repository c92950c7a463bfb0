"""The acknowledgement: what a customer is told about their ticket, rendered and queued.

A new ticket's acknowledgement is rendered before the write transaction (the render
is a good part of a mail's cost, and SQLite's write turn is held while the
transaction runs), with the number reserved for the ticket
(:func:`mailbot.process.dispose.draft`, :class:`mailbot.process.tickets.DraftNumbers`).
The transaction uses that text while the number is still free; otherwise (a ticket
opened without a draft took it) it is rendered again there, with the number the
ticket got.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from mailbot.config import Config
from mailbot.judge import Judgement
from mailbot.mail import headers as hdr
from mailbot.outbound.outgoing import Outgoing
from mailbot.outbound.render import AckView, Rendered, Renderer, hours_lines
from mailbot.process.tickets import record, thread_ids, ticket_plan
from mailbot.sla import BusinessCalendar, Plan
from mailbot.store import EventKind, OutboxKind, Ticket, TicketStatus


class Acknowledger:
    def __init__(
        self, config: Config, outgoing: Outgoing, renderer: Renderer, calendar: BusinessCalendar
    ) -> None:
        self.config = config
        self.outgoing = outgoing
        self.renderer = renderer
        self.calendar = calendar

    def acknowledge(
        self,
        session: Session,
        ticket: Ticket,
        j: Judgement,
        now: datetime,
        *,
        changes: Sequence[tuple[str, str]] = (),
        plan: Plan | None = None,
        body: Rendered | None = None,
        refs: list[str] | None = None,
    ) -> list[str]:
        """Queue the acknowledgement of a new ticket, or with ``changes`` the update
        after a follow-up, unless the sender must not get one. ``body``: already
        rendered for this ticket; ``refs``: the thread's Message-IDs, if known."""
        if j.automated:
            record(
                session,
                kind=EventKind.ACK_SUPPRESSED,
                actor="process",
                ticket=ticket,
                detail="automated mail",
                reasons=j.automated_reasons,
            )
            return []
        permission = self.outgoing.may_auto_reply(session, j.mail.from_addr, now)
        if not permission.allowed:
            record(
                session,
                kind=EventKind.ACK_SUPPRESSED,
                actor="process",
                ticket=ticket,
                detail=permission.reason,
            )
            return []
        if body is None:
            body = self.render(ticket, j, plan or ticket_plan(ticket, self.calendar), changes)
        assert ticket.id is not None
        if refs is None:
            refs = thread_ids(session, ticket.id)
        out = self.outgoing.queue(
            session,
            kind=OutboxKind.UPDATE if changes else OutboxKind.ACK,
            ticket=ticket,
            to=[j.mail.from_addr],
            subject=hdr.tagged_subject(ticket.number, j.mail.subject or ticket.subject),
            body=body,
            now=now,
            in_reply_to=j.mail.message_id,
            references=refs,
            answers_index=j.mail.thread_index,
        )
        record(
            session,
            kind=EventKind.ACK_QUEUED,
            actor="process",
            ticket=ticket,
            detail=f"{out.kind} {out.message_id} to {out.to_address}",
        )
        return [out.kind]

    def render(
        self, ticket: Ticket, j: Judgement, p: Plan, changes: Sequence[tuple[str, str]] = ()
    ) -> Rendered:
        """The acknowledgement's text and HTML for ``ticket`` as it stands, its number
        included."""
        lang = ticket.language
        zone = self.calendar.zone
        view = AckView(
            language=lang,
            number=ticket.number,
            subject=ticket.subject,
            customer_name=hdr.clean(j.mail.from_name, 80),
            contract=ticket.contract,
            priority=ticket.priority,
            urgency=ticket.urgency,
            reasons=j.classification.reasons,
            due_at=p.due_at.astimezone(zone) if ticket.status != TicketStatus.SOLVED else None,
            clock_starts=(
                p.clock_starts.astimezone(zone) if p.clock_starts > ticket.arrived_at else None
            ),
            on_call_now=p.on_call_now,
            scheduled_for=p.scheduled_for,
            deadline=ticket.deadline,
            adjustments=p.adjustments,
            service_hours=hours_lines(self.config.sla.hours, lang),
            extended_hours=hours_lines(self.config.sla.extended_hours, lang),
            hotline=self.config.service.hotline,
            service_name=self.config.service.name,
            kind="update" if changes else "new",
            changes=tuple(changes),
        )
        return self.renderer.render(
            "ack",
            lang,
            view=view,
            customer_name=view.customer_name,
            title=f"[#{ticket.number}] {ticket.subject}",
        )
