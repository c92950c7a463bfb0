"""The plan of a ticket: when it is due, why, and where it stands in the order of work.

The rules are those of ``shared/spec/triage.md`` ("Service hours and reaction
targets"); the numbers come from :class:`~mailbot.sla.settings.SlaSettings` and
the time arithmetic from :class:`~mailbot.sla.calendar.BusinessCalendar`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from mailbot.sla.calendar import BusinessCalendar, require_aware
from mailbot.triage import Priority, Urgency


class Adjustment(StrEnum):
    """What urgency, a deadline or a planned change did to a plan (``Plan.adjustments``)."""

    #: urgent: worked before the 'none' tickets of its class
    URGENT_AHEAD = "urgent_ahead"
    #: not_urgent: worked after them
    NOT_URGENT_BEHIND = "not_urgent_behind"
    #: urgent: due_at moved to the deadline
    PULLED_TO_DEADLINE = "pulled_to_deadline"
    #: urgent, deadline reached: due_at = clock start + same-day minutes
    PULLED_SAME_DAY = "pulled_same_day"
    #: the deadline moment is not after the clock start
    DEADLINE_PASSED = "deadline_passed"
    #: urgency none: deadline before due_at; noted only
    DEADLINE_BEFORE_DUE = "deadline_before_due"
    #: not_urgent: due_at moved to the end of the customer's window
    FOLLOWS_CUSTOMER_WINDOW = "follows_customer_window"
    #: planned change: worked on the service day before the change
    SCHEDULED_BEFORE_CHANGE = "scheduled_before_change"
    #: planned change: no service day left before it
    CHANGE_TOO_SOON = "change_too_soon"
    #: planned change: due_at = close of the scheduled day
    PULLED_TO_SCHEDULE = "pulled_to_schedule"


ADJUSTMENTS: frozenset[Adjustment] = frozenset(Adjustment)


@dataclass(frozen=True)
class Plan:
    """When a ticket is due, and why; see :func:`plan` for the rules.

    The instants are in the calendar's zone. Compare them with each other after
    ``.astimezone(UTC)``: Python compares same-zone datetimes by wall clock, which
    misorders the repeated hour of the autumn night.
    """

    #: the promise: a technician reacts by then (aware, configured zone)
    due_at: datetime
    #: the target of priority and contract alone
    base_due_at: datetime
    #: arrival if inside the applicable hours, else the next opening
    clock_starts: datetime
    #: contract customer with a critical failure: service ∪ extended hours apply
    extended_hours: bool
    target_minutes: int
    #: planned changes: the service day the work is planned for
    scheduled_for: date | None
    #: what urgency, deadline or planned change did, in the order it was applied
    adjustments: tuple[Adjustment, ...]
    #: critical, outside the applicable hours, and someone is on call right now
    on_call_now: bool
    order_key: tuple[int, int, int, datetime]


def work_order_key(
    priority: Priority, contract: bool, urgency: Urgency, arrived_at: datetime
) -> tuple[int, int, int, datetime]:
    """Sort key of the order of work (smallest first), as triage.md states it:
    priority; within a priority contract customers first; then urgent, none,
    not_urgent; then arrival (compared as UTC, so mixed offsets sort correctly).
    """
    arrived = require_aware(arrived_at, "arrived_at").astimezone(UTC)
    return (priority.rank, 0 if contract else 1, urgency.rank, arrived)


def deadline_instant(deadline: date, calendar: BusinessCalendar, extended: bool) -> datetime:
    """What "by <deadline>" means for the clock: the opening of service on that day.

    If the day has no applicable hours (weekend, holiday) the customer needs the
    matter before it, so it is the close of the last service day before it; the
    two are equal in service time, but the earlier one is the truthful promise.
    """
    opening = calendar.opening_on(deadline, extended)
    if opening is not None:
        return opening
    day = calendar.service_day_on_or_before(deadline - timedelta(days=1), extended)
    closing = calendar.closing_on(day, extended)
    assert closing is not None  # a service day has hours
    return closing


def _utc(closing: datetime | None) -> datetime:
    assert closing is not None  # only asked for service days, which have hours
    return closing.astimezone(UTC)


@dataclass(frozen=True)
class _Clock:
    """The base plan the adjustments start from; instants in UTC (see :class:`Plan`)."""

    calendar: BusinessCalendar
    extended: bool
    starts: datetime
    base: datetime


def plan(
    arrival: datetime,
    priority: Priority,
    contract: bool,
    urgency: Urgency,
    deadline: date | None,
    planned_change: bool,
    calendar: BusinessCalendar,
) -> Plan:
    """The reaction plan of a ticket. Urgency and deadlines change the plan, never the priority.

    Base: the applicable hours are service ∪ extended hours for a contract
    customer's critical failure, else service hours. The clock starts at arrival
    if that is inside them, else at the next opening; ``base_due_at`` is the
    priority/contract target counted in those hours from there.

    Then urgency places the ticket in its class (``urgent_ahead``,
    ``not_urgent_behind``), and a date moves ``due_at``: a planned change's date
    by :func:`_schedule_change`, a customer's deadline by :func:`_meet_deadline`.

    ``on_call_now``: critical, outside the applicable hours at arrival, and the
    on-call hours cover the arrival; the promise (``due_at``) does not count on it.
    """
    require_aware(arrival, "arrival")
    extended = contract and priority is Priority.CRITICAL
    target = calendar.settings.targets.minutes(priority, contract)
    # Compare in UTC only: same-zone comparisons of aware datetimes ignore the
    # offset, which orders the repeated autumn hour wrongly.
    starts = calendar.next_open(arrival, extended).astimezone(UTC)
    base = calendar.add_service_minutes(starts, target, extended).astimezone(UTC)
    clock = _Clock(calendar, extended, starts, base)
    labels: list[Adjustment] = []
    if urgency is Urgency.URGENT:
        labels.append(Adjustment.URGENT_AHEAD)
    elif urgency is Urgency.NOT_URGENT:
        labels.append(Adjustment.NOT_URGENT_BEHIND)

    due, scheduled = base, None
    if planned_change and deadline is not None:
        scheduled, due = _schedule_change(deadline, clock, labels)
    elif deadline is not None:
        due = _meet_deadline(deadline, urgency, clock, labels)

    on_call = (
        priority is Priority.CRITICAL
        and not calendar.is_open(arrival, extended)
        and calendar.is_on_call(arrival)
    )
    return Plan(
        due_at=due.astimezone(calendar.zone),
        base_due_at=base.astimezone(calendar.zone),
        clock_starts=starts.astimezone(calendar.zone),
        extended_hours=extended,
        target_minutes=target,
        scheduled_for=scheduled,
        adjustments=tuple(labels),
        on_call_now=on_call,
        order_key=work_order_key(priority, contract, urgency, arrival),
    )


def _schedule_change(
    change_day: date, clock: _Clock, labels: list[Adjustment]
) -> tuple[date, datetime]:
    """A planned change with a date: the service day to work on it, and ``due_at``.

    The scheduled day is the last service day before the change; if that day's
    close is not after the clock start, the next service day from the clock start
    instead (``change_too_soon``, else ``scheduled_before_change``).
    ``due_at = min(base_due_at, close of the scheduled day)`` (``pulled_to_schedule``
    when that is sooner), never before the clock start. Urgency only moves the
    order here: the work must happen before the change either way.
    """
    cal, extended = clock.calendar, clock.extended
    scheduled = cal.service_day_on_or_before(change_day - timedelta(days=1), extended)
    close = _utc(cal.closing_on(scheduled, extended))
    if close <= clock.starts:
        # The clock starts in an open range, so its local day is a service day.
        scheduled = cal.local_date(clock.starts)
        close = _utc(cal.closing_on(scheduled, extended))
        labels.append(Adjustment.CHANGE_TOO_SOON)
    else:
        labels.append(Adjustment.SCHEDULED_BEFORE_CHANGE)
    if close < clock.base:
        labels.append(Adjustment.PULLED_TO_SCHEDULE)
        return scheduled, max(close, clock.starts)
    return scheduled, clock.base


def _meet_deadline(
    deadline: date, urgency: Urgency, clock: _Clock, labels: list[Adjustment]
) -> datetime:
    """``due_at`` for a customer's deadline, read as :func:`deadline_instant`.

    - **urgent**: with a deadline after the clock start, ``due_at = min(base_due_at,
      deadline)`` (``pulled_to_deadline``). With a deadline not after the clock
      start (today or passed, ``deadline_passed``), ``due_at = min(base_due_at,
      clock start + urgent_same_day_minutes of service time)`` (``pulled_same_day``).
    - **not_urgent**: the customer's window ends at the close of the last service
      day on or before the deadline; when that is later than ``base_due_at``,
      ``due_at`` is the window end (``follows_customer_window``), never earlier
      than ``base_due_at``.
    - **none**: ``due_at`` stays; ``deadline_before_due`` or ``deadline_passed``
      tell the technician the target misses the customer's date.
    """
    cal, extended, starts, base = clock.calendar, clock.extended, clock.starts, clock.base
    by = deadline_instant(deadline, cal, extended).astimezone(UTC)
    if urgency is Urgency.URGENT:
        if by > starts:
            if by < base:
                labels.append(Adjustment.PULLED_TO_DEADLINE)
                return by
            return base
        labels.append(Adjustment.DEADLINE_PASSED)
        quick = cal.add_service_minutes(
            starts, cal.settings.urgent_same_day_minutes, extended
        ).astimezone(UTC)
        if quick < base:
            labels.append(Adjustment.PULLED_SAME_DAY)
            return quick
        return base
    if urgency is Urgency.NOT_URGENT:
        window_day = cal.service_day_on_or_before(deadline, extended)
        window_end = _utc(cal.closing_on(window_day, extended))
        if window_end <= starts:
            labels.append(Adjustment.DEADLINE_PASSED)
        elif window_end > base:
            labels.append(Adjustment.FOLLOWS_CUSTOMER_WINDOW)
            return window_end
        return base
    if by <= starts:
        labels.append(Adjustment.DEADLINE_PASSED)
    elif by < base:
        labels.append(Adjustment.DEADLINE_BEFORE_DUE)
    return base
