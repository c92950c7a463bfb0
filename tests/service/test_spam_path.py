"""Spam and robots on the real servers: Dovecot in, the recording SMTP server out, the
command line as an operator runs it.

Every verdict header our MX wrote holds its mail back (no acknowledgement, not in
``tickets``); the same headers written by a sender do nothing; a newsletter is
information, and so is an out-of-office answering our acknowledgement (attached to its
ticket, unanswered), while a colleague asking about an out-of-office is a customer; the
daily notice reaches the technicians, and a release by reply and one by ``mailbot spam
release`` each get their sender exactly one acknowledgement.
"""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from mailbot.service.runtime import Runtime
from tests.helpers import BERLIN, Clock, RuntimeFactory, make_mail
from tests.servers import Dovecot, SmtpServer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MX = "mx.itservice.example"
EXTRA = f"""
[staff]
domains = ["itservice.example"]
notify = "technik@itservice.example"
authserv_id = "{MX}"

[spam]
mx = "{MX}"
notice_at = "16:00"

[[customers]]
domain = "mueller-steuerberatung.example"
name = "Müller Steuerberatung"
contract = true
"""
VERDICTS = [
    "X-Spam-Flag: YES",
    "X-Spam-Status: Yes, score=9.1 required=5.0 tests=BAYES_99",
    "X-Spam-Flag: NO\nX-Spamd-Result: default: False [8.10 / 15.00]\nX-Rspamd-Action: add header",
    "X-MS-Exchange-Organization-SCL: 6",
    "X-Forefront-Antispam-Report: CIP:203.0.113.50;SCL:5;SFV:SPM;",
    f"Authentication-Results: {MX}; dmarc=fail (p=reject) header.from=spam{{n}}.example",
    f"Authentication-Results: {MX}; spf=fail smtp.mailfrom=a@spam{{n}}.example",
]


def received(n: int) -> str:
    return (f"Received: from mail.spam{n}.example (mail.spam{n}.example [203.0.113.{n}])\n"
            f"\tby {MX} (Postfix) with ESMTP id 4Q{n:04d}; Tue, 24 Nov 2026 09:00:00 +0100\n")


def spam_mail(n: int, verdict: str) -> bytes:
    raw = make_mail(f"Offers <a@spam{n}.example>", f"Seite 1 bei Google ({n})",
                    "Wir bringen Ihre Website in 30 Tagen nach vorn. Antworten Sie mit JA.",
                    msgid=f"<s{n}@spam{n}.example>")
    return (verdict.replace("{n}", str(n)) + "\n" + received(n)).encode() + raw


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def acks_by_recipient(smtp: SmtpServer) -> Counter[str]:
    return Counter(
        r.rcpt_tos[0] for r in smtp.received
        if parsed(r.content)["Auto-Submitted"] == "auto-replied"
    )


def cli(rt: Runtime, *args: str) -> subprocess.CompletedProcess[str]:
    assert rt.config.path is not None
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(rt.config.path), *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=dict(os.environ),
    )


