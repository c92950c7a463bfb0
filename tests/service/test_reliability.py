"""Faults on real servers: IMAP restarts, SMTP outages and refusals, stale fetching,
a changed UIDVALIDITY. The CLI runs as its own process, as an operator would run it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailbot.outbound.send import claim, send_due
from mailbot.service.runtime import Runtime
from mailbot.store import Event, Outbox, open_store
from tests.helpers import BERLIN, RuntimeFactory, make_mail
from tests.pgserver import postgres, postgres_url  # noqa: F401  (fixtures)
from tests.servers import Dovecot, SmtpServer
from tests.service.test_e2e import ROOT, mailbot, parsed, write_config

pytestmark = pytest.mark.integration


def poll(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def acks(smtp: SmtpServer) -> list[str]:
    return [str(parsed(r.content)["In-Reply-To"]) for r in smtp.received]


@pytest.fixture
def service(tmp_path: Path, mailbox: Dovecot, smtp_server: SmtpServer) -> Iterator[Path]:
    """``mailbot run`` in the background; yields its config. Ends it with SIGTERM."""
    config = write_config(tmp_path, mailbox, smtp_server, poll=600)
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config), "-v", "run"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        env={**os.environ, "TEST_IMAP_PASSWORD": "s3cret-test"},
    )
    try:
        yield config
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def test_run_reconnects_after_imap_restart_during_idle(
    service: Path, mailbox: Dovecot, smtp_server: SmtpServer
) -> None:
    first = make_mail("a.kern@praxis-weber.example", "Drucker", "Der Drucker streikt.",
                      msgid="<before@praxis-weber.example>")
    mailbox.append(first)
    assert poll(lambda: "<before@praxis-weber.example>" in acks(smtp_server), 60)
    time.sleep(1.0)  # let it go back into IDLE: the restart must hit an idling connection
    mailbox.restart(down_for=2.0)
    mailbox.append(make_mail("b.kern@praxis-weber.example", "Monitor", "Der Monitor flackert.",
                             msgid="<after@praxis-weber.example>"))
    started = time.monotonic()
    assert poll(lambda: "<after@praxis-weber.example>" in acks(smtp_server), 90), (
        (service.parent / "run.log").read_text()[-3000:])
    print(f"\nacknowledged {time.monotonic() - started:.1f} s after the restart")
    assert acks(smtp_server).count("<before@praxis-weber.example>") == 1
    log = (service.parent / "run.log").read_text()
    assert "IMAP connection lost" in log or "reconnecting" in log


def test_status_fails_when_fetching_is_stale(
    tmp_path: Path, mailbox: Dovecot, smtp_server: SmtpServer
) -> None:
    config = write_config(tmp_path, mailbox, smtp_server)
    with config.open("a") as f:
        f.write("\n[limits]\nfetch_stale_after = 20\n")
    assert mailbot(config, "once").returncode == 0
    fetched = time.monotonic()
    ok = mailbot(config, "status", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    mailbox.stop()
    try:
        failed = mailbot(config, "once")
        assert failed.returncode != 0
        # The feature is a latency: stale 20 s after the last good fetch (a loaded CI
        # machine needs several seconds for one "once" and one "status").
        time.sleep(max(0.0, 20.5 - (time.monotonic() - fetched)))
        stale = mailbot(config, "status")
        data = json.loads(mailbot(config, "status", "--json").stdout)
    finally:
        mailbox.start()
    assert stale.returncode == 1, stale.stdout
    assert "PROBLEM" in stale.stdout and "no successful fetch" in stale.stdout
    assert data["mailboxes"][0]["last_fetch_ok_at"]
    assert data["mailboxes"][0]["last_error"]
    for key in ("last_send_ok_at", "outbox_queued", "outbox_failed", "quarantined"):
        assert key in data


def test_uidvalidity_change_makes_no_second_ticket_or_acknowledgement(
    tmp_path: Path, mailbox: Dovecot, smtp_server: SmtpServer
) -> None:
    config = write_config(tmp_path, mailbox, smtp_server)
    for n in range(3):
        mailbox.append(make_mail(f"k{n}@praxis-weber.example", f"Frage {n}", "Wie geht das?"))
    assert mailbot(config, "once").returncode == 0
    assert len(smtp_server.received) == 3
    mailbox.set_uidvalidity(mailbox.uidvalidity() + 1000)
    mailbox.append(make_mail("neu@praxis-weber.example", "Neu", "Eine neue Frage."))
    again = mailbot(config, "-v", "once")
    assert again.returncode == 0, again.stderr
    assert "UIDVALIDITY" in again.stderr
    tickets = json.loads(mailbot(config, "tickets", "--json", "--all").stdout)
    assert len(tickets) == 4
    assert len(smtp_server.received) == 4  # only the new mail was answered
    assert all("\\Seen" in flags for flags in mailbox.flags().values())


# -- SMTP outages and refusals, in-process with a movable clock -------------------------

NOW = datetime(2026, 11, 24, 9, 35, tzinfo=BERLIN)


@pytest.fixture
def desk(runtime: RuntimeFactory, smtp_server: SmtpServer) -> Runtime:
    return runtime(smtp=smtp_server, smtp_timeout=5, clock=lambda: NOW)


def feed(rt: Runtime, raw: bytes) -> None:
    rt.ingest([raw])
    rt.processor.process_pending(now=rt.clock)


def outbox_rows(rt: Runtime) -> list[Outbox]:
    with Session(rt.engine) as s:
        return list(s.exec(select(Outbox).order_by(col(Outbox.id))).all())


def test_smtp_down_keeps_mail_queued_until_the_server_is_back(
    desk: Runtime, smtp_server: SmtpServer
) -> None:
    feed(desk, make_mail("c.kern@praxis-weber.example", "Scanner", "Der Scanner geht nicht."))
    smtp_server.stop()
    for minutes in (1, 3, 7):  # each try finds the server down and backs off further
        report = send_due(desk.config, desk.engine, now=NOW + timedelta(minutes=minutes))
        assert report.sent == 0
    rows = outbox_rows(desk)
    assert {r.status for r in rows} == {"queued"}
    assert all(r.attempts >= 2 and r.last_error for r in rows)
    assert desk.health().outbox_queued == len(rows)
    smtp_server.start()
    report = send_due(desk.config, desk.engine, now=NOW + timedelta(hours=1))
    assert report.sent == len(rows)
    assert {r.status for r in outbox_rows(desk)} == {"sent"}
    assert len(smtp_server.received) == len(rows)


@pytest.mark.parametrize("refuse", ["data", "recipient"])
def test_5xx_fails_for_good_and_the_address_counts_as_bounced(
    desk: Runtime, smtp_server: SmtpServer, refuse: str
) -> None:
    customer = "weg@praxis-weber.example"
    if refuse == "data":
        smtp_server.handler.fail_next(1, "550 5.1.1 mailbox unavailable")
    else:
        smtp_server.handler.fail_recipient(customer, "550 5.1.1 no such user")
    feed(desk, make_mail(customer, "Drucker", "Der Drucker druckt nicht."))
    send_due(desk.config, desk.engine, now=NOW + timedelta(minutes=1))
    acks_ = [r for r in outbox_rows(desk) if r.kind == "ack"]
    assert [r.status for r in acks_] == ["failed"]
    assert acks_[0].last_error.startswith("550"), acks_[0].last_error
    assert desk.health().outbox_failed >= 1
    # The next mail of that address is not answered: it bounced for good.
    feed(desk, make_mail(customer, "Noch was", "Auch der Scanner geht nicht."))
    assert len([r for r in outbox_rows(desk) if r.kind == "ack"]) == 1
    with Session(desk.engine) as s:
        details = [e.detail for e in s.exec(select(Event).where(Event.kind == "ack_suppressed"))]
    assert "address bounced permanently" in details


# -- claims: never two workers on one row, never a dead worker's row for long ---------


def _queue_acks(engine: Engine, count: int, at: datetime) -> None:
    with Session(engine) as s:
        for n in range(count):
            s.add(Outbox(kind="ack", message_id=f"<c{n}@itservice.example>",
                         envelope_from="service@itservice.example", to_address=f"k{n}@x.example",
                         recipients=json.dumps([f"k{n}@x.example"]), raw=b"Subject: x\r\n\r\nx\r\n",
                         next_attempt_at=at, created_at=at))
        s.commit()


def test_claims_of_a_killed_local_worker_are_released(desk: Runtime) -> None:
    _queue_acks(desk.engine, 3, NOW)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    host = socket.gethostname()
    claim(desk.engine, worker=f"{host}:{int(dead.stdout)}:dead", now=NOW, limit=2,
          lease=timedelta(minutes=15))
    # pid 1 is alive: its claim is left to the lease.
    claim(desk.engine, worker=f"{host}:1:alive", now=NOW, limit=1, lease=timedelta(minutes=15))
    report = send_due(desk.config, desk.engine, now=NOW + timedelta(minutes=1))
    assert report.sent == 2
    assert [r.claimed_by for r in outbox_rows(desk) if r.status == "queued"] == [f"{host}:1:alive"]


def test_concurrent_claims_on_postgresql_are_disjoint(request: pytest.FixtureRequest) -> None:
    engine = open_store(request.getfixturevalue("postgres_url"))
    try:
        _queue_acks(engine, 40, NOW)
        taken: dict[str, list[int]] = {}
        start = threading.Barrier(4)

        def grab(worker: str) -> None:
            start.wait()
            got: set[int] = set()
            for _ in range(5):
                # claim() returns everything this worker holds, the earlier rounds too.
                rows = claim(engine, worker=worker, now=NOW, limit=3, lease=timedelta(minutes=5))
                got |= {r.id for r in rows if r.id is not None}
            taken[worker] = sorted(got)

        threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        ids = [i for got in taken.values() for i in got]
        assert len(ids) == len(set(ids)) == 40
    finally:
        engine.dispose()
