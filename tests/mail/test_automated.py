"""RFC 3834 and friends: which mail must never be answered automatically."""

from __future__ import annotations

import pytest

from mailbot.mail.automated import detect_automated
from mailbot.mail.parse import parse_message


def verdict(extra: str, sender: str = "kunde@praxis-weber.example", ctype: str = "text/plain"):
    raw = (
        f"From: {sender}\r\nSubject: Drucker\r\nContent-Type: {ctype}\r\n{extra}\r\nHallo"
    ).encode()
    return detect_automated(
        parse_message(raw),
        own_addresses=["service@itservice.example"],
        monitoring_senders=["monitoring@itservice.example"],
    )


@pytest.mark.parametrize(
    "extra",
    [
        "Auto-Submitted: auto-replied\r\n",
        "Auto-Submitted: auto-generated; owner-email=x@y.example\r\n",
        "Precedence: bulk\r\n",
        "Precedence: junk\r\n",
        "List-Id: <news.example.org>\r\n",
        "List-Unsubscribe: <mailto:u@x.example>\r\n",
        "X-Auto-Response-Suppress: DR, OOF\r\n",
        "X-Auto-Response-Suppress: All\r\n",
        "Return-Path: <>\r\n",
    ],
)
def test_header_rules(extra: str) -> None:
    assert verdict(extra).automated


def test_auto_submitted_no_is_human() -> None:
    assert not verdict("Auto-Submitted: no\r\n").automated


def test_read_receipt_suppression_alone_is_not_automated() -> None:
    # Outlook asks for no delivery/read receipts on ordinary mail too.
    assert not verdict("X-Auto-Response-Suppress: DR, RN, NRN\r\n").automated


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example",
        "postmaster@b.example",
        "noreply@shop.example",
        "no-reply@x.example",
        "service@itservice.example",
        "monitoring@itservice.example",
    ],
)
def test_robot_and_own_senders(sender: str) -> None:
    assert verdict("", sender=sender).automated


def test_delivery_report() -> None:
    assert verdict(
        "", ctype='multipart/report; report-type=delivery-status; boundary="x"'
    ).automated


def test_plain_customer_mail_is_not_automated() -> None:
    result = verdict("Return-Path: <kunde@praxis-weber.example>\r\n")
    assert not result.automated
    assert result.reasons == ()


def test_own_mail_is_a_flag_of_its_own() -> None:
    """Processing decides on ``own_mail``, not on the wording of a reason."""
    assert verdict("", sender="service@itservice.example").own_mail
    assert not verdict("", sender="no-reply@x.example").own_mail
    assert not verdict("Precedence: bulk\r\n").own_mail


# -- a subject word alone makes no robot -------------------------------------------------


def subject_verdict(subject: str, body: str, extra: str = ""):
    raw = (
        f"From: Petra Hahn <p.hahn@praxis-weber.example>\r\nSubject: {subject}\r\n{extra}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()
    return detect_automated(parse_message(raw), own_addresses=["service@itservice.example"])


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Abwesenheitsnotiz funktioniert nicht",
         "Hallo, bei mir lässt sich in Outlook keine Abwesenheitsnotiz einrichten, die "
         "Option ist ausgegraut. Können Sie sich das ansehen?"),
        ("Abwesenheitsnotiz für Frau Weber einrichten",
         "Bitte richten Sie für Frau Weber eine Abwesenheitsnotiz ein, sie ist ab Montag "
         "im Urlaub. Danke!"),
        ("Automatische Antwort kommt bei Kunden nicht an",
         "Ich bin ab morgen nicht im Büro und habe die automatische Antwort eingeschaltet, "
         "aber Kunden bekommen sie nicht. Was mache ich falsch?"),
        ("Unzustellbar: Angebot Praxisumbau",
         "Diese Meldung kam zurück, als ich Herrn Kraus schreiben wollte. Was bedeutet das?"),
    ],
)
def test_a_person_writing_about_an_auto_reply_is_no_robot(subject: str, body: str) -> None:
    result = subject_verdict(subject, body)
    assert not result.automated, result.reasons


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Automatische Antwort: Drucker",
         "Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 11.12. nicht im\r\n"
         "Haus. In dringenden Fällen wenden Sie sich bitte an info@praxis-weber.example."),
        ("Abwesenheitsnotiz: Ihr Ticket", "Ich bin vom 31.10. bis 8.11. im Urlaub."),
        ("Out of Office: Your ticket",
         "Thank you for your mail. I am out of the office until 4 January."),
        ("Automatic reply: Printer", "I'm travelling and will answer after my return."),
    ],
)
def test_an_auto_reply_without_headers_is_known_by_its_own_words(subject: str, body: str) -> None:
    result = subject_verdict(subject, body)
    assert result.automated
    assert any(r.startswith("auto-reply subject and words") for r in result.reasons)


def test_quoted_words_are_not_the_senders_own() -> None:
    """The words must be the sender's new text: a reply quoting an auto-reply asks."""
    body = (
        "Das kam von Frau Weber zurück, stimmt das so\r\n\r\n"
        "Am 23.11.2026 um 09:12 schrieb Petra Weber <p.weber@praxis-weber.example>:\r\n"
        "> Ich bin bis 30.11. nicht im Haus.\r\n"
    )
    assert not subject_verdict("Automatische Antwort: Drucker", body).automated


@pytest.mark.parametrize(
    "subject",
    [
        "Automatische Antwort: AW: Ticket 26-10-0142 Druckertreiber",
        "Abwesenheitsnotiz: Ihr Ticket 26-10-0231",
        "Out of Office: Your quote for the new firewall",
        "Out of Office AutoReply: Server",
        "Automatic reply: [#2026-4471] Second monitor not detected",
        "Undeliverable: [#2027-0112] DATEV smartcard reader replaced",
        "Unzustellbar: Angebot Praxisumbau",
        "Delivery Status Notification (Failure)",
        "Undelivered Mail Returned to Sender",
        "Mail delivery failed: returning message to sender",
    ],
)
def test_responder_and_report_subjects_are_automated(subject: str) -> None:
    assert subject_verdict(subject, "Ich bin bis 4.1. nicht im Büro.").automated


@pytest.mark.parametrize(
    "subject",
    [
        "Abwesenheitsnotiz einrichten",
        "Out of Office für Frau Schmitz",
        "Automatische Antwort funktioniert nicht",
        "Out of office reply",
        "Automatic reply for my holiday",
        "Abwesenheitsnotiz in Outlook?",
    ],
)
def test_a_person_writing_about_out_of_office_is_not_automated(subject: str) -> None:
    # Issue 20: such mail was judged automated, and the customer got no acknowledgement.
    assert not subject_verdict(subject, "Wie richte ich das in Outlook ein?").automated
