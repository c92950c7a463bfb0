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

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import holidays

from mailbot.errors import ConfigError

if TYPE_CHECKING:
    from mailbot.sla.plan import SlaSettings

#: Weekday keys of the configuration, Monday first (``date.weekday()`` order).
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
#: How far the calendar searches for an open day before it gives up; only a
#: calendar closed for years (a configuration mistake) can hit it.
SEARCH_LIMIT_DAYS = 3660

_CLOCK_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_ONE_MINUTE = timedelta(minutes=1)


def parse_clock(text: str, *, allow_midnight_end: bool = False) -> int:
    """``"07:30"`` → 450 minutes after midnight; ``"24:00"`` only as an end."""
    match = _CLOCK_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time like 07:00")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not allow_midnight_end)):
        raise ValueError(f"{text!r} is not a valid time of day")
    return hours * 60 + minutes


def format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, order=True)
class TimeRange:
    """Half-open local wall-clock range ``[start, end)`` of one day.

    Both are minutes after local midnight; ``end`` may be 1440 (24:00) so that a
    range can run to the end of the day.
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= MINUTES_PER_DAY:
            raise ValueError(
                f"{format_clock(self.start)}-{format_clock(self.end)}: "
                "the end must be after the start, within one day"
            )

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        """``"07:00-19:00"`` (an en dash works too)."""
        start, sep, end = text.replace("–", "-").partition("-")
        if not sep:
            raise ValueError(f"{text!r} is not a range like 07:00-19:00")
        return cls(parse_clock(start), parse_clock(end, allow_midnight_end=True))

    @property
    def start_text(self) -> str:
        return format_clock(self.start)

    @property
    def end_text(self) -> str:
        return format_clock(self.end)

    def __str__(self) -> str:
        return f"{self.start_text}-{self.end_text}"


def merge_ranges(ranges: Iterable[TimeRange]) -> tuple[TimeRange, ...]:
    """Sorted, with overlapping and touching ranges joined (07-12 + 12-19 = 07-19)."""
    merged: list[TimeRange] = []
    for r in sorted(ranges):
        if merged and r.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = TimeRange(last.start, max(last.end, r.end))
        else:
            merged.append(r)
    return tuple(merged)


@dataclass(frozen=True)
class HoursGroup:
    """Consecutive weekdays with the same hours, for texts like "Mo–Fr 07:00–19:00"."""

    first_day: int
    last_day: int
    ranges: tuple[TimeRange, ...]


@dataclass(frozen=True)
class WeeklyHours:
    """Opening ranges per weekday, Monday first; normalised with :func:`merge_ranges`."""

    days: tuple[tuple[TimeRange, ...], ...]

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ValueError("weekly hours need exactly seven days")
        # Normalising here lets equality, union and display rely on one shape.
        object.__setattr__(self, "days", tuple(merge_ranges(d) for d in self.days))

    @classmethod
    def closed(cls) -> WeeklyHours:
        return cls(((),) * 7)

    @classmethod
    def of(cls, ranges: Mapping[str, str | list[str]]) -> WeeklyHours:
        """``WeeklyHours.of({"mon-fri": "07:00-19:00"})``: the TOML shape, without errors' key."""
        return cls.from_toml(dict(ranges), "hours", None)

    @classmethod
    def from_toml(cls, value: Any, key: str, path: Path | str | None) -> WeeklyHours:
        """Read ``{mon = "07:00-19:00", sat = ["08:00-12:00", "13:00-18:00"], sun = []}``.

        Keys are ``mon`` … ``sun`` or a span like ``mon-fri``; a value is one range,
        a list of ranges, or an empty list/string for closed. Days not named are
        closed. Naming a day twice is an error.
        """
        if not isinstance(value, Mapping):
            raise ConfigError(key, path, 'expected a table like {mon-fri = "07:00-19:00"}')
        days: list[list[TimeRange] | None] = [None] * 7
        for day_key, spec in value.items():
            sub = f"{key}.{day_key}"
            indices = _weekday_span(str(day_key))
            if indices is None:
                raise ConfigError(
                    sub, path, "unknown day; expected mon … sun or a span like mon-fri"
                )
            texts: list[Any]
            if isinstance(spec, str):
                texts = [spec] if spec.strip() else []
            elif isinstance(spec, list):
                texts = spec
            else:
                raise ConfigError(sub, path, 'expected "HH:MM-HH:MM" or a list of them')
            ranges: list[TimeRange] = []
            for text in texts:
                if not isinstance(text, str):
                    raise ConfigError(sub, path, 'expected "HH:MM-HH:MM" or a list of them')
                try:
                    ranges.append(TimeRange.parse(text))
                except ValueError as exc:
                    raise ConfigError(sub, path, str(exc)) from None
            for i in indices:
                if days[i] is not None:
                    raise ConfigError(sub, path, f"{WEEKDAYS[i]} is given twice")
                days[i] = ranges
        return cls(tuple(tuple(d or ()) for d in days))

    def on(self, weekday: int) -> tuple[TimeRange, ...]:
        return self.days[weekday]

    def union(self, other: WeeklyHours) -> WeeklyHours:
        return WeeklyHours(tuple(a + b for a, b in zip(self.days, other.days, strict=True)))

    @property
    def is_empty(self) -> bool:
        return not any(self.days)

    def groups(self) -> tuple[HoursGroup, ...]:
        """Runs of consecutive weekdays with equal hours; closed days are left out."""
        groups: list[HoursGroup] = []
        for i, ranges in enumerate(self.days):
            if not ranges:
                continue
            if groups and groups[-1].last_day == i - 1 and groups[-1].ranges == ranges:
                groups[-1] = HoursGroup(groups[-1].first_day, i, ranges)
            else:
                groups.append(HoursGroup(i, i, ranges))
        return tuple(groups)


def _weekday_span(text: str) -> list[int] | None:
    first, sep, last = text.strip().lower().partition("-")
    if first not in WEEKDAYS or (sep and last not in WEEKDAYS):
        return None
    a = WEEKDAYS.index(first)
    b = WEEKDAYS.index(last) if sep else a
    return list(range(a, b + 1)) if a <= b else None


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
        self.zone = ZoneInfo(settings.timezone)
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
