"""Thread-Topic and Thread-Index on outgoing mail: the headers compose writes, and which
index a queued mail continues (the answered mail's, its side's latest, or a new one)."""

from __future__ import annotations

import email
import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailbot.kinds import STAFF_KINDS, ConversationSide
from mailbot.mail.threadindex import ThreadIndex, filetime, new_index, parse_thread_index
from mailbot.outbound.conversation import side_of
from mailbot.outbound.mime import compose
from mailbot.outbound.outgoing import Outgoing
from mailbot.outbound.render import Rendered
from mailbot.store import (
    AuthorKind,
    Direction,
    Message,
    Outbox,
    OutboxKind,
    Ticket,
    new_row,
    session_scope,
)
from tests.helpers import write_config

NOW = datetime(2026, 11, 24, 8, 35, tzinfo=UTC)
BODY = Rendered(text="Guten Tag", html="<p>Guten Tag</p>")
CUSTOMER_GUID = uuid.UUID("0f0e0d0c-0b0a-0908-0706-050403020100")


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def composed(thread_topic: str = "", thread_index: str = "") -> bytes:
    return compose(
        from_header="IT-Service <service@itservice.example>",
        to=["b.lange@mueller-steuerberatung.example"],
        subject="[#1001] Drucker Empfang",
        body=BODY,
        message_id="<x@itservice.example>",
        now=NOW,
        thread_topic=thread_topic,
        thread_index=thread_index,
    )


def test_compose_writes_both_headers_on_one_line_each() -> None:
    index = new_index(NOW).encode()
    raw = composed(thread_topic="Drucker am Empfang zieht kein Papier", thread_index=index)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert f"\r\nThread-Index: {index}\r\n" in head
    assert "\r\nThread-Topic: Drucker am Empfang zieht kein Papier\r\n" in head
    msg = parsed(raw)
    assert msg["Thread-Topic"] == "Drucker am Empfang zieht kein Papier"
    assert msg["Subject"] == "[#1001] Drucker Empfang"


def test_compose_encodes_a_german_topic_and_drops_line_breaks() -> None:
    raw = composed(thread_topic="Prüfung\r\nBcc: evil@example.com", thread_index="AQGd\r\nsd7V")
    raw.decode("ascii")  # the whole message stays ASCII
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert "\r\nBcc:" not in head
    msg = parsed(raw)
    assert msg["Thread-Topic"] == "Prüfung Bcc: evil@example.com"
    assert msg["Thread-Index"] == "AQGd sd7V"  # never a second header line
    assert msg["Bcc"] is None


def test_compose_leaves_out_empty_headers() -> None:
    msg = parsed(composed())
    assert msg["Thread-Topic"] is None and msg["Thread-Index"] is None


def test_every_kind_has_its_side() -> None:
    assert {side_of(k) for k in OutboxKind} == set(ConversationSide)
    assert {k for k in OutboxKind if side_of(k) is ConversationSide.STAFF} == STAFF_KINDS
    assert side_of(OutboxKind.RELAY) is ConversationSide.CUSTOMER


# -- which index a queued mail continues ------------------------------------------------


@pytest.fixture()
def outgoing(tmp_path: Path) -> Outgoing:
    return Outgoing(write_config(tmp_path))


def open_ticket(engine: Engine, subject: str = "Drucker Empfang") -> Ticket:
    with session_scope(engine) as s:
        ticket = new_row(Ticket, number=1001, subject=subject,
                         customer_address="b.lange@mueller-steuerberatung.example",
                         customer_domain="mueller-steuerberatung.example")
        s.add(ticket)
        s.flush()
        s.refresh(ticket)
        return ticket


def store_incoming(engine: Engine, ticket: Ticket, index: str, author: AuthorKind) -> None:
    assert ticket.id is not None
    with session_scope(engine) as s:
        s.add(Message(ticket_id=ticket.id, direction=Direction.IN, author_kind=author,
                      message_id=f"<{uuid.uuid4().hex}@x.example>", thread_index=index))


def send(
    engine: Engine, outgoing: Outgoing, ticket: Ticket | None, kind: OutboxKind,
    answers: str = "", at: datetime = NOW, subject: str = "[#1001] Drucker Empfang",
) -> tuple[ThreadIndex, EmailMessage]:
    """Queue one mail; its Thread-Index as written, checked against its message row."""
    with session_scope(engine) as s:
        out = outgoing.queue(s, kind=kind, ticket=ticket, to=["x@example.org"],
                             subject=subject, body=BODY, now=at, answers_index=answers)
    with Session(engine) as s:
        row = s.get(Outbox, out.id)
        assert row is not None
        msg = parsed(row.raw)
        stored = s.exec(select(Message.thread_index).where(Message.outbox_id == out.id)).first()
    index = parse_thread_index(str(msg["Thread-Index"]))
    assert index is not None
    if ticket is not None:
        assert stored == index.encode()
    return index, msg


