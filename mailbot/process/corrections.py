"""Technicians' corrections of the bot's judgements, kept as labelled examples.

A technician who sets a label field of a ticket (``#prio`` in an authenticated mail
today, a web view later) says what the bot should have judged. Each such label is
stored (:class:`~mailbot.store.Correction`) with the subject and new text of the mail
the bot judged, the bot's value and the technician's, before the ticket changes, so
``mailbot train --with-corrections`` can learn from it and ``mailbot evaluate
--corrections`` can count how often the bot was corrected. A label equal to the
bot's is kept too: it confirms the judgement, and it is a labelled example all the
same.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from mailbot.classify import label_code
from mailbot.kinds import CorrectionSource, LabelField
from mailbot.process.tickets import Change, Decision, TicketField, change_ticket
from mailbot.sla import BusinessCalendar
from mailbot.store import Correction, Direction, Message, Prepared, Ticket, new_row

__all__ = [
    "MAIL_LABELS",
    "JudgedMail",
    "apply_correction",
    "evidence_labels",
    "judged_mail",
    "record_correction",
]

log = logging.getLogger(__name__)

#: the label fields a technician can set by mail (``#prio``); the others wait for a
#: web view, and the report leaves out a field nobody can correct yet (its "never
#: corrected" would read as "always right")
MAIL_LABELS: frozenset[LabelField] = frozenset({LabelField.PRIORITY})

#: each field with its key in the evidence, looked up once: the report reads the
#: evidence of every ticket, and an enum member's ``.value`` costs an attribute call
_EVIDENCE_KEYS = tuple((f, f.value) for f in LabelField)

#: the mail the bot judged when the ticket opened: the ticket's first incoming message
_OPENING = Prepared(
    select(Message.id, Message.subject, Message.text, Message.evidence)
    .where(
        Message.ticket_id == bindparam("opening_ticket"),
        Message.direction == Direction.IN.value,
    )
    .order_by(col(Message.id))
    .limit(1)
)


@dataclass(frozen=True)
class JudgedMail:
    """The mail a ticket was judged on, and what the classifier said of it."""

    message_id: int
    subject: str
    text: str
    language: str
    #: each label field's value as :func:`label_code` writes it
    labels: dict[LabelField, str]


def judged_mail(session: Session, ticket: Ticket) -> JudgedMail | None:
    """The opening mail of ``ticket`` with the bot's labels from its stored evidence;
    None for a ticket without one (a monitoring alarm's priority comes from the alarm's
    state, not from judging text, and a ticket with no stored mail has no text)."""
    if ticket.id is None or ticket.alarm_key is not None:
        return None
    row = _OPENING.first(session.connection(), {"opening_ticket": ticket.id})
    if row is None:
        return None
    message_id, subject, text, evidence = row
    labels = evidence_labels(evidence)
    if not labels:
        return None
    return JudgedMail(int(message_id), subject, text, ticket.language, labels)


def evidence_labels(evidence: str) -> dict[LabelField, str]:
    """The bot's labels in a message's stored evidence (``Turn.store_message``);
    empty when it holds none (an old or hand-made row)."""
    try:
        data = json.loads(evidence) if evidence else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {f: label_code(data[key]) for f, key in _EVIDENCE_KEYS if key in data}


def record_correction(
    session: Session,
    ticket: Ticket,
    field: LabelField,
    value: str | date | bool | None,
    *,
    actor: str,
    source: CorrectionSource,
    now: datetime,
    inbound_id: int | None = None,
) -> Correction | None:
    """Keep a technician's label for ``field`` of ``ticket``, before the ticket
    changes. Only an authenticated technician's label may come here. None when the
    ticket was not judged from a mail (see :func:`judged_mail`)."""
    judged = judged_mail(session, ticket)
    if judged is None or field not in judged.labels:
        log.debug("#%s: no judged mail, the label of %s is not kept", ticket.number, field)
        return None
    assert ticket.id is not None
    row = new_row(
        Correction,
        ticket_id=ticket.id,
        field=field.value,
        bot_value=judged.labels[field],
        before_value=label_code(getattr(ticket, field.value)),
        staff_value=label_code(value),
        source=source.value,
        actor=actor,
        inbound_id=inbound_id,
        message_id=judged.message_id,
        language=judged.language,
        subject=judged.subject,
        text=judged.text,
        at=now,
    )
    session.add(row)
    return row


def apply_correction(
    session: Session,
    ticket: Ticket,
    field: LabelField,
    value: str | date | bool,
    decision: Decision,
    *,
    source: CorrectionSource,
    calendar: BusinessCalendar,
    now: datetime,
) -> tuple[Change, ...]:
    """A technician sets a label field: the label is kept as a correction, then the
    ticket changes the one way fields change (:func:`change_ticket`). The changes made
    (none when the label confirms the ticket's value)."""
    record_correction(
        session,
        ticket,
        field,
        value,
        actor=decision.actor,
        source=source,
        now=now,
        inbound_id=decision.inbound_id,
    )
    return change_ticket(
        session,
        ticket,
        [Change(TicketField(field.value), value)],
        decision,
        calendar=calendar,
        now=now,
    )
