"""Outlook's conversation view through the process stage: every answer carries
Thread-Topic and a Thread-Index continuing the mail it answers, and an Outlook reply
that carries only our index (no In-Reply-To, no References, the tag removed) still
finds its ticket."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from mailbot.mail.threadindex import ThreadIndex, filetime, new_index, parse_thread_index
from mailbot.process.threads import conversation_rows
from mailbot.service.runtime import Runtime
from mailbot.store import Direction, Message
from tests.helpers import (
    BERLIN,
    STORE_BACKENDS,
    RuntimeFactory,
    Sent,
    events,
    make_mail,
    outbox,
    tickets,
)

NOW = datetime(2026, 11, 24, 9, 35, tzinfo=BERLIN)
WRITTEN = datetime(2026, 11, 24, 9, 30, tzinfo=BERLIN)
CUSTOMER = "Birgit Lange <b.lange@mueller-steuerberatung.example>"
COLLEAGUE = "Klaus Müller <k.mueller@mueller-steuerberatung.example>"
OUR_AUTH = "mx.itservice.example; dkim=pass header.d=itservice.example"
PRINTER = "Der Drucker am Empfang zieht kein Papier mehr ein."


@pytest.fixture(params=STORE_BACKENDS)
def desk(request: pytest.FixtureRequest, runtime: RuntimeFactory) -> Runtime:
    return runtime(store=request.param, clock=lambda: NOW)


def feed(rt: Runtime, *raws: bytes) -> None:
    rt.ingest(list(raws))
    rt.processor.process_pending(now=rt.clock)


def index_of(sent: Sent) -> ThreadIndex:
    index = parse_thread_index(str(sent.message["Thread-Index"]))
    assert index is not None, sent.message["Thread-Index"]
    return index


def continues(child: ThreadIndex, parent: ThreadIndex) -> bool:
    """``child`` is a reply to ``parent``: the same blocks and one more."""
    return child.header == parent.header and child.children[:-1] == parent.children and (
        len(child.children) == len(parent.children) + 1
    )


def outlook_mail() -> tuple[bytes, ThreadIndex]:
    """A customer's new mail from Outlook: a colleague's mail forwarded to us, so its
    index is one block deeper than its conversation's header."""
    theirs = new_index(WRITTEN - timedelta(days=1)).child(WRITTEN)
    raw = make_mail(CUSTOMER, "WG: Drucker Empfang", PRINTER,
                    msgid="<c1@mueller-steuerberatung.example>",
                    headers={"Thread-Topic": "Drucker Empfang", "Thread-Index": theirs.encode()})
    return raw, theirs


def test_every_answer_to_an_outlook_mail_continues_its_conversation(desk: Runtime) -> None:
    raw, theirs = outlook_mail()
    feed(desk, raw)
    with Session(desk.engine) as s:
        [ack] = outbox(s, "ack")
        [note] = outbox(s, "notify")
        stored = s.exec(
            select(Message.direction, Message.thread_index).order_by(col(Message.id))
        ).all()
    assert continues(index_of(ack), theirs) and continues(index_of(note), theirs)
    # The topic is the customer's, without the prefix and without our tag.
    assert ack.message["Subject"] == "[#1001] WG: Drucker Empfang"
    assert ack.message["Thread-Topic"] == "Drucker Empfang"
    assert note.message["Thread-Topic"] == "Drucker Empfang"
    # The whole indexes are kept: the customer's as it came, ours as they went out.
    assert stored == [
        (Direction.IN, theirs.encode()),
        (Direction.OUT, index_of(ack).encode()),
        (Direction.OUT, index_of(note).encode()),
    ]


def test_an_outlook_reply_to_the_acknowledgement_finds_its_ticket_by_index(
    desk: Runtime,
) -> None:
    raw, _ = outlook_mail()
    feed(desk, raw)
    with Session(desk.engine) as s:
        [ack] = outbox(s, "ack")
    # Outlook answers our acknowledgement: no In-Reply-To, no References, the tag
    # removed from the subject; only the Thread-Index says what it answers.
    reply_index = index_of(ack).child(NOW + timedelta(minutes=20))
    reply = make_mail(
        CUSTOMER, "AW: WG: Drucker Empfang",
        "Ist doch nicht so dringend, es reicht, wenn das bis Freitag erledigt ist.",
        when=NOW + timedelta(minutes=20),
        headers={"Thread-Topic": "Drucker Empfang", "Thread-Index": reply_index.encode()},
    )
    feed(desk, reply)
    with Session(desk.engine) as s:
        [ticket] = tickets(s)
        assert ticket.deadline is not None and ticket.deadline.isoformat() == "2026-11-27"
        [added] = events(s, "message_added")
        [update] = outbox(s, "update")
    assert added.detail == "matched by thread-index"
    assert continues(index_of(update), reply_index)
    assert update.message["Thread-Topic"] == "Drucker Empfang"


