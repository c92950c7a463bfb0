"""End to end on real servers: Dovecot in, the store, acknowledgements out over SMTP.

The command line is run as a separate process, exactly as an operator would.
"""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import sys
import time
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.helpers import make_mail, server_config
from tests.servers import Dovecot, SmtpServer

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def write_config(tmp_path: Path, imap: Dovecot, smtp: SmtpServer, poll: int = 600) -> Path:
    return server_config(
        tmp_path, imap, smtp, password_env="TEST_IMAP_PASSWORD",
        imap_extra=f"poll_interval = {poll}",
        extra="""
[staff]
domains = ["itservice.example"]

[monitoring]
senders = ["monitoring@itservice.example"]

[[customers]]
domain = "mueller-steuerberatung.example"
name = "Müller Steuerberatung"
contract = true
""",
    )


def mailbot(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "TEST_IMAP_PASSWORD": "s3cret-test"},
    )


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def corpus() -> list[tuple[bytes, bool]]:
    """20 realistic mails (German and English, some automated) with their automated label."""
    picked: list[tuple[bytes, bool]] = []
    examples = sorted((ROOT / "examples").glob("*.eml"))
    for path in examples:
        raw = path.read_bytes()
        if b"In-Reply-To:" in raw:
            continue  # a follow-up belongs to another mail's ticket
        msg = parsed(raw)
        automated = bool(
            msg["Auto-Submitted"] or msg["List-Id"] or "monitoring@" in str(msg["From"])
        )
        picked.append((raw, automated))
    for folder, count in (("eval/en", 4), ("eval/de", 20)):
        labels = [json.loads(line) for line in (ROOT / folder / "labels.jsonl").open()]
        for label in labels[:count]:
            if len(picked) >= 20:
                break
            picked.append(
                ((ROOT / folder / f"{label['id']}.eml").read_bytes(), bool(label["automated"]))
            )
    assert len(picked) == 20
    assert any(a for _, a in picked) and not all(a for _, a in picked)
    return picked


def test_once_acknowledges_every_customer_and_no_robot(
    tmp_path: Path, mailbox: Dovecot, smtp_server: SmtpServer
) -> None:
    config = write_config(tmp_path, mailbox, smtp_server)
    mails = corpus()
    for raw, _ in mails:
        mailbox.append(raw)

    result = mailbot(config, "once")
    assert result.returncode == 0, result.stderr

    # Robots' mail is information, the rest tickets (monitoring alarms included).
    tickets = json.loads(mailbot(config, "tickets", "--json", "--all").stdout)
    information = json.loads(mailbot(config, "tickets", "--info", "--json").stdout)
    assert len(tickets) + len(information) == 20
    assert information and all(i["reasons"] for i in information)
    acks = [
        r for r in smtp_server.received if parsed(r.content)["Auto-Submitted"] == "auto-replied"
    ]
    expected = {parsed(raw)["Message-ID"]: parsed(raw) for raw, auto in mails if not auto}
    assert len(acks) == len(expected)
    for ack in acks:
        msg = parsed(ack.content)
        original = expected.pop(msg["In-Reply-To"])
        sender = original["From"].addresses[0].addr_spec.lower()
        assert ack.rcpt_tos == (sender,)
        assert ack.mail_from == "service@itservice.example"
        assert original["Message-ID"] in msg["References"]
        assert str(msg["Subject"]).startswith("[#")
        assert msg["X-Auto-Response-Suppress"] == "All"
    assert expected == {}
    # Every mail on the server is flagged as done.
    assert all("\\Seen" in flags for flags in mailbox.flags().values())

    before = len(smtp_server.received)
    again = mailbot(config, "once")
    assert again.returncode == 0, again.stderr
    assert len(smtp_server.received) == before
    assert len(json.loads(mailbot(config, "tickets", "--json", "--all").stdout)) == len(tickets)


def test_run_acknowledges_a_new_mail_within_seconds_through_idle(
    tmp_path: Path, mailbox: Dovecot, smtp_server: SmtpServer
) -> None:
    config = write_config(tmp_path, mailbox, smtp_server, poll=600)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config), "run"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TEST_IMAP_PASSWORD": "s3cret-test"},
    )
    try:
        # Let it load the classifier, fetch the empty INBOX and settle in IDLE.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (tmp_path / "mailbot.db").exists():
            time.sleep(0.2)
        time.sleep(6)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        mailbox.append(
            make_mail(
                "b.lange@mueller-steuerberatung.example",
                "Drucker",
                "Der Drucker im Flur druckt nur leere Seiten.",
            )
        )
        appended = time.monotonic()
        while time.monotonic() - appended < 30 and not smtp_server.received:
            time.sleep(0.05)
        waited = time.monotonic() - appended
        assert smtp_server.received, "no acknowledgement within 30 s"
        # Polling is every 10 minutes here: only IDLE can make this fast.
        assert waited < 10, f"acknowledged after {waited:.1f} s"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, proc.stderr.read() if proc.stderr else ""


BAD = {
    "undecodable": b"From: a@mueller-steuerberatung.example\r\nSubject: \xff\xfe\xfd\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    b"Server \xff\xfe\xfd ist weg\r\n",
    "broken-mime": b"From: b@mueller-steuerberatung.example\r\nSubject: Scanner\r\n"
    b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n'
    b"\r\nDer Scanner geht nicht\r\n--zz\r\nContent-Type: application/pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!",
    "unknown-charset": b"From: c@mueller-steuerberatung.example\r\nSubject: Frage\r\n"
    b"Content-Type: text/plain; charset=x-unknown-42\r\n\r\nWie richte ich die Signatur ein?",
    "html-only": b"From: d@mueller-steuerberatung.example\r\nSubject: Monitor\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Mein <b>Monitor</b> bleibt schwarz.</p>",
    "no-from-at-all": b"Subject: ???\r\n\r\n\x00\x01\x02",
}


def test_bad_input_is_stored_and_answered_or_quarantined(
    tmp_path: Path, mailbox: Dovecot, smtp_server: SmtpServer
) -> None:
    config = write_config(tmp_path, mailbox, smtp_server)
    for raw in BAD.values():
        mailbox.append(raw)
    result = mailbot(config, "once")
    assert result.returncode == 0, result.stderr
    tickets = json.loads(mailbot(config, "tickets", "--json", "--all").stdout)
    quarantine = json.loads(mailbot(config, "quarantine", "list", "--json").stdout)
    assert len(tickets) + len(quarantine) == len(BAD)
    assert all(q["reason"] for q in quarantine)
    answered = {r.rcpt_tos[0] for r in smtp_server.received}
    for name in ("undecodable", "broken-mime", "unknown-charset", "html-only"):
        letter = "abcd"[list(BAD).index(name)]
        assert f"{letter}@mueller-steuerberatung.example" in answered, name
    status = mailbot(config, "status")
    assert status.returncode == 0, status.stdout + status.stderr
