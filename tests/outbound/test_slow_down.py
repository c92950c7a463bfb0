"""Replies that ask the sender to slow down (421, 4.7.x, "too many", a rate or a
limit): the mail waits like any 4xx, and the whole sender pauses before its next
mail, longer while such replies go on, from the start again after a good send."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from mailbot.outbound import _connections
from mailbot.outbound import send as send_mod
from mailbot.outbound._connections import Throttle
from mailbot.outbound.send import send_due
from mailbot.outbound.smtp import asks_to_slow_down
from tests.outbound.test_connections import several
from tests.outbound.test_send import T0, naive, outbox, queue, stamp
from tests.servers import SmtpServer


@pytest.mark.parametrize(
    "reply",
    [
        "421 4.7.0 Try again later, closing connection",
        "421 Service not available",
        "451 4.7.0 Too many messages, slow down",
        "450 4.7.1 Client host rejected: greylisted",
        "452 4.3.2 too many connections from your host",
        "450 4.2.1 Rate limited, try later",
        "451 4.4.5 Sending limit exceeded for this hour",
    ],
)
def test_replies_that_ask_to_slow_down(reply: str) -> None:
    assert asks_to_slow_down(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "451 4.3.0 Mailbox busy",
        "452 4.2.2 Over quota",
        "450 4.1.8 Sender address rejected: domain not found",
        "451 4.3.0 generated an error, accurate reporting later",  # "rate" inside words
        "550 5.7.1 Too many recipients, message rejected",  # final, not a pause
        "250 2.0.0 OK",
    ],
)
def test_replies_that_do_not(reply: str) -> None:
    assert not asks_to_slow_down(reply)


def test_the_pause_doubles_up_to_a_minute_and_starts_again_after_a_good_send() -> None:
    throttle = Throttle()
    pauses = []
    for _ in range(8):
        pauses.append(throttle.slowed(started=float("inf")))  # begun after each pause
    assert pauses == [1, 2, 4, 8, 16, 32, 60, 60]
    throttle.eased(started=float("inf"))
    assert throttle.slowed(started=float("inf")) == 1


def test_replies_to_mails_already_under_way_neither_lengthen_nor_end_the_pause() -> None:
    throttle = Throttle()
    assert throttle.slowed(started=float("inf")) == 1
    # Four connections hear the same "too many" for mails begun before the pause...
    assert [throttle.slowed(started=0.0) for _ in range(3)] == [0, 0, 0]
    # ...and one mail begun before it that went through does not end the doubling.
    throttle.eased(started=0.0)
    assert throttle.slowed(started=float("inf")) == 2


def test_421_defers_the_mail_closes_the_connection_and_pauses_the_sender(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    refused, later = queue(engine, 1), queue(engine, 2)
    handler = smtp_server.handler
    handler.fail_next(1, "421 4.7.0 Too many messages, closing connection")

    report = send_due(several(tmp_path, smtp_server, 1), engine, now=T0)

    assert (report.sent, report.deferred, report.slow_downs) == (1, 1, 1)
    assert report.paused == Throttle.FIRST
    row = outbox(engine, refused)
    assert (row.status, row.attempts) == ("queued", 1) and row.last_error.startswith("421")
    assert stamp(row.next_attempt_at) == naive(T0 + timedelta(minutes=1))  # the usual backoff
    assert outbox(engine, later).status == "sent"
    [got] = smtp_server.received
    waited = got.at - handler.refused_at[0]
    assert Throttle.FIRST - 0.05 <= waited < Throttle.FIRST + 2.0, waited
    assert len(handler.connections) == 2  # the server closed the first


def test_too_many_keeps_the_connection_and_pauses_the_sender(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    queue(engine, 1)
    queue(engine, 2)
    handler = smtp_server.handler
    handler.fail_next(1, "451 4.7.0 too many messages, slow down")

    report = send_due(several(tmp_path, smtp_server, 1), engine, now=T0)

    assert (report.sent, report.deferred, report.slow_downs) == (1, 1, 1)
    waited = smtp_server.received[0].at - handler.refused_at[0]
    assert waited >= Throttle.FIRST - 0.05, waited
    assert len(handler.connections) == 1


def test_repeated_slow_downs_double_the_pause_and_a_good_send_resets_it(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_connections.Throttle, "FIRST", 0.2)
    handler = smtp_server.handler
    with send_mod.Sender(several(tmp_path, smtp_server, 1), engine) as sender:
        for n in range(3):
            queue(engine, n)
        handler.fail_next(2, "451 4.7.0 too many")
        report = sender.send_due(now=T0)
        assert (report.sent, report.deferred, report.slow_downs) == (1, 2, 2)
        assert report.paused == pytest.approx(0.2 + 0.4)
        gaps = [
            handler.refused_at[1] - handler.refused_at[0],
            smtp_server.received[0].at - handler.refused_at[1],
        ]
        assert gaps[0] >= 0.2 - 0.02 and gaps[1] >= 0.4 - 0.02, gaps
        # The good send started the pause over.
        queue(engine, 10)
        handler.fail_next(1, "451 4.7.0 too many")
        assert sender.send_due(now=T0).paused == pytest.approx(0.2)


def test_an_ordinary_4xx_does_not_pause(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    queue(engine, 1)
    queue(engine, 2)
    smtp_server.handler.fail_next(1, "451 4.3.0 Mailbox busy")
    report = send_due(several(tmp_path, smtp_server, 1), engine, now=T0)
    assert (report.sent, report.deferred, report.slow_downs, report.paused) == (1, 1, 0, 0.0)
    waited = smtp_server.received[0].at - smtp_server.handler.refused_at[0]
    assert waited < 0.5, waited
