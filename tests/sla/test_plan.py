"""Named cases of plan() and work_order_key(): triage.md's examples and each rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mailbot.sla import (
    ADJUSTMENTS,
    Adjustment,
    BusinessCalendar,
    Plan,
    SlaSettings,
    WeeklyHours,
    plan,
    work_order_key,
)
from mailbot.triage import Priority, Urgency

BERLIN = SlaSettings().zone  # the default zone; the dates below are Berlin days
CRIT, NORM, LOW = Priority.CRITICAL, Priority.NORMAL, Priority.LOW
URGENT, NONE, NOT_URGENT = Urgency.URGENT, Urgency.NONE, Urgency.NOT_URGENT

MONDAY_0900 = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
FRIDAY_1830 = datetime(2026, 11, 27, 18, 30, tzinfo=BERLIN)


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BERLIN)


@pytest.fixture(scope="module")
def cal() -> BusinessCalendar:
    return BusinessCalendar(SlaSettings())


def simple(
    cal: BusinessCalendar,
    arrival: datetime,
    priority: Priority,
    contract: bool,
    urgency: Urgency = NONE,
    deadline: date | None = None,
    planned_change: bool = False,
) -> Plan:
    p = plan(arrival, priority, contract, urgency, deadline, planned_change, cal)
    assert set(p.adjustments) <= ADJUSTMENTS
    assert all(isinstance(label, Adjustment) for label in p.adjustments)
    return p


# -- triage.md -------------------------------------------------------------------


def test_worked_example_contract(cal: BusinessCalendar) -> None:
    p = simple(cal, FRIDAY_1830, CRIT, True)
    assert p.due_at == at(2026, 11, 28, 8, 30)
    assert p.extended_hours is True
    assert p.target_minutes == 60
    assert p.clock_starts == FRIDAY_1830
    assert p.due_at == p.base_due_at
    assert p.adjustments == ()


def test_worked_example_no_contract(cal: BusinessCalendar) -> None:
    p = simple(cal, FRIDAY_1830, CRIT, False)
    assert p.due_at == at(2026, 11, 30, 10, 30)
    assert p.extended_hours is False
    assert p.target_minutes == 240


@pytest.mark.parametrize(
    ("priority", "contract", "minutes", "due"),
    [
        (CRIT, True, 60, at(2026, 11, 28, 8, 30)),
        (CRIT, False, 240, at(2026, 11, 30, 10, 30)),
        (NORM, True, 480, at(2026, 11, 30, 14, 30)),  # no extended hours for normal
        (NORM, False, 960, at(2026, 12, 1, 10, 30)),
        (LOW, True, 1440, at(2026, 12, 1, 18, 30)),
        (LOW, False, 2880, at(2026, 12, 3, 18, 30)),
    ],
)
def test_targets_per_priority_and_contract_from_friday_evening(
    cal: BusinessCalendar, priority: Priority, contract: bool, minutes: int, due: datetime
) -> None:
    p = simple(cal, FRIDAY_1830, priority, contract)
    assert (p.target_minutes, p.due_at) == (minutes, due)
    assert p.extended_hours is (priority is CRIT and contract)


@pytest.mark.parametrize(
    ("priority", "contract", "due"),
    [
        (CRIT, True, at(2026, 11, 23, 10, 0)),
        (CRIT, False, at(2026, 11, 23, 13, 0)),
        (NORM, True, at(2026, 11, 23, 17, 0)),
        (NORM, False, at(2026, 11, 24, 13, 0)),
        (LOW, True, at(2026, 11, 25, 9, 0)),
        (LOW, False, at(2026, 11, 27, 9, 0)),
    ],
)
def test_targets_from_monday_morning(
    cal: BusinessCalendar, priority: Priority, contract: bool, due: datetime
) -> None:
    assert simple(cal, MONDAY_0900, priority, contract).due_at == due


def test_saturday_contract_versus_no_contract(cal: BusinessCalendar) -> None:
    saturday = at(2026, 11, 28, 10, 0)
    with_contract = simple(cal, saturday, CRIT, True)
    assert (with_contract.clock_starts, with_contract.due_at) == (saturday, at(2026, 11, 28, 11))
    without = simple(cal, saturday, CRIT, False)
    assert (without.clock_starts, without.due_at) == (at(2026, 11, 30, 7), at(2026, 11, 30, 11))
    # a contract customer's normal matter waits for the ordinary hours
    assert simple(cal, saturday, NORM, True).due_at == at(2026, 11, 30, 15, 0)


def test_christmas_and_new_year(cal: BusinessCalendar) -> None:
    # By default 24 and 31 December are full service days (issue 20: the service page
    # names no half days; these figures assumed closing at noon before).
    eve = at(2026, 12, 24, 16, 30)
    assert simple(cal, eve, CRIT, False).due_at == at(2026, 12, 28, 8, 30)
    assert simple(cal, eve, CRIT, True).due_at == at(2026, 12, 24, 17, 30)
    assert simple(cal, at(2026, 12, 24, 18, 30), CRIT, True).due_at == at(2026, 12, 28, 7, 30)
    open_boxing_day = BusinessCalendar(SlaSettings(holidays_close_extended=False))
    late_eve = at(2026, 12, 24, 18, 30)
    assert simple(open_boxing_day, late_eve, CRIT, True).due_at == at(2026, 12, 26, 8, 30)
    silvester = at(2026, 12, 31, 18, 0)
    assert simple(cal, silvester, CRIT, True).due_at == at(2026, 12, 31, 19, 0)
    assert simple(cal, silvester, CRIT, False).due_at == at(2027, 1, 4, 10, 0)


def test_christmas_and_new_year_with_half_days(cal: BusinessCalendar) -> None:
    half = BusinessCalendar(SlaSettings(half_days=((12, 24), (12, 31))))
    eve = at(2026, 12, 24, 11, 30)
    assert simple(half, eve, CRIT, False).due_at == at(2026, 12, 28, 10, 30)
    assert simple(half, eve, CRIT, True).due_at == at(2026, 12, 28, 7, 30)
    silvester = at(2026, 12, 31, 13, 0)
    assert simple(half, silvester, CRIT, True).due_at == at(2027, 1, 2, 9, 0)
    assert simple(half, silvester, CRIT, False).due_at == at(2027, 1, 4, 11, 0)
    # the same mail without half days: answered the same day
    assert simple(cal, silvester, CRIT, False).due_at == at(2026, 12, 31, 17, 0)


def test_good_friday_2027_contract_critical(cal: BusinessCalendar) -> None:
    p = simple(cal, at(2027, 3, 26, 10, 0), CRIT, True)
    assert (p.clock_starts, p.due_at) == (at(2027, 3, 27, 8, 0), at(2027, 3, 27, 9, 0))


def test_arrival_in_any_zone(cal: BusinessCalendar) -> None:
    p = simple(cal, FRIDAY_1830.astimezone(UTC), CRIT, True)
    assert p.due_at == at(2026, 11, 28, 8, 30)
    assert p.due_at.tzinfo == BERLIN
    assert p.clock_starts.tzinfo == BERLIN


def test_naive_arrival_is_refused(cal: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan(datetime(2026, 11, 23, 9), NORM, False, NONE, None, False, cal)


# -- urgency and deadlines ---------------------------------------------------------


@pytest.mark.parametrize(
    ("urgency", "deadline", "due", "labels"),
    [
        (URGENT, None, at(2026, 11, 24, 13), ("urgent_ahead",)),
        # "bis morgen": by the opening of Tuesday, sooner than the 16 h target
        (URGENT, date(2026, 11, 24), at(2026, 11, 24, 7), ("urgent_ahead", "pulled_to_deadline")),
        # a deadline after the target changes nothing
        (URGENT, date(2026, 11, 25), at(2026, 11, 24, 13), ("urgent_ahead",)),
        # deadline today or passed: an hour of service time after the clock start
        (
            URGENT,
            date(2026, 11, 23),
            at(2026, 11, 23, 10),
            ("urgent_ahead", "deadline_passed", "pulled_same_day"),
        ),
        (
            URGENT,
            date(2026, 11, 20),
            at(2026, 11, 23, 10),
            ("urgent_ahead", "deadline_passed", "pulled_same_day"),
        ),
        # urgency none: a deadline is noted, the promise stays
        (NONE, date(2026, 11, 24), at(2026, 11, 24, 13), ("deadline_before_due",)),
        (NONE, date(2026, 11, 23), at(2026, 11, 24, 13), ("deadline_passed",)),
        (NONE, date(2026, 11, 30), at(2026, 11, 24, 13), ()),
    ],
)
def test_urgent_and_deadlines(
    cal: BusinessCalendar,
    urgency: Urgency,
    deadline: date | None,
    due: datetime,
    labels: tuple[str, ...],
) -> None:
    p = simple(cal, MONDAY_0900, NORM, False, urgency, deadline)
    assert (p.due_at, p.adjustments) == (due, labels)
    assert p.base_due_at == at(2026, 11, 24, 13)  # urgency never changes the target


def test_urgent_deadline_on_a_closed_day_means_before_it(cal: BusinessCalendar) -> None:
    # "bis Sonntag": the last moment we can act is Friday's close, not Monday's opening.
    p = simple(cal, at(2026, 11, 26, 9), LOW, False, URGENT, date(2026, 11, 29))
    assert p.due_at == at(2026, 11, 27, 19)
    assert p.base_due_at == at(2026, 12, 2, 9)
    assert p.adjustments == ("urgent_ahead", "pulled_to_deadline")


def test_urgent_after_hours_with_deadline_next_morning(cal: BusinessCalendar) -> None:
    p = simple(cal, at(2026, 11, 23, 20), NORM, False, URGENT, date(2026, 11, 24))
    assert p.clock_starts == at(2026, 11, 24, 7)
    assert p.due_at == at(2026, 11, 24, 8)
    assert p.adjustments == ("urgent_ahead", "deadline_passed", "pulled_same_day")


def test_urgent_same_day_never_later_than_the_target(cal: BusinessCalendar) -> None:
    p = simple(cal, MONDAY_0900, CRIT, True, URGENT, date(2026, 11, 23))
    assert p.due_at == p.base_due_at == at(2026, 11, 23, 10)
    assert p.adjustments == ("urgent_ahead", "deadline_passed")


def test_urgent_same_day_minutes_is_configurable() -> None:
    cal = BusinessCalendar(SlaSettings(urgent_same_day_minutes=15))
    p = simple(cal, MONDAY_0900, NORM, False, URGENT, date(2026, 11, 23))
    assert p.due_at == at(2026, 11, 23, 9, 15)


@pytest.mark.parametrize(
    ("deadline", "due", "labels"),
    [
        (None, at(2026, 11, 23, 17), ("not_urgent_behind",)),
        # "innerhalb der nächsten 3 Tage": until the close of Thursday
        (
            date(2026, 11, 26),
            at(2026, 11, 26, 19),
            ("not_urgent_behind", "follows_customer_window"),
        ),
        # window ending on a Sunday: the close of the Friday before
        (
            date(2026, 11, 29),
            at(2026, 11, 27, 19),
            ("not_urgent_behind", "follows_customer_window"),
        ),
        (date(2026, 11, 20), at(2026, 11, 23, 17), ("not_urgent_behind", "deadline_passed")),
    ],
)
def test_not_urgent_follows_the_customer_window(
    cal: BusinessCalendar, deadline: date | None, due: datetime, labels: tuple[str, ...]
) -> None:
    p = simple(cal, MONDAY_0900, NORM, True, NOT_URGENT, deadline)
    assert (p.due_at, p.adjustments) == (due, labels)
    assert p.base_due_at == at(2026, 11, 23, 17)


def test_not_urgent_window_never_before_the_target(cal: BusinessCalendar) -> None:
    # Window ends Monday 19:00, the 48 h target is Friday: the target stands.
    p = simple(cal, MONDAY_0900, LOW, False, NOT_URGENT, date(2026, 11, 23))
    assert p.due_at == p.base_due_at == at(2026, 11, 27, 9)
    assert p.adjustments == ("not_urgent_behind",)


# -- planned changes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrival", "change", "scheduled", "due", "labels"),
    [
        # change next Tuesday: work on Monday, reply by the ordinary target
        (
            MONDAY_0900,
            date(2026, 12, 1),
            date(2026, 11, 30),
            at(2026, 11, 27, 9),
            ("scheduled_before_change",),
        ),
        # change on Wednesday: work on Tuesday, due by Tuesday's close
        (
            MONDAY_0900,
            date(2026, 11, 25),
            date(2026, 11, 24),
            at(2026, 11, 24, 19),
            ("scheduled_before_change", "pulled_to_schedule"),
        ),
        # change on a Monday: the service day before it is the Friday
        (
            MONDAY_0900,
            date(2026, 11, 30),
            date(2026, 11, 27),
            at(2026, 11, 27, 9),
            ("scheduled_before_change",),
        ),
        # mail after hours, change tomorrow: no service day left before it
        (
            at(2026, 11, 23, 20),
            date(2026, 11, 24),
            date(2026, 11, 24),
            at(2026, 11, 24, 19),
            ("change_too_soon", "pulled_to_schedule"),
        ),
        # change after New Year: 31.12. is the last service day before it
        (
            at(2026, 12, 21, 9),
            date(2027, 1, 4),
            date(2026, 12, 31),
            at(2026, 12, 28, 9),  # 48 h of service time; 24.12. is a full day (issue 20)
            ("scheduled_before_change",),
        ),
    ],
)
def test_planned_change_scheduled_the_service_day_before(
    cal: BusinessCalendar,
    arrival: datetime,
    change: date,
    scheduled: date,
    due: datetime,
    labels: tuple[str, ...],
) -> None:
    p = simple(cal, arrival, LOW, False, NONE, change, planned_change=True)
    assert (p.scheduled_for, p.due_at, p.adjustments) == (scheduled, due, labels)
    assert p.due_at >= p.clock_starts


def test_planned_change_without_date(cal: BusinessCalendar) -> None:
    p = simple(cal, MONDAY_0900, LOW, False, NONE, None, planned_change=True)
    assert (p.scheduled_for, p.due_at, p.adjustments) == (None, p.base_due_at, ())


def test_planned_change_urgency_moves_only_the_order(cal: BusinessCalendar) -> None:
    p = simple(cal, MONDAY_0900, LOW, False, URGENT, date(2026, 11, 25), planned_change=True)
    assert p.adjustments == ("urgent_ahead", "scheduled_before_change", "pulled_to_schedule")
    assert p.due_at == at(2026, 11, 24, 19)
    q = simple(cal, MONDAY_0900, LOW, False, NOT_URGENT, date(2026, 12, 1), planned_change=True)
    assert q.adjustments == ("not_urgent_behind", "scheduled_before_change")
    assert q.due_at == q.base_due_at


# -- on call ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def on_call_cal() -> BusinessCalendar:
    return BusinessCalendar(
        SlaSettings(
            oncall_address="bereitschaft@itservice.example",
            oncall_hours=WeeklyHours.of(
                {"mon-fri": ["00:00-07:00", "19:00-24:00"], "sat-sun": "00:00-24:00"}
            ),
        )
    )


@pytest.mark.parametrize(
    ("arrival", "priority", "contract", "expected"),
    [
        (at(2026, 11, 28, 10), CRIT, False, True),  # Saturday, service closed
        (at(2026, 11, 28, 10), CRIT, True, False),  # extended hours are open: no call-out
        (at(2026, 11, 28, 19), CRIT, True, True),  # after the extended hours
        (at(2026, 11, 28, 10), NORM, False, False),  # only critical failures
        (at(2026, 11, 23, 10), CRIT, False, False),  # inside service hours
        (at(2026, 11, 23, 22), CRIT, False, True),
        (at(2026, 12, 25, 10), CRIT, False, True),  # a holiday Friday: Sunday's on-call hours
    ],
)
def test_on_call_now(
    on_call_cal: BusinessCalendar,
    arrival: datetime,
    priority: Priority,
    contract: bool,
    expected: bool,
) -> None:
    p = simple(on_call_cal, arrival, priority, contract)
    assert p.on_call_now is expected
    # the promise never counts on the on-call technician
    assert p.due_at == simple(BusinessCalendar(SlaSettings()), arrival, priority, contract).due_at


def test_nobody_on_call_by_default(cal: BusinessCalendar) -> None:
    assert simple(cal, at(2026, 11, 28, 10), CRIT, False).on_call_now is False


# -- order of work ---------------------------------------------------------------


def test_order_of_work() -> None:
    t0 = at(2026, 11, 23, 9)
    tickets = {
        "low-contract": (LOW, True, URGENT, t0),
        "normal-none-late": (NORM, False, NONE, t0 + timedelta(minutes=5)),
        "normal-none-early": (NORM, False, NONE, t0),
        "normal-urgent": (NORM, False, URGENT, t0 + timedelta(hours=2)),
        "normal-not-urgent": (NORM, False, NOT_URGENT, t0 - timedelta(days=1)),
        "normal-contract-not-urgent": (NORM, True, NOT_URGENT, t0 + timedelta(hours=3)),
        "critical-no-contract": (CRIT, False, NOT_URGENT, t0 + timedelta(hours=4)),
    }
    order = sorted(tickets, key=lambda name: work_order_key(*tickets[name]))
    assert order == [
        "critical-no-contract",
        "normal-contract-not-urgent",
        "normal-urgent",
        "normal-none-early",
        "normal-none-late",
        "normal-not-urgent",
        "low-contract",
    ]


def test_order_compares_arrivals_across_offsets() -> None:
    earlier_in_utc = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)  # 09:30 Berlin
    later = at(2026, 11, 23, 9, 45)
    assert work_order_key(NORM, False, NONE, earlier_in_utc) < work_order_key(
        NORM, False, NONE, later
    )
    with pytest.raises(ValueError):
        work_order_key(NORM, False, NONE, datetime(2026, 11, 23, 9))


def test_plan_carries_its_order_key(cal: BusinessCalendar) -> None:
    p = simple(cal, MONDAY_0900, NORM, True, URGENT)
    assert p.order_key == work_order_key(NORM, True, URGENT, MONDAY_0900)
