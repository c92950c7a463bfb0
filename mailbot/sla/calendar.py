"""The business calendar: when the service is open, and how much service time passes.

Opening hours are local wall-clock ranges per weekday in the configured time zone.
An instant is *open* when its local wall-clock time lies inside a range of its
local day (ranges are half-open: 07:00-19:00 is open at 07:00, closed at 19:00).
Service time is real elapsed time inside open ranges, so on daylight-saving
nights a range that spans the jump is one hour shorter (spring) or longer
(autumn) than its wall-clock width, exactly as a technician's clock runs; a
range inside the repeated autumn hour is open twice.

All arithmetic happens on UTC intervals built once per local day from the wall
clock ranges, so the DST rules of ``zoneinfo`` are applied in one place.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import holidays

from mailbot.sla.hours import TimeRange, WeeklyHours
from mailbot.sla.settings import SlaSettings

#: How far the calendar searches for an open day before it gives up; only a
#: calendar closed for years (a configuration mistake) can hit it.
SEARCH_LIMIT_DAYS = 3660

_ONE_MINUTE = timedelta(minutes=1)


def require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


Interval = tuple[datetime, datetime]


class BusinessCalendar:
    """Service hours and extended hours of one :class:`~mailbot.sla.SlaSettings`.

    ``extended=False`` is the ordinary service calendar; ``extended=True`` is
    service hours ∪ extended hours (contract customers' critical failures).
    Closed on public holidays of the configured state (extended hours too,
    unless ``holidays_close_extended`` is off) and on the extra closed days;
    half days close every range at ``half_day_close``.

    Instances cache per-day intervals and per-year holidays, so build one and
    reuse it. Inputs may be any aware datetime; outputs are in the configured zone.
    """

    def __init__(self, settings: SlaSettings) -> None:
        settings.validate()
        self.settings = settings
        self.zone = settings.zone
        self._weekly = {False: settings.hours, True: settings.hours.union(settings.extended_hours)}
        self._half_days = frozenset(settings.half_days)
        self._half_day_close = settings.half_day_close.hour * 60 + settings.half_day_close.minute
        self._holidays: dict[int, dict[date, str]] = {}
        self._intervals: dict[tuple[date, bool], tuple[Interval, ...]] = {}

    # -- the hours, for display -------------------------------------------------

    def weekly_hours(self, extended: bool) -> WeeklyHours:
        """The regular week (no holidays); ``groups()`` gives "Mo–Fr 07:00–19:00"."""
        return self._weekly[extended]

    def holiday_name(self, day: date) -> str | None:
        year = self._holidays.get(day.year)
        if year is None:
            # One lookup table per year: the holidays package is slow to build.
            year = dict(
                holidays.country_holidays(
                    self.settings.country, subdiv=self.settings.subdivision, years=day.year
                ).items()
            )
            self._holidays[day.year] = year
        return year.get(day)

    def hours_on(self, day: date, extended: bool) -> tuple[TimeRange, ...]:
        """The local ranges open on ``day`` after holidays, closed days and half days."""
        s = self.settings
        if day in s.closed_days:
            return ()
        if self.holiday_name(day) is not None:
            if not extended or s.holidays_close_extended:
                return ()
            # A holiday closes the service hours; only the extra extended ranges stay.
            ranges = s.extended_hours.on(day.weekday())
        else:
            ranges = self._weekly[extended].on(day.weekday())
        if (day.month, day.day) in self._half_days:
            close = self._half_day_close
            ranges = tuple(TimeRange(r.start, min(r.end, close)) for r in ranges if r.start < close)
        return ranges

    def is_service_day(self, day: date, extended: bool) -> bool:
        return bool(self._day(day, extended))

    # -- instants ---------------------------------------------------------------

    def is_open(self, at: datetime, extended: bool) -> bool:
        t = require_aware(at, "at").astimezone(UTC)
        return any(s <= t < e for s, e in self._day(self._local_date(t), extended))

    def next_open(self, at: datetime, extended: bool) -> datetime:
        """``at`` itself if open, else the instant the applicable hours begin."""
        return self.add_service_minutes(at, 0, extended)

    def add_service_minutes(self, start: datetime, minutes: int, extended: bool) -> datetime:
        """The instant when ``minutes`` of service time have run from ``start``.

        Convention: the result is the *end* of the last counted minute, so it may be a
        closing instant (60 minutes from 18:00 is 19:00, not the next morning). With
        ``minutes == 0`` it is :meth:`next_open`.
        """
        if minutes < 0:
            raise ValueError("minutes must not be negative")
        t = require_aware(start, "start").astimezone(UTC)
        remaining = timedelta(minutes=minutes)
        day = self._local_date(t)
        for _ in range(SEARCH_LIMIT_DAYS):
            for s, e in self._day(day, extended):
                if e <= t:
                    continue
                begin = max(s, t)
                if remaining <= e - begin:
                    return (begin + remaining).astimezone(self.zone)
                remaining -= e - begin
            day += timedelta(days=1)
        raise ValueError(f"no service hours within {SEARCH_LIMIT_DAYS} days of {start}")

    def service_minutes_between(self, a: datetime, b: datetime, extended: bool) -> int:
        """Whole minutes of service time in ``[a, b)``; negative when ``b`` is before ``a``."""
        ta = require_aware(a, "a").astimezone(UTC)
        tb = require_aware(b, "b").astimezone(UTC)
        if tb < ta:
            return -self.service_minutes_between(b, a, extended)
        total = timedelta()
        day, last = self._local_date(ta), self._local_date(tb)
        while day <= last:
            for s, e in self._day(day, extended):
                overlap = min(e, tb) - max(s, ta)
                if overlap > timedelta():
                    total += overlap
            day += timedelta(days=1)
        return int(total // _ONE_MINUTE)

    def opening_on(self, day: date, extended: bool) -> datetime | None:
        """When the hours begin on ``day``, or None if closed all day."""
        intervals = self._day(day, extended)
        return intervals[0][0].astimezone(self.zone) if intervals else None

    def closing_on(self, day: date, extended: bool) -> datetime | None:
        """When the last range of ``day`` ends, or None if closed all day."""
        intervals = self._day(day, extended)
        return intervals[-1][1].astimezone(self.zone) if intervals else None

    def service_day_on_or_before(self, day: date, extended: bool) -> date:
        for _ in range(SEARCH_LIMIT_DAYS):
            if self._day(day, extended):
                return day
            day -= timedelta(days=1)
        raise ValueError(f"no service day within {SEARCH_LIMIT_DAYS} days before {day}")

    def service_day_on_or_after(self, day: date, extended: bool) -> date:
        for _ in range(SEARCH_LIMIT_DAYS):
            if self._day(day, extended):
                return day
            day += timedelta(days=1)
        raise ValueError(f"no service day within {SEARCH_LIMIT_DAYS} days after {day}")

    def local_date(self, at: datetime) -> date:
        return self._local_date(require_aware(at, "at"))

    def is_on_call(self, at: datetime) -> bool:
        """Inside the on-call hours (local wall clock), with an on-call address set.

        On public holidays and extra closed days Sunday's on-call hours apply as
        well, since the office is shut as on a Sunday.
        """
        if self.settings.oncall_address is None:
            return False
        local = require_aware(at, "at").astimezone(self.zone)
        day = local.date()
        ranges = self.settings.oncall_hours.on(day.weekday())
        if day in self.settings.closed_days or self.holiday_name(day) is not None:
            ranges += self.settings.oncall_hours.on(6)
        minute = local.hour * 60 + local.minute
        return any(r.start <= minute < r.end for r in ranges)

    # -- internals --------------------------------------------------------------

    def _local_date(self, t: datetime) -> date:
        return t.astimezone(self.zone).date()

    def _day(self, day: date, extended: bool) -> tuple[Interval, ...]:
        key = (day, extended)
        cached = self._intervals.get(key)
        if cached is None:
            cached = self._real_intervals(day, self.hours_on(day, extended))
            self._intervals[key] = cached
        return cached

    def _real_intervals(self, day: date, ranges: tuple[TimeRange, ...]) -> tuple[Interval, ...]:
        """The UTC instants of ``day`` whose wall clock lies in ``ranges``.

        The day splits at a DST change into pieces of constant UTC offset; in each
        the wall clock is monotone, so a range maps to at most one interval per
        piece. Hence a range in the repeated autumn hour happens twice, and one in
        the skipped spring hour not at all, as a wall clock on the office wall shows.
        """
        if not ranges:
            return ()
        midnight = datetime.combine(day, time())
        pieces: list[Interval] = []
        for piece_start, piece_end, offset in self._constant_offset_pieces(day):
            for r in ranges:
                start = (midnight + timedelta(minutes=r.start) - offset).replace(tzinfo=UTC)
                end = (midnight + timedelta(minutes=r.end) - offset).replace(tzinfo=UTC)
                start, end = max(start, piece_start), min(end, piece_end)
                if start < end:
                    pieces.append((start, end))
        merged: list[Interval] = []
        for start, end in sorted(pieces):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return tuple(merged)

    def _constant_offset_pieces(self, day: date) -> list[tuple[datetime, datetime, timedelta]]:
        # Assumes at most one offset change per local day, true of every real zone today.
        start, end = self._day_start(day), self._day_start(day + timedelta(days=1))
        first, last = self._offset(start), self._offset(end - timedelta(seconds=1))
        if first == last:
            return [(start, end, first)]
        jump = self._jump(start, end - timedelta(seconds=1))
        return [(start, jump, first), (jump, end, last)]

    def _day_start(self, day: date) -> datetime:
        """The first UTC instant whose local date is ``day``."""
        naive = datetime.combine(day, time())
        instant = naive.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        if instant.astimezone(self.zone).replace(tzinfo=None) == naive:
            return instant
        # Midnight skipped by a jump (zones that change at 00:00): the day starts at the jump.
        # For a skipped time fold=1 gives an instant before the jump, fold=0 one after.
        return self._jump(
            naive.replace(tzinfo=self.zone, fold=1).astimezone(UTC),
            naive.replace(tzinfo=self.zone, fold=0).astimezone(UTC),
        )

    def _offset(self, instant: datetime) -> timedelta:
        offset = instant.astimezone(self.zone).utcoffset()
        assert offset is not None  # ZoneInfo always knows its offset
        return offset

    def _jump(self, before: datetime, after: datetime) -> datetime:
        """The first instant with ``after``'s UTC offset; ``before`` has another one."""
        old = self._offset(before)
        low, high = 0, int((after - before).total_seconds())
        while high - low > 1:
            mid = (low + high) // 2
            if self._offset(before + timedelta(seconds=mid)) == old:
                low = mid
            else:
                high = mid
        return before + timedelta(seconds=high)
