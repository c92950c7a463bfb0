"""Attachments on the real servers: customers' files kept, listed and sent to the
technicians with the announcement; technicians' files relayed to the customer;
programs never relayed and marked; a file over the limit named, not sent; hostile
and encoded names made safe. Mail in through Dovecot or ``ingest``, out through the
recording SMTP server."""

from __future__ import annotations

import email
import hashlib
import json
import os
import subprocess
import sys
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select

from mailbot.service.runtime import Runtime
from mailbot.store import Blob, StoredAttachment
from tests.helpers import NOW, STORE_BACKENDS, RuntimeFactory, events, tickets
from tests.servers import Dovecot, SmtpServer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CUSTOMER = "Birgit Lange <b.lange@mueller-steuerberatung.example>"
TECHNICIAN = "Tim Nowak <t.nowak@itservice.example>"
OUR_AUTH = "mx.itservice.example; dkim=pass header.d=itservice.example"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(40_000)
PDF = b"%PDF-1.7\n" + os.urandom(120_000)


def mail(
    sender: str,
    subject: str,
    text: str,
    files: list[tuple[str, str, bytes]],
    *,
    msgid: str,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "service@itservice.example"
    msg["Subject"] = subject
    msg["Date"] = "Tue, 24 Nov 2026 09:30:00 +0100"
    msg["Message-ID"] = msgid
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    for name, ctype, data in files:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def received(smtp: SmtpServer, to: str) -> list[EmailMessage]:
    found = []
    for r in smtp.received:
        if to in r.rcpt_tos:
            msg = email.message_from_bytes(r.content, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            found.append(msg)
    return found


def files_of(msg: EmailMessage) -> list[tuple[str | None, str, bytes]]:
    return [(p.get_filename(), p.get_content_type(), p.get_content())
            for p in msg.iter_attachments()]


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def stored(rt: Runtime) -> list[StoredAttachment]:
    with Session(rt.engine) as s:
        return list(s.exec(select(StoredAttachment).order_by(col(StoredAttachment.id))).all())


def content(rt: Runtime, row: StoredAttachment) -> bytes:
    return b"".join(rt.attachment_content(row))


def feed(rt: Runtime, *raws: bytes) -> None:
    rt.ingest(list(raws))
    rt.drain()


def reply_to_announcement(
    rt: Runtime, smtp: SmtpServer, text: str, files: list[tuple[str, str, bytes]]
) -> None:
    [note] = received(smtp, "technik@itservice.example")
    feed(rt, mail(TECHNICIAN, "AW: " + str(note["Subject"]), text, files,
                  msgid="<t1@itservice.example>",
                  headers={"In-Reply-To": note["Message-ID"], "References": note["Message-ID"],
                           "Authentication-Results": OUR_AUTH}))


def mailbot(rt: Runtime, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert rt.config.path is not None
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(rt.config.path), *args],
        capture_output=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture(params=STORE_BACKENDS)
def desk(
    request: pytest.FixtureRequest, runtime: RuntimeFactory, smtp_server: SmtpServer
) -> Runtime:
    return runtime(store=request.param, smtp=smtp_server, clock=lambda: NOW)


def test_a_png_and_a_pdf_are_kept_sent_to_staff_and_listed(
    runtime: RuntimeFactory, mailbox: Dovecot, smtp_server: SmtpServer
) -> None:
    rt = runtime(imap=mailbox, smtp=smtp_server, clock=lambda: NOW, extra="""
[staff]
domains = ["itservice.example"]
notify = "technik@itservice.example"
""")
    mailbox.append(mail(CUSTOMER, "Drucker druckt Streifen", "Siehe Foto und Testseite.",
                        [("Foto Drucker.png", "image/png", PNG),
                         ("Testseite.pdf", "application/pdf", PDF)],
                        msgid="<c1@mueller-steuerberatung.example>"))
    rt.fetch_all()
    rt.drain()
    # kept: as rows of the ticket, the content as sent
    [ticket] = tickets(Session(rt.engine))
    rows = stored(rt)
    assert [(r.name, r.content_type, r.size) for r in rows] == [
        ("Foto Drucker.png", "image/png", len(PNG)), ("Testseite.pdf", "application/pdf", len(PDF))
    ]
    assert [content(rt, r) for r in rows] == [PNG, PDF]
    assert all(r.ticket_id == ticket.id and not r.risk for r in rows)
    # sent to the technicians with the announcement, and named there
    [note] = received(smtp_server, "technik@itservice.example")
    assert files_of(note) == [("Foto Drucker.png", "image/png", PNG),
                              ("Testseite.pdf", "application/pdf", PDF)]
    assert "Foto Drucker.png (image/png, 40 KB) – angehängt" in text_of(note)
    # the customer's acknowledgement carries none of them back
    [ack] = received(smtp_server, "b.lange@mueller-steuerberatung.example")
    assert files_of(ack) == []
    # listed: mailbot ticket N --json
    result = mailbot(rt, "ticket", str(ticket.number), "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)["attachments"]
    assert [(a["name"], a["content_type"], a["size"], a["direction"]) for a in listed] == [
        ("Foto Drucker.png", "image/png", len(PNG), "in"),
        ("Testseite.pdf", "application/pdf", len(PDF), "in"),
    ]
    assert listed[1]["sha256"] == hashlib.sha256(PDF).hexdigest()
    text = mailbot(rt, "ticket", str(ticket.number)).stdout.decode()
    assert "Testseite.pdf  application/pdf  " in text


def test_a_technicians_pdf_is_relayed_to_the_customer(
    desk: Runtime, smtp_server: SmtpServer
) -> None:
    feed(desk, mail(CUSTOMER, "Angebot Drucker", "Bitte ein Angebot für einen Drucker.", [],
                    msgid="<c2@mueller-steuerberatung.example>"))
    reply_to_announcement(desk, smtp_server, "Guten Tag Frau Lange,\nanbei das Angebot.",
                          [("Angebot 2026-117.pdf", "application/pdf", PDF)])
    relays = received(smtp_server, "b.lange@mueller-steuerberatung.example")[1:]
    [relay] = relays
    assert "anbei das Angebot" in text_of(relay)
    assert files_of(relay) == [("Angebot 2026-117.pdf", "application/pdf", PDF)]
    [row] = stored(desk)
    assert row.name == "Angebot 2026-117.pdf" and content(desk, row) == PDF
    with Session(desk.engine) as s:
        [relayed] = events(s, "relayed")
        assert json.loads(relayed.reasons) == [
            f"Angebot 2026-117.pdf (application/pdf, {len(PDF)} bytes): attached"
        ]


def test_an_exe_is_never_relayed_and_marked_in_the_announcement(
    desk: Runtime, smtp_server: SmtpServer
) -> None:
    program = b"MZ\x90\x00" + os.urandom(3000)
    feed(desk, mail(CUSTOMER, "Rechnung", "Anbei die Rechnung.",
                    [("rechnung.pdf.exe", "application/octet-stream", program),
                     ("Rechnung.pdf", "application/pdf", PDF)],
                    msgid="<c3@mueller-steuerberatung.example>"))
    [note] = received(smtp_server, "technik@itservice.example")
    # The PDF goes along; the program is named and marked, not attached (receiving
    # servers refuse whole mails for it).
    assert files_of(note) == [("Rechnung.pdf", "application/pdf", PDF)]
    announced = text_of(note)
    assert "rechnung.pdf.exe (application/octet-stream, 3 KB) – ⚠ ACHTUNG: Programm" in announced
    [exe_row, _] = stored(desk)
    assert exe_row.risk == "name ends in .exe"
    assert f"mailbot attachment {exe_row.id} -o rechnung.pdf.exe" in announced
    # A technician passing it back (and a disguised one) reaches the customer without it.
    disguised = b"MZ" + os.urandom(500)
    reply_to_announcement(desk, smtp_server, "Bitte diese Datei nicht öffnen, Details anbei.",
                          [("rechnung.pdf.exe", "application/octet-stream", program),
                           ("Hinweis.pdf", "application/pdf", disguised),
                           ("Anleitung.pdf", "application/pdf", PDF)])
    [relay] = received(smtp_server, "b.lange@mueller-steuerberatung.example")[1:]
    assert files_of(relay) == [("Anleitung.pdf", "application/pdf", PDF)]
    with Session(desk.engine) as s:
        withheld = [e.detail for e in events(s, "attachment_withheld")]
    assert len(withheld) == 2
    assert "rechnung.pdf.exe" in withheld[0] and "name ends in .exe" in withheld[0]
    assert "Hinweis.pdf" in withheld[1] and "content is a Windows program" in withheld[1]


def test_a_30_mb_file_is_named_not_sent_and_written_out_on_request(
    runtime: RuntimeFactory, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    rt = runtime(smtp=smtp_server, clock=lambda: NOW,
                 extra="\n[limits]\nmax_message_bytes = 50_000_000\n")
    big = os.urandom(30 * 1000 * 1000)
    feed(rt, mail(CUSTOMER, "Logdateien Server", "Die Logs vom Server, dazu ein Foto.",
                  [("server-logs.zip", "application/zip", big), ("Foto.png", "image/png", PNG)],
                  msgid="<c4@mueller-steuerberatung.example>"))
    [note] = received(smtp_server, "technik@itservice.example")
    assert files_of(note) == [("Foto.png", "image/png", PNG)]
    rows = stored(rt)
    assert rows[0].size == len(big)
    announced = text_of(note)
    assert "server-logs.zip (application/zip, 28,6 MB) – nicht angehängt (mehr als" in announced
    assert f"mailbot attachment {rows[0].id} -o server-logs.zip" in announced
    assert len(smtp_server.received[-1].content) < 1_000_000
    target = tmp_path / "logs.zip"
    result = mailbot(rt, "attachment", str(rows[0].id), "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == big


def test_a_name_with_a_path_and_cr_lf_is_made_safe_everywhere(
    desk: Runtime, smtp_server: SmtpServer
) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = CUSTOMER, "service@itservice.example", "Scan"
    msg["Message-ID"] = "<c5@mueller-steuerberatung.example>"
    msg.set_content("Anbei der Scan.")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="x.pdf")
    raw = msg.as_bytes().replace(
        b'filename="x.pdf"',
        b"filename*=utf-8''..%2F..%2F.ssh%2Fauthorized_keys%0D%0ABcc%3A%20all%40evil.example",
    )
    feed(desk, raw)
    [row] = stored(desk)
    assert row.name == "authorized_keys Bcc_ all@evil.example"
    [note] = received(smtp_server, "technik@itservice.example")
    assert note["Bcc"] is None
    [(name, _, data)] = files_of(note)
    assert name == row.name and data == PDF
    announced = text_of(note)
    assert "  - authorized_keys Bcc_ all@evil.example (application/pdf" in announced
    assert not any(line.startswith("Bcc") for line in announced.splitlines())


def test_rfc2231_and_encoded_word_names_arrive_decoded(
    desk: Runtime, smtp_server: SmtpServer
) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = CUSTOMER, "service@itservice.example", "Belege"
    msg["Message-ID"] = "<c6@mueller-steuerberatung.example>"
    msg.set_content("Zwei Belege.")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="a.pdf")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="b.png")
    raw = msg.as_bytes()
    raw = raw.replace(b'filename="a.pdf"', b"filename*=iso-8859-1''Pr%FCfbericht%20M%E4rz.pdf")
    word = b"=?utf-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln.png?="
    raw = raw.replace(b'filename="b.png"', b'filename="' + word + b'"')
    feed(desk, raw)
    assert [r.name for r in stored(desk)] == ["Prüfbericht März.pdf", "Grüße aus Köln.png"]
    [note] = received(smtp_server, "technik@itservice.example")
    assert [f[0] for f in files_of(note)] == ["Prüfbericht März.pdf", "Grüße aus Köln.png"]


def test_the_same_file_in_two_mails_is_stored_once(desk: Runtime) -> None:
    logo = os.urandom(9000)
    feed(desk, *(mail(CUSTOMER, f"Frage {i}", f"Frage Nummer {i} zum Drucker.",
                      [("logo.png", "image/png", logo)],
                      msgid=f"<d{i}@mueller-steuerberatung.example>") for i in range(3)))
    assert len(stored(desk)) == 3
    with Session(desk.engine) as s:
        assert s.exec(select(func.count()).select_from(Blob)).one() == 1


def test_files_go_along_while_they_fit_the_limit_together(
    runtime: RuntimeFactory, smtp_server: SmtpServer
) -> None:
    rt = runtime(smtp=smtp_server, clock=lambda: NOW,
                 extra="\n[limits]\nforward_attachments_mb = 1\n")
    first, second, third = os.urandom(600_000), os.urandom(600_000), os.urandom(300_000)
    feed(rt, mail(CUSTOMER, "Drei Dateien", "Drei Dateien zum Problem.",
                  [("a.bin", "application/octet-stream", first),
                   ("b.bin", "application/octet-stream", second),
                   ("c.bin", "application/octet-stream", third)],
                  msgid="<e1@mueller-steuerberatung.example>"))
    [note] = received(smtp_server, "technik@itservice.example")
    assert [f[0] for f in files_of(note)] == ["a.bin", "c.bin"]
    assert "b.bin (application/octet-stream, 586 KB) – nicht angehängt" in text_of(note)
    with Session(rt.engine) as s:
        [queued] = events(s, "notify_queued")
    reasons = json.loads(queued.reasons)
    assert [r.split(" ", 1)[0] for r in reasons] == ["a.bin", "b.bin", "c.bin"]
    assert reasons[1].endswith(": too_large") and reasons[0].endswith(": attached")


def test_a_customers_follow_up_keeps_its_files(desk: Runtime) -> None:
    feed(desk, mail(CUSTOMER, "Server langsam", "Der Server ist langsam.", [],
                    msgid="<f1@mueller-steuerberatung.example>"))
    feed(desk, mail(CUSTOMER, "AW: [#1001] Server langsam", "Hier der Screenshot.",
                    [("screen.png", "image/png", PNG)], msgid="<f2@mueller-steuerberatung.example>",
                    headers={"In-Reply-To": "<f1@mueller-steuerberatung.example>"}))
    [row] = stored(desk)
    assert row.name == "screen.png" and content(desk, row) == PNG
    with Session(desk.engine) as s:
        assert len(tickets(s)) == 1 and row.ticket_id == tickets(s)[0].id
