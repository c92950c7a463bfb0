"""Views of the mail that is no work: spam held back, and robots' information.

``mailbot spam list|show`` and ``mailbot tickets --info`` print these; their
``--json`` form is the CLI contract, as for the views in :mod:`.views`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from mailbot.process.spam import held_mail, sender_and_subject
from mailbot.store import Event, EventKind, Inbound, InboundDisposition, Message


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class SpamRow:
    id: int
    received_at: str | None
    sender: str
    subject: str
    #: the verdict in words ("rspamd score 8.10 >= 6") and the header that decided
    reason: str
    header: str
    #: "spam" while held, "released" once a technician released it
    disposition: str


def spam_list(session: Session, include_released: bool = False) -> list[SpamRow]:
    kinds: tuple[InboundDisposition, ...] = (InboundDisposition.SPAM,)
    if include_released:
        kinds += (InboundDisposition.RELEASED,)
    return [
        SpamRow(
            id=h.id,
            received_at=_iso(h.received_at),
            sender=h.sender,
            subject=h.subject,
            reason=h.reason,
            header=h.header,
            disposition=h.disposition,
        )
        for h in held_mail(session, dispositions=kinds)
    ]


@dataclass(frozen=True)
class HeldEvent:
    time: str | None
    actor: str
    kind: str
    detail: str
    reasons: list[str]


@dataclass(frozen=True)
class SpamDetail:
    """One stored mail with what was decided about it (``spam show``)."""

    id: int
    received_at: str | None
    sender: str
    subject: str
    disposition: str
    status: str
    size: int
    events: list[HeldEvent]
    #: the start of the raw message, decoded for reading
    preview: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def spam_detail(session: Session, inbound_id: int) -> SpamDetail | None:
    """The mail and its events, for a mail that is or was held as spam."""
    row = session.get(Inbound, inbound_id)
    if row is None or row.id is None:
        return None
    if row.disposition not in (InboundDisposition.SPAM, InboundDisposition.RELEASED):
        return None
    events = session.exec(
        select(Event).where(Event.inbound_id == row.id).order_by(col(Event.id))
    ).all()
    sender, subject = sender_and_subject(row.raw)
    return SpamDetail(
        id=row.id,
        received_at=_iso(row.received_at),
        sender=sender,
        subject=subject,
        disposition=row.disposition or "",
        status=row.status,
        size=row.size,
        events=[
            HeldEvent(_iso(e.at), e.actor, e.kind, e.detail, json.loads(e.reasons or "[]"))
            for e in events
        ],
        preview=row.raw[:4000].decode("utf-8", "replace"),
    )


@dataclass(frozen=True)
class InfoRow:
    """A robot's mail stored as information that answers no ticket."""

    id: int
    received_at: str | None
    sender: str
    subject: str
    #: why it was read as a robot's (the headers and words that decided)
    reasons: list[str]


def info_list(session: Session) -> list[InfoRow]:
    """Information in no ticket, oldest first: what ``tickets --info`` lists. Mail
    attached to a ticket is shown on that ticket."""
    attached = select(Message.inbound_id).where(col(Message.inbound_id).is_not(None))
    rows = session.exec(
        select(Inbound)
        .where(
            Inbound.disposition == InboundDisposition.INFO,
            col(Inbound.id).not_in(attached),
        )
        .order_by(col(Inbound.id))
    ).all()
    ids = [r.id for r in rows]
    why: dict[int | None, list[str]] = {}
    if ids:
        for event in session.exec(
            select(Event).where(
                col(Event.inbound_id).in_(ids), Event.kind == EventKind.INFORMATION
            )
        ).all():
            why[event.inbound_id] = json.loads(event.reasons or "[]")
    found = []
    for row in rows:
        assert row.id is not None
        sender, subject = sender_and_subject(row.raw)
        found.append(InfoRow(row.id, _iso(row.received_at), sender, subject, why.get(row.id, [])))
    return found
