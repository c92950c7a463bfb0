"""process: one inbound message -> ticket, message, events and queued mail, in one transaction.

A message that fails anywhere in here is quarantined with its reason; its raw bytes
stay in ``inbound`` and the next message goes on (Mailman's "shunt" queue).
"""

from __future__ import annotations

import json
import logging
import secrets
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import bindparam, case, func, literal_column, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from mailbot.config import Config
from mailbot.errors import ParseError
from mailbot.judge import Judge, Judgement
from mailbot.mail import headers as hdr
from mailbot.mail.parse import ParsedMail, ParseLimits, parse_message
from mailbot.outbound.outgoing import Outgoing
from mailbot.outbound.render import AckView, Rendered, Renderer, hours_lines
from mailbot.process.staff import StaffDesk
from mailbot.process.threads import ThreadMatch, match_thread, strip_prefixes, subject_tag
from mailbot.process.tickets import next_number, record, thread_ids, ticket_plan
from mailbot.sla import Plan, plan
from mailbot.store import (
    Event,
    EventKind,
    Inbound,
    Message,
    Outbox,
    Prepared,
    Ticket,
    insert_row,
    new_row,
    prepared_insert,
    session_scope,
)
from mailbot.triage import Priority, Urgency

log = logging.getLogger(__name__)

_INSERT_MESSAGE = prepared_insert(Message)
_INBOUND = Inbound.__table__  # type: ignore[attr-defined]
_READ_COLUMNS = (
    _INBOUND.c.raw,
    _INBOUND.c.received_at,
    _INBOUND.c.status,
    _INBOUND.c.mailbox,
    _INBOUND.c.message_id,
)
_READ = Prepared(sa_select(*_READ_COLUMNS).where(_INBOUND.c.id == bindparam("inbound_id")))
#: rows read ahead in one query by ``process_each``
_READ_AHEAD = 8
#: a larger row is read when its turn comes, so the rows held ahead stay small even
#: when a backlog is all mail near the size limit
_READ_AHEAD_BYTES = 1024 * 1024
_READ_SOME = sa_select(
    _INBOUND.c.id,
    case((func.length(_INBOUND.c.raw) <= _READ_AHEAD_BYTES, _INBOUND.c.raw), else_=None),
    *_READ_COLUMNS[1:],
).where(_INBOUND.c.id.in_(bindparam("ids", expanding=True)), _INBOUND.c.status == "new")
_CLAIM = Prepared(
    sa_select(_INBOUND.c.id)
    .where(_INBOUND.c.id == bindparam("inbound_id"), _INBOUND.c.status == "new")
    .with_for_update(skip_locked=True)
)
_DONE = Prepared(
    update(_INBOUND)
    .where(_INBOUND.c.id == bindparam("inbound_id"))
    .values(
        status="processed",
        processed_at=bindparam("done_at"),
        attempts=_INBOUND.c.attempts + 1,
        error="",
    )
)

_TOO_LARGE_KIND = col(Event.kind) == literal_column(f"'{EventKind.TOO_LARGE_NOTIFIED.value}'")

#: how often a transaction that lost a unique-constraint race is tried again
_RACE_RETRIES = 4


@dataclass(frozen=True)
class Outcome:
    inbound_id: int
    #: processed | quarantined | skipped
    status: str
    ticket_number: int | None = None
    queued: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class Arrival:
    """The stored inbound row, as far as processing reads it."""

    id: int
    raw: bytes
    received_at: datetime
    mailbox: str
    message_id: str


@dataclass(frozen=True)
class Draft:
    """What a mail that opens a ticket will write, prepared before the write turn.

    The acknowledgement is rendered with a stand-in for the ticket number, which
    only the write transaction can give; inside it the stand-in is replaced. Inside
    the transaction everything is still decided anew (thread match, permission to
    reply); the draft is used only where its assumptions hold.
    """

    ticket: Ticket
    #: the acknowledgement's text and HTML, the number still a stand-in; None when
    #: none will be sent (automated mail)
    ack: Rendered | None


