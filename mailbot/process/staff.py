"""Mail to and from the technicians: announcements, on-call alerts, replies and commands."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from mailbot.config import Config
from mailbot.judge import Judgement
from mailbot.mail import headers as hdr
from mailbot.mail.auth import staff_authenticated
from mailbot.mail.commands import scan
from mailbot.outbound.outgoing import Outgoing
from mailbot.outbound.render import Renderer
from mailbot.process.tickets import record, thread_ids, ticket_plan
from mailbot.sla import BusinessCalendar, Plan
from mailbot.store import Message, Ticket
from mailbot.triage import Priority


class StaffDesk:
    def __init__(
        self, config: Config, outgoing: Outgoing, renderer: Renderer, calendar: BusinessCalendar
    ) -> None:
        self.config = config
        self.outgoing = outgoing
        self.renderer = renderer
        self.calendar = calendar

    # -- to the technicians --------------------------------------------------------------

    def announce(
        self,
        session: Session,
        ticket: Ticket,
        j: Judgement,
        now: datetime,
        the_plan: Plan | None = None,
    ) -> list[str]:
        """Every new ticket goes to ``[staff] notify``; a critical one outside the hours
        also to the on-call address at once."""
        queued: list[str] = []
        assert ticket.id is not None
        if the_plan is None and ticket.due_at is not None:
            the_plan = ticket_plan(ticket, self.calendar)
        outside = the_plan is not None and the_plan.clock_starts > ticket.arrived_at
        context = {
            "ticket": ticket,
            "j": j,
            "plan": the_plan,
            "outside_hours": outside,
            "due_local": ticket.due_at.astimezone(self.calendar.zone) if ticket.due_at else None,
        }
        lang = self.config.staff.language
        targets: list[tuple[str, str]] = []
        if self.config.staff.notify:
            targets.append(("notify", self.config.staff.notify))
        oncall = self.config.sla.oncall_address
        if oncall and ticket.priority == Priority.CRITICAL.value and outside:
            targets.append(("oncall", oncall))
        for kind, address in targets:
            out = self.outgoing.queue(
                session,
                kind=kind,
                ticket=ticket,
                to=[address],
                subject=self.renderer.subject(kind, lang, **context),
                body=self.renderer.render(
                    "notify", lang, title=f"#{ticket.number}", oncall=kind == "oncall", **context
                ),
                now=now,
                in_reply_to=j.mail.message_id,
                references=thread_ids(session, ticket.id),
                auto_reply=False,
            )
            record(
                session,
                kind=f"{kind}_queued",
                actor="process",
                ticket=ticket,
                detail=f"{out.message_id} to {address}",
            )
            queued.append(kind)
        return queued

    # -- from the technicians ------------------------------------------------------------

    def handle_reply(
        self, session: Session, ticket: Ticket, j: Judgement, inbound_id: int, now: datetime
    ) -> list[str]:
        """Commands from an authenticated technician change the ticket; the rest of the
        new text is relayed to the customer unless the mail is ``#intern``."""
        sender = j.mail.from_addr
        commands = scan(j.body)
        verdict = staff_authenticated(j.mail, self.config)
        if not verdict.authenticated:
            record(
                session,
                kind="staff_unverified",
                actor="auth",
                ticket=ticket,
                inbound_id=inbound_id,
                detail=f"nothing executed or relayed: {verdict.reason}",
                reasons=[c.line for c in commands.commands],
            )
            return []
        record(
            session,
            kind="staff_verified",
            actor="auth",
            ticket=ticket,
            inbound_id=inbound_id,
            detail=verdict.reason,
        )
        changed_plan = False
        for command in commands.commands:
            if command.name == "priority" and command.value != ticket.priority:
                record(
                    session,
                    kind="priority_changed",
                    actor=sender,
                    ticket=ticket,
                    inbound_id=inbound_id,
                    detail=f"{ticket.priority} -> {command.value}",
                    reasons=[command.line],
                )
                ticket.priority = command.value
                changed_plan = True
            elif command.name == "status" and command.value != ticket.status:
                record(
                    session,
                    kind="status_changed",
                    actor=sender,
                    ticket=ticket,
                    inbound_id=inbound_id,
                    detail=f"{ticket.status} -> {command.value}",
                    reasons=[command.line],
                )
                ticket.status = command.value
            elif command.name == "take":
                record(
                    session,
                    kind="assigned",
                    actor=sender,
                    ticket=ticket,
                    inbound_id=inbound_id,
                    detail=f"assigned to {sender}",
                    reasons=[command.line],
                )
                ticket.assignee = sender
        if commands.unknown:
            record(
                session,
                kind="commands_unknown",
                actor=sender,
                ticket=ticket,
                inbound_id=inbound_id,
                detail="not understood",
                reasons=commands.unknown,
            )
        if changed_plan:
            ticket.due_at = ticket_plan(ticket, self.calendar).due_at
        ticket.updated_at = now
        if commands.internal:
            record(
                session,
                kind="internal_note",
                actor=sender,
                ticket=ticket,
                inbound_id=inbound_id,
                detail="#intern: not relayed to the customer",
            )
            return []
        if not commands.text.strip():
            return []
        return self._relay(session, ticket, commands.text, inbound_id, now)

    def _relay(
        self, session: Session, ticket: Ticket, text: str, inbound_id: int, now: datetime
    ) -> list[str]:
        assert ticket.id is not None
        if not ticket.customer_address or self.config.is_staff(ticket.customer_address):
            record(
                session,
                kind="relay_skipped",
                actor="process",
                ticket=ticket,
                inbound_id=inbound_id,
                detail="the ticket has no customer address",
            )
            return []
        last_customer = session.exec(
            select(Message.message_id)
            .where(
                Message.ticket_id == ticket.id,
                Message.direction == "in",
                Message.author_kind == "customer",
                Message.message_id != "",
            )
            .order_by(col(Message.id).desc())
        ).first()
        lang = ticket.language
        out = self.outgoing.queue(
            session,
            kind="relay",
            ticket=ticket,
            to=[ticket.customer_address],
            subject=hdr.tagged_subject(ticket.number, ticket.subject),
            body=self.renderer.render(
                "relay",
                lang,
                title=f"#{ticket.number}",
                text=text,
                ticket=ticket,
                service_name=self.config.service.name,
            ),
            now=now,
            in_reply_to=last_customer or "",
            references=thread_ids(session, ticket.id),
            auto_reply=None,
        )
        record(
            session,
            kind="relayed",
            actor="process",
            ticket=ticket,
            inbound_id=inbound_id,
            detail=f"{out.message_id} to {ticket.customer_address}",
        )
        return ["relay"]
