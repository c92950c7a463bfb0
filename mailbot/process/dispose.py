"""The ways one mail can go, tried in this order by :func:`dispose`:

1. spam (our receiving server's verdict, or a forged sender) is held: stored, never
   answered, never work, until a technician releases it (:mod:`.spam`);
2. a delivery report about our mail marks that mail bounced (and goes on below);
3. a monitoring alarm joins the open ticket of its host and service, or opens one;
4. mail in a thread we know is a follow-up on its ticket: a technician's reply
   (commands, relay to the customer) or the customer's words (which may replan it);
   a robot's mail there (an auto-reply to our acknowledgement) is information on it;
5. our own mail that is in no thread is ignored;
6. a technician's reply to the daily spam notice releases what it names;
7. a robot's mail in no thread is information: attached to the ticket a bounce
   reports on, else listed by ``mailbot tickets --info``;
8. anything else opens a new ticket, acknowledged and announced.

Everything here runs inside the mail's write transaction. What a new ticket will
write is prepared before it (:func:`draft`), so the transaction only checks that the
preparation still holds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from mailbot.config import Config
from mailbot.judge import Judgement
from mailbot.mail import headers as hdr
from mailbot.mail.automated import delivery_failures
from mailbot.outbound.render import Rendered
from mailbot.process.acknowledge import Acknowledger
from mailbot.process.attachments import Kept
from mailbot.process.spam import answered_notice, hold, note_ignored, spam_command
from mailbot.process.staff import StaffDesk
from mailbot.process.threads import ThreadMatch, match_thread, strip_prefixes, subject_tag
from mailbot.process.tickets import (
    Change,
    Decision,
    TicketField,
    change_ticket,
    next_number,
    number_free,
    record,
)
from mailbot.process.turn import Arrival, Outcome, Turn, reported_at
from mailbot.sla import BusinessCalendar, Plan, plan
from mailbot.store import (
    EventKind,
    InboundDisposition,
    Message,
    Outbox,
    OutboxStatus,
    Ticket,
    TicketStatus,
    insert_row,
    new_row,
)
from mailbot.triage import Alarm, Classification, Priority, Urgency

log = logging.getLogger(__name__)

#: the content type of a delivery status notification (RFC 3464)
_DELIVERY_REPORT = "multipart/report"


@dataclass(frozen=True)
class Crew:
    """What the dispositions work with besides the mail; one per Processor."""

    config: Config
    calendar: BusinessCalendar
    staff: StaffDesk
    ack: Acknowledger


def dispose(turn: Turn, crew: Crew, prepared: Draft | None = None) -> Outcome:
    """One mail's way: the first disposition that fits takes it."""
    if turn.j.spam.spam and turn.row.released_at is None:
        return hold(turn)
    if turn.mail.content_type == _DELIVERY_REPORT:
        bounce(turn)
    if turn.j.classification.alarm is not None and turn.j.automated:
        return monitoring_alarm(turn, crew, turn.j.classification.alarm)
    match = match_thread(turn.session, turn.mail, is_staff=crew.config.is_staff)
    if match.ticket is not None:
        return follow_up(turn, crew, match.ticket, match)
    if turn.j.own_mail:
        return own_mail(turn)
    if turn.j.staff_sender:
        notice = answered_notice(turn.session, turn.mail)
        if notice is not None:
            return spam_command(turn, crew.config, notice)
    if turn.j.information:
        return information(turn)
    return new_ticket(turn, crew, match, prepared)


# -- 2. delivery reports ---------------------------------------------------------------


def bounce(turn: Turn) -> None:
    """A DSN about one of our mails marks that mail failed with the status code first,
    so ``Outgoing.may_auto_reply`` counts its recipient as bounced from now on."""
    session, row = turn.session, turn.row
    for failure in delivery_failures(row.raw):
        if not failure.refers_to:
            continue
        ours = session.exec(
            select(Outbox).where(col(Outbox.message_id).in_(failure.refers_to))
        ).all()
        for out in ours:
            if out.to_address != failure.recipient:
                continue
            out.status = OutboxStatus.FAILED.value
            out.last_error = f"{failure.status} bounced (report {row.message_id})"
            session.add(out)
            ticket = session.get(Ticket, out.ticket_id) if out.ticket_id else None
            record(
                session,
                kind=EventKind.BOUNCED,
                actor="process",
                ticket=ticket,
                inbound_id=row.id,
                detail=f"{failure.recipient}: {failure.status} for {out.message_id}",
            )


