"""send against a real (recording) SMTP server and the Maildir fallback."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailbot.config import Config, ServiceConfig, SmtpConfig
from mailbot.errors import SendTimeoutError
from mailbot.outbound import _claims
from mailbot.outbound import send as send_mod
from mailbot.outbound import smtp as smtp_seam
from mailbot.outbound.send import LAST_SEND_OK, RetryPolicy, claim, send_due
from mailbot.store import Outbox, Setting
from tests.servers import SmtpServer

pytestmark = pytest.mark.integration

T0 = datetime(2025, 11, 24, 9, 0, tzinfo=UTC)


def raw_mail(n: int, to: str = "kunde@mueller.example") -> bytes:
    return (
        f"From: IT-Service <service@itservice.example>\r\n"
        f"To: {to}\r\n"
        f"Subject: [#10{n:02d}] Ihre Anfrage ist eingegangen\r\n"
        f"Message-ID: <ack-{n}@itservice.example>\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n"
        f"\r\n"
        f"Guten Tag,\r\nwir kümmern uns darum. Priorität: hoch.\r\n"
        f".\r\n"  # a lone dot line must survive dot-stuffing
    ).encode()


def queue(
    engine: Engine, n: int, *, to: tuple[str, ...] = ("kunde@mueller.example",),
    created: datetime = T0,
) -> int:
    with Session(engine) as db:
        row = Outbox(
            kind="ack",
            message_id=f"<ack-{n}@itservice.example>",
            envelope_from="bounces@itservice.example",
            recipients=json.dumps(list(to)),
            raw=raw_mail(n, to[0]),
            next_attempt_at=created,
            created_at=created,
        )
        db.add(row)
        db.commit()
        assert row.id is not None
        return row.id


def outbox(engine: Engine, row_id: int) -> Outbox:
    with Session(engine) as db:
        row = db.get(Outbox, row_id)
        assert row is not None
        return row


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def stamp(moment: datetime | None) -> datetime | None:
    return None if moment is None else naive(moment) if moment.tzinfo else moment


def make_config(tmp_path: Path, smtp: SmtpConfig | None) -> Config:
    return Config(
        path=None,
        store_url="sqlite://",
        outbox_dir=tmp_path / "spool" / "outbox",
        service=ServiceConfig(address="service@itservice.example"),
        smtp=smtp,
    )


@pytest.fixture
def config(tmp_path: Path, smtp_server: SmtpServer) -> Config:
    # One connection: these tests are about what happens on a connection (the tests of
    # several are in test_connections.py).
    smtp = SmtpConfig(
        host=smtp_server.host, port=smtp_server.port, security="none",
        username="", password="", timeout=5.0, connections=1,
    )
    return make_config(tmp_path, smtp)


def test_envelope_and_bytes_go_out_as_queued(
    config: Config, engine: Engine, smtp_server: SmtpServer
) -> None:
    row_id = queue(engine, 1, to=("kunde@mueller.example", "chef@mueller.example"))

    report = send_due(config, engine, now=T0)

    assert (report.claimed, report.sent) == (1, 1)
    [got] = smtp_server.received
    assert got.mail_from == "bounces@itservice.example"
    assert got.rcpt_tos == ("kunde@mueller.example", "chef@mueller.example")
    assert got.content == raw_mail(1)
    row = outbox(engine, row_id)
    assert row.status == "sent" and row.smtp_reply.startswith("2.0.0 queued")
    # The round's clock moved on by the time the SMTP transaction took.
    assert naive(T0) <= stamp(row.sent_at) < naive(T0 + timedelta(seconds=5))
    assert row.claimed_by is None
    with Session(engine) as db:
        setting = db.get(Setting, LAST_SEND_OK)
    assert setting is not None and setting.value == T0.isoformat()


def test_bare_line_ends_go_out_as_crlf(
    config: Config, engine: Engine, smtp_server: SmtpServer
) -> None:
    row_id = queue(engine, 1)
    with Session(engine) as db:
        row = db.get(Outbox, row_id)
        assert row is not None
        row.raw = raw_mail(1).replace(b"\r\n", b"\n")
        db.add(row)
        db.commit()

    assert send_due(config, engine, now=T0).sent == 1
    assert smtp_server.received[0].content == raw_mail(1)


def test_one_connection_for_a_batch(
    config: Config, engine: Engine, smtp_server: SmtpServer
) -> None:
    for n in range(4):
        queue(engine, n)
    assert send_due(config, engine, now=T0).sent == 4
    assert len(smtp_server.handler.connections) == 1
    assert len({r.peer for r in smtp_server.received}) == 1
    assert [r.content for r in smtp_server.received] == [raw_mail(n) for n in range(4)]
    assert send_due(config, engine, now=T0).claimed == 0  # nothing sent twice


def test_an_outcome_is_written_during_the_next_envelope_and_before_its_data(
    config: Config, engine: Engine, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiting for the store overlaps the next mail's MAIL/RCPT, but that mail's DATA
    waits: at any moment at most one accepted mail has no outcome on record."""
    for n in range(4):
        queue(engine, n)
    slow_store = 0.6  # far longer than two loopback round trips, even on a busy machine
    record = _claims.Recorder.record

    def slow_record(self: _claims.Recorder, row: Outbox, result: tuple[Any, str]) -> None:
        time.sleep(slow_store)
        record(self, row, result)

    monkeypatch.setattr(_claims.Recorder, "record", slow_record)
    handler = smtp_server.handler
    on_record: dict[str, list[int]] = {"rcpt": [], "data": []}

    def sent_so_far() -> int:
        with Session(engine) as db:
            return len(db.exec(select(Outbox).where(Outbox.status == "sent")).all())

    rcpt, data = handler.handle_RCPT, handler.handle_DATA

    async def watch_rcpt(*args: Any) -> str:
        on_record["rcpt"].append(sent_so_far())
        return await rcpt(*args)

    async def watch_data(*args: Any) -> str:
        on_record["data"].append(sent_so_far())
        return await data(*args)

    monkeypatch.setattr(handler, "handle_RCPT", watch_rcpt)
    monkeypatch.setattr(handler, "handle_DATA", watch_data)

    assert send_due(config, engine, now=T0).sent == 4

    # The k-th envelope arrives while the outcome of mail k-1 is still being written...
    assert on_record["rcpt"] == [0, 0, 1, 2]
    # ...and its message only once that outcome is on record.
    assert on_record["data"] == [0, 1, 2, 3]
    assert sent_so_far() == 4