def test_a_reply_to_a_conversation_we_started_finds_its_ticket(desk: Runtime) -> None:
    # The customer writes from a program without Thread-Index: our acknowledgement
    # starts the conversation, and a colleague answers it from Outlook.
    feed(desk, make_mail(CUSTOMER, "Drucker Empfang", PRINTER))
    with Session(desk.engine) as s:
        [ack] = outbox(s, "ack")
    ours = index_of(ack)
    assert ours.children == ()
    colleague = make_mail(
        COLLEAGUE, "AW: Drucker Empfang", "Bei mir im Büro druckt er auch nicht.",
        headers={"Thread-Index": ours.child(NOW + timedelta(hours=1)).encode()},
    )
    feed(desk, colleague)
    with Session(desk.engine) as s:
        assert len(tickets(s)) == 1
        [added] = events(s, "message_added")
        assert added.detail == "matched by thread-index"
        senders = s.exec(select(Message.sender).where(Message.direction == Direction.IN)).all()
    assert "k.mueller@mueller-steuerberatung.example" in senders


def test_a_stranger_with_our_index_gets_a_ticket_of_their_own(desk: Runtime) -> None:
    raw, _ = outlook_mail()
    feed(desk, raw)
    with Session(desk.engine) as s:
        [ack] = outbox(s, "ack")
    stranger = make_mail(
        "someone@elsewhere.example", "AW: Drucker Empfang", "Bitte das Ticket schließen.",
        headers={"Thread-Index": index_of(ack).child(NOW + timedelta(hours=1)).encode()},
    )
    feed(desk, stranger)
    with Session(desk.engine) as s:
        assert [t.customer_address for t in tickets(s)] == [
            "b.lange@mueller-steuerberatung.example",
            "someone@elsewhere.example",
        ]
        assert events(s, "message_added") == []


def test_a_relay_continues_the_customers_mail_it_answers(desk: Runtime) -> None:
    raw, theirs = outlook_mail()
    feed(desk, raw)
    with Session(desk.engine) as s:
        [note] = outbox(s, "notify")
    # The technician answers the announcement from Outlook: their side's conversation.
    technician = make_mail(
        "Tim Nowak <t.nowak@itservice.example>", "AW: Neues Ticket #1001",
        "Wir kommen heute um 14 Uhr vorbei.",
        headers={"In-Reply-To": note.message_id, "Authentication-Results": OUR_AUTH,
                 "Thread-Index": index_of(note).child(NOW + timedelta(minutes=10)).encode()},
    )
    feed(desk, technician)
    with Session(desk.engine) as s:
        [relay] = outbox(s, "relay")
    # The relay answers the customer's mail (its In-Reply-To), so it continues that
    # mail's index, on the customer's side, with the customer's topic.
    assert relay.message["In-Reply-To"] == "<c1@mueller-steuerberatung.example>"
    assert continues(index_of(relay), theirs)
    assert relay.message["Thread-Topic"] == "Drucker Empfang"


def test_a_reminder_continues_the_announcement(desk: Runtime) -> None:
    from mailbot.process import remind_overdue

    raw, _ = outlook_mail()
    feed(desk, raw)
    later = NOW + timedelta(days=2)
    assert remind_overdue(desk.config, desk.engine, desk.processor.renderer, now=later) == 1
    with Session(desk.engine) as s:
        [note] = outbox(s, "notify")
        [reminder] = outbox(s, "reminder")
    assert continues(index_of(reminder), index_of(note))
    assert reminder.message["Thread-Topic"] == "Drucker Empfang"
    # Two days are 1,728,000,000,000 ticks, in steps of 2**18 ticks.
    offset = index_of(reminder).offsets()[-1] - index_of(note).offsets()[-1]
    assert abs(offset - 2 * 86_400 * 10_000_000) < 1 << 19


def test_a_monitoring_alarm_starts_the_technicians_conversation(desk: Runtime) -> None:
    alarm = make_mail(
        "Icinga <monitoring@itservice.example>",
        "** PROBLEM Service Alert: fs01.mueller-steuerberatung/SMB is CRITICAL **",
        "***** Icinga 2 *****\n\nNotification Type: PROBLEM\n\nService: SMB\n"
        "Host: fs01.mueller-steuerberatung\nState: CRITICAL\n",
    )
    feed(desk, alarm)
    with Session(desk.engine) as s:
        [note] = outbox(s, "notify")
    index = index_of(note)
    assert index.children == ()
    assert 0 <= filetime(NOW) - index.started < 1 << 24


def test_the_conversation_lookup_uses_its_index(desk: Runtime) -> None:
    # Every incoming Outlook mail runs this lookup; without the index (migration 0005)
    # it reads the whole message table.
    # The statement as it runs, with its parameters bound, not written into it.
    engine = desk.engine
    compiled = conversation_rows(new_index(NOW).root).compile(dialect=engine.dialect)
    params = compiled.params
    args = tuple(params[k] for k in compiled.positiontup or ()) if compiled.positional else params
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # An empty table is read whole whatever indexes it has, unless told not to.
            connection.exec_driver_sql("SET enable_seqscan = off")
            found = connection.exec_driver_sql(f"EXPLAIN {compiled}", args).all()
        else:
            found = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", args).all()
    plan = [str(row[-1]) for row in found]
    assert any("ix_message_thread_root" in line for line in plan), plan