# -- 3. monitoring alarms --------------------------------------------------------------


def monitoring_alarm(turn: Turn, crew: Crew, alarm: Alarm) -> Outcome:
    """A repeat raises the open alarm ticket's priority, a recovery may solve it; an
    alarm with no open ticket opens one, announced to the technicians only."""
    session = turn.session
    ticket = session.exec(
        select(Ticket)
        .where(Ticket.alarm_key == alarm.key, Ticket.status != TicketStatus.SOLVED)
        .order_by(col(Ticket.id).desc())
    ).first()
    if ticket is None:
        return _alarm_ticket(turn, crew, alarm)
    turn.store_message(ticket)
    record(
        session,
        kind=EventKind.ALARM_RECOVERY if alarm.recovery else EventKind.ALARM_REPEAT,
        actor="monitoring",
        ticket=ticket,
        inbound_id=turn.row.id,
        detail=f"{alarm.key} is {alarm.state}",
    )
    if alarm.recovery:
        if crew.config.monitoring.resolve_on_recovery:
            change_ticket(
                session,
                ticket,
                [Change(TicketField.STATUS, TicketStatus.SOLVED.value)],
                Decision(EventKind.STATUS_CHANGED, "monitoring", "solved by recovery"),
                calendar=crew.calendar,
                now=turn.now,
            )
    else:
        raised = turn.j.classification.priority
        if raised.rank < Priority(ticket.priority).rank:
            why = f"raised to {raised.value} by the alarm"
            # The raised priority's reaction time counts from this alarm, not the first.
            change_ticket(
                session,
                ticket,
                [Change(TicketField.PRIORITY, raised.value)],
                Decision(EventKind.PRIORITY_CHANGED, "monitoring", why),
                calendar=crew.calendar,
                now=turn.now,
                clock_from=turn.arrived_at,
            )
    return turn.processed(ticket.number)


def _alarm_ticket(turn: Turn, crew: Crew, alarm: Alarm) -> Outcome:
    session, j, c, now = turn.session, turn.j, turn.j.classification, turn.now
    customer = crew.config.customer_for_host(alarm.host)
    contract = bool(customer and customer.contract)
    alarm_plan = None
    if not alarm.recovery:
        alarm_plan = plan(
            turn.arrived_at,
            c.priority,
            contract,
            c.urgency,
            c.deadline,
            c.planned_change,
            crew.calendar,
        )
    ticket = new_row(
        Ticket,
        number=next_number(session),
        subject=hdr.clean(turn.mail.subject or alarm.key, 250),
        customer_address=turn.mail.from_addr,
        customer_domain=customer.domain if customer else "",
        customer_name=customer.name if customer else "",
        contract=contract,
        status=(TicketStatus.SOLVED if alarm.recovery else TicketStatus.OPEN).value,
        priority=c.priority.value,
        urgency=Urgency.NONE.value,
        category="monitoring",
        language=c.language.value,
        arrived_at=turn.arrived_at,
        due_at=alarm_plan.due_at if alarm_plan else None,
        alarm_key=alarm.key,
        created_at=now,
        updated_at=now,
    )
    # Nothing changes the new ticket later in this transaction: a plain INSERT.
    insert_row(session, ticket)
    files = turn.store_message(ticket)
    turn.record_opening(ticket, "monitoring alarm", alarm_plan)
    record(
        session,
        kind=EventKind.ACK_SUPPRESSED,
        actor="process",
        ticket=ticket,
        detail="monitoring alarm",
        reasons=j.automated_reasons,
    )
    queued = crew.staff.announce(session, ticket, j, now, alarm_plan, files)
    return turn.processed(ticket.number, tuple(queued))


# -- 4. follow-ups ---------------------------------------------------------------------


