"""What goes into MAIL FROM and RCPT TO, against a real (recording) SMTP server: the
ESMTP parameters, international addresses, and addresses that cannot go on the
wire at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailbot.outbound.send import send_due
from mailbot.store import Outbox
from tests.outbound.test_connections import several
from tests.outbound.test_send import T0, outbox, queue, raw_mail
from tests.servers import SmtpServer


def set_recipients(engine: Engine, row_id: int, *addresses: str) -> None:
    with Session(engine) as db:
        row = db.get(Outbox, row_id)
        assert row is not None
        row.recipients = json.dumps(list(addresses))
        db.add(row)
        db.commit()


def test_size_and_8bitmime_are_declared(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    queue(engine, 1)
    assert send_due(several(tmp_path, smtp_server, 1), engine, now=T0).sent == 1
    [got] = smtp_server.received
    assert f"SIZE={len(raw_mail(1))}" in got.mail_options  # 8-bit German text
    assert "BODY=8BITMIME" in got.mail_options
    assert "SMTPUTF8" not in got.mail_options


def test_an_international_address_goes_out_with_smtputf8(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    row_id = queue(engine, 1)
    set_recipients(engine, row_id, "jörg@müller.example")
    assert send_due(several(tmp_path, smtp_server, 1), engine, now=T0).sent == 1
    [got] = smtp_server.received
    assert got.rcpt_tos == ("jörg@müller.example",)
    assert "SMTPUTF8" in got.mail_options


@pytest.mark.parametrize(
    "address",
    ["kunde mueller@x.example", "kunde@mueller.example\r\nRCPT TO:<x@evil.example>"],
)
def test_an_address_that_cannot_go_on_the_wire_fails_as_bounced(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer, address: str
) -> None:
    bad, fine = queue(engine, 1), queue(engine, 2)
    set_recipients(engine, bad, "chef@mueller.example", address)

    report = send_due(several(tmp_path, smtp_server, 1), engine, now=T0)

    assert (report.failed, report.sent) == (1, 1)
    row = outbox(engine, bad)
    # Coded like a server's refusal: Outgoing.may_auto_reply reads "5..." as bounced.
    assert row.status == "failed" and row.last_error.startswith("553 5.1.3 unsendable address")
    assert outbox(engine, fine).status == "sent"
    assert [r.rcpt_tos for r in smtp_server.received] == [("kunde@mueller.example",)]
    assert len(smtp_server.handler.connections) == 1  # the envelope was reset, not the line


def test_all_recipients_refused_leads_with_the_code(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    final, later = queue(engine, 1), queue(engine, 2)
    set_recipients(engine, final, "weg@x.example", "fort@x.example")
    set_recipients(engine, later, "voll@x.example", "weg@x.example")
    handler = smtp_server.handler
    handler.fail_recipient("weg@x.example", "550 5.1.1 User unknown")
    handler.fail_recipient("fort@x.example", "551 5.1.6 User has moved")
    handler.fail_recipient("voll@x.example", "452 4.2.2 Mailbox full")

    report = send_due(several(tmp_path, smtp_server, 1), engine, now=T0)

    assert (report.failed, report.deferred, report.sent) == (1, 1, 0)
    assert outbox(engine, final).last_error.startswith("551 weg@x.example: 550")
    # One recipient may take it later: the mail waits, led by the 4xx.
    assert outbox(engine, later).last_error.startswith("452 voll@x.example: 452")
    assert smtp_server.received == []
