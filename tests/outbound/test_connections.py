"""send over several SMTP connections at once, against a real (recording) SMTP server:
how many sessions, in what order, what a connection that fails or breaks leaves to
the others, and that every mail ends with an outcome."""

from __future__ import annotations

import email
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailbot.config import Config, SmtpConfig
from mailbot.outbound import _claims
from mailbot.outbound import send as send_mod
from mailbot.outbound.send import send_due
from mailbot.store import Outbox
from tests.outbound.test_send import T0, make_config, outbox, queue, raw_mail
from tests.servers import SmtpServer


def several(tmp_path: Path, server: SmtpServer, connections: int, timeout: float = 5.0) -> Config:
    smtp = SmtpConfig(
        host=server.host, port=server.port, security="none", username="", password="",
        timeout=timeout, connections=connections,
    )
    return make_config(tmp_path, smtp)


def wait_until_idle(server: SmtpServer) -> None:
    """Until the server has seen every earlier session end (QUIT is answered before
    the server's side of the connection is gone)."""
    deadline = time.monotonic() + 5
    while server.handler.sessions_open and time.monotonic() < deadline:
        time.sleep(0.01)
    server.handler.sessions_peak = server.handler.sessions_open


def message_id(content: bytes) -> str:
    return str(email.message_from_bytes(content)["Message-ID"])