def cli_json(rt: Runtime, *args: str) -> Any:
    done = cli(rt, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def desk(
    runtime: RuntimeFactory, mailbox: Dovecot, smtp_server: SmtpServer, clock: Clock
) -> Runtime:
    return runtime(imap=mailbox, smtp=smtp_server, extra=EXTRA, clock=clock)


def test_spam_and_robots_on_the_real_servers(
    desk: Runtime, mailbox: Dovecot, smtp_server: SmtpServer, clock: Clock
) -> None:
    spam = [spam_mail(n, v) for n, v in enumerate(VERDICTS, start=1)]
    customer = "b.lange@mueller-steuerberatung.example"
    # The customer's own provider flagged it on the way out: below our Received line.
    flagged_by_sender = received(99).encode() + b"X-Spam-Flag: YES\nX-Rspamd-Action: reject\n"
    flagged_by_sender += make_mail(f"Birgit Lange <{customer}>", "Drucker",
                                   "Der Drucker am Empfang zieht kein Papier ein.")
    newsletter = make_mail("News <news@softwarehaus.example>", "Dezember-Update",
                           "Neue Funktionen im Dezember.",
                           headers={"List-Id": "<kunden.softwarehaus.example>",
                                    "Precedence": "bulk"})
    for raw in [*spam, flagged_by_sender, newsletter]:
        mailbox.append(raw)
    desk.once()

    assert acks_by_recipient(smtp_server) == Counter({customer: 1})
    [ack] = [parsed(r.content) for r in smtp_server.received if r.rcpt_tos == (customer,)]

    # The customer's out-of-office answers our acknowledgement: attached, not answered.
    # A colleague asking about her own out-of-office is a customer.
    mailbox.append(make_mail(
        f"Birgit Lange <{customer}>", f"Automatische Antwort: {ack['Subject']}",
        "Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 11.12. nicht im Haus.",
        headers={"In-Reply-To": ack["Message-ID"], "Auto-Submitted": "auto-replied"},
    ))
    colleague = "k.kraus@mueller-steuerberatung.example"
    mailbox.append(make_mail(
        f"Karl Kraus <{colleague}>", "Abwesenheitsnotiz einrichten",
        "Können Sie mir bitte eine Abwesenheitsnotiz für meinen Urlaub ab Montag einrichten?",
    ))
    desk.once()
    assert acks_by_recipient(smtp_server) == Counter({customer: 1, colleague: 1})
    tickets = cli_json(desk, "tickets")
    assert sorted(t["customer"] for t in tickets) == sorted([customer, colleague])
    first_ticket = next(t for t in tickets if t["customer"] == customer)
    detail = cli_json(desk, "ticket", str(first_ticket["number"]))
    # The mail, our acknowledgement and announcement, the out-of-office.
    assert first_ticket["status"] == "open" and first_ticket["messages"] == 4
    assert "information" in {e["kind"] for e in detail["events"]}
    assert [i["sender"] for i in cli_json(desk, "tickets", "--info")] == [
        "news@softwarehaus.example"
    ]
    held = cli_json(desk, "spam", "list")
    assert sorted(h["sender"] for h in held) == sorted(
        f"a@spam{n}.example" for n in range(1, len(VERDICTS) + 1)
    )
    assert all(h["header"] and h["reason"] for h in held)

    # The day's notice goes to the technicians at 16:00, once.
    clock.now = datetime(2026, 11, 24, 16, 2, tzinfo=BERLIN)
    desk.drain()
    desk.drain()
    notices = [parsed(r.content) for r in smtp_server.received
               if r.rcpt_tos == ("technik@itservice.example",)
               and "Spam" in str(parsed(r.content)["Subject"])]
    assert len(notices) == 1
    text = str(notices[0].get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert all(f"ID {h['id']} " in text for h in held)

    # A verified technician releases the first by reply; an operator the second.
    first, second = held[0], held[1]
    reply = make_mail(
        "Anna Technik <anna@itservice.example>", f"AW: {notices[0]['Subject']}",
        f"Die ist echt, bitte anlegen.\n#kein-spam {first['id']}\n\nAnna",
        headers={"In-Reply-To": notices[0]["Message-ID"],
                 "References": notices[0]["Message-ID"],
                 "Authentication-Results": f"{MX}; dkim=pass header.d=itservice.example"},
    )
    mailbox.append(reply)
    desk.once()
    released = cli(desk, "spam", "release", str(second["id"]))
    assert released.returncode == 0, released.stderr
    assert "#100" in released.stdout
    desk.once()  # nothing new: nobody is answered twice

    assert acks_by_recipient(smtp_server) == Counter(
        {customer: 1, colleague: 1, first["sender"]: 1, second["sender"]: 1}
    )
    assert len(cli_json(desk, "tickets")) == 4
    assert {h["id"] for h in cli_json(desk, "spam", "list")} == (
        {h["id"] for h in held} - {first["id"], second["id"]}
    )
