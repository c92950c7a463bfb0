"""Hostile input and mail loops, through the real process stage and a real SMTP server.

Every check looks at what would leave the house: the raw bytes of every outbox row
and what the recording SMTP server received.
"""

from __future__ import annotations

import email
import json
import re
import time
from dataclasses import replace
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage

import pytest
from sqlmodel import Session, col, select

from mailbot.config import ImapConfig
from mailbot.inbound.fetch import fetch_new
from mailbot.outbound.send import send_due
from mailbot.service.runtime import Runtime
from mailbot.store import Inbound, Outbox
from tests.helpers import BERLIN, Clock, RuntimeFactory, make_mail, shared_classifier
from tests.servers import Dovecot, SmtpServer

NOW = datetime(2026, 11, 24, 9, 35, tzinfo=BERLIN)
OWN = {"service@itservice.example", "technik@itservice.example"}


@pytest.fixture
def desk(runtime: RuntimeFactory, smtp_server: SmtpServer) -> Runtime:
    """On the ``clock`` fixture (09:35 on Tuesday 24.11.2026), which tests move."""
    return runtime(smtp=smtp_server)


def feed(rt: Runtime, *raws: bytes) -> None:
    rt.ingest(list(raws))
    rt.processor.process_pending(now=rt.clock)


def rows(rt: Runtime) -> list[Outbox]:
    with Session(rt.engine) as s:
        return list(s.exec(select(Outbox).order_by(col(Outbox.id))).all())


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def header_names(raw: bytes) -> list[str]:
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return [line.split(b":", 1)[0].decode().lower() for line in head.split(b"\n")
            if line and line[:1] not in (b" ", b"\t")]


def assert_clean_outgoing(raw: bytes, recipients: list[str]) -> None:
    names = header_names(raw)
    assert "bcc" not in names and "cc" not in names, names
    assert names.count("to") == 1 and names.count("subject") == 1, names
    msg = parsed(raw)
    to = [a.addr_spec.lower() for a in msg["To"].addresses]
    assert to == recipients
    assert not {r for r in recipients if "evil" in r}
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            html = str(part.get_content()).lower()
            # Customer words appear only as text: no tag of theirs survives.
            assert "<script" not in html and "<img" not in html and "<b>" not in html


def with_from(raw: bytes, value: str) -> bytes:
    """``raw`` with a From header the stdlib would refuse to build."""
    return raw.replace(b"From: placeholder@praxis-weber.example", b"From: " + value.encode())


def nested(depth: int) -> bytes:
    head = b"From: x@praxis-weber.example\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    parts = [b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
             for i in range(depth)]
    tail = [b"\r\n--b%d--\r\n" % i for i in reversed(range(depth))]
    return head + b"".join(parts) + b"Content-Type: text/plain\r\n\r\nhi" + b"".join(tail)