def follow_up(turn: Turn, crew: Crew, ticket: Ticket, match: ThreadMatch) -> Outcome:
    """The mail joins its ticket; an automated one changes nothing and gets no answer."""
    files = turn.store_message(ticket)
    turn.record(
        kind=EventKind.MESSAGE_ADDED,
        actor="threads",
        ticket=ticket,
        detail=f"matched by {match.how}",
        reasons=[match.detail] if match.detail else [],
    )
    if turn.j.automated:
        turn.record(
            kind=EventKind.ACK_SUPPRESSED,
            actor="process",
            ticket=ticket,
            detail="automated mail",
            reasons=turn.j.automated_reasons,
        )
        if not turn.j.information:
            return turn.processed(ticket.number)
        # Attached as information: the ticket is neither reopened nor replanned.
        turn.record(
            kind=EventKind.INFORMATION,
            actor="process",
            ticket=ticket,
            detail=f"attached to #{ticket.number}, nothing changed",
            reasons=turn.j.automated_reasons,
        )
        return turn.processed(ticket.number, disposition=InboundDisposition.INFO)
    if turn.j.staff_sender:
        return technician_reply(turn, crew, ticket, files)
    return customer_follow_up(turn, crew, ticket)


def technician_reply(
    turn: Turn, crew: Crew, ticket: Ticket, files: Sequence[Kept] = ()
) -> Outcome:
    relayed = crew.staff.handle_reply(
        turn.session, ticket, turn.j, turn.row.id, turn.now, files
    )
    return turn.processed(ticket.number, tuple(relayed))


def customer_follow_up(turn: Turn, crew: Crew, ticket: Ticket) -> Outcome:
    """What the customer's words change is applied, and the customer is told."""
    c = turn.j.classification
    made = change_ticket(
        turn.session,
        ticket,
        reread(ticket, c),
        Decision(EventKind.REPLANNED, "classify", reasons=c.reasons, inbound_id=turn.row.id),
        calendar=crew.calendar,
        now=turn.now,
    )
    if not made:
        return turn.processed(ticket.number)
    queued = crew.ack.acknowledge(
        turn.session, ticket, turn.j, turn.now, changes=[m.code() for m in made]
    )
    return turn.processed(ticket.number, tuple(queued))


def reread(ticket: Ticket, c: Classification) -> list[Change]:
    """What a customer's follow-up changes; only what its words actually say."""
    changes: list[Change] = []
    if ticket.status == TicketStatus.SOLVED and not c.resolved:
        changes.append(Change(TicketField.STATUS, TicketStatus.OPEN.value))
    # A short "thanks, I'll try" reads as low; only an escalation may change impact.
    if Priority(c.priority).rank < Priority(ticket.priority).rank:
        changes.append(Change(TicketField.PRIORITY, c.priority.value))
    if c.urgency != Urgency.NONE and c.urgency.value != ticket.urgency:
        changes.append(Change(TicketField.URGENCY, c.urgency.value))
    if c.deadline is not None and c.deadline != ticket.deadline:
        changes.append(Change(TicketField.DEADLINE, c.deadline))
    if c.planned_change and not ticket.planned_change:
        changes.append(Change(TicketField.PLANNED_CHANGE, True))
    if c.resolved and ticket.status != TicketStatus.SOLVED:
        changes.append(Change(TicketField.STATUS, TicketStatus.SOLVED.value))
    return changes


# -- 5. our own mail -------------------------------------------------------------------


def own_mail(turn: Turn) -> Outcome:
    """Mail from one of our own addresses that answers nothing we know: kept, never
    a ticket (it would acknowledge itself)."""
    turn.record(
        kind=EventKind.OWN_MAIL_IGNORED,
        actor="process",
        detail=f"mail from our own address {turn.mail.from_addr}",
    )
    return turn.processed(detail="own mail")


# -- 7. information --------------------------------------------------------------------


def information(turn: Turn) -> Outcome:
    """A robot's mail that answers nothing we know: stored, never answered, no ticket.
    A delivery report that names a mail of a ticket is attached to that ticket."""
    ticket = _reported_ticket(turn)
    if ticket is not None:
        turn.store_message(ticket)
        detail = f"delivery report attached to #{ticket.number}, nothing changed"
    else:
        detail = "stored as information (mailbot tickets --info)"
    turn.record(
        kind=EventKind.INFORMATION,
        actor="process",
        ticket=ticket,
        detail=detail,
        reasons=turn.j.automated_reasons,
    )
    number = ticket.number if ticket is not None else None
    return turn.processed(number, detail="information", disposition=InboundDisposition.INFO)