def test_4xx_is_retried_later_with_backoff(
    config: Config, engine: Engine, smtp_server: SmtpServer
) -> None:
    first, second = queue(engine, 1), queue(engine, 2)
    smtp_server.handler.fail_next(1, "451 4.3.0 Mailbox busy")

    report = send_due(config, engine, now=T0)

    assert (report.sent, report.deferred) == (1, 1)
    row = outbox(engine, first)
    assert (row.status, row.attempts) == ("queued", 1)
    assert "451" in row.last_error
    assert stamp(row.next_attempt_at) == naive(T0 + timedelta(minutes=1))
    assert outbox(engine, second).status == "sent"  # same connection, next mail fine
    assert len(smtp_server.handler.connections) == 1

    assert send_due(config, engine, now=T0 + timedelta(seconds=30)).claimed == 0
    smtp_server.handler.fail_next(1, "452 4.2.2 Over quota")
    send_due(config, engine, now=T0 + timedelta(minutes=1))
    row = outbox(engine, first)
    assert row.attempts == 2
    assert stamp(row.next_attempt_at) == naive(T0 + timedelta(minutes=3))  # 1 + 2

    assert send_due(config, engine, now=T0 + timedelta(minutes=3)).sent == 1
    assert outbox(engine, first).status == "sent"
    assert [r.content for r in smtp_server.received] == [raw_mail(2), raw_mail(1)]


def test_backoff_doubles_up_to_six_hours() -> None:
    policy = RetryPolicy()
    minutes = [policy.delay(n) / timedelta(minutes=1) for n in range(1, 12)]
    assert minutes[:5] == [1, 2, 4, 8, 16]
    assert max(minutes) == 360 and minutes[-1] == 360
    assert policy.delay(10_000) == timedelta(hours=6)


