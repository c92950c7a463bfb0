"""OAuth2 end to end, the command line as separate processes as an operator runs it:
``mailbot auth login`` (device flow) against the test authorization server, then
``once`` and ``run`` fetching from Dovecot's oauth2 passdb and acknowledging; a
revoked client turns ``status`` red and staff are told once while a password mailbox
goes on; app-only access for a second mailbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from tests.helpers import make_mail
from tests.oauth.sets import APP_SECRET_ENV, imap_toml, oauth_toml
from tests.oauthserver import APP_MAILBOX, APP_SECRET, USER, OAuthServer
from tests.servers import Dovecot, SmtpServer

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
ENV = {**os.environ, APP_SECRET_ENV: APP_SECRET, "TEST_IMAP_PASSWORD": "s3cret-test"}


def write_config(
    tmp_path: Path, server: OAuthServer, imap: Dovecot, smtp: SmtpServer, *,
    plain: Dovecot | None = None, app_only: bool = False,
) -> Path:
    text = f"""
[service]
name = "IT-Service Test"
address = "service@itservice.example"

[smtp]
host = "{smtp.host}"
port = {smtp.port}
security = "none"
from_address = "IT-Service Test <service@itservice.example>"
timeout = 10

[staff]
domains = ["itservice.example"]
notify = "technik@itservice.example"

[limits]
processes = 1
"""
    text += oauth_toml(server) + imap_toml(imap, USER).replace("poll_interval = 1",
                                                               "poll_interval = 600")
    if app_only:
        text += oauth_toml(server, "app", app_only=True)
        text += imap_toml(imap, APP_MAILBOX, "app", table="[mailboxes]", name="archive")
    if plain is not None:
        text += f"""
[[mailboxes]]
name = "plain"
host = "{plain.host}"
port = {plain.port}
security = "none"
username = "{plain.user}"
password_env = "TEST_IMAP_PASSWORD"
timeout = 10
"""
    path = tmp_path / "mailbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def mailbot(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=ENV,
    )


def device_login(config: Path, server: OAuthServer) -> list[str]:
    """``mailbot auth login lab`` with a technician who reads the code off its output
    and types it into the server's page; the lines it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config), "auth", "login", "lab"],
        cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if lines[-1].startswith("    "):  # the code, on a line of its own
                httpx2.post(f"{server.url}/device", data={"user_code": lines[-1].strip()})
        assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    return lines


def acks(smtp: SmtpServer) -> list[str]:
    """The customers acknowledged (announcements to staff left out), in order."""
    return [r.rcpt_tos[0] for r in smtp.received if "kunde" in r.rcpt_tos[0]]


def customer_mail(n: int) -> bytes:
    return make_mail(f"kunde{n}@praxis-weber.example", f"Drucker {n}",
                     "Der Drucker im Flur druckt nur leere Seiten.")


def test_device_login_then_once_acknowledges_and_app_only_needs_no_login(
    tmp_path: Path, oauth_server: OAuthServer, oauth_mailbox: Dovecot, smtp_server: SmtpServer
) -> None:
    config = write_config(tmp_path, oauth_server, oauth_mailbox, smtp_server, app_only=True)
    before = mailbot(config, "status")
    assert before.returncode == 1
    missing = "mailbox imap: no OAuth2 tokens for lab yet; fix: mailbot auth login lab"
    assert missing in before.stdout

    said = device_login(config, oauth_server)

    page = f"{oauth_server.url}/device"
    assert said[0] == f"To sign in, open {page} in any browser and enter the code:"
    assert said[-1].startswith(f"Signed in as {USER}. Token set lab stored")
    oauth_mailbox.append(customer_mail(1))
    oauth_mailbox.append(customer_mail(2), user=APP_MAILBOX)
    once = mailbot(config, "once")
    assert once.returncode == 0, once.stderr
    assert once.stdout.startswith("fetched 2;")
    acked = sorted(r.rcpt_tos[0] for r in smtp_server.received if "kunde" in r.rcpt_tos[0])
    assert acked == ["kunde1@praxis-weber.example", "kunde2@praxis-weber.example"]
    shown = mailbot(config, "auth", "status", "--json")
    assert shown.returncode == 0, shown.stdout
    views = {v["name"]: v for v in json.loads(shown.stdout)}
    assert views["lab"]["state"] == "ok" and views["lab"]["account"] == USER
    assert views["app"]["flow"] == "client_credentials" and views["app"]["used_by"] == ["archive"]
    for token in oauth_server.tokens:  # no token, access or refresh, is ever shown
        assert token.access_token not in shown.stdout
        assert not token.refresh_token or token.refresh_token not in shown.stdout
    assert mailbot(config, "status").returncode == 0


