"""Named cases of the business calendar: weekends, holidays, half days, DST nights."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from mailbot.sla import BusinessCalendar, SlaSettings, TimeRange, WeeklyHours

BERLIN = SlaSettings().zone  # the default zone; the DST nights below are Berlin nights


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, fold: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BERLIN, fold=fold)


@pytest.fixture(scope="module")
def cal() -> BusinessCalendar:
    return BusinessCalendar(SlaSettings())


def all_day_sundays() -> BusinessCalendar:
    """Open all day on Sundays, the day of every DST change in the default zone."""
    return BusinessCalendar(
        SlaSettings(hours=WeeklyHours.of({"mon-fri": "07:00-19:00", "sun": "00:00-24:00"}))
    )


# -- opening hours ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "extended", "expected"),
    [
        (at(2026, 11, 27, 6, 59), False, False),  # Friday before opening
        (at(2026, 11, 27, 7, 0), False, True),  # opening instant is open
        (at(2026, 11, 27, 18, 59), False, True),
        (at(2026, 11, 27, 19, 0), False, False),  # closing instant is closed
        (at(2026, 11, 28, 10, 0), False, False),  # Saturday: service closed
        (at(2026, 11, 28, 10, 0), True, True),  # Saturday: extended open
        (at(2026, 11, 28, 7, 30), True, False),  # extended Saturday opens at 08:00
        (at(2026, 11, 28, 18, 0), True, False),
        (at(2026, 11, 29, 12, 0), True, False),  # Sunday: closed either way
        # Christmas Eve and New Year's Eve are full service days by default: the service
        # page names no half days (issue 20; they were half days here before)
        (at(2026, 12, 24, 12, 0), False, True),
        (at(2026, 12, 24, 18, 59), False, True),
        (at(2026, 12, 25, 10, 0), True, False),  # Christmas Day: holiday closes extended too
        (at(2026, 12, 31, 12, 0), False, True),
        (at(2026, 12, 31, 19, 0), False, False),
        (at(2027, 1, 1, 10, 0), False, False),  # New Year's Day (a Friday)
        (at(2027, 1, 2, 10, 0), True, True),  # Saturday after it, extended open
        (at(2027, 3, 26, 10, 0), False, False),  # Good Friday 2027
        (at(2027, 3, 26, 10, 0), True, False),
        (at(2027, 3, 29, 10, 0), False, False),  # Easter Monday 2027
        (at(2027, 3, 30, 10, 0), False, True),
        (at(2026, 6, 4, 10, 0), False, False),  # Corpus Christi, a holiday in NW
        (at(2026, 10, 3, 10, 0), True, False),  # German Unity Day on a Saturday
    ],
)
def test_is_open(cal: BusinessCalendar, moment: datetime, extended: bool, expected: bool) -> None:
    assert cal.is_open(moment, extended) is expected


def test_input_in_any_zone_output_in_configured_zone(cal: BusinessCalendar) -> None:
    # Friday 2026-11-27 17:30 UTC is 18:30 in Berlin.
    due = cal.add_service_minutes(datetime(2026, 11, 27, 17, 30, tzinfo=UTC), 60, True)
    assert due == at(2026, 11, 28, 8, 30)
    assert due.tzinfo == BERLIN
    assert cal.is_open(datetime(2026, 11, 27, 17, 30, tzinfo=UTC), False)


def test_naive_datetimes_are_refused(cal: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.is_open(datetime(2026, 11, 27, 10, 0), False)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add_service_minutes(datetime(2026, 11, 27, 10, 0), 5, False)


def test_negative_minutes_are_refused(cal: BusinessCalendar) -> None:
    with pytest.raises(ValueError):
        cal.add_service_minutes(at(2026, 11, 27, 10), -1, False)


def test_corpus_christi_depends_on_the_state() -> None:
    berlin_state = BusinessCalendar(SlaSettings(subdivision="BE"))
    assert berlin_state.is_open(at(2026, 6, 4, 10, 0), False)
    assert berlin_state.holiday_name(date(2026, 6, 4)) is None
    assert BusinessCalendar(SlaSettings()).holiday_name(date(2026, 6, 4)) is not None


def test_holidays_can_leave_extended_hours_open() -> None:
    cal = BusinessCalendar(SlaSettings(holidays_close_extended=False))
    # Saturday 26.12.2026 is a holiday; the extended Saturday hours stay open...
    assert cal.is_open(at(2026, 12, 26, 9, 0), True)
    assert not cal.is_open(at(2026, 12, 26, 9, 0), False)
    # ...but a holiday on a weekday does not open the (service) hours of the extended calendar.
    assert not cal.is_open(at(2026, 12, 25, 9, 0), True)


def test_extra_closed_days_close_both_calendars() -> None:
    cal = BusinessCalendar(SlaSettings(closed_days=frozenset({date(2026, 11, 27)})))
    assert not cal.is_open(at(2026, 11, 27, 10), False)
    assert not cal.is_open(at(2026, 11, 27, 10), True)
    assert cal.next_open(at(2026, 11, 27, 10), False) == at(2026, 11, 30, 7)


def test_half_days_on_christmas_and_new_years_eve_are_opt_in() -> None:
    assert SlaSettings().half_days == ()
    cal = BusinessCalendar(SlaSettings(half_days=((12, 24), (12, 31))))
    assert cal.is_open(at(2026, 12, 24, 11, 59), False)
    assert not cal.is_open(at(2026, 12, 24, 12, 0), False)
    assert not cal.is_open(at(2026, 12, 31, 12, 0), False)
    assert cal.next_open(at(2026, 12, 24, 12, 0), True) == at(2026, 12, 28, 7, 0)
    assert cal.next_open(at(2026, 12, 31, 12, 0), True) == at(2027, 1, 2, 8, 0)
    assert cal.next_open(at(2026, 12, 31, 12, 0), False) == at(2027, 1, 4, 7, 0)
    assert (
        cal.service_minutes_between(at(2026, 12, 24, 0), at(2026, 12, 29, 0), True)
        == 5 * 60 + 12 * 60
    )


def test_half_day_settings() -> None:
    cal = BusinessCalendar(SlaSettings(half_days=((11, 27),), half_day_close=time(14, 30)))
    assert cal.hours_on(date(2026, 11, 27), False) == (TimeRange(7 * 60, 14 * 60 + 30),)
    assert cal.hours_on(date(2026, 12, 24), False) == (TimeRange(7 * 60, 19 * 60),)
    # A half day on Saturday clips the extended hours too.
    cal2 = BusinessCalendar(SlaSettings(half_days=((11, 28),), half_day_close=time(9, 0)))
    assert cal2.hours_on(date(2026, 11, 28), True) == (TimeRange(8 * 60, 9 * 60),)


# -- next_open, add, between ---------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "extended", "expected"),
    [
        (at(2026, 11, 27, 10, 15), False, at(2026, 11, 27, 10, 15)),  # open: itself
        (at(2026, 11, 27, 19, 0), False, at(2026, 11, 30, 7, 0)),
        (at(2026, 11, 27, 19, 0), True, at(2026, 11, 28, 8, 0)),
        (at(2026, 11, 28, 18, 0), True, at(2026, 11, 30, 7, 0)),
        (at(2026, 12, 24, 19, 0), True, at(2026, 12, 28, 7, 0)),  # Christmas
        (at(2026, 12, 31, 19, 0), True, at(2027, 1, 2, 8, 0)),  # New Year
        (at(2026, 12, 31, 19, 0), False, at(2027, 1, 4, 7, 0)),
        (at(2027, 3, 25, 19, 0), False, at(2027, 3, 30, 7, 0)),  # Easter 2027
        (at(2027, 3, 25, 19, 0), True, at(2027, 3, 27, 8, 0)),  # Easter Saturday is open
    ],
)
def test_next_open(
    cal: BusinessCalendar, moment: datetime, extended: bool, expected: datetime
) -> None:
    assert cal.next_open(moment, extended) == expected


def test_minutes_up_to_closing_end_at_the_closing_instant(cal: BusinessCalendar) -> None:
    # The convention: the result is the end of the last counted minute.
    assert cal.add_service_minutes(at(2026, 11, 27, 18, 0), 60, False) == at(2026, 11, 27, 19)
    assert cal.add_service_minutes(at(2026, 11, 27, 18, 0), 61, False) == at(2026, 11, 30, 7, 1)
    assert cal.add_service_minutes(at(2026, 11, 27, 19, 0), 0, False) == at(2026, 11, 30, 7)


def test_easter_2027_across_the_long_weekend(cal: BusinessCalendar) -> None:
    # Thursday 18:00 + 8 h: 1 h on Thursday, Good Friday to Easter Monday closed.
    due = cal.add_service_minutes(at(2027, 3, 25, 18, 0), 480, False)
    assert due == at(2027, 3, 30, 14, 0)
    assert due.utcoffset() == timedelta(hours=2)  # summer time began on Easter Sunday


def test_service_minutes_between(cal: BusinessCalendar) -> None:
    assert (
        cal.service_minutes_between(at(2026, 11, 27, 18, 30), at(2026, 11, 30, 10, 30), False)
        == 240
    )
    assert (
        cal.service_minutes_between(at(2026, 11, 27, 18, 30), at(2026, 11, 30, 10, 30), True) == 840
    )
    assert (
        cal.service_minutes_between(at(2026, 11, 30, 10, 30), at(2026, 11, 27, 18, 30), False)
        == -240
    )
    assert (
        cal.service_minutes_between(at(2026, 12, 24, 0), at(2026, 12, 29, 0), True)
        == 12 * 60 + 12 * 60
    )
    # partial minutes are not counted
    start = at(2026, 11, 27, 10, 0)
    assert cal.service_minutes_between(start, start + timedelta(seconds=119), False) == 1


# -- daylight saving -------------------------------------------------------------


def test_spring_sunday_has_23_hours_of_service() -> None:
    cal = all_day_sundays()
    assert cal.service_minutes_between(at(2027, 3, 28), at(2027, 3, 29), False) == 23 * 60
    # 01:30 CET + 60 minutes of service: 02:00-03:00 does not exist on that night.
    due = cal.add_service_minutes(at(2027, 3, 28, 1, 30), 60, False)
    assert due == at(2027, 3, 28, 3, 30)
    assert due.utcoffset() == timedelta(hours=2)


def test_autumn_sunday_has_25_hours_of_service() -> None:
    cal = all_day_sundays()
    assert cal.service_minutes_between(at(2026, 10, 25), at(2026, 10, 26), False) == 25 * 60
    # 02:30 CEST + 60 minutes is 02:30 CET, the repeated hour.
    due = cal.add_service_minutes(at(2026, 10, 25, 2, 30, fold=0), 60, False)
    assert due == at(2026, 10, 25, 2, 30, fold=1)
    assert due.utcoffset() == timedelta(hours=1)


def test_ranges_touching_the_spring_gap() -> None:
    cal = BusinessCalendar(
        SlaSettings(
            hours=WeeklyHours.of({"mon-fri": "07:00-19:00", "sun": ["00:00-02:30", "02:40-02:50"]})
        )
    )
    sunday = date(2027, 3, 28)
    # 02:40-02:50 never happens; 00:00-02:30 ends at the jump (01:00 UTC): 2 real hours.
    assert cal.closing_on(sunday, False) == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    assert cal.service_minutes_between(at(2027, 3, 28), at(2027, 3, 29), False) == 120
    # ...whereas the same ranges on an ordinary Sunday give 2 h 40.
    assert cal.service_minutes_between(at(2027, 3, 21), at(2027, 3, 22), False) == 160


def test_ranges_in_the_repeated_autumn_hour() -> None:
    cal = BusinessCalendar(
        SlaSettings(hours=WeeklyHours.of({"mon-fri": "07:00-19:00", "sun": "02:15-02:45"}))
    )
    # The wall clock shows 02:15-02:45 twice, so the range is open twice: 60 minutes.
    assert cal.service_minutes_between(at(2026, 10, 25), at(2026, 10, 26), False) == 60
    # (Compared in UTC: Python never calls an ambiguous local time equal to another zone's.)
    opening = cal.opening_on(date(2026, 10, 25), False)
    closing = cal.closing_on(date(2026, 10, 25), False)
    assert opening is not None and closing is not None
    assert opening.astimezone(UTC) == datetime(2026, 10, 25, 0, 15, tzinfo=UTC)
    assert closing.astimezone(UTC) == datetime(2026, 10, 25, 1, 45, tzinfo=UTC)
    assert cal.is_open(at(2026, 10, 25, 2, 40, fold=0), False)
    assert not cal.is_open(at(2026, 10, 25, 2, 50, fold=0), False)  # between the two passes
    assert cal.is_open(at(2026, 10, 25, 2, 40, fold=1), False)
    # 30 minutes from the first 02:15 end at the first 02:45; one more minute is the second 02:16
    due = cal.add_service_minutes(at(2026, 10, 25, 2, 15, fold=0), 31, False)
    assert due.astimezone(UTC) == datetime(2026, 10, 25, 1, 16, tzinfo=UTC)


def test_range_ending_in_the_repeated_autumn_hour() -> None:
    cal = BusinessCalendar(
        SlaSettings(hours=WeeklyHours.of({"mon-fri": "07:00-19:00", "sun": "01:00-02:30"}))
    )
    # 01:00-02:30 CEST (90 min), closed 02:30-02:00 until the clock is set back,
    # then 02:00-02:30 CET again (30 min).
    assert cal.service_minutes_between(at(2026, 10, 25), at(2026, 10, 26), False) == 120
    assert not cal.is_open(datetime(2026, 10, 25, 0, 45, tzinfo=UTC), False)  # 02:45 CEST
    assert cal.is_open(datetime(2026, 10, 25, 1, 15, tzinfo=UTC), False)  # 02:15 CET


def test_default_hours_across_dst_keep_local_wall_clock(cal: BusinessCalendar) -> None:
    # Friday before the autumn change, 18:30 + 4 h service → Monday 10:30 local (CET).
    due = cal.add_service_minutes(at(2026, 10, 23, 18, 30), 240, False)
    assert due == at(2026, 10, 26, 10, 30)
    assert (due.hour, due.minute, due.utcoffset()) == (10, 30, timedelta(hours=1))


# -- display data ----------------------------------------------------------------


def test_weekly_hours_for_templates(cal: BusinessCalendar) -> None:
    service = cal.weekly_hours(False).groups()
    assert [(g.first_day, g.last_day, [str(r) for r in g.ranges]) for g in service] == [
        (0, 4, ["07:00-19:00"])
    ]
    extended = cal.weekly_hours(True).groups()
    assert [(g.first_day, g.last_day, [str(r) for r in g.ranges]) for g in extended] == [
        (0, 4, ["07:00-19:00"]),
        (5, 5, ["08:00-18:00"]),
    ]
    assert service[0].ranges[0].start_text == "07:00"
    assert service[0].ranges[0].end_text == "19:00"


def test_weekly_hours_merge_touching_ranges() -> None:
    hours = WeeklyHours.of({"mon": ["12:00-19:00", "07:00-12:00"], "tue": "00:00-24:00"})
    assert hours.on(0) == (TimeRange(420, 1140),)
    assert str(hours.on(1)[0]) == "00:00-24:00"
    assert hours.on(2) == ()
