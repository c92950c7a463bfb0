"""Several workers on one mailbox and one PostgreSQL store: no mail done twice."""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest

from mailbot.inbound.leader import LeaderLease
from mailbot.store import open_store
from tests.helpers import STORE_BACKENDS, make_mail, server_config
from tests.servers import Dovecot, SmtpServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("backend", STORE_BACKENDS)
def test_lease_has_one_holder_and_passes_on_when_it_runs_out(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/lease.db"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = open_store(url)
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    a = LeaderLease(engine, "INBOX", "worker-a", ttl=30)
    b = LeaderLease(engine, "INBOX", "worker-b", ttl=30)
    assert a.acquire(now)
    assert not b.acquire(now + timedelta(seconds=5))
    assert a.acquire(now + timedelta(seconds=10))  # renewal
    assert not b.acquire(now + timedelta(seconds=35))  # renewed until 10 + 30
    assert b.acquire(now + timedelta(seconds=41))  # a died: b takes over
    assert not a.acquire(now + timedelta(seconds=42))
    b.release()
    assert a.acquire(now + timedelta(seconds=43))
    engine.dispose()


def _config(tmp_path: Path, imap: Dovecot, smtp: SmtpServer, url: str) -> Path:
    return server_config(tmp_path, imap, smtp, imap_extra="poll_interval = 600", store_url=url)


@pytest.mark.integration
def test_two_workers_share_200_mails_without_doubles(
    tmp_path: Path, mailbox: Dovecot, smtp_server: SmtpServer, postgres_url: str
) -> None:
    config = _config(tmp_path, mailbox, smtp_server, postgres_url)
    total = 200
    for i in range(total):
        lang_de = i % 10 < 7
        body = (
            f"Hallo, der Drucker im Büro {i} zieht kein Papier mehr ein.\nGruß Kunde {i}"
            if lang_de
            else f"Hi, the printer in room {i} does not print any more.\nThanks"
        )
        mailbox.append(
            make_mail(
                f"kunde{i}@praxis-weber.example",
                f"Drucker {i}" if lang_de else f"Printer {i}",
                body,
                msgid=f"<w{i}@praxis-weber.example>",
            )
        )
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(config), "run"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(smtp_server.received) < total:
            assert all(w.poll() is None for w in workers), "a worker died"
            time.sleep(0.5)
        time.sleep(3)  # anything doubled would arrive now
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        codes = [w.wait(timeout=30) for w in workers]
    assert codes == [0, 0], [w.stderr.read() if w.stderr else "" for w in workers]
    replies = Counter(
        email.message_from_bytes(r.content, policy=policy.default)["In-Reply-To"]
        for r in smtp_server.received
    )
    assert len(replies) == total
    assert max(replies.values()) == 1
    listing = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config), "tickets", "--json", "--all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    tickets = json.loads(listing.stdout)
    assert len(tickets) == total
    assert len({t["number"] for t in tickets}) == total
