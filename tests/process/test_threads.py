"""Threads end to end on the real servers: Dovecot in, the recording SMTP server out.

One conversation, step by step, the way it happens at a provider: a customer writes,
follows up, a technician answers by mail (with and without valid authentication),
strangers and colleagues write with the ticket's tag, monitoring fires and recovers.
"""

from __future__ import annotations

import email
from datetime import datetime
from email import policy
from email.message import EmailMessage

import pytest
from sqlmodel import Session

from mailbot.mail.threadindex import parse_thread_index
from mailbot.service.runtime import Runtime
from tests.helpers import BERLIN, RuntimeFactory, events, make_mail, tickets
from tests.servers import Dovecot, SmtpServer

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN)
OUR_SERVER = "mx.itservice.example; dkim=pass header.d=itservice.example"


@pytest.fixture()
def desk(runtime: RuntimeFactory, mailbox: Dovecot, smtp_server: SmtpServer) -> Runtime:
    return runtime(
        imap=mailbox, smtp=smtp_server, clock=lambda: NOW,
        extra="""
[staff]
domains = ["itservice.example"]
notify = "technik@itservice.example"
authserv_id = "mx.itservice.example"

[monitoring]
senders = ["monitoring@itservice.example"]

[[customers]]
domain = "mueller-steuerberatung.example"
name = "Müller Steuerberatung"
contract = true
""",
    )


def cycle(rt: Runtime, mailbox: Dovecot, *raws: bytes) -> None:
    for raw in raws:
        mailbox.append(raw)
    rt.fetch_all()
    rt.drain()