def test_transient_failures_give_up_after_five_days(
    config: Config, engine: Engine, smtp_server: SmtpServer
) -> None:
    old = queue(engine, 1, created=T0 - timedelta(days=5, minutes=1))
    smtp_server.handler.fail_next(1)
    assert send_due(config, engine, now=T0).failed == 1
    row = outbox(engine, old)
    assert row.status == "failed" and row.last_error.startswith("gave up after 5 days")


def test_5xx_fails_for_good(config: Config, engine: Engine, smtp_server: SmtpServer) -> None:
    data_refused, rcpt_refused = queue(engine, 1), queue(engine, 2, to=("weg@x.example",))
    fine = queue(engine, 3)
    smtp_server.handler.fail_next(1, "554 5.6.0 Message rejected")
    smtp_server.handler.fail_recipient("weg@x.example", "550 5.1.1 User unknown")

    report = send_due(config, engine, now=T0)

    assert (report.failed, report.sent) == (2, 1)
    assert outbox(engine, data_refused).status == "failed"
    assert "554 5.6.0 Message rejected" in outbox(engine, data_refused).last_error
    assert outbox(engine, rcpt_refused).status == "failed"
    assert "550 5.1.1 User unknown" in outbox(engine, rcpt_refused).last_error
    assert outbox(engine, fine).status == "sent"
    assert send_due(config, engine, now=T0 + timedelta(days=1)).claimed == 0


def test_partly_refused_recipients_count_as_sent(
    config: Config, engine: Engine, smtp_server: SmtpServer
) -> None:
    row_id = queue(engine, 1, to=("kunde@mueller.example", "weg@x.example"))
    smtp_server.handler.fail_recipient("weg@x.example")
    send_due(config, engine, now=T0)
    row = outbox(engine, row_id)
    assert row.status == "sent" and "weg@x.example: 550" in row.smtp_reply
    assert smtp_server.received[0].rcpt_tos == ("kunde@mueller.example",)


def test_server_down_is_transient(config: Config, engine: Engine, smtp_server: SmtpServer) -> None:
    ids = [queue(engine, n) for n in range(2)]
    smtp_server.stop()

    report = send_due(config, engine, now=T0)

    assert (report.deferred, report.sent) == (2, 0)
    for row_id in ids:
        row = outbox(engine, row_id)
        assert (row.status, row.attempts) == ("queued", 1)
        assert "connect" in row.last_error.lower() and row.claimed_by is None
    with Session(engine) as db:
        assert db.get(Setting, LAST_SEND_OK) is None

    smtp_server.start()
    assert send_due(config, engine, now=T0 + timedelta(minutes=1)).sent == 2


@pytest.fixture
def silent_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def test_silent_server_times_out(tmp_path: Path, engine: Engine, silent_port: int) -> None:
    smtp = SmtpConfig(host="127.0.0.1", port=silent_port, security="none",
                      username="", password="", timeout=0.5)
    row_id = queue(engine, 1)
    assert send_due(make_config(tmp_path, smtp), engine, now=T0).deferred == 1
    assert "timed out" in outbox(engine, row_id).last_error


def test_a_silent_server_is_a_send_timeout(silent_port: int) -> None:
    smtp = SmtpConfig(host="127.0.0.1", port=silent_port, security="none",
                      username="", password="", timeout=0.3)
    with pytest.raises(SendTimeoutError) as caught:
        asyncio.run(smtp_seam.connect(smtp))
    assert isinstance(caught.value, TimeoutError)  # ours, and the builtin one too


def test_tls_is_required_when_configured(
    config: Config, engine: Engine, smtp_server: SmtpServer
) -> None:
    # The recorder offers no STARTTLS: a starttls config must not fall back to plain text.
    assert config.smtp is not None
    smtp = SmtpConfig(**{**config.smtp.__dict__, "security": "starttls"})
    row_id = queue(engine, 1)
    report = send_due(make_config(Path(config.outbox_dir).parent, smtp), engine, now=T0)
    assert report.deferred == 1 and smtp_server.received == []
    assert outbox(engine, row_id).status == "queued"