@dataclass
class ProcessReport:
    processed: int = 0
    quarantined: int = 0
    outcomes: list[Outcome] = field(default_factory=list)


class Processor:
    def __init__(
        self,
        config: Config,
        engine: Engine,
        judge: Judge | None = None,
        renderer: Renderer | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.judge = judge or Judge(config)
        self.renderer = renderer or Renderer()
        self.outgoing = Outgoing(config)
        self.desk = StaffDesk(config, self.outgoing, self.renderer, self.judge.calendar)
        #: stands for the ticket number in an acknowledgement rendered before the number
        #: exists; random, so no customer can write it into a subject on purpose
        self._number_mark = 10**17 + secrets.randbelow(9 * 10**17)
        self.limits = ParseLimits(
            max_bytes=config.limits.max_message_bytes,
            max_parts=config.limits.max_mime_parts,
            max_depth=config.limits.max_mime_depth,
            zone=self.judge.calendar.zone,
        )

    def warm(self) -> None:
        """Load everything loaded lazily, so forked children inherit it instead of
        each loading its own copy."""
        self.judge.classifier.warm()
        self.renderer.warm()

    # -- driving ---------------------------------------------------------------------

    def pending(self, limit: int | None = None) -> list[int]:
        with Session(self.engine) as session:
            query = select(Inbound.id).where(Inbound.status == "new").order_by(col(Inbound.id))
            if limit:
                query = query.limit(limit)
            return [i for i in session.exec(query).all() if i is not None]

    def process_pending(
        self,
        *,
        limit: int | None = None,
        progress: Callable[[Outcome], None] | None = None,
        now: Callable[[], datetime] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> ProcessReport:
        """Process pending mail, oldest first; ``stop`` is asked between messages."""
        report = ProcessReport()
        self.tell_staff_too_large(now() if now else datetime.now(UTC))
        for outcome in self.process_each(self.pending(limit), now=now, stop=stop):
            report.outcomes.append(outcome)
            if outcome.status == "processed":
                report.processed += 1
            elif outcome.status == "quarantined":
                report.quarantined += 1
            if progress is not None:
                progress(outcome)
        return report

    def process_each(
        self,
        ids: Sequence[int],
        *,
        now: Callable[[], datetime] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[Outcome]:
        """``process_one`` for each id in turn, ``stop`` asked before each.

        The stored rows are read a few at a time, one query each, instead of a read
        transaction per mail (a row over 1 MiB is left to ``process_one``). A row taken
        by another worker after that read is still skipped: the claim in the write
        transaction checks its status again.
        """
        for start in range(0, len(ids), _READ_AHEAD):
            chunk = ids[start : start + _READ_AHEAD]
            if stop is not None and stop():
                return
            with self.engine.connect() as reader, reader.begin():
                arrivals = {
                    row[0]: Arrival(row[0], row[1], row[2], row[4], row[5])
                    for row in reader.execute(_READ_SOME, {"ids": list(chunk)})
                    if row[1] is not None
                }
            for inbound_id in chunk:
                if stop is not None and stop():
                    return
                moment = now() if now is not None else None
                yield self.process_one(inbound_id, moment, arrival=arrivals.get(inbound_id))

    def process_one(
        self, inbound_id: int, now: datetime | None = None, *, arrival: Arrival | None = None
    ) -> Outcome:
        """Process one inbound row exactly once, or quarantine it with the reason.
        ``arrival``: the row as already read (it is read here otherwise).

        Store trouble (locked, unreachable) is not the message's fault: it propagates,
        the row stays "new" and is tried again. A unique-constraint race with another
        worker (two tickets numbered alike) is retried a few times before anything else.
        """
        now = now or datetime.now(UTC)
        for attempt in range(_RACE_RETRIES):
            try:
                return self._process_once(inbound_id, now, arrival)
            except IntegrityError:
                if attempt == _RACE_RETRIES - 1:
                    return self._quarantine(inbound_id, "store conflict persisted")
            except OperationalError:
                raise
            except Exception as exc:
                return self._quarantine(inbound_id, describe(exc))
        raise AssertionError("unreachable")

    def _process_once(self, inbound_id: int, now: datetime, row: Arrival | None) -> Outcome:
        # Parsing and judging read nothing but the raw bytes: done before the write
        # transaction, so a second worker's judging overlaps this one's writing.
        if row is None:
            with self.engine.connect() as reader, reader.begin():
                found = _READ.first(reader, {"inbound_id": inbound_id})
            if found is None:
                return Outcome(inbound_id, "skipped")
            raw, received_at, status, mailbox, message_id = found
            if status != "new":
                return Outcome(inbound_id, "skipped")
            row = Arrival(inbound_id, raw, received_at, mailbox, message_id)
        mail = parse_message(row.raw, self.limits)
        judgement = self.judge.judge(mail, arrival=row.received_at)
        draft = self._draft(row, judgement, now)
        with session_scope(self.engine) as session:
            connection = session.connection()
            # SKIP LOCKED: a second worker passes over a row the first is working on
            # (PostgreSQL); SQLite serialises writers, and the status check does the rest.
            if _CLAIM.first(connection, {"inbound_id": inbound_id}) is None:
                return Outcome(inbound_id, "skipped")
            outcome = self._handle(session, row, mail, judgement, now, draft)
            _DONE.execute(connection, {"inbound_id": inbound_id, "done_at": now})
        return outcome

    def tell_staff_too_large(self, now: datetime) -> None:
        """Fetch records mail over the size limit as a quarantined placeholder; a
        technician must hear of it once, or the mail waits on the server unseen."""
        notify = self.config.staff.notify
        if not notify:
            return
        with session_scope(self.engine) as session:
            told = set(
                session.exec(
                    # The kind as a literal, not a parameter: only then may SQLite use
                    # the partial index made for this query.
                    select(Event.inbound_id).where(_TOO_LARGE_KIND)
                ).all()
            )
            rows = session.exec(
                select(Inbound).where(
                    Inbound.status == "quarantined",
                    col(Inbound.error).startswith("message too large"),
                )
            ).all()
            for row in rows:
                if row.id in told:
                    continue
                try:
                    mail = parse_message(row.raw, self.limits)
                    sender, subject = mail.from_addr or "?", mail.subject
                except ParseError:
                    sender, subject = "?", ""
                lang = self.config.staff.language
                context = {
                    "mailbox": row.mailbox,
                    "sender": sender,
                    "subject": subject,
                    "reason": row.error,
                    "inbound_id": row.id,
                }
                self.outgoing.queue(
                    session,
                    kind="notify",
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

    def _quarantine(self, inbound_id: int, reason: str) -> Outcome:
        log.warning("inbound %s quarantined: %s", inbound_id, reason.splitlines()[0])
        # A failure of this transaction (database gone) propagates: the mail stays
        # "new" and is tried again once the store is back.
        with session_scope(self.engine) as session:
            row = session.get(Inbound, inbound_id)
            if row is None:
                return Outcome(inbound_id, "skipped")
            row.status = "quarantined"
            row.error = reason
            row.attempts += 1
            record(
                session, kind="quarantined", actor="process", detail=reason, inbound_id=inbound_id
            )
        return Outcome(inbound_id, "quarantined", detail=reason.splitlines()[0])

    def retry(self, inbound_id: int) -> Outcome:
        with session_scope(self.engine) as session:
            row = session.get(Inbound, inbound_id)
            if row is None or row.status != "quarantined":
                return Outcome(inbound_id, "skipped", detail="not in quarantine")
            row.status = "new"
            record(session, kind="retry", actor="cli", inbound_id=inbound_id)
        return self.process_one(inbound_id)

    # -- one message -----------------------------------------------------------------

    def _handle(
        self,
        session: Session,
        row: Arrival,
        mail: ParsedMail,
        judgement: Judgement,
        now: datetime,
        draft: Draft | None = None,
    ) -> Outcome:
        if mail.content_type == "multipart/report":
            self._record_bounces(session, row)
        alarm = judgement.classification.alarm
        if alarm is not None and judgement.automated:
            return self._alarm(session, row, judgement, now)
        match = match_thread(session, mail, is_staff=self.config.is_staff)
        if judgement.own_mail and match.ticket is None:
            record(
                session,
                kind="own_mail_ignored",
                actor="process",
                inbound_id=row.id,
                detail=f"mail from our own address {mail.from_addr}",
            )
            return Outcome(row.id, "processed", detail="own mail")
        if match.ticket is not None:
            return self._follow_up(session, row, judgement, match.ticket, match, now)
        return self._open(session, row, judgement, match, now, draft)

    def _record_bounces(self, session: Session, row: Arrival) -> None:
        """A DSN about one of our mails marks that mail failed with the status code first,
        so ``Outgoing.may_auto_reply`` counts its recipient as bounced from now on."""
        from mailbot.mail.automated import delivery_failures

        for failure in delivery_failures(row.raw):
            if not failure.refers_to:
                continue
            ours = session.exec(
                select(Outbox).where(col(Outbox.message_id).in_(failure.refers_to))
            ).all()
            for out in ours:
                if out.to_address != failure.recipient:
                    continue
                out.status = "failed"
                out.last_error = f"{failure.status} bounced (report {row.message_id})"
                session.add(out)
                ticket = session.get(Ticket, out.ticket_id) if out.ticket_id else None
                record(
                    session,
                    kind="bounced",
                    actor="process",
                    ticket=ticket,
                    inbound_id=row.id,
                    detail=f"{failure.recipient}: {failure.status} for {out.message_id}",
                )

    def _draft(self, row: Arrival, j: Judgement, now: datetime) -> Draft | None:
        """The ticket and acknowledgement of a mail that looks like a new conversation,
        built before the write turn (other processes write meanwhile); None for mail
        that refers to earlier mail and will most likely join its ticket."""
        mail = j.mail
        if mail.in_reply_to or mail.references or subject_tag(mail.subject) is not None:
            return None
        if j.staff_sender or mail.content_type == "multipart/report":
            return None
        if j.classification.alarm is not None and j.automated:
            return None
        the_plan = None if j.automated else self._plan_for(j, row)
        ticket = self._new_ticket(row, j, None, the_plan, now)
        ticket.number = self._number_mark
        ack = None if the_plan is None else self._render_ack(ticket, j, the_plan, None)
        return Draft(ticket, ack)

    def _new_ticket(
        self, row: Arrival, j: Judgement, match: ThreadMatch | None, the_plan: Plan | None,
        now: datetime,
    ) -> Ticket:
        mail, c = j.mail, j.classification
        forwarded = match.forwarded_from if match is not None else None
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
            arrived_at=min(j.sent_at, row.received_at),
            due_at=the_plan.due_at if the_plan else None,
            linked_ticket_id=forwarded.id if forwarded else None,
            created_at=now,
            updated_at=now,
        )

    def _open(
        self,
        session: Session,
        row: Arrival,
        j: Judgement,
        match: ThreadMatch,
        now: datetime,
        draft: Draft | None = None,
    ) -> Outcome:
        # Automated mail is kept as a ticket but nobody was promised anything.
        the_plan = None if j.automated else self._plan_for(j, row)
        if draft is not None and match.forwarded_from is None:
            ticket, ack = draft.ticket, draft.ack
        else:
            ticket, ack = self._new_ticket(row, j, match, the_plan, now), None
        ticket.number = next_number(session)
        if ack is not None:
            ack = _with_number(ack, self._number_mark, ticket.number)
        # Nothing changes the new ticket later in this transaction: a plain INSERT.
        insert_row(session, ticket)
        self._store_message(session, ticket, row, j)
        self._record_judgement(session, ticket, row, j, match, the_plan)
        # The new ticket's thread is this one mail.
        refs = [j.mail.message_id] if j.mail.message_id else []
        queued = self._acknowledge(session, ticket, j, now, plan=the_plan, body=ack, refs=refs)
        queued += self._tell_staff(session, ticket, j, now, the_plan)
        return Outcome(row.id, "processed", ticket.number, tuple(queued))

    def _follow_up(
        self,
        session: Session,
        row: Arrival,
        j: Judgement,
        ticket: Ticket,
        match: ThreadMatch,
        now: datetime,
    ) -> Outcome:
        self._store_message(session, ticket, row, j)
        record(
            session,
            kind="message_added",
            actor="threads",
            ticket=ticket,
            inbound_id=row.id,
            detail=f"matched by {match.how}",
            reasons=[match.detail] if match.detail else [],
        )
        if j.automated:
            record(
                session,
                kind="ack_suppressed",
                actor="process",
                ticket=ticket,
                inbound_id=row.id,
                detail="automated mail",
                reasons=j.automated_reasons,
            )
            return Outcome(row.id, "processed", ticket.number)
        if j.staff_sender:
            relayed = self.desk.handle_reply(session, ticket, j, row.id, now)
            return Outcome(row.id, "processed", ticket.number, tuple(relayed))
        changes = self._reread(session, ticket, j, row, now)
        queued: list[str] = []
        if changes:
            queued = self._acknowledge(session, ticket, j, now, changes=changes)
        return Outcome(row.id, "processed", ticket.number, tuple(queued))

    def _reread(
        self, session: Session, ticket: Ticket, j: Judgement, row: Arrival, now: datetime
    ) -> list[tuple[str, str]]:
        """What a customer's follow-up changes; only what its words actually say.

        Changes are (what, value) codes; the templates phrase them for the customer.
        """
        c = j.classification
        changes: list[tuple[str, str]] = []
        if ticket.status == "solved" and not c.resolved:
            ticket.status = "open"
            changes.append(("status", "open"))
        # A short "thanks, I'll try" reads as low; only an escalation may change impact.
        if Priority(c.priority).rank < Priority(ticket.priority).rank:
            ticket.priority = c.priority.value
            changes.append(("priority", c.priority.value))
        if c.urgency != Urgency.NONE and c.urgency.value != ticket.urgency:
            ticket.urgency = c.urgency.value
            changes.append(("urgency", c.urgency.value))
        if c.deadline is not None and c.deadline != ticket.deadline:
            ticket.deadline = c.deadline
            changes.append(("deadline", c.deadline.isoformat()))
        if c.planned_change and not ticket.planned_change:
            ticket.planned_change = True
            changes.append(("planned_change", "true"))
        if c.resolved and ticket.status != "solved":
            ticket.status = "solved"
            changes.append(("status", "solved"))
        if changes:
            new_plan = ticket_plan(ticket, self.judge.calendar)
            ticket.due_at = new_plan.due_at
            ticket.updated_at = now
            record(
                session,
                kind="replanned",
                actor="classify",
                ticket=ticket,
                inbound_id=row.id,
                detail="; ".join(f"{k}={v}" for k, v in changes),
                reasons=c.reasons,
            )
        return changes

    # -- pieces ------------------------------------------------------------------------

    def _plan_for(self, j: Judgement, row: Arrival, contract: bool | None = None) -> Plan:
        if j.plan is not None and contract is None:
            return j.plan
        c = j.classification
        return plan(
            min(j.sent_at, row.received_at),
            c.priority,
            j.contract if contract is None else contract,
            c.urgency,
            c.deadline,
            c.planned_change,
            self.judge.calendar,
        )

    def _store_message(self, session: Session, ticket: Ticket, row: Arrival, j: Judgement) -> None:
        assert ticket.id is not None
        mail, c = j.mail, j.classification
        kind = "staff" if j.staff_sender else "monitoring" if c.alarm else "customer"
        _INSERT_MESSAGE.insert(
            session.connection(),
            dict(
                ticket_id=ticket.id,
                inbound_id=row.id,
                direction="in",
                author_kind=kind,
                message_id=mail.message_id,
                in_reply_to=mail.in_reply_to,
                references=" ".join(mail.references),
                thread_index=_thread_root(mail.thread_index),
                sender=mail.from_addr,
                recipients=", ".join((*mail.to, *mail.cc)),
                subject=hdr.clean(mail.subject, 250),
                text=j.body,
                evidence=json.dumps(
                    {
                        "priority": c.priority.value,
                        "urgency": c.urgency.value,
                        "deadline": c.deadline.isoformat() if c.deadline else None,
                        "planned_change": c.planned_change,
                        "language": c.language.value,
                        "automated": j.automated,
                        "reasons": list(c.reasons),
                        "automated_reasons": list(j.automated_reasons),
                    },
                    ensure_ascii=False,
                ),
                created_at=row.received_at,
                outbox_id=None,
            ),
        )

    def _record_judgement(
        self,
        session: Session,
        ticket: Ticket,
        row: Arrival,
        j: Judgement,
        match: ThreadMatch,
        the_plan: Plan | None,
    ) -> None:
        c = j.classification
        record(
            session,
            kind="ticket_opened",
            actor="process",
            ticket=ticket,
            inbound_id=row.id,
            detail=match.detail or "new conversation",
            reasons=[f"Kunde: {j.customer.name}"] if j.customer else [],
        )
        if j.automated:
            record(
                session,
                kind="automated",
                actor="process",
                ticket=ticket,
                inbound_id=row.id,
                reasons=j.automated_reasons,
            )
        record(
            session,
            kind="classified",
            actor="classify",
            ticket=ticket,
            inbound_id=row.id,
            detail=(
                f"priority={c.priority.value} urgency={c.urgency.value} "
                f"deadline={c.deadline} planned_change={c.planned_change} "
                f"language={c.language.value}"
            ),
            reasons=c.reasons,
        )
        if the_plan is not None:
            p = the_plan
            record(
                session,
                kind="sla",
                actor="sla",
                ticket=ticket,
                inbound_id=row.id,
                detail=f"due {p.due_at.isoformat()} (clock from {p.clock_starts.isoformat()})",
                reasons=p.adjustments,
            )

    def _acknowledge(
        self,
        session: Session,
        ticket: Ticket,
        j: Judgement,
        now: datetime,
        changes: list[tuple[str, str]] | None = None,
        plan: Plan | None = None,
        body: Rendered | None = None,
        refs: list[str] | None = None,
    ) -> list[str]:
        if j.automated:
            record(
                session,
                kind="ack_suppressed",
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
                kind="ack_suppressed",
                actor="process",
                ticket=ticket,
                detail=permission.reason,
            )
            return []
        p = plan or ticket_plan(ticket, self.judge.calendar)
        if body is None:
            body = self._render_ack(ticket, j, p, changes)
        assert ticket.id is not None
        if refs is None:
            refs = thread_ids(session, ticket.id)
        out = self.outgoing.queue(
            session,
            kind="update" if changes else "ack",
            ticket=ticket,
            to=[j.mail.from_addr],
            subject=hdr.tagged_subject(ticket.number, j.mail.subject or ticket.subject),
            body=body,
            now=now,
            in_reply_to=j.mail.message_id,
            references=refs,
        )
        record(
            session,
            kind="ack_queued",
            actor="process",
            ticket=ticket,
            detail=f"{out.kind} {out.message_id} to {out.to_address}",
        )
        return [out.kind]

    def _render_ack(
        self, ticket: Ticket, j: Judgement, p: Plan, changes: list[tuple[str, str]] | None
    ) -> Rendered:
        lang = ticket.language
        view = AckView(
            language=lang,
            number=ticket.number,
            subject=ticket.subject,
            customer_name=hdr.clean(j.mail.from_name, 80),
            contract=ticket.contract,
            priority=ticket.priority,
            urgency=ticket.urgency,
            reasons=j.classification.reasons,
            due_at=p.due_at.astimezone(self.judge.calendar.zone)
            if ticket.status != "solved"
            else None,
            clock_starts=(
                p.clock_starts.astimezone(self.judge.calendar.zone)
                if p.clock_starts > ticket.arrived_at
                else None
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
            changes=tuple(changes or ()),
        )
        return self.renderer.render(
            "ack",
            lang,
            view=view,
            customer_name=view.customer_name,
            title=f"[#{ticket.number}] {ticket.subject}",
        )

    def _tell_staff(
        self, session: Session, ticket: Ticket, j: Judgement, now: datetime, plan: Plan | None
    ) -> list[str]:
        return self.desk.announce(session, ticket, j, now, plan)

    def _alarm(self, session: Session, row: Arrival, j: Judgement, now: datetime) -> Outcome:
        assert j.classification.alarm is not None
        alarm = j.classification.alarm
        open_ticket = session.exec(
            select(Ticket)
            .where(Ticket.alarm_key == alarm.key, Ticket.status != "solved")
            .order_by(col(Ticket.id).desc())
        ).first()
        if open_ticket is not None:
            self._store_message(session, open_ticket, row, j)
            if alarm.recovery:
                record(
                    session,
                    kind="alarm_recovery",
                    actor="monitoring",
                    ticket=open_ticket,
                    inbound_id=row.id,
                    detail=f"{alarm.key} is {alarm.state}",
                )
                if self.config.monitoring.resolve_on_recovery:
                    open_ticket.status = "solved"
                    open_ticket.updated_at = now
                    record(
                        session,
                        kind="status_changed",
                        actor="monitoring",
                        ticket=open_ticket,
                        detail="solved by recovery",
                    )
            else:
                record(
                    session,
                    kind="alarm_repeat",
                    actor="monitoring",
                    ticket=open_ticket,
                    inbound_id=row.id,
                    detail=f"{alarm.key} is {alarm.state}",
                )
                new = j.classification.priority
                if new.rank < Priority(open_ticket.priority).rank:
                    open_ticket.priority = new.value
                    open_ticket.due_at = self._plan_for(j, row, open_ticket.contract).due_at
                    record(
                        session,
                        kind="priority_changed",
                        actor="monitoring",
                        ticket=open_ticket,
                        detail=f"raised to {new.value} by the alarm",
                    )
            return Outcome(row.id, "processed", open_ticket.number)
        customer = self.config.customer_for_host(alarm.host)
        contract = bool(customer and customer.contract)
        c = j.classification
        alarm_plan = None if alarm.recovery else self._plan_for(j, row, contract)
        ticket = new_row(
            Ticket,
            number=next_number(session),
            subject=hdr.clean(j.mail.subject or alarm.key, 250),
            customer_address=j.mail.from_addr,
            customer_domain=customer.domain if customer else "",
            customer_name=customer.name if customer else "",
            contract=contract,
            status="solved" if alarm.recovery else "open",
            priority=c.priority.value,
            urgency=Urgency.NONE.value,
            category="monitoring",
            language=c.language.value,
            arrived_at=min(j.sent_at, row.received_at),
            due_at=alarm_plan.due_at if alarm_plan else None,
            alarm_key=alarm.key,
            created_at=now,
            updated_at=now,
        )
        # Nothing changes the new ticket later in this transaction: a plain INSERT.
        insert_row(session, ticket)
        self._store_message(session, ticket, row, j)
        self._record_judgement(
            session, ticket, row, j, ThreadMatch(None, "new", "monitoring alarm"), alarm_plan
        )
        record(
            session,
            kind="ack_suppressed",
            actor="process",
            ticket=ticket,
            detail="monitoring alarm",
            reasons=j.automated_reasons,
        )
        queued = self._tell_staff(session, ticket, j, now, alarm_plan)
        return Outcome(row.id, "processed", ticket.number, tuple(queued))


def _with_number(body: Rendered, mark: int, number: int) -> Rendered:
    return Rendered(
        text=body.text.replace(str(mark), str(number)),
        html=body.html.replace(str(mark), str(number)),
    )


def _thread_root(value: str) -> str:
    from mailbot.process.threads import thread_index_root

    return thread_index_root(value) if value else ""


def describe(exc: BaseException) -> str:
    """The quarantine reason: one readable first line, then where it happened."""
    if isinstance(exc, ParseError):
        return str(exc)
    tb = traceback.extract_tb(exc.__traceback__)[-3:]
    where = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in tb)
    return f"{type(exc).__name__}: {exc}\n{where}"