def many_parts(count: int) -> bytes:
    head = (b"From: y@praxis-weber.example\r\nSubject: wide\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n')
    part = b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    return head + part * count + b"--b--\r\n"


@pytest.mark.parametrize("name,raw", [("nested 1000", nested(1000)),
                                      ("50000 parts", many_parts(50_000))])
def test_absurd_mime_trees_are_quarantined_quickly(desk: Runtime, name: str, raw: bytes) -> None:
    desk.ingest([raw])
    started = time.monotonic()
    report = desk.processor.process_pending(now=desk.clock)
    elapsed = time.monotonic() - started
    print(f"\n{name}: {len(raw)} bytes quarantined in {elapsed:.3f} s")
    assert report.quarantined == 1
    (row,) = desk.quarantine()
    assert row.reason
    assert rows(desk) == []


def test_encoded_line_breaks_never_make_a_header_or_recipient(
    desk: Runtime, smtp_server: SmtpServer
) -> None:
    evil = [
        with_from(make_mail("placeholder@praxis-weber.example",
                            "=?utf-8?q?a=0D=0ABcc:_evil@x.example?=", "Der Drucker ist kaputt."),
                  "=?utf-8?q?Eve=0D=0ABcc:_evil@x.example?= <eve@praxis-weber.example>"),
        make_mail("Mallory <mallory@praxis-weber.example>",
                  "=?utf-8?b?RHJ1Y2tlcg0KQmNjOiBldmlsQHguZXhhbXBsZQ0KDQo8c2NyaXB0Pg==?=",
                  "Bitte helfen."),
        with_from(make_mail("placeholder@praxis-weber.example", "Scanner",
                            "Der Scanner scannt nicht.").replace(
                      b"Subject: Scanner",
                      b"Subject: =?utf-8?q?Scanner=E2=80=A8Bcc:_evil@x.example?="),
                  "=?utf-8?q?=E2=80=A8Bcc:_evil@x.example?= <trent@praxis-weber.example>"),
    ]
    feed(desk, *evil)
    send_due(desk.config, desk.engine, now=NOW + timedelta(minutes=1))
    queued = rows(desk)
    assert {r.kind for r in queued} >= {"ack"}
    for row in queued:
        assert_clean_outgoing(row.raw, json.loads(row.recipients))
    assert smtp_server.received
    for got in smtp_server.received:
        assert not [r for r in got.rcpt_tos if "evil" in r]
        assert_clean_outgoing(got.content, list(got.rcpt_tos))


def test_markup_from_customers_is_escaped_in_every_html_we_send(desk: Runtime) -> None:
    feed(desk, make_mail(
        '"<script>alert(1)</script>" <k.kern@praxis-weber.example>',
        "<img src=x onerror=alert(1)> Drucker <b>kaputt</b>",
        "<script>alert('body')</script>\nDer Drucker zeigt <b>Fehler 42</b>.",
    ))
    queued = rows(desk)
    assert {r.kind for r in queued} >= {"ack"}
    for row in queued:
        assert_clean_outgoing(row.raw, json.loads(row.recipients))
        html = "".join(str(p.get_content()) for p in parsed(row.raw).walk()
                       if p.get_content_type() == "text/html")
        assert "&lt;" in html  # the customer's words are there, as text


@pytest.mark.parametrize("sender", [
    '"a@good.example" <b@evil.example>',
    "alice@good.example)<bob@evil.example>",
    "alice@good.example, bob@evil.example",
    "alice@good.example <bob@evil.example>",
])
def test_ambiguous_senders_never_get_an_answer_meant_for_another(
    desk: Runtime, sender: str
) -> None:
    feed(desk, with_from(make_mail("placeholder@praxis-weber.example", "Passwort zurücksetzen",
                                   "Bitte setzen Sie mein Passwort zurück."), sender))
    acks = [r for r in rows(desk) if r.kind == "ack"]
    for row in acks:
        assert json.loads(row.recipients) == ["b@evil.example"], row.recipients
    assert not [r for r in rows(desk) if "good.example" in r.recipients]


def test_unknown_charset_is_read_and_answered(desk: Runtime) -> None:
    raw = (b"From: c@praxis-weber.example\r\nSubject: =?x-unknown-42?q?Frage_=FCber?=\r\n"
           b"Message-ID: <cs@praxis-weber.example>\r\n"
           b"Content-Type: text/plain; charset=x-unknown-42\r\n\r\n"
           b"Wie richte ich die Signatur ein? Gr\xfc\xdfe")
    feed(desk, raw)
    acks = [r for r in rows(desk) if r.kind == "ack"]
    assert [json.loads(r.recipients) for r in acks] == [["c@praxis-weber.example"]]


# -- loops --------------------------------------------------------------------------------


def reply_to(row: Outbox, sender: str, n: int, headers: dict[str, str]) -> bytes:
    msg = parsed(row.raw)
    return make_mail(sender, f"Re: {msg['Subject']}", f"Antwort Nummer {n}.",
                     headers={"In-Reply-To": row.message_id, **headers},
                     msgid=f"<loop{n}.{time.monotonic_ns()}@praxis-weber.example>")


def test_out_of_office_answering_every_ack_stops_at_once(desk: Runtime) -> None:
    customer = "ina.weber@praxis-weber.example"
    feed(desk, make_mail(customer, "Drucker", "Der Drucker druckt nicht."))
    for n in range(10):
        last = [r for r in rows(desk) if r.to_address == customer][-1]
        feed(desk, reply_to(last, customer, n, {"Auto-Submitted": "auto-replied"}))
    to_customer = [r for r in rows(desk) if r.to_address == customer]
    assert len(to_customer) == 1  # the first acknowledgement, nothing after


@pytest.mark.parametrize("raw", [
    make_mail("Ina Weber <ina.weber@praxis-weber.example>",
              "Automatische Antwort: Drucker", "Ich bin bis Montag nicht im Büro.",
              headers={"X-Auto-Response-Suppress": "All"}),
    (b"Return-Path: <>\r\nFrom: Mail Delivery System <mailer@mx.praxis-weber.example>\r\n"
     b"To: service@itservice.example\r\nSubject: Zustellung fehlgeschlagen\r\n"
     b"Message-ID: <dsn1@mx.praxis-weber.example>\r\nMIME-Version: 1.0\r\n"
     b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
     b"--r\r\nContent-Type: text/plain\r\n\r\nDie Nachricht konnte nicht zugestellt werden.\r\n"
     b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
     b"Final-Recipient: rfc822; weg@praxis-weber.example\r\nAction: failed\r\n"
     b"Status: 5.1.1\r\n\r\n--r--\r\n"),
], ids=["outlook-absence-de", "bounce"])
def test_absence_notes_and_bounces_get_no_reply(desk: Runtime, raw: bytes) -> None:
    feed(desk, raw)
    assert [r for r in rows(desk) if r.kind in ("ack", "update")] == []


def test_cap_stops_a_responder_without_automated_headers(desk: Runtime, clock: Clock) -> None:
    """A broken autoresponder: new Message-IDs, "Re:" subjects, no automated headers.

    Each of its mails opens a new conversation (it does not thread), so only the
    per-recipient cap can stop it; the cap lives in the database and survives a restart.
    """
    robot = "info@autohaus-kern.example"
    sent_per_hour = []
    for hour in range(3):
        for n in range(15):
            clock.now = NOW + timedelta(hours=hour, minutes=n)
            feed(desk, make_mail(robot, f"Re: Ihre Anfrage {hour}-{n}",
                                 f"Vielen Dank für Ihre Nachricht {hour}-{n}. Wir melden uns.",
                                 msgid=f"<r{hour}-{n}@autohaus-kern.example>"))
        sent_per_hour.append(len([r for r in rows(desk) if r.to_address == robot]))
        if hour == 0:
            # A restart (a new runtime on the same store) must not reset the count.
            config, engine = desk.config, desk.engine
            desk = Runtime(config, engine, clock=clock)
            desk.use_classifier(shared_classifier())
    cap = desk.config.limits.acks_per_hour
    assert sent_per_hour == [cap, 2 * cap, 3 * cap]
    with Session(desk.engine) as s:
        inbound = s.exec(select(Inbound)).all()
        assert len(inbound) == 45 and {i.status for i in inbound} == {"processed"}


def test_no_acknowledgement_to_our_own_addresses(desk: Runtime) -> None:
    feed(desk,
         make_mail("IT-Service <service@itservice.example>", "Test", "Eine Schleife?"),
         make_mail("SERVICE@ITSERVICE.EXAMPLE", "Test 2", "Groß geschrieben."))
    assert not [r for r in rows(desk) if r.to_address in OWN and r.kind in ("ack", "update")]
    assert not [r for r in rows(desk) if re.search(r"service@itservice\.example", r.recipients)]


def test_a_dsn_about_our_ack_marks_the_address_bounced(desk: Runtime) -> None:
    customer = "alt@praxis-weber.example"
    feed(desk, make_mail(customer, "Drucker", "Der Drucker druckt nicht."))
    (ack,) = [r for r in rows(desk) if r.kind == "ack"]
    dsn = (
        b"Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.praxis-weber.example\r\n"
        b"To: service@itservice.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <dsn2@mx.praxis-weber.example>\r\nAuto-Submitted: auto-replied\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: text/plain\r\n\r\nUser unknown.\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        b"Final-Recipient: rfc822; " + customer.encode() + b"\r\nAction: failed\r\n"
        b"Status: 5.1.1\r\n\r\n"
        b"--r\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        b"Message-ID: " + ack.message_id.encode() + b"\r\nTo: " + customer.encode() + b"\r\n"
        b"\r\n--r--\r\n"
    )
    feed(desk, dsn)
    (ack,) = [r for r in rows(desk) if r.kind == "ack"]
    assert ack.status == "failed" and ack.last_error.startswith("5.1.1")
    with Session(desk.engine) as s:
        from mailbot.store import Event

        bounced = s.exec(select(Event).where(Event.kind == "bounced")).all()
        assert len(bounced) == 1 and bounced[0].ticket_id == ack.ticket_id
    # The next mail from that address gets no acknowledgement.
    feed(desk, make_mail(customer, "Scanner", "Der Scanner auch nicht."))
    assert len([r for r in rows(desk) if r.kind == "ack"]) == 1


def test_too_large_mail_is_recorded_and_technicians_are_told_once(
    desk: Runtime, imap_config: ImapConfig, mailbox: Dovecot
) -> None:
    big = make_mail("gross@praxis-weber.example", "Scan mit 40 MB", "Anhang " + "x" * 50_000)
    mailbox.append(big)
    report = fetch_new(replace(imap_config, max_message_bytes=10_000), desk.engine)
    assert report.too_large == 1
    (row,) = desk.quarantine()
    assert row.reason.startswith("message too large")
    for _ in range(2):  # a second round must not tell them again
        desk.processor.process_pending(now=desk.clock)
    notices = [r for r in rows(desk) if r.kind == "notify"]
    assert [json.loads(r.recipients) for r in notices] == [["technik@itservice.example"]]
    text = parsed(notices[0].raw).get_body(("plain",))
    assert text is not None and "Scan mit 40 MB" in str(text.get_content())
