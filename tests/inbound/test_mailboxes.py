"""Several mailboxes ([[mailboxes]]) next to [imap], each with its own state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import make_mail
from tests.servers import Dovecot, SmtpServer

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_two_mailboxes_are_fetched_with_their_own_state(
    tmp_path: Path, mailbox: Dovecot, smtp_server: SmtpServer
) -> None:
    with mailbox.client() as client:
        client.create_folder("Brand2")
    mailbox.append(make_mail("a@praxis-weber.example", "Drucker", "Der Drucker streikt."))
    mailbox.append(
        make_mail("b@autohaus-becker.example", "Monitor", "Mein Monitor ist schwarz."),
        folder="Brand2",
    )
    mailbox.append(
        make_mail("c@autohaus-becker.example", "Maus", "Die Maus ist kaputt."), folder="Brand2"
    )
    config = tmp_path / "mailbot.toml"
    config.write_text(
        f"""
[service]
address = "service@itservice.example"

[imap]
name = "service"
host = "{mailbox.host}"
port = {mailbox.port}
security = "none"
username = "{mailbox.user}"
password = "{mailbox.password}"

[[mailboxes]]
name = "brand2"
host = "{mailbox.host}"
port = {mailbox.port}
security = "none"
username = "{mailbox.user}"
password = "{mailbox.password}"
folder = "Brand2"

[smtp]
host = "{smtp_server.host}"
port = {smtp_server.port}
security = "none"
""",
        encoding="utf-8",
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mailbot", "--config", str(config), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env=dict(os.environ),
        )

    assert run("once").returncode == 0
    tickets = json.loads(run("tickets", "--json").stdout)
    assert sorted(t["customer"] for t in tickets) == [
        "a@praxis-weber.example",
        "b@autohaus-becker.example",
        "c@autohaus-becker.example",
    ]
    assert len(smtp_server.received) == 3
    status = json.loads(run("status", "--json").stdout)
    assert sorted(b["mailbox"] for b in status["mailboxes"]) == ["brand2", "service"]
    assert all(b["last_fetch_ok_at"] for b in status["mailboxes"])
    # A second cycle finds nothing new in either mailbox.
    assert run("once").returncode == 0
    assert len(smtp_server.received) == 3
