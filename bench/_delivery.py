"""Did every mail the bot queued reach the server, once, to the right people?

The outbox rows a measurement queued are what the server must have received: each
once, by its Message-ID, with the row's recipients as the envelope. Beside that the
bench checks what the provider relies on, from the incoming mail rather than from
the outbox: every ticket opened was announced to ``[staff] notify``, and every
customer who wrote got an acknowledgement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bench._servers import Arrival
from bench._setting import NOTIFY
from mailbot.store import AUTO_REPLY_KINDS, Outbox, OutboxKind, Ticket


@dataclass(frozen=True)
class Mark:
    """Where the store stood before a measurement: what came later is the run's."""

    outbox_id: int
    ticket_id: int


@dataclass(frozen=True)
class Queued:
    message_id: str
    kind: str
    recipients: tuple[str, ...]
    ticket_id: int | None


def mark(engine: Engine) -> Mark:
    with Session(engine) as session:
        outbox = session.exec(select(func.max(Outbox.id))).one()
        ticket = session.exec(select(func.max(Ticket.id))).one()
    return Mark(int(outbox or 0), int(ticket or 0))


def queued_since(engine: Engine, since: Mark) -> tuple[list[Queued], int]:
    """The outbox rows queued after ``since``, and how many tickets were opened."""
    with Session(engine) as session:
        rows = session.exec(
            select(Outbox.message_id, Outbox.kind, Outbox.recipients, Outbox.ticket_id).where(
                col(Outbox.id) > since.outbox_id
            )
        ).all()
        tickets = session.exec(
            select(func.count()).select_from(Ticket).where(col(Ticket.id) > since.ticket_id)
        ).one()
    queued = [
        Queued(mid, kind, tuple(json.loads(recipients)), ticket_id)
        for mid, kind, recipients, ticket_id in rows
    ]
    return queued, int(tickets)


@dataclass(frozen=True)
class Delivery:
    queued: int
    #: queued mails the server accepted (each counted once)
    accepted: int
    #: accepted mails by OutboxKind value
    by_kind: dict[str, int]
    missing: int
    duplicates: int
    wrong_recipients: int
    #: accepted mail no row of the run accounts for
    unexpected: int
    tickets: int
    announced: int
    #: customers who wrote (by the corpus's own reckoning) / of them acknowledged
    customers: int
    answered: int
    #: the moment (time.monotonic) the last queued mail was accepted
    last_at: float | None
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, object]:
        return {
            "queued": self.queued,
            "accepted": self.accepted,
            "by_kind": self.by_kind,
            "missing": self.missing,
            "duplicates": self.duplicates,
            "wrong_recipients": self.wrong_recipients,
            "unexpected": self.unexpected,
            "tickets_opened": self.tickets,
            "tickets_announced": self.announced,
            "customers_who_wrote": self.customers,
            "customers_acknowledged": self.answered,
            "problems": list(self.problems),
        }


def check(
    queued: list[Queued], tickets: int, arrivals: list[Arrival], customers: set[str]
) -> Delivery:
    """Compare what was queued with what arrived; ``customers``: the senders of the
    incoming customer mail, each of whom must have been answered."""
    by_id = {q.message_id: q for q in queued}
    seen: dict[str, Arrival] = {}
    duplicates = wrong = unexpected = 0
    for arrival in arrivals:
        row = by_id.get(arrival.message_id)
        if row is None:
            unexpected += 1
            continue
        if arrival.message_id in seen:
            duplicates += 1
            continue
        seen[arrival.message_id] = arrival
        if sorted(arrival.rcpt_tos) != sorted(r.lower() for r in row.recipients):
            wrong += 1
    by_kind: dict[str, int] = {}
    announced: set[int] = set()
    answered: set[str] = set()
    for mid in seen:
        row = by_id[mid]
        by_kind[row.kind] = by_kind.get(row.kind, 0) + 1
        if row.kind == OutboxKind.NOTIFY and NOTIFY in row.recipients and row.ticket_id:
            announced.add(row.ticket_id)
        if row.kind in AUTO_REPLY_KINDS:
            answered.update(row.recipients)
    missing = len(by_id) - len(seen)
    problems = []
    if missing:
        problems.append(f"{missing} queued mails never accepted")
    if duplicates:
        problems.append(f"{duplicates} mails accepted more than once")
    if wrong:
        problems.append(f"{wrong} mails with other recipients than queued")
    if unexpected:
        problems.append(f"{unexpected} accepted mails that no outbox row of the run explains")
    if len(announced) != tickets:
        problems.append(f"{tickets - len(announced)} of {tickets} new tickets not announced")
    unanswered = customers - answered
    if unanswered:
        problems.append(
            f"{len(unanswered)} customers without an acknowledgement, e.g. "
            + ", ".join(sorted(unanswered)[:3])
        )
    return Delivery(
        queued=len(queued),
        accepted=len(seen),
        by_kind=dict(sorted(by_kind.items())),
        missing=missing,
        duplicates=duplicates,
        wrong_recipients=wrong,
        unexpected=unexpected,
        tickets=tickets,
        announced=len(announced),
        customers=len(customers),
        answered=len(customers & answered),
        last_at=max((a.at for a in seen.values()), default=None),
        problems=tuple(problems),
    )
