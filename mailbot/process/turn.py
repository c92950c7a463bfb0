"""What one mail's way through the process stage carries: the row it came from, the
context of its write transaction, and what came of it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from mailbot.judge import Judgement
from mailbot.kinds import InboundDisposition, OutcomeStatus
from mailbot.mail import headers as hdr
from mailbot.mail.parse import ParsedMail
from mailbot.mail.threadindex import parse_thread_index
from mailbot.process.attachments import Kept, keep_files
from mailbot.process.tickets import record
from mailbot.sla import Plan
from mailbot.store import AuthorKind, Direction, EventKind, Message, Ticket, prepared_insert

_INSERT_MESSAGE = prepared_insert(Message)


@dataclass(frozen=True)
class Arrival:
    """The stored inbound row, as far as processing reads it."""

    id: int
    raw: bytes
    received_at: datetime
    mailbox: str
    message_id: str
    #: when a technician released it from spam; None for mail never held
    released_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    inbound_id: int
    status: OutcomeStatus
    ticket_number: int | None = None
    #: the kinds of the mail queued for it (OutboxKind values)
    queued: tuple[str, ...] = ()
    detail: str = ""
    #: what the mail is when it is no work (spam, information); stored on its row
    disposition: InboundDisposition | None = None
    #: held mail this one released (a technician's #kein-spam): processed next
    released: tuple[int, ...] = ()


def reported_at(j: Judgement, row: Arrival) -> datetime:
    """When the sender reported it: the mail's Date, unless it arrived before that (a
    wrong clock on their side); for mail released from spam, the release (nobody
    saw it as work before). A ticket's SLA clock counts from here."""
    if row.released_at is not None:
        return row.released_at
    return min(j.sent_at, row.received_at)


@dataclass(frozen=True)
class Turn:
    """One mail inside its write transaction: what every disposition works with.

    ``now`` is the moment the mail is processed (tickets' and mails' times);
    ``row.received_at`` is when it arrived, which the SLA clock may count from.
    """

    session: Session
    row: Arrival
    j: Judgement
    now: datetime

    @property
    def mail(self) -> ParsedMail:
        return self.j.mail

    def processed(
        self,
        number: int | None = None,
        queued: tuple[str, ...] = (),
        detail: str = "",
        *,
        disposition: InboundDisposition | None = None,
        released: tuple[int, ...] = (),
    ) -> Outcome:
        return Outcome(
            self.row.id, OutcomeStatus.PROCESSED, number, queued, detail, disposition, released
        )

    def record(
        self,
        kind: EventKind,
        actor: str,
        *,
        ticket: Ticket | None = None,
        detail: str = "",
        reasons: Iterable[str] = (),
    ) -> None:
        """An event about this mail (:func:`mailbot.process.tickets.record`)."""
        record(self.session, kind=kind, actor=actor, ticket=ticket, inbound_id=self.row.id,
               detail=detail, reasons=reasons)

    @property
    def arrived_at(self) -> datetime:
        return reported_at(self.j, self.row)

    def store_message(self, ticket: Ticket) -> tuple[Kept, ...]:
        """The mail, as the ticket's message, with the evidence of its judgement, and
        its files; the files as kept."""
        assert ticket.id is not None
        j, c = self.j, self.j.classification
        mail = j.mail
        author = (
            AuthorKind.STAFF
            if j.staff_sender
            else AuthorKind.MONITORING
            if c.alarm
            else AuthorKind.CUSTOMER
        )
        evidence = {
            "priority": c.priority.value,
            "urgency": c.urgency.value,
            "deadline": c.deadline.isoformat() if c.deadline else None,
            "planned_change": c.planned_change,
            "language": c.language.value,
            "automated": j.automated,
            "reasons": list(c.reasons),
            "automated_reasons": list(j.automated_reasons),
            "unsure": None if c.doubt is None else c.doubt.as_json(),
        }
        # The whole index, as base64 again: a reply of ours continues it (the root
        # alone would make ours a sibling of the mail it answers).
        index = parse_thread_index(mail.thread_index) if mail.thread_index else None
        row_id = _INSERT_MESSAGE.insert(
            self.session.connection(),
            dict(
                ticket_id=ticket.id,
                inbound_id=self.row.id,
                direction=Direction.IN.value,
                author_kind=author.value,
                message_id=mail.message_id,
                in_reply_to=mail.in_reply_to,
                references=" ".join(mail.references),
                thread_index=index.encode() if index is not None else "",
                sender=mail.from_addr,
                recipients=", ".join((*mail.to, *mail.cc)),
                subject=hdr.clean(mail.subject, 250),
                text=j.body,
                evidence=json.dumps(evidence, ensure_ascii=False),
                created_at=self.row.received_at,
                outbox_id=None,
            ),
        )
        if not mail.attachments:
            return ()
        return keep_files(
            self.session,
            ticket_id=ticket.id,
            message_row_id=row_id,
            inbound_id=self.row.id,
            mail=mail,
            now=self.now,
        )

    def record_opening(self, ticket: Ticket, why: str, the_plan: Plan | None) -> None:
        """The events of a new ticket: opened (``why``), automated, classified, planned."""
        j, c, session, inbound_id = self.j, self.j.classification, self.session, self.row.id
        record(
            session,
            kind=EventKind.TICKET_OPENED,
            actor="process",
            ticket=ticket,
            inbound_id=inbound_id,
            detail=why,
            reasons=[f"Kunde: {j.customer.name}"] if j.customer else [],
        )
        if j.automated:
            record(
                session,
                kind=EventKind.AUTOMATED,
                actor="process",
                ticket=ticket,
                inbound_id=inbound_id,
                reasons=j.automated_reasons,
            )
        record(
            session,
            kind=EventKind.CLASSIFIED,
            actor="classify",
            ticket=ticket,
            inbound_id=inbound_id,
            detail=(
                f"priority={c.priority.value} urgency={c.urgency.value} "
                f"deadline={c.deadline} planned_change={c.planned_change} "
                f"language={c.language.value}"
            ),
            reasons=c.reasons,
        )
        if c.doubt is not None:
            # The technicians see it in the announcement; the ticket keeps it beside the
            # classification, with the reading it was weighed against.
            d = c.doubt
            record(
                session,
                kind=EventKind.UNSURE,
                actor="classify",
                ticket=ticket,
                inbound_id=inbound_id,
                detail=(
                    f"kind={d.kind.value} alternative={d.alternative.value} "
                    f"alternative_planned_change={d.alternative_planned}"
                ),
                reasons=[d.reason],
            )
        if the_plan is not None:
            p = the_plan
            record(
                session,
                kind=EventKind.SLA,
                actor="sla",
                ticket=ticket,
                inbound_id=inbound_id,
                detail=f"due {p.due_at.isoformat()} (clock from {p.clock_starts.isoformat()})",
                reasons=p.adjustments,
            )