def customer_index() -> ThreadIndex:
    return new_index(NOW - timedelta(minutes=5), CUSTOMER_GUID).child(
        NOW - timedelta(minutes=4), nonce=1
    )


def test_an_answer_continues_the_index_of_the_mail_it_answers(
    engine: Engine, outgoing: Outgoing
) -> None:
    ticket = open_ticket(engine)
    theirs = customer_index()
    ours, msg = send(engine, outgoing, ticket, OutboxKind.ACK, answers=theirs.encode())
    assert ours.header == theirs.header
    assert ours.children[:-1] == theirs.children and len(ours.children) == 2
    # The topic is the ticket's subject, without the tag the subject carries.
    assert msg["Thread-Topic"] == "Drucker Empfang"


def test_without_an_index_to_answer_the_side_continues_its_latest(
    engine: Engine, outgoing: Outgoing
) -> None:
    ticket = open_ticket(engine)
    theirs = customer_index()
    store_incoming(engine, ticket, theirs.encode(), AuthorKind.CUSTOMER)
    # Garbage in the answered mail's header counts as none.
    ack, _ = send(engine, outgoing, ticket, OutboxKind.ACK, answers="kaputt!")
    assert ack.header == theirs.header and ack.children[:-1] == theirs.children
    # The next customer mail continues our acknowledgement, the latest of that side.
    relay, _ = send(engine, outgoing, ticket, OutboxKind.RELAY, at=NOW + timedelta(hours=2))
    assert relay.children[:-1] == ack.children


def test_staff_mail_keeps_to_the_technicians_side(engine: Engine, outgoing: Outgoing) -> None:
    ticket = open_ticket(engine)
    theirs = customer_index()
    store_incoming(engine, ticket, theirs.encode(), AuthorKind.CUSTOMER)
    note, _ = send(engine, outgoing, ticket, OutboxKind.NOTIFY, answers=theirs.encode())
    ack, _ = send(engine, outgoing, ticket, OutboxKind.ACK, answers=theirs.encode())
    # The reminder continues the announcement, not the acknowledgement queued after it.
    reminder, msg = send(engine, outgoing, ticket, OutboxKind.REMINDER,
                         at=NOW + timedelta(days=2), subject="Erinnerung #1001")
    assert reminder.children[:-1] == note.children
    assert msg["Thread-Topic"] == "Drucker Empfang"
    # A technician's reply is on their side too: the next staff mail continues it.
    technician = note.child(NOW + timedelta(days=2, hours=1), nonce=7)
    store_incoming(engine, ticket, technician.encode(), AuthorKind.STAFF)
    page, _ = send(engine, outgoing, ticket, OutboxKind.ONCALL, at=NOW + timedelta(days=3))
    assert page.children[:-1] == technician.children
    # ... and the customer's side is not disturbed by either.
    update, _ = send(engine, outgoing, ticket, OutboxKind.UPDATE, at=NOW + timedelta(days=3))
    assert update.children[:-1] == ack.children


def test_nothing_to_continue_starts_a_conversation(engine: Engine, outgoing: Outgoing) -> None:
    ticket = open_ticket(engine)
    first, _ = send(engine, outgoing, ticket, OutboxKind.NOTIFY)
    assert first.children == ()
    assert 0 <= filetime(NOW) - first.started < 1 << 24
    second, _ = send(engine, outgoing, ticket, OutboxKind.ACK)
    assert second.children == () and second.guid != first.guid
    with Session(engine) as s:
        rows = s.exec(select(Message.thread_index).order_by(col(Message.id))).all()
    assert rows == [first.encode(), second.encode()]


def test_mail_outside_a_ticket_gets_a_conversation_and_its_subject_as_topic(
    engine: Engine, outgoing: Outgoing
) -> None:
    index, msg = send(engine, outgoing, None, OutboxKind.NOTIFY,
                      subject="Zu große Mail im Postfach INBOX")
    assert index.children == ()
    assert msg["Thread-Topic"] == "Zu große Mail im Postfach INBOX"
