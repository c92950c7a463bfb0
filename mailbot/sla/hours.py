"""Service hours on the wall clock: times of day, ranges, and the hours of a week.

Everything here is local wall-clock time without a date or a zone; the
:mod:`~mailbot.sla.calendar` turns it into instants. Ranges are half-open:
07:00-19:00 is open at 07:00 and closed at 19:00.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mailbot.errors import ConfigError

#: Weekday keys of the configuration, Monday first (``date.weekday()`` order).
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60

_CLOCK_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


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
    def of(
        cls,
        spec: Mapping[str, str | Sequence[str]],
        key: str = "hours",
        path: Path | str | None = None,
    ) -> WeeklyHours:
        """``WeeklyHours.of({"mon-fri": "07:00-19:00", "sat": ["08:00-12:00"], "sun": []})``.

        Keys are ``mon`` … ``sun`` or a span like ``mon-fri``; a value is one range,
        a list of ranges, or an empty list/string for closed. Days not named are
        closed. Naming a day twice is an error. Errors name ``key.<day>`` and ``path``
        so the configuration can pass its own key through.
        """
        days: list[tuple[TimeRange, ...] | None] = [None] * 7
        for day_key, texts in spec.items():
            sub = f"{key}.{day_key}"
            indices = _weekday_span(day_key)
            if indices is None:
                raise ConfigError(
                    sub, path, "unknown day; expected mon … sun or a span like mon-fri"
                )
            if isinstance(texts, str):
                texts = [texts] if texts.strip() else []
            try:
                ranges = tuple(TimeRange.parse(text) for text in texts)
            except ValueError as exc:
                raise ConfigError(sub, path, str(exc)) from None
            for i in indices:
                if days[i] is not None:
                    raise ConfigError(sub, path, f"{WEEKDAYS[i]} is given twice")
                days[i] = ranges
        return cls(tuple(d or () for d in days))

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
