"""The one way a ticket's field changes: set, recorded once, replanned when that moves
the due time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailbot.process.tickets import (
    Change,
    Decision,
    TicketField,
    change_ticket,
    ticket_plan,
)
from mailbot.sla import BusinessCalendar, SlaSettings
from mailbot.store import Event, EventKind, Ticket, TicketStatus, open_store, session_scope

CALENDAR = BusinessCalendar(SlaSettings())
#: a Tuesday morning, inside the service hours
ARRIVED = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
NOW = ARRIVED + timedelta(hours=1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tickets.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = open_store(url)
    with session_scope(engine) as session:
        ticket = Ticket(number=1001, subject="Drucker", priority="low", arrived_at=ARRIVED,
                        created_at=ARRIVED, updated_at=ARRIVED)
        ticket.due_at = ticket_plan(ticket, CALENDAR).due_at
        session.add(ticket)
    yield engine
    engine.dispose()


def change(
    engine: Engine, changes: list[Change], decision: Decision, **kw: datetime
) -> tuple[Change, ...]:
    with session_scope(engine) as session:
        ticket = session.exec(select(Ticket)).one()
        return change_ticket(session, ticket, changes, decision, calendar=CALENDAR, now=NOW, **kw)


def the_ticket(engine: Engine) -> Ticket:
    with Session(engine) as session:
        return session.exec(select(Ticket)).one()


def events(engine: Engine) -> list[Event]:
    with Session(engine) as session:
        return list(session.exec(select(Event).order_by(col(Event.id))).all())


def test_a_priority_change_is_recorded_and_replanned_once(store: Engine) -> None:
    before = the_ticket(store)
    raise_it = [Change(TicketField.PRIORITY, "critical")]
    why = Decision(EventKind.PRIORITY_CHANGED, "t.nowak@itservice.example", "low -> critical",
                   ["#prio kritisch"], None)
    assert change(store, raise_it, why) == tuple(raise_it)
    after = the_ticket(store)
    assert after.priority == "critical"
    assert after.due_at is not None and before.due_at is not None
    assert after.due_at == ticket_plan(after, CALENDAR).due_at < before.due_at
    assert after.updated_at == NOW
    [event] = events(store)
    assert (event.kind, event.actor, event.detail) == (
        EventKind.PRIORITY_CHANGED, "t.nowak@itservice.example", "low -> critical"
    )
    assert event.reasons == '["#prio kritisch"]'
    # The same command again changes nothing, and nothing is recorded.
    assert change(store, raise_it, why) == ()
    assert len(events(store)) == 1
    assert the_ticket(store).due_at == after.due_at


def test_several_changes_are_one_event_that_names_them_in_order(store: Engine) -> None:
    made = change(store, [
        Change(TicketField.STATUS, TicketStatus.SOLVED.value),  # already open: kept
        Change(TicketField.URGENCY, "urgent"),
        Change(TicketField.DEADLINE, date(2026, 11, 25)),
        Change(TicketField.PLANNED_CHANGE, True),
        Change(TicketField.STATUS, TicketStatus.OPEN.value),  # already so: left out
    ], Decision(EventKind.REPLANNED, "classify", reasons=["dringend"]))
    assert [m.code() for m in made] == [
        ("status", "solved"), ("urgency", "urgent"), ("deadline", "2026-11-25"),
        ("planned_change", "true"),
    ]
    [event] = events(store)
    assert event.kind == EventKind.REPLANNED
    assert event.detail == "status=solved; urgency=urgent; deadline=2026-11-25; planned_change=true"
    after = the_ticket(store)
    assert after.due_at == ticket_plan(after, CALENDAR).due_at


def test_a_status_or_assignee_change_keeps_the_due_time(store: Engine) -> None:
    due = the_ticket(store).due_at
    change(store, [Change(TicketField.STATUS, TicketStatus.WAITING.value)],
           Decision(EventKind.STATUS_CHANGED, "t.nowak@itservice.example", "open -> waiting"))
    change(store, [Change(TicketField.ASSIGNEE, "t.nowak@itservice.example")],
           Decision(EventKind.ASSIGNED, "t.nowak@itservice.example"))
    after = the_ticket(store)
    assert (after.status, after.assignee, after.due_at) == (
        "waiting", "t.nowak@itservice.example", due
    )
    assert [e.kind for e in events(store)] == [EventKind.STATUS_CHANGED, EventKind.ASSIGNED]


def test_a_replan_may_count_from_a_later_moment(store: Engine) -> None:
    later = ARRIVED + timedelta(days=1)
    change(store, [Change(TicketField.PRIORITY, "critical")],
           Decision(EventKind.PRIORITY_CHANGED, "monitoring"), clock_from=later)
    after = the_ticket(store)
    assert after.due_at == ticket_plan(after, CALENDAR, later).due_at
    assert after.due_at is not None and after.due_at > later