def test_run_keeps_fetching_across_token_expiries(
    tmp_path: Path, oauth_server: OAuthServer, oauth_mailbox: Dovecot, smtp_server: SmtpServer
) -> None:
    oauth_server.lifetime = 4
    config = write_config(tmp_path, oauth_server, oauth_mailbox, smtp_server)
    device_login(config, oauth_server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config), "-v", "run"],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(6)  # the classifier loaded, the INBOX fetched, in IDLE
        waits = []
        for n in range(3):
            if n == 1:
                oauth_mailbox.kick()  # the session ends under it, as Exchange's do
            oauth_mailbox.append(customer_mail(n))
            appended = time.monotonic()
            while len(acks(smtp_server)) <= n and time.monotonic() - appended < 20:
                time.sleep(0.05)
            waits.append(time.monotonic() - appended)
            assert len(acks(smtp_server)) == n + 1, f"mail {n} not acknowledged"
            time.sleep(4.5)  # the access token of the last login has run out
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    stderr = proc.stderr.read() if proc.stderr else ""
    assert code == 0, stderr
    # Polling is every ten minutes: only IDLE, logged in again each time, is this fast.
    assert max(waits) < 10, waits
    assert stderr.count("logging in again before the access token expires") >= 3, stderr
    assert oauth_server.requests["refresh_token"] >= 4
    good = {token for token, _user, active in oauth_server.introspections if active}
    assert len(good) >= 5  # each refresh's token did log in
    assert not any("invalid_grant" in line for line in stderr.splitlines())


def test_a_revoked_client_turns_status_red_and_the_password_mailbox_goes_on(
    tmp_path: Path, oauth_server: OAuthServer, oauth_mailbox: Dovecot, mailbox: Dovecot,
    smtp_server: SmtpServer,
) -> None:
    config = write_config(tmp_path, oauth_server, oauth_mailbox, smtp_server, plain=mailbox)
    device_login(config, oauth_server)
    assert mailbot(config, "once").returncode == 0
    oauth_server.revoke("mailbot")
    for n in range(2):
        oauth_mailbox.append(customer_mail(10 + n))
        mailbox.append(customer_mail(20 + n))
        once = mailbot(config, "once")
        assert once.returncode == 1
        assert "invalid_grant" in once.stderr and "run: mailbot auth login lab" in once.stderr

    assert acks(smtp_server) == ["kunde20@praxis-weber.example", "kunde21@praxis-weber.example"]
    told = [r for r in smtp_server.received if b"Anmeldung fehlgeschlagen" in r.content]
    assert len(told) == 1 and told[0].rcpt_tos == ("technik@itservice.example",)
    assert b"mailbot auth login lab" in told[0].content
    status = mailbot(config, "status")
    assert status.returncode == 1
    assert "PROBLEM: mailbox imap: sign-in lab refused (refresh: invalid_grant" in status.stdout
    assert "fix: mailbot auth login lab" in status.stdout
    shown = mailbot(config, "auth", "status")
    assert shown.returncode == 1 and "lab: broken" in shown.stdout
