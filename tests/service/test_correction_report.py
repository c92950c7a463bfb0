"""``evaluate --corrections`` on rows written by hand: periods in the service's zone,
which tickets count, deadlines and fields a web view will label."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailbot.kinds import CorrectionSource, Direction, LabelField, ReportPeriod
from mailbot.service.correction_report import correction_report, period_of
from mailbot.store import Correction, Message, Ticket, session_scope

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("moment", "by", "expected"),
    [
        # Sunday 23:30 UTC is Monday in Berlin: the next week
        (datetime(2026, 11, 29, 23, 30, tzinfo=UTC), ReportPeriod.WEEK,
         ("2026-W49", date(2026, 11, 30))),
        (datetime(2026, 11, 29, 22, 30, tzinfo=UTC), ReportPeriod.WEEK,
         ("2026-W48", date(2026, 11, 23))),
        # ISO weeks cross the year: 1 January 2027 is in 2026's 53rd week
        (datetime(2027, 1, 1, 12, tzinfo=UTC), ReportPeriod.WEEK,
         ("2026-W53", date(2026, 12, 28))),
        (datetime(2026, 11, 30, 23, 30, tzinfo=UTC), ReportPeriod.MONTH,
         ("2026-12", date(2026, 12, 1))),
        # a time read without its zone is UTC
        (datetime(2026, 11, 30, 22, 59), ReportPeriod.MONTH, ("2026-11", date(2026, 11, 1))),
    ],
)
def test_periods_are_the_service_zones(
    moment: datetime, by: ReportPeriod, expected: tuple[str, date]
) -> None:
    assert period_of(moment, by, BERLIN) == expected


def judged(
    session: Session, number: int, at: datetime, *, alarm: bool = False, **labels: object
) -> Ticket:
    """A ticket judged at ``at`` with the bot's ``labels`` in its first mail's evidence."""
    ticket = Ticket(number=number, created_at=at, alarm_key="h/s" if alarm else None)
    session.add(ticket)
    session.flush()
    assert ticket.id is not None
    evidence = {"priority": "normal", "urgency": "none", "deadline": None,
                "planned_change": False, **labels}
    session.add(Message(ticket_id=ticket.id, direction=Direction.IN, subject=f"m{number}",
                        text="text", evidence=json.dumps(evidence)))
    session.flush()
    return ticket


def label(session: Session, ticket: Ticket, field: LabelField, bot: str, staff: str) -> None:
    assert ticket.id is not None
    session.add(Correction(ticket_id=ticket.id, field=field, bot_value=bot, staff_value=staff,
                           source=CorrectionSource.WEB, at=ticket.created_at))


AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def report_json(engine: Engine, **kwargs: object) -> dict[str, dict[str, object]]:
    with Session(engine) as s:
        data = correction_report(s, zone=BERLIN, **kwargs).as_json()  # type: ignore[arg-type]
    return {f["field"]: f for f in data["fields"]}


def test_a_deadline_moved_to_another_day_is_corrected(engine: Engine) -> None:
    with session_scope(engine) as s:
        moved = judged(s, 1, AT, deadline="2026-11-27")
        kept = judged(s, 2, AT, deadline="2026-11-27")
        added = judged(s, 3, AT)
        label(s, moved, LabelField.DEADLINE, "2026-11-27", "2026-11-30")
        label(s, kept, LabelField.DEADLINE, "2026-11-27", "2026-11-27")
        label(s, added, LabelField.DEADLINE, "", "2026-11-25")
    deadline = report_json(engine)["deadline"]
    assert (deadline["judged"], deadline["labelled"], deadline["corrected"]) == (3, 3, 2)
    assert deadline["values"] == {
        "none": {"judged": 1, "labelled": 1, "corrected": 1, "rate": 1.0},
        "date": {"judged": 2, "labelled": 2, "corrected": 1, "rate": 0.5},
    }
    assert deadline["confusion"] == [
        {"bot": "date", "technician": "date", "tickets": 2},
        {"bot": "none", "technician": "date", "tickets": 1},
    ]


def test_fields_shown_are_prio_and_those_labelled(engine: Engine) -> None:
    with session_scope(engine) as s:
        judged(s, 1, AT)
    # Nobody can correct urgency by mail: a row of "never corrected" would mislead.
    assert list(report_json(engine)) == ["priority"]
    with session_scope(engine) as s:
        label(s, judged(s, 2, AT, urgency="urgent"), LabelField.URGENCY, "urgent", "none")
    fields = report_json(engine)
    assert list(fields) == ["priority", "urgency"]
    assert (fields["urgency"]["judged"], fields["urgency"]["corrected"]) == (2, 1)


def test_alarms_and_tickets_without_a_judged_mail_are_not_counted(engine: Engine) -> None:
    with session_scope(engine) as s:
        judged(s, 1, AT)
        judged(s, 2, AT, alarm=True)
        s.add(Ticket(number=3, created_at=AT))  # no stored mail
    assert report_json(engine)["priority"]["judged"] == 1


def test_since_is_a_day_in_the_service_zone(engine: Engine) -> None:
    with session_scope(engine) as s:
        # 23:30 UTC on the 23rd is already the 24th in Berlin
        judged(s, 1, datetime(2026, 11, 23, 23, 30, tzinfo=UTC))
        judged(s, 2, datetime(2026, 11, 23, 22, 30, tzinfo=UTC))
    since = report_json(engine, since=date(2026, 11, 24))["priority"]
    assert since["judged"] == 1


def test_the_text_says_what_each_column_counts(engine: Engine) -> None:
    with session_scope(engine) as s:
        label(s, judged(s, 1, AT, priority="low"), LabelField.PRIORITY, "low", "critical")
    with Session(engine) as s:
        text = correction_report(s, zone=BERLIN).text()
    assert "tickets judged at any time (Europe/Berlin), by week" in text
    assert "priority: 1 judged, 1 labelled, 1 corrected (100.0%)" in text
    assert "  low           1    0    0" in text