def sent(smtp: SmtpServer) -> list[tuple[tuple[str, ...], EmailMessage]]:
    found = []
    for r in smtp.received:
        msg = email.message_from_bytes(r.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        found.append((r.rcpt_tos, msg))
    return found


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_a_whole_conversation(desk: Runtime, mailbox: Dovecot, smtp_server: SmtpServer) -> None:
    customer = "Birgit Lange <b.lange@mueller-steuerberatung.example>"
    cycle(
        desk,
        mailbox,
        make_mail(
            customer,
            "Drucker Empfang",
            "Der Drucker am Empfang zieht kein Papier mehr ein.",
            msgid="<c1@mueller-steuerberatung.example>",
        ),
    )
    out = sent(smtp_server)
    acks = [m for to, m in out if to == ("b.lange@mueller-steuerberatung.example",)]
    notes = [m for to, m in out if to == ("technik@itservice.example",)]
    assert len(acks) == 1 and len(notes) == 1
    assert acks[0]["In-Reply-To"] == "<c1@mueller-steuerberatung.example>"
    # For Outlook's conversation view, on the wire: the customer's topic without our
    # tag, and (their mail had none) an index that starts the conversation.
    assert acks[0]["Thread-Topic"] == "Drucker Empfang"
    ack_index = parse_thread_index(str(acks[0]["Thread-Index"]))
    assert ack_index is not None and ack_index.children == ()

    # Follow-up: not urgent, with a deadline; acknowledged once with the new handling.
    cycle(
        desk,
        mailbox,
        make_mail(
            customer,
            "AW: [#1001] Drucker Empfang",
            "Ist doch nicht so dringend, es reicht, wenn das bis Freitag erledigt ist.",
            headers={"In-Reply-To": str(acks[0]["Message-ID"])},
        ),
    )
    with Session(desk.engine) as s:
        [ticket] = tickets(s)
        assert ticket.urgency == "not_urgent" and str(ticket.deadline) == "2026-11-27"
    updates = [m for to, m in sent(smtp_server)[2:] if to[0].startswith("b.lange")]
    assert len(updates) == 1

    # A technician answers the announcement, authenticated: command runs, words reach
    # the customer without the command.
    before = len(smtp_server.received)
    cycle(
        desk,
        mailbox,
        make_mail(
            "Tim Nowak <t.nowak@itservice.example>",
            f"AW: {notes[0]['Subject']}",
            "#prio kritisch\nWir kommen heute um 14 Uhr vorbei.\n\n> Neues Ticket #1001",
            headers={
                "In-Reply-To": str(notes[0]["Message-ID"]),
                "Authentication-Results": OUR_SERVER,
            },
        ),
    )
    with Session(desk.engine) as s:
        assert tickets(s)[0].priority == "critical"
    relays = sent(smtp_server)[before:]
    assert len(relays) == 1
    to, relay = relays[0]
    assert to == ("b.lange@mueller-steuerberatung.example",)
    assert "Wir kommen heute um 14 Uhr vorbei." in text_of(relay)
    assert "#prio" not in text_of(relay) and "Neues Ticket" not in text_of(relay)
    assert relay["From"].addresses[0].addr_spec == "service@itservice.example"
    assert "[#1001]" in str(relay["Subject"])
    relay_index = parse_thread_index(str(relay["Thread-Index"]))
    assert relay_index is not None and relay_index.header == ack_index.header

    # The same command without our server's word: stored, nothing executed or relayed.
    before = len(smtp_server.received)
    cycle(
        desk,
        mailbox,
        make_mail(
            "t.nowak@itservice.example",
            "AW: [#1001] Drucker Empfang",
            "#prio niedrig\nTest",
            headers={"In-Reply-To": str(notes[0]["Message-ID"])},
        ),
    )
    with Session(desk.engine) as s:
        assert tickets(s)[0].priority == "critical"
        assert events(s, "staff_unverified")
    assert len(smtp_server.received) == before

    # An internal note is never relayed.
    cycle(
        desk,
        mailbox,
        make_mail(
            "t.nowak@itservice.example",
            "AW: [#1001] Drucker Empfang",
            "#intern\nErsatzteil bestellt, Kunde nicht informieren.",
            headers={
                "In-Reply-To": str(notes[0]["Message-ID"]),
                "Authentication-Results": OUR_SERVER,
            },
        ),
    )
    assert len(smtp_server.received) == before

    # A stranger with the tag gets a ticket of their own.
    cycle(
        desk,
        mailbox,
        make_mail(
            "someone@elsewhere.example",
            "Re: [#1001] Drucker Empfang",
            "Bitte schließen Sie das Ticket.",
        ),
    )
    # Outlook colleague: AW: with the tag, no References: attached to #1001.
    cycle(
        desk,
        mailbox,
        make_mail(
            "Klaus Müller <k.mueller@mueller-steuerberatung.example>",
            "AW: [#1001] Drucker Empfang",
            "Bei mir im Büro druckt er auch nicht.",
            headers={"Thread-Topic": "Drucker Empfang"},
        ),
    )
    with Session(desk.engine) as s:
        all_tickets = tickets(s)
        assert [t.customer_address for t in all_tickets] == [
            "b.lange@mueller-steuerberatung.example",
            "someone@elsewhere.example",
        ]
        detail = desk.ticket(1001)
        assert detail is not None
        senders = [m.sender for m in detail.messages if m.direction == "in"]
        assert "k.mueller@mueller-steuerberatung.example" in senders
        assert "someone@elsewhere.example" not in senders


def test_two_alarms_and_a_recovery_make_one_ticket(
    desk: Runtime, mailbox: Dovecot, smtp_server: SmtpServer
) -> None:
    def alarm(kind: str, state: str) -> bytes:
        return make_mail(
            "Icinga <monitoring@itservice.example>",
            f"** {kind} Service Alert: fs01.mueller-steuerberatung/SMB is {state} **",
            f"***** Icinga 2 *****\n\nNotification Type: {kind}\n\nService: SMB\n"
            f"Host: fs01.mueller-steuerberatung\nState: {state}\n",
        )

    cycle(desk, mailbox, alarm("PROBLEM", "CRITICAL"), alarm("PROBLEM", "CRITICAL"))
    cycle(desk, mailbox, alarm("RECOVERY", "OK"))
    with Session(desk.engine) as s:
        [ticket] = tickets(s)
        assert ticket.status == "solved" and ticket.contract
    recipients = [r.rcpt_tos for r in smtp_server.received]
    assert ("monitoring@itservice.example",) not in recipients
    assert recipients.count(("technik@itservice.example",)) == 1
