"""Queueing outgoing mail: the Message-ID is fixed here, once, inside the transaction.

Everything that leaves mailbot goes through :meth:`Outgoing.queue`, so every outgoing
mail is an ``outbox`` row (for the send stage) and a ``message`` row (for the thread).
The limits that keep mail loops from forming are checked here too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, bindparam, case, or_
from sqlmodel import Session, col, func, select

from mailbot.config import Config
from mailbot.kinds import SendRank
from mailbot.mail import headers as hdr
from mailbot.outbound.conversation import place
from mailbot.outbound.mime import Enclosure, compose
from mailbot.outbound.render import Rendered, domain_of, new_message_id
from mailbot.store import (
    AUTO_REPLY_KINDS,
    AuthorKind,
    Direction,
    Message,
    Outbox,
    OutboxKind,
    OutboxStatus,
    Prepared,
    Ticket,
    prepared_insert,
)
from mailbot.triage import Priority

_INSERT_OUTBOX = prepared_insert(Outbox)
_INSERT_MESSAGE = prepared_insert(Message)

#: the column type of ``Outbox.created_at``, so bound times are stored the same way
_WHEN = Outbox.__table__.c.created_at.type  # type: ignore[attr-defined]


def _reply_history() -> Select[int, int, int]:
    """One pass over an address's outbox rows: a permanent bounce, and the automatic
    replies of the last day and hour. Built once with bind parameters, so its compiled
    form is reused for every mail."""
    # OR rather than IN: an IN list is expanded per execution, which Prepared leaves
    # to SQLAlchemy.
    # Sorted: the same statement text in every process, whatever the set's order.
    auto = or_(*(col(Outbox.kind) == kind for kind in sorted(AUTO_REPLY_KINDS)))
    bounced_row = and_(
        col(Outbox.status) == OutboxStatus.FAILED, col(Outbox.last_error).startswith("5")
    )
    in_day = and_(auto, col(Outbox.created_at) >= bindparam("day", type_=_WHEN))
    in_hour = and_(auto, col(Outbox.created_at) >= bindparam("hour", type_=_WHEN))
    return select(
        func.coalesce(func.sum(case((bounced_row, 1), else_=0)), 0),
        func.coalesce(func.sum(case((in_day, 1), else_=0)), 0),
        func.coalesce(func.sum(case((in_hour, 1), else_=0)), 0),
    ).where(col(Outbox.to_address) == bindparam("address"))


_REPLY_HISTORY = Prepared(_reply_history())


def send_rank(kind: OutboxKind, ticket: Ticket | None) -> SendRank:
    """Where a mail goes in the order of sending; fixed when it is queued."""
    return SendRank.of(kind, critical=ticket is not None and ticket.priority == Priority.CRITICAL)


@dataclass(frozen=True)
class Queued:
    """What was put in the outbox."""

    id: int
    kind: OutboxKind
    message_id: str
    to_address: str


@dataclass(frozen=True)
class _ThreadRow:
    """What ties a queued mail's message row to its ticket, outbox row and conversation."""

    ticket_id: int
    outbox_id: int
    message_id: str
    thread_index: str


@dataclass(frozen=True)
class Permission:
    allowed: bool
    reason: str = ""


