"""Robots are not work: newsletters, notifications, auto-replies and reports are stored
as information, attached to the ticket they answer without changing it, and never
answered; a person who only sounds like one is a customer."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from mailbot.service.runtime import Runtime
from mailbot.store import Inbound, Message
from tests.helpers import STORE_BACKENDS, RuntimeFactory, events, make_mail, outbox, tickets


@pytest.fixture(params=STORE_BACKENDS)
def desk(request: pytest.FixtureRequest, runtime: RuntimeFactory) -> Runtime:
    return runtime(store=request.param)


def feed(rt: Runtime, *raws: bytes) -> None:
    rt.ingest(list(raws))
    rt.processor.process_pending(now=rt.clock)


CUSTOMER = "Klaus Becker <k.becker@mueller-steuerberatung.example>"


def open_ticket(rt: Runtime) -> str:
    """A customer's ticket; the Message-ID of its acknowledgement."""
    feed(rt, make_mail(CUSTOMER, "Wartung Samstag", "Der Server im Keller piept seit heute.",
                       msgid="<w1@mueller-steuerberatung.example>"))
    with Session(rt.engine) as s:
        [ack] = outbox(s, "ack")
        return ack.message_id


def test_an_out_of_office_answering_our_acknowledgement_is_attached(desk: Runtime) -> None:
    ack_id = open_ticket(desk)
    with Session(desk.engine) as s:
        [before] = tickets(s)
        sent_before = len(outbox(s))
    oof = make_mail(
        CUSTOMER, "Automatische Antwort: [#1001] Wartung Samstag",
        "Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 11.12. nicht im Haus.",
        headers={"In-Reply-To": ack_id, "References": ack_id, "Auto-Submitted": "auto-replied",
                 "X-Auto-Response-Suppress": "All"},
        msgid="<oof1@mueller-steuerberatung.example>",
    )
    feed(desk, oof)
    with Session(desk.engine) as s:
        [ticket] = tickets(s)
        # Not reopened, not replanned, not touched; nobody answered.
        assert (ticket.status, ticket.priority, ticket.due_at, ticket.updated_at) == (
            before.status, before.priority, before.due_at, before.updated_at)
        assert len(outbox(s)) == sent_before
        [info] = events(s, "information")
        assert info.ticket_id == ticket.id and "Auto-Submitted" in info.reasons
        texts = s.exec(select(Message.text).where(Message.ticket_id == ticket.id)).all()
        assert any("nicht im Haus" in t for t in texts)
        [row] = s.exec(
            select(Inbound).where(Inbound.message_id == "<oof1@mueller-steuerberatung.example>")
        ).all()
        assert row.disposition == "info"
    assert desk.information() == []  # shown on its ticket, not in the list


def test_an_auto_reply_to_a_solved_ticket_does_not_reopen_it(desk: Runtime) -> None:
    ack_id = open_ticket(desk)
    solved = make_mail(CUSTOMER, "AW: [#1001] Wartung Samstag",
                       "Hat sich erledigt, der Server läuft wieder. Danke!",
                       headers={"In-Reply-To": ack_id})
    feed(desk, solved)
    with Session(desk.engine) as s:
        assert tickets(s)[0].status == "solved"
    feed(desk, make_mail(CUSTOMER, "Abwesenheitsnotiz: AW: [#1001] Wartung Samstag",
                         "Ich bin bis 11.12. nicht im Büro.",
                         headers={"In-Reply-To": ack_id, "Auto-Submitted": "auto-replied"}))
    with Session(desk.engine) as s:
        assert [t.status for t in tickets(s)] == ["solved"]


NEWSLETTER = make_mail(
    "Softwarehaus Newsletter <news@softwarehaus.example>", "Dezember-Update: neue Funktionen",
    "Liebe Kundinnen und Kunden, das Update bringt eine schnellere Suche. Jetzt sofort "
    "installieren, kritische Lücke geschlossen!",
    headers={"Precedence": "bulk", "List-Id": "<kunden.softwarehaus.example>",
             "List-Unsubscribe": "<mailto:unsubscribe@softwarehaus.example>"},
)