def test_claimed_rows_are_not_taken_twice(config: Config, engine: Engine) -> None:
    for n in range(6):
        queue(engine, n)
    taken: dict[str, list[int]] = {}

    def grab(worker: str) -> None:
        rows = claim(engine, worker=worker, now=T0, limit=4, lease=timedelta(minutes=15))
        taken[worker] = [r.id for r in rows if r.id is not None]

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    all_ids = [i for ids in taken.values() for i in ids]
    assert len(all_ids) == len(set(all_ids)) == 6

    # Held claims block a sender until their lease runs out (a crashed worker).
    assert send_due(config, engine, now=T0 + timedelta(minutes=14)).claimed == 0
    assert send_due(config, engine, now=T0 + timedelta(minutes=16)).sent == 6


def test_without_smtp_mail_lands_in_a_maildir(tmp_path: Path, engine: Engine) -> None:
    config = make_config(tmp_path, None)
    ids = [queue(engine, n) for n in range(2)]

    report = send_due(config, engine, now=T0)

    assert report.sent == 2
    files = sorted((config.outbox_dir / "new").iterdir())
    assert len(files) == 2
    contents = sorted(f.read_bytes() for f in files)
    assert contents == sorted([raw_mail(0), raw_mail(1)])
    parsed = email.message_from_bytes(contents[0], policy=email.policy.default)
    assert parsed["Subject"].endswith("Ihre Anfrage ist eingegangen")
    assert "Priorität: hoch" in parsed.get_content()
    for row_id in ids:
        row = outbox(engine, row_id)
        assert row.status == "sent" and row.smtp_reply.startswith("maildir: new/")


def test_send_due_works_inside_an_event_loop(
    config: Config, engine: Engine, smtp_server: SmtpServer
) -> None:
    queue(engine, 1)

    async def caller() -> int:
        return send_due(config, engine, now=T0).sent

    assert asyncio.run(caller()) == 1
    assert len(smtp_server.received) == 1


def test_rounds_of_one_sender_share_a_connection_and_hang_up_when_idle(
    config: Config, engine: Engine, smtp_server: SmtpServer
) -> None:
    with send_mod.Sender(config, engine) as sender:
        for n in range(3):
            queue(engine, n)
            assert sender.send_due(now=T0).sent == 1
        assert len(smtp_server.handler.connections) == 1
        # Idle for longer than keep_idle: a round that finds nothing hangs up, and the
        # next mail goes over a new connection.
        sender.keep_idle = 0.0
        assert sender.send_due(now=T0).claimed == 0
        queue(engine, 3)
        assert sender.send_due(now=T0).sent == 1
    assert len(smtp_server.handler.connections) == 2
    assert [r.content for r in smtp_server.received] == [raw_mail(n) for n in range(4)]
    with Session(engine) as db:
        setting = db.get(Setting, LAST_SEND_OK)
    assert setting is not None and setting.value == T0.isoformat()


def test_a_kept_connection_the_server_closed_is_replaced_before_a_mail_is_lost_on_it(
    config: Config, engine: Engine, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay drops idle clients; the mail of the next round must not be deferred for
    having been tried on the dead connection."""
    monkeypatch.setattr(send_mod, "_CHECK_AFTER_IDLE", 0.0)
    with send_mod.Sender(config, engine) as sender:
        queue(engine, 0)
        assert sender.send_due(now=T0).sent == 1
        smtp_server.stop()  # closes every connection, as a relay's idle timeout does
        smtp_server.start()
        queue(engine, 1)
        report = sender.send_due(now=T0)
    assert (report.sent, report.deferred) == (1, 0)
    assert len(smtp_server.handler.connections) == 2


def test_one_round_sends_everything_due_in_parts_of_bounded_bytes(
    config: Config, engine: Engine, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each of these mails is about 300 bytes: a part of at most 700 bytes holds two.
    monkeypatch.setattr(_claims, "ROUND_BYTES", 700)
    held: list[int] = []
    real_claim = send_mod.claim

    def counting_claim(*args: Any, **kwargs: Any) -> list[Outbox]:
        rows = real_claim(*args, **kwargs)
        held.append(sum(len(r.raw) for r in rows))
        return rows

    monkeypatch.setattr(send_mod, "claim", counting_claim)
    ids = [queue(engine, n) for n in range(5)]
    report = send_due(config, engine, now=T0)
    assert (report.claimed, report.sent) == (5, 5)
    assert len(held) == 3 and max(held) <= 700
    assert [r.content for r in smtp_server.received] == [
        outbox(engine, i).raw for i in ids
    ]
