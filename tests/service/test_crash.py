"""Crash safety: ``mailbot run`` killed with SIGKILL again and again loses nothing.

Several hundred mails wait in Dovecot; ``mailbot run`` is started as its own
process and killed with SIGKILL at moments picked from what it is doing (storing
fetched mail, processing, sending) or at a random time, then started again, until
the backlog is drained. Afterwards every mail is exactly one ticket, every
customer got an acknowledgement, and the only duplicates are acknowledgements
whose SMTP transaction was in flight when the process died (at most one per kill).

``MAILBOT_CRASH_SEED`` replays a run; ``MAILBOT_CRASH_MAILS`` / ``MAILBOT_CRASH_KILLS``
make it bigger.
"""

from __future__ import annotations

import contextlib
import email
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.helpers import BERLIN, make_mail, server_config
from tests.servers import Dovecot, SmtpServer

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAILS = int(os.environ.get("MAILBOT_CRASH_MAILS", "300"))
KILLS = int(os.environ.get("MAILBOT_CRASH_KILLS", "8"))

_FIRST = ("Anna", "Bernd", "Claudia", "Dieter", "Eva", "Frank", "Gisela", "Hans", "Ines",
          "Jürgen", "Karin", "Lars", "Mia", "Norbert", "Olga", "Peter")
_DOMAINS = ("mueller-steuerberatung.example", "praxis-weber.example", "autohaus-kern.example",
            "example.org")
_ISSUES_DE = (
    ("Drucker druckt nicht", "der Drucker im zweiten Stock druckt seit heute früh nur leere "
     "Seiten. Können Sie sich das ansehen?"),
    ("Outlook startet nicht", "Outlook hängt beim Start bei 'Profil wird geladen'. Neustart "
     "hat nicht geholfen."),
    ("Neuer Mitarbeiter", "ab dem 1. nächsten Monats fängt Frau Schulz bei uns an. Bitte "
     "richten Sie ein Konto und ein Postfach ein."),
    ("Server nicht erreichbar", "niemand kommt mehr auf den Dateiserver, alle Laufwerke sind "
     "weg. Wir können nicht arbeiten!"),
    ("VPN langsam", "das VPN ist seit gestern sehr langsam, es eilt aber nicht."),
)
_ISSUES_EN = (
    ("Laptop battery", "the battery of my laptop drains within an hour. Could you order a "
     "replacement?"),
    ("Shared mailbox", "please give Tom access to the shared mailbox info@ when you have time."),
)
_AUTOMATED = (
    {"Auto-Submitted": "auto-replied"},
    {"List-Id": "<news.example.org>", "Precedence": "list"},
    {"Precedence": "bulk"},
)


@dataclass(frozen=True)
class Mail:
    raw: bytes
    message_id: str
    automated: bool


def backlog(count: int, rng: random.Random) -> list[Mail]:
    """``count`` short German and English mails, every 8th automated, all distinct senders."""
    mails: list[Mail] = []
    start = datetime(2026, 11, 24, 8, 0, tzinfo=BERLIN)
    for n in range(count):
        english = n % 5 == 4
        subject, body = rng.choice(_ISSUES_EN if english else _ISSUES_DE)
        name = _FIRST[n % len(_FIRST)]
        sender = f"{name.lower().replace('ü', 'ue')}.{n:04d}@{_DOMAINS[n % len(_DOMAINS)]}"
        greeting = "Hello," if english else "Hallo zusammen,"
        closing = f"Best regards\n{name}" if english else f"Viele Grüße\n{name}"
        automated = n % 8 == 7
        msgid = f"<crash-{n:04d}.{rng.getrandbits(32):08x}@{sender.rpartition('@')[2]}>"
        raw = make_mail(
            f"{name} <{sender}>", subject, f"{greeting}\n\n{body}\n\n{closing}\n",
            when=start + timedelta(minutes=n), msgid=msgid,
            headers=dict(_AUTOMATED[n % len(_AUTOMATED)]) if automated else None,
        )
        mails.append(Mail(raw, msgid, automated))
    return mails


def write_config(tmp_path: Path, imap: Dovecot, smtp: SmtpServer) -> Path:
    return server_config(
        tmp_path, imap, smtp,
        # Small batches: more commits, so more moments between "stored" and "flagged".
        imap_extra="poll_interval = 5\nbatch_size = 15",
        store_url=f"sqlite:///{tmp_path / 'mailbot.db'}",
        extra='\n[staff]\ndomains = ["itservice.example"]\n',
    )


@dataclass(frozen=True)
class Progress:
    inbound: int
    done: int
    queued: int


