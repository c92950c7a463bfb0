"""Mail to and from the technicians: announcements, on-call alerts, replies and commands."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import literal_column
from sqlmodel import Session, col, select

from mailbot.config import Config
from mailbot.errors import ParseError
from mailbot.judge import Judgement
from mailbot.kinds import CorrectionSource, LabelField
from mailbot.mail import headers as hdr
from mailbot.mail.auth import staff_authenticated
from mailbot.mail.commands import Command, scan
from mailbot.mail.parse import ParseLimits, parse_message
from mailbot.outbound.outgoing import Outgoing
from mailbot.outbound.render import Renderer
from mailbot.process.attachments import Kept, Listed, choose, describe
from mailbot.process.corrections import MAIL_LABELS, apply_correction
from mailbot.process.tickets import (
    Change,
    Decision,
    TicketField,
    change_ticket,
    record,
    thread_ids,
    ticket_plan,
)
from mailbot.sla import BusinessCalendar, Plan
from mailbot.store import (
    AuthorKind,
    Direction,
    Event,
    EventKind,
    Inbound,
    InboundStatus,
    Message,
    OutboxKind,
    QuarantineReason,
    Ticket,
)
from mailbot.triage import Priority

#: the event of each announcement
_QUEUED = {OutboxKind.NOTIFY: EventKind.NOTIFY_QUEUED, OutboxKind.ONCALL: EventKind.ONCALL_QUEUED}
#: the events that say technicians were told of a mail too large to fetch
TOO_LARGE_TOLD = col(Event.kind) == literal_column(f"'{EventKind.TOO_LARGE_NOTIFIED.value}'")
#: what each command changes, and the event it is recorded as
_COMMANDS = {
    "priority": (TicketField.PRIORITY, EventKind.PRIORITY_CHANGED),
    "status": (TicketField.STATUS, EventKind.STATUS_CHANGED),
    "take": (TicketField.ASSIGNEE, EventKind.ASSIGNED),
}


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
        files: Sequence[Kept] = (),
    ) -> list[str]:
        """Every new ticket goes to ``[staff] notify``; a critical one outside the hours
        also to the on-call address at once. The mail's ``files`` go along as far as
        :func:`~mailbot.process.attachments.choose` lets them; each one is listed."""
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
        enclosures, listed = choose(files, self.config.limits.forward_attachment_bytes)
        context["files"] = listed
        context["forward_mb"] = self.config.limits.forward_attachments_mb
        lang = self.config.staff.language
        targets: list[tuple[OutboxKind, str]] = []
        if self.config.staff.notify:
            targets.append((OutboxKind.NOTIFY, self.config.staff.notify))
        oncall = self.config.sla.oncall_address
        if oncall and ticket.priority == Priority.CRITICAL and outside:
            targets.append((OutboxKind.ONCALL, oncall))
        for kind, address in targets:
            out = self.outgoing.queue(
                session,
                kind=kind,
                ticket=ticket,
                to=[address],
                subject=self.renderer.subject(kind, lang, **context),
                body=self.renderer.render(
                    "notify",
                    lang,
                    title=f"#{ticket.number}",
                    oncall=kind == OutboxKind.ONCALL,
                    **context,
                ),
                now=now,
                in_reply_to=j.mail.message_id,
                references=thread_ids(session, ticket.id),
                auto_reply=False,
                # The first mail of the technicians' side: it continues the
                # customer's conversation; reminders then continue this one.
                answers_index=j.mail.thread_index,
                attachments=enclosures,
            )
            record(
                session,
                kind=_QUEUED[kind],
                actor="process",
                ticket=ticket,
                detail=f"{out.message_id} to {address}",
                reasons=[describe(item) for item in listed],
            )
            queued.append(kind)
        return queued

    def tell_too_large(self, session: Session, limits: ParseLimits, now: datetime) -> None:
        """Mail quarantined as too large: a technician must hear of each once, or it
        waits on the server unseen (fetch never downloads it)."""
        notify = self.config.staff.notify
        if not notify:
            return
        # The kind as a literal, not a parameter: only then may SQLite use the partial
        # index made for this query.
        told = set(session.exec(select(Event.inbound_id).where(TOO_LARGE_TOLD)).all())
        rows = session.exec(
            select(Inbound).where(
                Inbound.status == InboundStatus.QUARANTINED,
                Inbound.quarantine_reason == QuarantineReason.TOO_LARGE,
            )
        ).all()
        lang = self.config.staff.language
        for row in rows:
            if row.id in told:
                continue
            try:
                mail = parse_message(row.raw, limits)
                sender, subject = mail.from_addr or "?", mail.subject
            except ParseError:
                sender, subject = "?", ""
            context = {
                "mailbox": row.mailbox,
                "sender": sender,
                "subject": subject,
                "reason": row.error,
                "inbound_id": row.id,
            }
            self.outgoing.queue(
                session,
                kind=OutboxKind.NOTIFY,
                ticket=None,
                to=[notify],
                subject=self.renderer.subject("toolarge", lang, **context),
                body=self.renderer.render("toolarge", lang, title=subject, **context),
                now=now,
                auto_reply=False,
            )
            record(
                session,
                kind=EventKind.TOO_LARGE_NOTIFIED,
                actor="process",
                inbound_id=row.id,
                detail=f"told {notify}",
            )

    # -- from the technicians ------------------------------------------------------------

    def handle_reply(
        self,
        session: Session,
        ticket: Ticket,
        j: Judgement,
        inbound_id: int,
        now: datetime,
        files: Sequence[Kept] = (),
    ) -> list[str]:
        """Commands from an authenticated technician change the ticket; the rest of the
        new text is relayed to the customer with the mail's ``files`` (programs and
        what exceeds the limit withheld) unless the mail is ``#intern``."""
        sender = j.mail.from_addr
        commands = scan(j.body)
        verdict = staff_authenticated(j.mail, self.config)
        if not verdict.authenticated:
            record(
                session,
                kind=EventKind.STAFF_UNVERIFIED,
                actor="auth",
                ticket=ticket,
                inbound_id=inbound_id,
                detail=f"nothing executed or relayed: {verdict.reason}",
                reasons=[c.line for c in commands.commands],
            )
            return []
        record(
            session,
            kind=EventKind.STAFF_VERIFIED,
            actor="auth",
            ticket=ticket,
            inbound_id=inbound_id,
            detail=verdict.reason,
        )
        for command in commands.commands:
            _obey(session, ticket, command, sender, inbound_id, now, self.calendar)
        if commands.unknown:
            record(
                session,
                kind=EventKind.COMMANDS_UNKNOWN,
                actor=sender,
                ticket=ticket,
                inbound_id=inbound_id,
                detail="not understood",
                reasons=commands.unknown,
            )
        # A technician's mail is work on the ticket, commands or not.
        ticket.updated_at = now
        if commands.internal:
            record(
                session,
                kind=EventKind.INTERNAL_NOTE,
                actor=sender,
                ticket=ticket,
                inbound_id=inbound_id,
                detail="#intern: not relayed to the customer",
            )
            return []
        if not commands.text.strip():
            return []
        return self._relay(session, ticket, commands.text, inbound_id, now, files)

    def _relay(
        self,
        session: Session,
        ticket: Ticket,
        text: str,
        inbound_id: int,
        now: datetime,
        files: Sequence[Kept],
    ) -> list[str]:
        """``text`` and ``files`` (as far as they may go) to the ticket's customer."""
        assert ticket.id is not None
        if not ticket.customer_address or self.config.is_staff(ticket.customer_address):
            record(
                session,
                kind=EventKind.RELAY_SKIPPED,
                actor="process",
                ticket=ticket,
                inbound_id=inbound_id,
                detail="the ticket has no customer address",
            )
            return []
        last_customer = session.exec(
            select(Message.message_id, Message.thread_index)
            .where(
                Message.ticket_id == ticket.id,
                Message.direction == Direction.IN,
                Message.author_kind == AuthorKind.CUSTOMER,
                Message.message_id != "",
            )
            .order_by(col(Message.id).desc())
        ).first()
        lang = ticket.language
        enclosures, listed = choose(files, self.config.limits.forward_attachment_bytes)
        out = self.outgoing.queue(
            session,
            kind=OutboxKind.RELAY,
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
            in_reply_to=last_customer[0] if last_customer else "",
            references=thread_ids(session, ticket.id),
            auto_reply=None,
            answers_index=last_customer[1] if last_customer else "",
            attachments=enclosures,
        )
        record(
            session,
            kind=EventKind.RELAYED,
            actor="process",
            ticket=ticket,
            inbound_id=inbound_id,
            detail=f"{out.message_id} to {ticket.customer_address}",
            reasons=[describe(item) for item in listed if item.attached],
        )
        _withheld(session, ticket, inbound_id, [item for item in listed if not item.attached])
        return [OutboxKind.RELAY]


