"""threads: which ticket a message belongs to.

Order, as in design.md: In-Reply-To / References against every stored Message-ID
(ours and theirs), then Outlook's Thread-Index, then the ``[#number]`` tag in the
subject — the index and the tag only when the sender belongs to the ticket's customer
or to the staff, so a stranger cannot attach mail to somebody else's ticket.

A Thread-Index matches by its conversation's header block, against every stored
index (ours and theirs): Outlook's reply to our acknowledgement carries a child of our
index, whose header block is the customer's (we continued theirs) or one we started.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import literal_column
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import Select

from mailbot.mail.headers import TICKET_TAG
from mailbot.mail.parse import ParsedMail
from mailbot.mail.threadindex import ROOT_PREFIX, parse_thread_index, root_of
from mailbot.store import Message, Outbox, Ticket, TicketStatus

_PREFIX = re.compile(
    r"^\s*((re|aw|antw|wg|fw|fwd|tr|sv|vs|rif|r|enc)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE
)
_FORWARD = re.compile(r"^\s*(wg|fw|fwd|tr|enc)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class ThreadMatch:
    ticket: Ticket | None
    #: "references", "thread-index", "tag", "new"
    how: str
    detail: str = ""
    #: a forward of an old thread by someone else: a new ticket that links to ``ticket``
    forwarded_from: Ticket | None = None


def strip_prefixes(subject: str) -> str:
    """``AW: WG: Re: foo`` -> ``foo``, with our ``[#n]`` tag removed: a ticket's subject."""
    return _PREFIX.sub("", TICKET_TAG.sub("", subject)).strip()


def is_forward(subject: str) -> bool:
    return bool(_FORWARD.match(subject))


def subject_tag(subject: str) -> int | None:
    match = TICKET_TAG.search(subject)
    return int(match.group(1)) if match else None


#: stored indexes whose first characters match that are checked in full, newest first
_ROOT_CANDIDATES = 20
#: the expression migration 0005 indexes (store.tables.THREAD_ROOT), its numbers
#: written into the statement: a bound parameter would not match the index
_ROOT_KEY = func.substr(
    col(Message.thread_index), literal_column("1"), literal_column(str(ROOT_PREFIX))
)


def conversation_rows(root: str) -> Select[int, str]:
    """Ticket and index of the newest stored messages whose index may belong to the
    conversation with header block ``root`` (base64, as :attr:`ThreadIndex.root`)."""
    # Stored values are whole indexes: their first 28 characters are the header
    # block's first 21 bytes whatever follows; the 22nd is checked after decoding.
    return (
        select(Message.ticket_id, Message.thread_index)
        .where(root[:ROOT_PREFIX] == _ROOT_KEY)
        .order_by(col(Message.id).desc())
        .limit(_ROOT_CANDIDATES)
    )


def ticket_of_conversation(session: Session, root: str) -> Ticket | None:
    """The ticket of the newest stored message in the conversation ``root``."""
    for ticket_id, stored in session.exec(conversation_rows(root)).all():
        if root_of(stored) == root:
            return session.get(Ticket, ticket_id)
    return None


def match_thread(
    session: Session,
    mail: ParsedMail,
    *,
    is_staff: Callable[[str], bool],
) -> ThreadMatch:
    ids = [i for i in (mail.in_reply_to, *reversed(mail.references)) if i]
    if ids:
        hit = session.exec(
            select(Message).where(col(Message.message_id).in_(ids)).order_by(col(Message.id).desc())
        ).first()
        ticket_id = hit.ticket_id if hit is not None else None
        if ticket_id is None:
            out = session.exec(select(Outbox).where(col(Outbox.message_id).in_(ids))).first()
            ticket_id = out.ticket_id if out is not None else None
        if ticket_id is not None:
            ticket = session.get(Ticket, ticket_id)
            if ticket is not None:
                return _maybe_forward(ticket, mail, "references", is_staff)

    index = parse_thread_index(mail.thread_index) if mail.thread_index else None
    if index is not None:
        ticket = ticket_of_conversation(session, index.root)
        if ticket is not None and _sender_may_use(ticket, mail.from_addr, is_staff):
            return _maybe_forward(ticket, mail, "thread-index", is_staff)

    number = subject_tag(mail.subject)
    if number is not None:
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).first()
        if ticket is not None:
            if _sender_may_use(ticket, mail.from_addr, is_staff):
                return _maybe_forward(ticket, mail, "tag", is_staff)
            return ThreadMatch(
                None,
                "new",
                f"tag [#{number}] ignored: {mail.from_addr or 'unknown sender'}"
                " is neither the ticket's customer nor staff",
            )
    return ThreadMatch(None, "new")


def _sender_may_use(ticket: Ticket, sender: str, is_staff: Callable[[str], bool]) -> bool:
    if not sender:
        return False
    domain = sender.rpartition("@")[2]
    return (bool(ticket.customer_domain) and domain == ticket.customer_domain) or is_staff(sender)


def _maybe_forward(
    ticket: Ticket, mail: ParsedMail, how: str, is_staff: Callable[[str], bool]
) -> ThreadMatch:
    """A forward of an old thread by someone else starts a new ticket linked to the old one.

    "Someone else" is anyone but the staff and the person the ticket is for; a
    forward of a solved ticket is new work whoever sends it.
    """
    if (
        is_forward(mail.subject)
        and not is_staff(mail.from_addr)
        and (mail.from_addr != ticket.customer_address or ticket.status == TicketStatus.SOLVED)
    ):
        return ThreadMatch(
            None, "new", f"forward of ticket #{ticket.number}", forwarded_from=ticket
        )
    return ThreadMatch(ticket, how)