class Store:
    """Reads the service's SQLite file from outside, read-only, as an operator would."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def progress(self) -> Progress | None:
        if not self.path.exists():
            return None
        try:
            with contextlib.closing(
                sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
            ) as db:
                inbound, done = db.execute(
                    "SELECT count(*), coalesce(sum(status != 'new'), 0) FROM inbound"
                ).fetchone()
                (queued,) = db.execute(
                    "SELECT count(*) FROM outbox WHERE status = 'queued'"
                ).fetchone()
        except sqlite3.OperationalError:
            return None  # tables not migrated yet
        return Progress(int(inbound), int(done), int(queued))

    def rows(self, query: str) -> list[tuple[object, ...]]:
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as db:
            return list(db.execute(query).fetchall())


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(config), "-v", "run"],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
        )


def poll(condition: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


@contextlib.contextmanager
def service(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = start(config, log)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_kill_9_at_random_moments_loses_nothing_and_duplicates_little(
    tmp_path: Path, mailbox: Dovecot, smtp_server: SmtpServer
) -> None:
    seed = int(os.environ.get("MAILBOT_CRASH_SEED", str(time.time_ns() % 2**32)))
    rng = random.Random(seed)
    print(f"\ncrash test seed {seed} (MAILBOT_CRASH_SEED replays it)")
    mails = backlog(MAILS, rng)
    with mailbox.client() as c:  # one connection for all: 300 logins would take a while
        for mail in mails:
            c.append("INBOX", mail.raw)
    config = write_config(tmp_path, mailbox, smtp_server)
    store = Store(tmp_path / "mailbot.db")
    log = tmp_path / "mailbot.log"
    started = time.monotonic()

    kills: list[str] = []
    phases = ["fetch", "process", "send", "random"]
    while len(kills) < KILLS:
        phase = phases[len(kills) % len(phases)]
        with service(config, log) as proc:
            # Wait until this incarnation is working (classifier loaded, store open).
            assert poll(lambda p=proc: store.progress() is not None or p.poll() is not None, 60)
            before = store.progress() or Progress(0, 0, 0)
            sent_before = len(smtp_server.received)
            step = rng.randint(1, 25)
            if phase == "fetch" and before.inbound >= MAILS:
                phase = "process"
            if phase == "process" and before.done >= MAILS:
                phase = "send"
            def finished() -> bool:
                p = store.progress()
                return p is not None and p.done >= MAILS and p.queued == 0

            if phase == "fetch":
                fired = poll(lambda b=before, s=step: _grew(store, "inbound", b, s), 60)
            elif phase == "process":
                fired = poll(lambda b=before, s=step: _grew(store, "done", b, s), 60)
            elif phase == "send":
                fired = poll(lambda b=sent_before, s=step: len(smtp_server.received) >= b + s
                             or finished(), 60) and not finished()
            else:
                time.sleep(rng.uniform(0.2, 6.0))
                fired = True
            assert proc.poll() is None, f"mailbot died on its own:\n{log.read_text()[-3000:]}"
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            kills.append(phase if fired else f"{phase} (not reached: backlog done)")
    print(f"kills: {kills}")

    # The last run drains the rest, then stops cleanly.
    expected_acks = sum(not m.automated for m in mails)
    with service(config, log) as proc:
        def drained() -> bool:
            p = store.progress()
            return (p is not None and p.inbound == MAILS and p.done == MAILS and p.queued == 0
                    and len(smtp_server.received) >= expected_acks)

        assert poll(drained, 120, step=0.1), (
            f"backlog not drained: {store.progress()}, {len(smtp_server.received)} sent\n"
            + log.read_text()[-3000:]
        )
        # The backlog may have been drained by the last killed incarnation: stop this
        # one only once it is serving (it holds the fetch lease), not while it loads.
        def serving(pid: int = proc.pid) -> bool:
            return any(f":{pid}:" in str(v) for (v,) in store.rows("SELECT value FROM setting"))

        assert poll(serving, 90, step=0.1), log.read_text()[-3000:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    elapsed = time.monotonic() - started

    # Every mail is stored once and processed; a customer's is exactly one ticket, a
    # robot's is information.
    inbound = store.rows("SELECT message_id, status FROM inbound")
    assert sorted(str(m) for m, _ in inbound) == sorted(m.message_id for m in mails)
    assert {s for _, s in inbound} == {"processed"}
    incoming = Counter(str(m) for (m,) in store.rows(
        "SELECT message_id FROM message WHERE direction = 'in'"))
    assert set(incoming) == {m.message_id for m in mails if not m.automated}
    assert max(incoming.values()) == 1, [m for m, n in incoming.items() if n > 1]
    (tickets,) = store.rows("SELECT count(*) FROM ticket")[0]
    assert tickets == expected_acks
    information = {str(m) for (m,) in store.rows(
        "SELECT message_id FROM inbound WHERE disposition = 'info'")}
    assert information == {m.message_id for m in mails if m.automated}
    (tickets_per_mail,) = store.rows(
        "SELECT max(n) FROM (SELECT count(DISTINCT ticket_id) AS n FROM message "
        "WHERE direction = 'in' GROUP BY message_id)")[0]
    assert tickets_per_mail == 1
    # One acknowledgement queued per customer mail, none for the automated ones.
    (queued_acks,) = store.rows("SELECT count(*) FROM outbox WHERE kind = 'ack'")[0]
    assert queued_acks == expected_acks

    # At the SMTP server: every customer answered, no robot, duplicates only per kill.
    acks = [parsed(r.content) for r in smtp_server.received]
    answered = Counter(str(a["In-Reply-To"]) for a in acks)
    customers = {m.message_id for m in mails if not m.automated}
    robots = {m.message_id for m in mails if m.automated}
    assert customers <= set(answered), sorted(customers - set(answered))[:5]
    assert not robots & set(answered)
    by_id = Counter(str(a["Message-ID"]) for a in acks)
    duplicates = sum(n - 1 for n in by_id.values())
    # A resend is the same mail: same Message-ID, so the receiving side can drop it.
    assert sum(n - 1 for n in answered.values()) == duplicates
    assert duplicates <= len(kills), f"{duplicates} duplicates after {len(kills)} kills"
    # Everything is flagged on the server: nothing will be fetched again.
    assert all("\\Seen" in flags for flags in mailbox.flags().values())
    print(f"crash test: {MAILS} mails ({len(customers)} customers, {len(robots)} automated), "
          f"{len(kills)} kills, {duplicates} duplicate acknowledgements, "
          f"{len(acks)} mails at the SMTP server, {elapsed:.0f} s")


def _grew(store: Store, what: str, before: Progress, step: int) -> bool:
    now = store.progress()
    if now is None:
        return False
    return bool(getattr(now, what) >= getattr(before, what) + step)
