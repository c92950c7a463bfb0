"""The SLA promises in the running service: escalation reminders, on-call alerts, order."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import Session

from mailbot.service.runtime import Runtime
from tests.helpers import BERLIN, Clock, RuntimeFactory, events, make_mail, outbox

ONCALL = """
[sla]
oncall_address = "bereitschaft@itservice.example"
oncall_hours = { sat = "00:00-24:00", sun = "00:00-24:00" }
"""


@pytest.fixture()
def desk(runtime: RuntimeFactory) -> Runtime:
    """On the ``clock`` fixture (09:35 on Tuesday 24.11.2026), which tests move."""
    return runtime(extra=ONCALL)


def feed(rt: Runtime, raw: bytes) -> None:
    rt.ingest([raw])
    rt.processor.process_pending(now=rt.clock)


def test_overdue_ticket_is_reminded_once_per_deadline(desk: Runtime, clock: Clock) -> None:
    feed(
        desk,
        make_mail(
            "t.roth@praxis-weber.example",
            "Drucker",
            "Der Drucker am Empfang zieht kein Papier mehr ein.",
            when=clock.now - timedelta(minutes=5),
        ),
    )
    from mailbot.process import remind_overdue

    renderer = desk.processor.renderer
    assert remind_overdue(desk.config, desk.engine, renderer, now=clock.now) == 0
    # Normal, contract: 8 service hours. Two days later nobody has answered.
    later = clock.now + timedelta(days=2)
    assert remind_overdue(desk.config, desk.engine, renderer, now=later) == 1
    assert remind_overdue(desk.config, desk.engine, renderer, now=later + timedelta(hours=1)) == 0
    with Session(desk.engine) as s:
        [reminder] = outbox(s, "reminder")
        assert reminder.to == ["technik@itservice.example"]
        assert "Reaktionszeit überschritten" in str(reminder.message["Subject"])
        assert len(events(s, "escalated")) == 1


def test_answered_ticket_is_not_reminded(desk: Runtime, clock: Clock) -> None:
    feed(
        desk,
        make_mail(
            "t.roth@praxis-weber.example",
            "Drucker",
            "Der Drucker am Empfang zieht kein Papier mehr ein.",
            when=clock.now - timedelta(minutes=5),
        ),
    )
    with Session(desk.engine) as s:
        [note] = outbox(s, "notify")
    feed(
        desk,
        make_mail(
            "t.nowak@itservice.example",
            "AW: Drucker",
            "Ich komme morgen vorbei.",
            headers={
                "In-Reply-To": note.message_id,
                "Authentication-Results": (
                    "mx.itservice.example; dkim=pass header.d=itservice.example"
                ),
            },
        ),
    )
    from mailbot.process import remind_overdue

    later = clock.now + timedelta(days=2)
    assert remind_overdue(desk.config, desk.engine, desk.processor.renderer, now=later) == 0


def test_critical_outside_hours_alerts_on_call_and_says_so(desk: Runtime, clock: Clock) -> None:
    clock.now = datetime(2026, 11, 28, 22, 10, tzinfo=BERLIN)  # Saturday night
    feed(
        desk,
        make_mail(
            "b.lange@mueller-steuerberatung.example",
            "Server weg",
            "Der Server ist ausgefallen, niemand im Büro kann arbeiten.",
            when=clock.now - timedelta(minutes=2),
        ),
    )
    with Session(desk.engine) as s:
        [alert] = outbox(s, "oncall")
        assert alert.to == ["bereitschaft@itservice.example"]
        [ack] = outbox(s, "ack")
        assert "Bereitschaftsdienst ist bereits informiert" in ack.text
        # Contract: the extended hours open Monday 07:00 (Sunday is closed); 1 h target.
        assert "spätestens Montag, 30.11.2026, 08:00 Uhr" in ack.text


def test_critical_outside_hours_without_on_call_says_when_the_clock_starts(
    runtime: RuntimeFactory, clock: Clock
) -> None:
    rt = runtime()
    clock.now = datetime(2026, 11, 27, 20, 30, tzinfo=BERLIN)  # Friday evening
    feed(
        rt,
        make_mail(
            "b.lange@mueller-steuerberatung.example",
            "Server weg",
            "Der Server ist ausgefallen, niemand im Büro kann arbeiten.",
            when=clock.now - timedelta(minutes=1),
        ),
    )
    with Session(rt.engine) as s:
        assert outbox(s, "oncall") == []
        [ack] = outbox(s, "ack")
        assert "außerhalb unserer Servicezeiten" in ack.text
        assert "läuft ab Samstag, 28.11.2026, 08:00 Uhr" in ack.text
        assert "spätestens Samstag, 28.11.2026, 09:00 Uhr" in ack.text


def test_order_of_work(desk: Runtime, clock: Clock) -> None:
    mails = [
        ("info@baeckerei-klein.example", "Frage", "Was kostet eine Lizenz für Office?"),
        (
            "t.roth@praxis-weber.example",
            "Maus",
            "Die Maus an der Anmeldung ist kaputt. Ist nicht dringend.",
        ),
        (
            "x@praxis-weber.example",
            "Monitor",
            "Der Monitor an Platz 3 bleibt schwarz. Dringend, die Frist läuft heute ab!",
        ),
        (
            "b.lange@mueller-steuerberatung.example",
            "Server weg",
            "Der Server ist ausgefallen, niemand kann arbeiten.",
        ),
        ("y@praxis-weber.example", "Tastatur", "Die Tastatur an Platz 5 geht nicht mehr."),
    ]
    for i, (sender, subject, body) in enumerate(mails):
        feed(desk, make_mail(sender, subject, body, when=clock.now + timedelta(minutes=i)))
    order = [(r.priority, r.contract, r.urgency, r.subject) for r in desk.work_list()]
    assert [o[3] for o in order] == ["Server weg", "Monitor", "Tastatur", "Maus", "Frage"]