def _reported_ticket(turn: Turn) -> Ticket | None:
    """The ticket of the mail a delivery report returns, if it is one of ours."""
    if turn.mail.content_type != _DELIVERY_REPORT:
        return None
    ids = sorted({i for f in delivery_failures(turn.row.raw) for i in f.refers_to})
    if not ids:
        return None
    session = turn.session
    found = session.exec(
        select(Outbox.ticket_id).where(
            col(Outbox.message_id).in_(ids), col(Outbox.ticket_id).is_not(None)
        )
    ).first()
    if found is None:
        found = session.exec(
            select(Message.ticket_id).where(col(Message.message_id).in_(ids))
        ).first()
    return session.get(Ticket, found) if found is not None else None


# -- 8. new tickets --------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """What a mail that looks like a new conversation will write, made before the
    write transaction: the ticket, and its acknowledgement rendered for ``number``,
    the number reserved for the ticket (:class:`DraftNumbers`). Inside the transaction everything is
    decided anew (thread match, permission to reply); the draft is used only where
    its assumptions hold, its acknowledgement only if the ticket got ``number``."""

    ticket: Ticket
    number: int
    #: None when none will be sent (automated mail)
    ack: Rendered | None


def looks_new(j: Judgement, *, released: bool = False) -> bool:
    """Mail that refers to no earlier mail and is no alarm, report, spam, robot's or
    technician's: most likely a new ticket, worth drafting. ``released``: a
    technician released it from spam."""
    mail = j.mail
    if mail.in_reply_to or mail.references or subject_tag(mail.subject) is not None:
        return False
    if j.staff_sender or mail.content_type == _DELIVERY_REPORT or j.information:
        return False
    if j.spam.spam and not released:
        return False
    return not (j.classification.alarm is not None and j.automated)


def draft(crew: Crew, row: Arrival, j: Judgement, now: datetime, number: int) -> Draft:
    """The draft of ``row``'s ticket, its acknowledgement rendered for ``number``."""
    ticket = customer_ticket(row, j, None, j.plan, now)
    ticket.number = number
    ack = None if j.plan is None else crew.ack.render(ticket, j, j.plan)
    return Draft(ticket, number, ack)


def new_ticket(
    turn: Turn, crew: Crew, match: ThreadMatch, prepared: Draft | None = None
) -> Outcome:
    session, j, now = turn.session, turn.j, turn.now
    # Automated mail is kept as a ticket but nobody was promised anything (no plan).
    the_plan = j.plan
    # The draft assumed no ticket to link to.
    if prepared is not None and match.forwarded_from is None:
        ticket, ack = prepared.ticket, prepared.ack
        number = prepared.number
        if not number_free(session, number):  # a ticket opened without a draft took it
            number = next_number(session)
            log.debug("#%d was taken meanwhile: #%d's acknowledgement is rendered again",
                      prepared.number, number)
            ack = None
    else:
        number = next_number(session)
        ticket, ack = customer_ticket(turn.row, j, match.forwarded_from, the_plan, now), None
    ticket.number = number
    # Nothing changes the new ticket later in this transaction: a plain INSERT.
    insert_row(session, ticket)
    files = turn.store_message(ticket)
    turn.record_opening(ticket, match.detail or "new conversation", the_plan)
    note_ignored(turn, crew.config, ticket)
    # The new ticket's thread is this one mail.
    refs = [j.mail.message_id] if j.mail.message_id else []
    queued = crew.ack.acknowledge(session, ticket, j, now, plan=the_plan, body=ack, refs=refs)
    queued += crew.staff.announce(session, ticket, j, now, the_plan, files)
    return turn.processed(ticket.number, tuple(queued))


def customer_ticket(
    row: Arrival, j: Judgement, forwarded: Ticket | None, the_plan: Plan | None, now: datetime
) -> Ticket:
    """A new ticket for a customer's mail, not yet numbered; ``forwarded``: the old
    ticket a forward of its thread links to."""
    mail, c = j.mail, j.classification
    return new_row(
        Ticket,
        number=0,
        subject=hdr.clean(strip_prefixes(mail.subject) or mail.subject, 250),
        customer_address=mail.from_addr,
        customer_domain=mail.from_addr.rpartition("@")[2],
        customer_name=j.customer.name if j.customer else "",
        contract=j.contract,
        priority=c.priority.value,
        urgency=c.urgency.value,
        deadline=c.deadline,
        planned_change=c.planned_change,
        category=c.category,
        language=c.language.value,
        arrived_at=reported_at(j, row),
        due_at=the_plan.due_at if the_plan else None,
        linked_ticket_id=forwarded.id if forwarded else None,
        created_at=now,
        updated_at=now,
    )
