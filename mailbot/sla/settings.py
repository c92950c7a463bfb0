"""What the SLA clock needs to know: time zone, holidays, hours and reaction targets.

The rules are those of ``shared/spec/triage.md`` ("Service hours and reaction
targets"); every number is a default here. The configuration builds these types
from the ``[sla]`` table (:mod:`mailbot.config`); this module reads no files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from mailbot.errors import ConfigError
from mailbot.sla.hours import WeeklyHours
from mailbot.triage import Priority

DEFAULT_HOURS = WeeklyHours.of({"mon-fri": "07:00-19:00"})
DEFAULT_EXTENDED_HOURS = WeeklyHours.of({"sat": "08:00-18:00"})
NO_HOURS = WeeklyHours.closed()


@dataclass(frozen=True)
class ReactionTarget:
    """Minutes of service time until a technician reacts."""

    contract: int
    no_contract: int

    def __post_init__(self) -> None:
        for value in (self.contract, self.no_contract):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError("reaction targets must be positive integers (minutes)")


@dataclass(frozen=True)
class ReactionTargets:
    critical: ReactionTarget = ReactionTarget(60, 240)
    normal: ReactionTarget = ReactionTarget(480, 960)
    low: ReactionTarget = ReactionTarget(1440, 2880)

    def minutes(self, priority: Priority, contract: bool) -> int:
        target: ReactionTarget = getattr(self, priority.value)
        return target.contract if contract else target.no_contract


@dataclass(frozen=True)
class SlaSettings:
    """Everything the SLA clock needs; the defaults are those of triage.md.

    ``half_days`` are (month, day) pairs; ``closed_days`` are extra whole days off
    (both calendars). ``oncall_hours`` are wall-clock ranges per weekday; on holidays
    and closed days Sunday's on-call ranges apply too.
    """

    #: the service's zone; every local time of mailbot (hours, dates in mails) is in it
    timezone: str = "Europe/Berlin"
    country: str = "DE"
    #: a state code of the holidays package ("NW", "BY", …); None: national holidays only
    subdivision: str | None = "NW"
    hours: WeeklyHours = DEFAULT_HOURS
    #: added to ``hours`` for critical failures of contract customers
    extended_hours: WeeklyHours = DEFAULT_EXTENDED_HOURS
    holidays_close_extended: bool = True
    targets: ReactionTargets = ReactionTargets()
    #: none by default: the service page names no shortened days, and triage.md allows
    #: none unless configured (``[sla] half_days = ["12-24", "12-31"]`` opts in)
    half_days: tuple[tuple[int, int], ...] = ()
    half_day_close: time = time(12, 0)
    closed_days: frozenset[date] = field(default_factory=frozenset)
    oncall_address: str | None = None
    oncall_hours: WeeklyHours = NO_HOURS
    #: urgent with a deadline already reached: react this many service minutes after clock start
    urgent_same_day_minutes: int = 60

    @property
    def zone(self) -> ZoneInfo:
        """The configured zone (ZoneInfo keeps one instance per name, so this is cheap)."""
        return ZoneInfo(self.timezone)

    def validate(self, path: Path | str | None = None) -> None:
        """Check what the field types cannot; raises :class:`ConfigError`.

        The calendar calls this too, so settings written in code get the same checks
        as those read from a file.
        """
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                "sla.timezone", path, f"unknown time zone {self.timezone!r}"
            ) from None
        self._validate_holidays(path)
        if self.hours.is_empty:
            raise ConfigError("sla.hours", path, "no service hours on any day")
        for month, day in self.half_days:
            try:
                date(2000, month, day)  # a leap year, so 02-29 is allowed
            except ValueError:
                raise ConfigError(
                    "sla.half_days", path, f"{month:02d}-{day:02d} is not a day of the year"
                ) from None
        if self.urgent_same_day_minutes <= 0:
            raise ConfigError("sla.urgent_same_day_minutes", path, "expected a positive integer")
        if self.oncall_address is not None and self.oncall_hours.is_empty:
            raise ConfigError("sla.oncall_hours", path, "required when oncall_address is set")
        if self.oncall_address is None and not self.oncall_hours.is_empty:
            raise ConfigError("sla.oncall_address", path, "required when oncall_hours are set")

    def _validate_holidays(self, path: Path | str | None) -> None:
        try:
            holidays.country_holidays(self.country, subdiv=self.subdivision, years=2000)
        except NotImplementedError:
            supported = holidays.list_supported_countries()
            if self.country not in supported:
                raise ConfigError(
                    "sla.country", path, f"unknown country {self.country!r}"
                ) from None
            known = ", ".join(supported[self.country])
            raise ConfigError(
                "sla.subdivision", path, f"unknown state {self.subdivision!r}; known: {known}"
            ) from None
