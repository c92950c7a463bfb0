"""Property tests of the SLA clock against a slow, obviously-correct reference.

The reference knows nothing of BusinessCalendar: an instant is open when its
local wall-clock minute lies in the configured ranges of its local day (after
holidays, closed days and half days), and service time is counted one real
minute at a time. Arrivals are drawn across 2026-2027 with extra weight on the
DST nights, Christmas, New Year, Easter 2027 and Corpus Christi.

Convention under test: a due instant is the end of the last counted minute, so
it may be a closing instant; the instant just before it is always open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import holidays
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.sla import BusinessCalendar, SlaSettings, WeeklyHours, plan
from mailbot.triage import Priority, Urgency

BERLIN = SlaSettings().zone  # the default zone; the DST nights below are Berlin nights
MINUTE = timedelta(minutes=1)

DEFAULT = SlaSettings()
#: Opening ranges on the DST Sundays, one ending in the spring gap, a half day
#: closing inside the gap, holidays leaving extended hours open, closed days.
NIGHT = SlaSettings(
    hours=WeeklyHours.of(
        {
            "mon-fri": "07:00-19:00",
            "sat": "22:00-24:00",
            "sun": ["00:30-02:30", "02:45-03:15", "03:30-24:00"],
        }
    ),
    extended_hours=WeeklyHours.of({"sat": "08:00-18:00", "sun": "01:00-04:00"}),
    holidays_close_extended=False,
    half_days=((12, 24), (12, 31), (3, 28)),
    half_day_close=time(2, 40),
    closed_days=frozenset({date(2026, 12, 28), date(2027, 5, 28)}),
)


@dataclass
class Reference:
    """Minute-by-minute model of the service hours; slow on purpose."""

    settings: SlaSettings
    _ranges: dict[tuple[date, bool], list[tuple[int, int]]] = field(
        default_factory=dict, repr=False
    )
    _holidays: dict[int, holidays.HolidayBase] = field(default_factory=dict, repr=False)

    def ranges(self, day: date, extended: bool) -> list[tuple[int, int]]:
        key = (day, extended)
        if key not in self._ranges:
            self._ranges[key] = self._compute(day, extended)
        return self._ranges[key]

    def _compute(self, day: date, extended: bool) -> list[tuple[int, int]]:
        s = self.settings
        if day.year not in self._holidays:
            self._holidays[day.year] = holidays.country_holidays(
                s.country, subdiv=s.subdivision, years=day.year
            )
        wd = day.weekday()
        service = [(r.start, r.end) for r in s.hours.on(wd)]
        extra = [(r.start, r.end) for r in s.extended_hours.on(wd)]
        if day in s.closed_days:
            ranges: list[tuple[int, int]] = []
        elif day in self._holidays[day.year]:
            ranges = extra if extended and not s.holidays_close_extended else []
        else:
            ranges = service + extra if extended else service
        if (day.month, day.day) in s.half_days:
            close = s.half_day_close.hour * 60 + s.half_day_close.minute
            ranges = [(a, min(b, close)) for a, b in ranges]
        return ranges

    def is_open(self, t: datetime, extended: bool) -> bool:
        local = t.astimezone(BERLIN)
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in self.ranges(local.date(), extended))

    def add(self, start: datetime, minutes: int, extended: bool) -> datetime:
        t = start.astimezone(UTC)
        remaining = minutes
        while True:
            if self.is_open(t, extended):
                if remaining == 0:
                    return t
                remaining -= 1
                if remaining == 0:
                    return t + MINUTE
            t += MINUTE

    def count(self, a: datetime, b: datetime, extended: bool) -> int:
        t, end, n = a.astimezone(UTC), b.astimezone(UTC), 0
        while t < end:
            n += self.is_open(t, extended)
            t += MINUTE
        return n


PROFILES = [
    (BusinessCalendar(DEFAULT), Reference(DEFAULT)),
    (BusinessCalendar(NIGHT), Reference(NIGHT)),
]

START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_MINUTES = int((datetime(2028, 1, 1, tzinfo=UTC) - START) / MINUTE)
ANCHORS = [
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # spring DST 2026
    datetime(2026, 10, 25, 1, 0, tzinfo=UTC),  # autumn DST 2026
    datetime(2027, 3, 28, 1, 0, tzinfo=UTC),  # spring DST 2027 (Easter Sunday)
    datetime(2027, 10, 31, 1, 0, tzinfo=UTC),  # autumn DST 2027
    datetime(2026, 12, 24, 11, 0, tzinfo=UTC),  # Christmas Eve, half day
    datetime(2026, 12, 31, 11, 0, tzinfo=UTC),  # New Year's Eve, half day
    datetime(2027, 12, 24, 11, 0, tzinfo=UTC),  # half day on a Friday
    datetime(2027, 3, 26, 9, 0, tzinfo=UTC),  # Good Friday 2027
    datetime(2026, 6, 4, 9, 0, tzinfo=UTC),  # Corpus Christi 2026 (NW)
    datetime(2027, 5, 27, 9, 0, tzinfo=UTC),  # Corpus Christi 2027, before a closed day
]
INPUT_ZONES: list[tzinfo] = [UTC, BERLIN, timezone(timedelta(hours=-5)), ZoneInfo("Asia/Tokyo")]

minute_instants = st.one_of(
    st.integers(0, SPAN_MINUTES - 1).map(lambda m: START + m * MINUTE),
    st.builds(
        lambda a, m: a + m * MINUTE, st.sampled_from(ANCHORS), st.integers(-4 * 1440, 4 * 1440)
    ),
)
#: the same instants, given in some zone, sometimes with seconds
arrivals = st.builds(
    lambda t, zone, seconds: (t + timedelta(seconds=seconds)).astimezone(zone),
    minute_instants,
    st.sampled_from(INPUT_ZONES),
    st.sampled_from([0, 0, 0, 1, 30, 59]),
)
target_minutes = st.one_of(
    st.sampled_from([0, 60, 240, 480, 960, 1440, 2880]), st.integers(0, 1500)
)
profiles = st.sampled_from(PROFILES)


@settings(max_examples=120, deadline=None)
@given(profile=profiles, start=minute_instants, minutes=target_minutes, extended=st.booleans())
def test_add_service_minutes_matches_brute_force(
    profile: tuple[BusinessCalendar, Reference], start: datetime, minutes: int, extended: bool
) -> None:
    cal, ref = profile
    due = cal.add_service_minutes(start, minutes, extended)
    assert due.astimezone(UTC) == ref.add(start, minutes, extended)
    assert due.tzinfo == BERLIN


@settings(max_examples=80, deadline=None)
@given(
    profile=profiles,
    a=minute_instants,
    length=st.integers(0, 12 * 1440),
    extended=st.booleans(),
)
def test_service_minutes_between_matches_brute_force(
    profile: tuple[BusinessCalendar, Reference], a: datetime, length: int, extended: bool
) -> None:
    cal, ref = profile
    b = a + length * MINUTE
    expected = ref.count(a, b, extended)
    assert cal.service_minutes_between(a, b, extended) == expected
    assert cal.service_minutes_between(b, a, extended) == -expected


@settings(max_examples=200, deadline=None)
@given(profile=profiles, t=arrivals, extended=st.booleans())
def test_is_open_and_next_open_match_the_reference(
    profile: tuple[BusinessCalendar, Reference], t: datetime, extended: bool
) -> None:
    cal, ref = profile
    assert cal.is_open(t, extended) == ref.is_open(t, extended)
    nxt = cal.next_open(t, extended)
    assert ref.is_open(nxt, extended)
    if ref.is_open(t, extended):
        assert nxt.astimezone(UTC) == t.astimezone(UTC)
    else:
        # the reference's first open minute, counted from the next whole minute
        whole = t.astimezone(UTC).replace(second=0) + (MINUTE if t.second else timedelta())
        assert nxt.astimezone(UTC) == ref.add(whole, 0, extended)


@settings(max_examples=200, deadline=None)
@given(profile=profiles, start=arrivals, minutes=target_minutes, extended=st.booleans())
def test_adding_then_measuring_gives_the_minutes_back(
    profile: tuple[BusinessCalendar, Reference], start: datetime, minutes: int, extended: bool
) -> None:
    cal, _ = profile
    due = cal.add_service_minutes(start, minutes, extended)
    assert cal.service_minutes_between(start, due, extended) == minutes
    assert due.astimezone(UTC) >= start.astimezone(UTC)


@settings(max_examples=100, deadline=None)
@given(
    profile=profiles,
    arrival=arrivals,
    priority=st.sampled_from(list(Priority)),
    contract=st.booleans(),
    urgency=st.sampled_from(list(Urgency)),
    deadline_offset=st.one_of(st.none(), st.integers(-5, 30)),
    planned_change=st.booleans(),
)
def test_plan_due_at_lies_in_the_applicable_hours(
    profile: tuple[BusinessCalendar, Reference],
    arrival: datetime,
    priority: Priority,
    contract: bool,
    urgency: Urgency,
    deadline_offset: int | None,
    planned_change: bool,
) -> None:
    cal, ref = profile
    day = arrival.astimezone(BERLIN).date()
    deadline = None if deadline_offset is None else day + timedelta(days=deadline_offset)
    p = plan(arrival, priority, contract, urgency, deadline, planned_change, cal)
    ext = p.extended_hours
    assert ext is (contract and priority is Priority.CRITICAL)
    arrived, starts = arrival.astimezone(UTC), p.clock_starts.astimezone(UTC)
    base, due = p.base_due_at.astimezone(UTC), p.due_at.astimezone(UTC)
    assert arrived <= starts < base
    assert ref.is_open(starts, ext)
    # the last counted instant is open; due_at itself may be the closing instant
    assert ref.is_open(base - timedelta(seconds=1), ext)
    assert ref.is_open(due, ext) or ref.is_open(due - timedelta(seconds=1), ext)
    assert due > starts
    if "follows_customer_window" in p.adjustments:
        assert due > base
    else:
        assert due <= base
    # urgency, deadline and planned change never change the target
    plain = plan(arrival, priority, contract, Urgency.NONE, None, False, cal)
    assert (plain.base_due_at, plain.target_minutes) == (p.base_due_at, p.target_minutes)
    assert (p.scheduled_for is not None) == (planned_change and deadline is not None)
    assert p.due_at.tzinfo == p.base_due_at.tzinfo == p.clock_starts.tzinfo == BERLIN


@settings(max_examples=60, deadline=None)
@given(
    profile=profiles,
    arrival=minute_instants,
    priority=st.sampled_from(list(Priority)),
    contract=st.booleans(),
)
def test_base_due_matches_brute_force(
    profile: tuple[BusinessCalendar, Reference],
    arrival: datetime,
    priority: Priority,
    contract: bool,
) -> None:
    cal, ref = profile
    p = plan(arrival, priority, contract, Urgency.NONE, None, False, cal)
    assert p.base_due_at.astimezone(UTC) == ref.add(arrival, p.target_minutes, p.extended_hours)


@settings(max_examples=200, deadline=None)
@given(
    profile=profiles,
    first=arrivals,
    later_by=st.one_of(st.integers(0, 120), st.integers(0, 20 * 1440)),
    priority=st.sampled_from(list(Priority)),
    contract=st.booleans(),
)
def test_due_at_is_monotone_in_arrival(
    profile: tuple[BusinessCalendar, Reference],
    first: datetime,
    later_by: int,
    priority: Priority,
    contract: bool,
) -> None:
    cal, _ = profile
    # UTC arithmetic: adding to a Berlin datetime is wall-clock arithmetic and drops fold.
    second = first.astimezone(UTC) + later_by * MINUTE
    a = plan(first, priority, contract, Urgency.NONE, None, False, cal)
    b = plan(second, priority, contract, Urgency.NONE, None, False, cal)
    assert a.due_at.astimezone(UTC) <= b.due_at.astimezone(UTC)
    assert a.clock_starts.astimezone(UTC) <= b.clock_starts.astimezone(UTC)