def test_four_connections_are_four_sessions_at_once_and_about_four_times_as_fast(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    handler = smtp_server.handler
    handler.reply_delay = 0.03  # every reply, as over a network with a 30 ms round trip
    elapsed: dict[int, float] = {}
    for connections in (1, 4):
        for n in range(16):
            queue(engine, connections * 100 + n)
        wait_until_idle(smtp_server)
        started = time.perf_counter()
        report = send_due(several(tmp_path, smtp_server, connections), engine, now=T0)
        elapsed[connections] = time.perf_counter() - started
        assert (report.claimed, report.sent) == (16, 16)
        assert handler.sessions_peak == connections  # all of them, and never more
    assert len({r.peer for r in smtp_server.received[16:]}) == 4
    # Four round trips a mail, 16 mails: about 2 s on one connection, 0.5 s on four.
    assert elapsed[1] > 2.0 * elapsed[4], elapsed


def test_a_round_opens_no_more_connections_than_it_has_mails(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    for n in range(2):
        queue(engine, n)
    assert send_due(several(tmp_path, smtp_server, 4), engine, now=T0).sent == 2
    assert len(smtp_server.handler.connections) == 2


def test_one_connection_delivers_in_the_order_claimed(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    # The claim takes the longest-due first: the last queued here is due first.
    for n in range(6):
        queue(engine, n, created=T0 - timedelta(minutes=n))
    assert send_due(several(tmp_path, smtp_server, 1), engine, now=T0).sent == 6
    assert [r.content for r in smtp_server.received] == [raw_mail(n) for n in reversed(range(6))]


def test_each_connection_records_its_mail_before_its_next_data(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two connections and a slow store, a mail's DATA on a connection never
    starts while that connection's previous mail is accepted but unrecorded."""
    for n in range(8):
        queue(engine, n)
    record = _claims.Recorder.record

    def slow_record(self: _claims.Recorder, row: Outbox, result: tuple[Any, str]) -> None:
        time.sleep(0.15)
        record(self, row, result)

    monkeypatch.setattr(_claims.Recorder, "record", slow_record)
    handler = smtp_server.handler
    unrecorded_at_data: list[int] = []
    data = handler.handle_DATA

    async def watch_data(server: Any, session: Any, envelope: Any) -> str:
        earlier = [message_id(r.content) for r in smtp_server.received if r.peer == session.peer]
        with Session(engine) as db:
            statuses = db.exec(
                select(Outbox.status).where(col(Outbox.message_id).in_(earlier))
            ).all()
        unrecorded_at_data.append(sum(status != "sent" for status in statuses))
        return await data(server, session, envelope)

    monkeypatch.setattr(handler, "handle_DATA", watch_data)

    assert send_due(several(tmp_path, smtp_server, 2), engine, now=T0).sent == 8
    assert len(unrecorded_at_data) == 8
    assert unrecorded_at_data == [0] * 8
    assert len({r.peer for r in smtp_server.received}) == 2


def test_a_connection_the_server_refuses_leaves_its_mail_to_the_others(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.max_sessions = 1  # the others get "421 too many connections"
    for n in range(6):
        queue(engine, n)
    report = send_due(several(tmp_path, smtp_server, 3), engine, now=T0)
    assert (report.sent, report.deferred) == (6, 0)
    assert len({r.peer for r in smtp_server.received}) == 1
    assert sorted(r.content for r in smtp_server.received) == sorted(raw_mail(n) for n in range(6))


def test_when_no_connection_can_be_made_every_mail_waits_with_the_reason(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    ids = [queue(engine, n) for n in range(5)]
    smtp_server.stop()
    report = send_due(several(tmp_path, smtp_server, 3), engine, now=T0)
    assert (report.deferred, report.sent) == (5, 0)
    for row_id in ids:
        row = outbox(engine, row_id)
        assert (row.status, row.attempts) == ("queued", 1)
        assert "connect" in row.last_error.lower() and row.claimed_by is None


def test_a_hang_up_during_data_sends_that_mail_again_later_and_nothing_else_twice(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    """The server took the third mail, then dropped the connection before its reply:
    the client cannot know, so that mail (and only it) goes again, same Message-ID."""
    ids = [queue(engine, n) for n in range(5)]
    handler = smtp_server.handler
    with send_mod.Sender(several(tmp_path, smtp_server, 1), engine) as sender:
        assert sender.send_due(now=T0, limit=2).sent == 2
        handler.hang_up_next(1, taken=True)
        report = sender.send_due(now=T0)
        assert (report.sent, report.deferred) == (2, 1)
        dropped = outbox(engine, ids[2])
        assert (dropped.status, dropped.attempts) == ("queued", 1)
        assert dropped.last_error.startswith("SMTP: ")
        assert sender.send_due(now=T0 + timedelta(minutes=1)).sent == 1
    assert all(outbox(engine, i).status == "sent" for i in ids)
    counts = Counter(message_id(r.content) for r in smtp_server.received)
    assert counts == Counter({f"<ack-{n}@itservice.example>": 2 if n == 2 else 1
                              for n in range(5)})
    # The mail after the hang-up went over a new connection.
    assert len({r.peer for r in smtp_server.received}) >= 2


def test_a_hang_up_before_the_reply_without_the_mail_loses_nothing(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    ids = [queue(engine, n) for n in range(4)]
    smtp_server.handler.hang_up_next(1)  # the first message is not taken
    report = send_due(several(tmp_path, smtp_server, 2), engine, now=T0)
    assert (report.sent, report.deferred) == (3, 1)
    assert send_due(several(tmp_path, smtp_server, 2), engine,
                    now=T0 + timedelta(minutes=1)).sent == 1
    assert all(outbox(engine, i).status == "sent" for i in ids)
    assert sorted(r.content for r in smtp_server.received) == sorted(raw_mail(n) for n in range(4))


def test_a_connection_lost_before_the_message_is_tried_again_at_once(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    """The server hangs up at MAIL FROM: it cannot have the mail, so the mail goes
    over a new connection in the same round instead of waiting a minute; once only."""
    first, second = queue(engine, 0), queue(engine, 1)
    handler = smtp_server.handler
    handler.hang_up_at_mail(1)
    report = send_due(several(tmp_path, smtp_server, 1), engine, now=T0)
    assert (report.sent, report.deferred) == (2, 0)
    assert [r.content for r in smtp_server.received] == [raw_mail(0), raw_mail(1)]
    assert len(handler.connections) == 2

    # Lost again on the new connection: then it waits like any lost connection.
    handler.hang_up_at_mail(2)
    smtp_server.handler.received.clear()
    third = queue(engine, 2)
    report = send_due(several(tmp_path, smtp_server, 1), engine, now=T0)
    assert (report.sent, report.deferred) == (0, 1)
    assert outbox(engine, third).attempts == 1
    assert {outbox(engine, i).status for i in (first, second)} == {"sent"}


def test_a_reply_that_does_not_come_in_time_is_a_timeout_and_the_connection_is_replaced(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    slow, fine = queue(engine, 0), queue(engine, 1)
    handler = smtp_server.handler
    handler.hold_data = 1.0
    config = several(tmp_path, smtp_server, 1, timeout=0.3)
    with send_mod.Sender(config, engine) as sender:
        report = sender.send_due(now=T0, limit=1)
        assert report.deferred == 1
        assert "timed out" in outbox(engine, slow).last_error
        handler.hold_data = 0.0
        assert sender.send_due(now=T0).sent == 1
    assert outbox(engine, fine).status == "sent"
    assert len(handler.connections) == 2