def _withheld(session: Session, ticket: Ticket, inbound_id: int, items: list[Listed]) -> None:
    """A technician's files that did not go to the customer, each an event: the
    technician can see why in ``mailbot ticket``."""
    for item in items:
        record(
            session,
            kind=EventKind.ATTACHMENT_WITHHELD,
            actor="process",
            ticket=ticket,
            inbound_id=inbound_id,
            detail=f"not relayed to {ticket.customer_address}: {describe(item)}",
        )


def _obey(
    session: Session,
    ticket: Ticket,
    command: Command,
    sender: str,
    inbound_id: int,
    now: datetime,
    calendar: BusinessCalendar,
) -> None:
    """One authenticated command: the field it names changes (replanned if that moves
    the due time), recorded with the command line as its evidence."""
    if command.name not in _COMMANDS:
        return  # "#intern" changes no field
    field, kind = _COMMANDS[command.name]
    if field is TicketField.ASSIGNEE:
        value, detail = sender, f"assigned to {sender}"
    else:
        value = command.value
        detail = f"{getattr(ticket, field.value)} -> {value}"
    decision = Decision(kind, sender, detail, [command.line], inbound_id)
    if field.value in MAIL_LABELS:
        # A label of the bot's judgement: kept as a labelled example as well, also
        # when it confirms the value (then nothing else changes).
        apply_correction(
            session,
            ticket,
            LabelField(field.value),
            value,
            decision,
            source=CorrectionSource.COMMAND,
            calendar=calendar,
            now=now,
        )
        return
    change_ticket(session, ticket, [Change(field, value)], decision, calendar=calendar, now=now)