class Outgoing:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.domain = domain_of(config.service.from_header)

    def may_auto_reply(self, session: Session, address: str, now: datetime) -> Permission:
        """RFC 3834's "don't reply too often", counted in the store so restarts don't reset it."""
        address = address.lower()
        if not address:
            return Permission(False, "no valid sender address")
        if address in self.config.own_addresses:
            return Permission(False, "our own address")
        if self.config.is_staff(address):
            return Permission(False, "staff address")
        row = _REPLY_HISTORY.first(
            session.connection(),
            {"address": address, "day": now - timedelta(days=1), "hour": now - timedelta(hours=1)},
        )
        assert row is not None  # an aggregate always has its one row
        bounced, day, hour = int(row[0]), int(row[1]), int(row[2])
        if bounced:
            return Permission(False, "address bounced permanently")
        limits = self.config.limits
        if hour >= limits.acks_per_hour:
            return Permission(False, f"cap reached: {hour} automatic replies in the last hour")
        if day >= limits.acks_per_day:
            return Permission(False, f"cap reached: {day} automatic replies in the last day")
        return Permission(True)

    def queue(
        self,
        session: Session,
        *,
        kind: OutboxKind | str,
        ticket: Ticket | None,
        to: Sequence[str],
        subject: str,
        body: Rendered,
        now: datetime,
        in_reply_to: str = "",
        references: Sequence[str] = (),
        auto_reply: bool | None = True,
        reply_to: str | None = None,
        answers_index: str = "",
        attachments: Sequence[Enclosure] = (),
    ) -> Queued:
        """Put one mail in the outbox and, for a ticket's mail, in its thread. A plain
        word for ``kind`` is checked here: sending order and caps know only OutboxKind.

        ``answers_index``: the Thread-Index of the mail this one answers, which its own
        continues (see :func:`mailbot.outbound.conversation.place`). ``attachments``:
        files that go along (chosen by the caller: sizes and risks are its business)."""
        kind = OutboxKind(kind)
        message_id = new_message_id(self.domain)
        placement = place(
            session.connection(),
            kind=kind,
            ticket=ticket,
            subject=subject,
            answers_index=answers_index,
            now=now,
        )
        raw = compose(
            from_header=self.config.service.from_header,
            to=to,
            subject=subject,
            body=body,
            message_id=message_id,
            in_reply_to=in_reply_to,
            references=references,
            auto_reply=auto_reply,
            ticket_number=ticket.number if ticket else None,
            now=now,
            reply_to=reply_to,
            thread_topic=placement.topic,
            thread_index=placement.index,
            attachments=attachments,
        )
        to_address = to[0].lower() if to else ""
        # Core inserts: the ORM's unit of work was most of the per-mail cost here.
        # Every column is given, so none is left to a default computed at execution.
        outbox_id = _INSERT_OUTBOX.insert(
            session.connection(),
            dict(
                ticket_id=ticket.id if ticket else None,
                kind=kind,
                message_id=message_id,
                envelope_from=self.config.service.address,
                to_address=to_address,
                recipients=json.dumps([a.lower() for a in to]),
                raw=raw,
                status=OutboxStatus.QUEUED,
                rank=send_rank(kind, ticket),
                attempts=0,
                next_attempt_at=now,
                last_error="",
                smtp_reply="",
                created_at=now,
                sent_at=None,
                claimed_by=None,
                claimed_until=None,
            ),
        )
        if ticket is not None and ticket.id is not None:
            row = _ThreadRow(ticket.id, outbox_id, message_id, placement.index)
            self._add_to_thread(session, row, to, subject, body, now, in_reply_to, references)
        return Queued(outbox_id, kind, message_id, to_address)

    def _add_to_thread(
        self,
        session: Session,
        row: _ThreadRow,
        to: Sequence[str],
        subject: str,
        body: Rendered,
        now: datetime,
        in_reply_to: str,
        references: Sequence[str],
    ) -> None:
        """The ticket's message row of a queued mail."""
        _INSERT_MESSAGE.insert(
            session.connection(),
            dict(
                ticket_id=row.ticket_id,
                inbound_id=None,
                outbox_id=row.outbox_id,
                direction=Direction.OUT,
                author_kind=AuthorKind.BOT,
                message_id=row.message_id,
                in_reply_to=in_reply_to,
                references=" ".join(references),
                # What the next mail of its side continues.
                thread_index=row.thread_index,
                sender=self.config.service.address,
                recipients=", ".join(to),
                subject=hdr.clean(subject, 250),
                text=body.text,
                evidence="",
                created_at=now,
            ),
        )