def test_a_newsletter_is_information_not_in_the_order_of_work(desk: Runtime) -> None:
    feed(desk, NEWSLETTER)
    with Session(desk.engine) as s:
        assert tickets(s) == [] and outbox(s) == []
    assert desk.work_list(include_solved=True) == []
    [info] = desk.information()
    assert info.sender == "news@softwarehaus.example"
    assert info.subject == "Dezember-Update: neue Funktionen"
    assert "Precedence: bulk" in info.reasons


def test_a_vendor_notification_is_no_planned_change_of_a_customer(desk: Runtime) -> None:
    notice = make_mail(
        "Microsoft 365 Nachrichtencenter <o365mc@microsoft.example>",
        "Geplante Änderung: Exchange Online schaltet Basic Auth ab",
        "Ab 1. März 2027 wird die Basic Authentication für SMTP AUTH abgeschaltet. "
        "Planen Sie die Umstellung rechtzeitig.",
        headers={"Auto-Submitted": "auto-generated", "Precedence": "bulk"},
    )
    feed(desk, notice)
    with Session(desk.engine) as s:
        assert tickets(s) == [] and outbox(s) == []
    assert [i.sender for i in desk.information()] == ["o365mc@microsoft.example"]


def test_a_human_mail_about_an_abwesenheitsnotiz_is_a_ticket(desk: Runtime) -> None:
    feed(desk, make_mail(
        "Petra Hahn <p.hahn@praxis-weber.example>", "Abwesenheitsnotiz funktioniert nicht",
        "Hallo, in meinem Outlook lässt sich keine Abwesenheitsnotiz einrichten, die Option "
        "ist ausgegraut. Können Sie sich das bitte ansehen?\n\nViele Grüße\nPetra Hahn",
    ))
    with Session(desk.engine) as s:
        [ticket] = tickets(s)
        assert ticket.subject == "Abwesenheitsnotiz funktioniert nicht"
        [ack] = outbox(s, "ack")
        assert ack.to == ["p.hahn@praxis-weber.example"]
        assert events(s, "information") == []
    assert desk.information() == []


def test_a_person_forwarding_a_bounce_and_asking_is_a_customer(desk: Runtime) -> None:
    feed(desk, make_mail(
        "Petra Hahn <p.hahn@praxis-weber.example>", "WG: Unzustellbar: Befund Müller",
        "Was bedeutet diese Meldung? Der Befund muss heute noch raus.\n\n"
        "-------- Weitergeleitete Nachricht --------\n"
        "Von: postmaster@praxis-weber.example\nBetreff: Unzustellbar: Befund Müller\n\n"
        "Die Nachricht konnte nicht zugestellt werden. 550 5.1.1 User unknown",
    ))
    with Session(desk.engine) as s:
        assert len(tickets(s)) == 1 and len(outbox(s, "ack")) == 1


def dsn_about(message_id: str, recipient: str) -> bytes:
    boundary = "dsn-boundary"
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.mueller-steuerberatung.example>\r\n"
        f"To: service@itservice.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn1@mx.mueller-steuerberatung.example>\r\nAuto-Submitted: auto-replied\r\n"
        f"Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n"
        f"\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\nYour message could not be "
        f"delivered.\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.mueller-steuerberatung.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nSubject: [#1001] Wartung Samstag\r\n\r\n--{boundary}--\r\n"
    ).encode()


def test_a_bounce_of_our_acknowledgement_is_attached_to_its_ticket(desk: Runtime) -> None:
    ack_id = open_ticket(desk)
    feed(desk, dsn_about(ack_id, "k.becker@mueller-steuerberatung.example"))
    with Session(desk.engine) as s:
        [ticket] = tickets(s)
        assert ticket.status == "open"
        [info] = events(s, "information")
        assert info.ticket_id == ticket.id and "delivery report" in info.detail
        [bounced] = events(s, "bounced")
        assert bounced.ticket_id == ticket.id
        assert len(outbox(s, "ack")) == 1
        assert "delivery or disposition report" in json.loads(info.reasons)
    assert desk.information() == []
