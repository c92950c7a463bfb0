"""SLA settings, reaction targets, the plan of a ticket and the order of work.

The rules are those of ``shared/spec/triage.md`` ("Service hours and reaction
targets"); every number is a default of :class:`SlaSettings` and configurable
in the ``[sla]`` table. The calendar arithmetic lives in :mod:`mailbot.calendar`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from mailbot.errors import ConfigError
from mailbot.sla.calendar import (
    BusinessCalendar,
    HoursGroup,
    TimeRange,
    WeeklyHours,
    parse_clock,
    require_aware,
)
from mailbot.triage import Priority, Urgency

__all__ = [
    "ADJUSTMENTS",
    "BusinessCalendar",
    "HoursGroup",
    "Plan",
    "ReactionTarget",
    "ReactionTargets",
    "SlaSettings",
    "TimeRange",
    "WeeklyHours",
    "plan",
    "work_order_key",
]

# Machine labels of Plan.adjustments: what urgency, deadline or planned change did.
URGENT_AHEAD = "urgent_ahead"  # urgent: worked before the 'none' tickets of its class
NOT_URGENT_BEHIND = "not_urgent_behind"  # not_urgent: worked after them
PULLED_TO_DEADLINE = "pulled_to_deadline"  # urgent: due_at moved to the deadline
PULLED_SAME_DAY = "pulled_same_day"  # urgent, deadline reached: due_at = clock start + same-day
DEADLINE_PASSED = "deadline_passed"  # the deadline moment is not after the clock start
DEADLINE_BEFORE_DUE = "deadline_before_due"  # urgency none: deadline before due_at; noted only
FOLLOWS_CUSTOMER_WINDOW = "follows_customer_window"  # not_urgent: due_at moved to the window end
SCHEDULED_BEFORE_CHANGE = "scheduled_before_change"  # planned change: work day before the change
CHANGE_TOO_SOON = "change_too_soon"  # planned change: no service day left before it
PULLED_TO_SCHEDULE = "pulled_to_schedule"  # planned change: due_at = close of the scheduled day

ADJUSTMENTS: frozenset[str] = frozenset(
    {
        URGENT_AHEAD,
        NOT_URGENT_BEHIND,
        PULLED_TO_DEADLINE,
        PULLED_SAME_DAY,
        DEADLINE_PASSED,
        DEADLINE_BEFORE_DUE,
        FOLLOWS_CUSTOMER_WINDOW,
        SCHEDULED_BEFORE_CHANGE,
        CHANGE_TOO_SOON,
        PULLED_TO_SCHEDULE,
    }
)


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


_MONTH_DAY_RE = re.compile(r"^(\d{2})-(\d{2})$")
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_HOURS = WeeklyHours.of({"mon-fri": "07:00-19:00"})
DEFAULT_EXTENDED_HOURS = WeeklyHours.of({"sat": "08:00-18:00"})
NO_HOURS = WeeklyHours.closed()

_SLA_KEYS = (
    "timezone",
    "country",
    "subdivision",
    "hours",
    "extended_hours",
    "holidays_close_extended",
    "targets",
    "half_days",
    "half_day_close",
    "closed_days",
    "oncall_address",
    "oncall_hours",
    "urgent_same_day_minutes",
)


@dataclass(frozen=True)
class SlaSettings:
    """Everything the SLA clock needs; the defaults are those of triage.md.

    ``half_days`` are (month, day) pairs; ``closed_days`` are extra whole days off
    (both calendars). ``oncall_hours`` are wall-clock ranges per weekday; on holidays
    and closed days Sunday's on-call ranges apply too.
    """

    timezone: str = "Europe/Berlin"
    country: str = "DE"
    #: a state code of the holidays package ("NW", "BY", …); None: national holidays only
    subdivision: str | None = "NW"
    hours: WeeklyHours = DEFAULT_HOURS
    #: added to ``hours`` for critical failures of contract customers
    extended_hours: WeeklyHours = DEFAULT_EXTENDED_HOURS
    holidays_close_extended: bool = True
    targets: ReactionTargets = ReactionTargets()
    half_days: tuple[tuple[int, int], ...] = ((12, 24), (12, 31))
    half_day_close: time = time(12, 0)
    closed_days: frozenset[date] = field(default_factory=frozenset)
    oncall_address: str | None = None
    oncall_hours: WeeklyHours = NO_HOURS
    #: urgent with a deadline already reached: react this many service minutes after clock start
    urgent_same_day_minutes: int = 60

    def validate(self, path: Path | str | None = None) -> None:
        """Check what the field types cannot; raises :class:`ConfigError`."""
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                "sla.timezone", path, f"unknown time zone {self.timezone!r}"
            ) from None
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

    @classmethod
    def from_table(cls, table: Mapping[str, Any], path: Path | str | None) -> SlaSettings:
        """Read the ``[sla]`` table of the configuration; every key is optional.

        ```toml
        [sla]
        timezone = "Europe/Berlin"
        country = "DE"
        subdivision = "NW"                 # any state code; "" = national holidays only
        hours = { mon-fri = "07:00-19:00" }   # days not named are closed;
                                           # a day may be a list: ["07:00-12:00", "13:00-19:00"]
        extended_hours = { sat = "08:00-18:00" }  # added for contract customers' critical failures
        holidays_close_extended = true
        half_days = ["12-24", "12-31"]     # MM-DD, every year
        half_day_close = "12:00"
        closed_days = [2026-12-28, "2026-12-29"]  # TOML dates or "YYYY-MM-DD"
        oncall_address = "bereitschaft@itservice.example"   # "" or absent: no on-call
        oncall_hours = { mon-fri = ["00:00-07:00", "19:00-24:00"], sat-sun = "00:00-24:00" }
        urgent_same_day_minutes = 60

        [sla.targets]                      # minutes of service time: [contract, no contract]
        critical = [60, 240]               # or { contract = 60, no_contract = 240 }
        normal = [480, 960]
        low = [1440, 2880]
        ```

        Raises :class:`ConfigError` naming the key (``sla.targets.critical``) for
        unknown keys, wrong types, bad or reversed times, unknown zones and states.
        """
        if not isinstance(table, Mapping):
            raise ConfigError("sla", path, "expected a table")
        for key in table:
            if key not in _SLA_KEYS:
                raise ConfigError(f"sla.{key}", path, f"unknown key; known: {', '.join(_SLA_KEYS)}")
        d = cls()
        get = table.get

        oncall = _opt_str(get("oncall_address"), "sla.oncall_address", path)
        if oncall is not None and ("@" not in oncall or any(c.isspace() for c in oncall)):
            raise ConfigError("sla.oncall_address", path, "expected an e-mail address")
        subdivision = d.subdivision
        if "subdivision" in table:
            subdivision = _opt_str(table["subdivision"], "sla.subdivision", path)
            subdivision = subdivision.upper() if subdivision is not None else None

        settings = cls(
            timezone=_str(get("timezone", d.timezone), "sla.timezone", path),
            country=_str(get("country", d.country), "sla.country", path).upper(),
            subdivision=subdivision,
            hours=_hours(table, "hours", d.hours, path),
            extended_hours=_hours(table, "extended_hours", d.extended_hours, path),
            holidays_close_extended=_bool(
                get("holidays_close_extended", d.holidays_close_extended),
                "sla.holidays_close_extended",
                path,
            ),
            targets=_targets(get("targets", {}), d.targets, path),
            half_days=_half_days(get("half_days"), d.half_days, path),
            half_day_close=_clock(get("half_day_close"), d.half_day_close, path),
            closed_days=_closed_days(get("closed_days", []), path),
            oncall_address=oncall,
            oncall_hours=_hours(table, "oncall_hours", d.oncall_hours, path),
            urgent_same_day_minutes=_positive_int(
                get("urgent_same_day_minutes", d.urgent_same_day_minutes),
                "sla.urgent_same_day_minutes",
                path,
            ),
        )
        settings.validate(path)
        return settings


def _str(value: Any, key: str, path: Path | str | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, path, "expected a non-empty string")
    return value.strip()


def _opt_str(value: Any, key: str, path: Path | str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(key, path, "expected a string")
    return value.strip() or None


def _bool(value: Any, key: str, path: Path | str | None) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, path, "expected true or false")
    return value


def _positive_int(value: Any, key: str, path: Path | str | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(key, path, "expected a positive integer")
    return value


def _hours(
    table: Mapping[str, Any], key: str, default: WeeklyHours, path: Path | str | None
) -> WeeklyHours:
    if key not in table:
        return default
    return WeeklyHours.from_toml(table[key], f"sla.{key}", path)


def _targets(value: Any, default: ReactionTargets, path: Path | str | None) -> ReactionTargets:
    if not isinstance(value, Mapping):
        raise ConfigError("sla.targets", path, "expected a table of critical, normal, low")
    found: dict[str, ReactionTarget] = {}
    for name, spec in value.items():
        key = f"sla.targets.{name}"
        if name not in {p.value for p in Priority}:
            raise ConfigError(key, path, "unknown priority; expected critical, normal or low")
        if isinstance(spec, list) and len(spec) == 2:
            pair = spec
        elif isinstance(spec, Mapping) and set(spec) == {"contract", "no_contract"}:
            pair = [spec["contract"], spec["no_contract"]]
        else:
            raise ConfigError(
                key, path, "expected two positive integers: [contract, no_contract] minutes"
            )
        try:
            found[name] = ReactionTarget(pair[0], pair[1])
        except ValueError:
            raise ConfigError(
                key, path, "expected two positive integers: [contract, no_contract] minutes"
            ) from None
    return ReactionTargets(
        critical=found.get("critical", default.critical),
        normal=found.get("normal", default.normal),
        low=found.get("low", default.low),
    )


def _half_days(
    value: Any, default: tuple[tuple[int, int], ...], path: Path | str | None
) -> tuple[tuple[int, int], ...]:
    if value is None:
        return default
    if not isinstance(value, list):
        raise ConfigError("sla.half_days", path, 'expected a list like ["12-24", "12-31"]')
    days: list[tuple[int, int]] = []
    for item in value:
        match = _MONTH_DAY_RE.match(item) if isinstance(item, str) else None
        if match is None:
            raise ConfigError("sla.half_days", path, f"{item!r} is not MM-DD")
        days.append((int(match.group(1)), int(match.group(2))))
    return tuple(days)  # validate() checks that each is a real day


def _clock(value: Any, default: time, path: Path | str | None) -> time:
    if value is None:
        return default
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        try:
            minutes = parse_clock(value)
        except ValueError as exc:
            raise ConfigError("sla.half_day_close", path, str(exc)) from None
        return time(minutes // 60, minutes % 60)
    raise ConfigError("sla.half_day_close", path, 'expected a time like "12:00"')


def _closed_days(value: Any, path: Path | str | None) -> frozenset[date]:
    if not isinstance(value, list):
        raise ConfigError("sla.closed_days", path, 'expected a list of dates like "2026-12-28"')
    days: set[date] = set()
    for item in value:
        if isinstance(item, date) and not isinstance(item, datetime):
            days.add(item)
        elif isinstance(item, str) and _ISO_DATE_RE.match(item):
            try:
                days.add(date.fromisoformat(item))
            except ValueError:
                raise ConfigError("sla.closed_days", path, f"{item!r} is not a date") from None
        else:
            raise ConfigError("sla.closed_days", path, f"{item!r} is not a date YYYY-MM-DD")
    return frozenset(days)


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
    #: labels of :data:`ADJUSTMENTS`, in the order they were applied
    adjustments: tuple[str, ...]
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

    Then, with ``deadline`` read as :func:`deadline_instant` (by the opening of
    service on that day):

    - **planned change with a date** (the deadline is the day of the change):
      ``scheduled_for`` is the last service day before the change; if that day's
      close is not after the clock start, the next service day from the clock
      start instead (``change_too_soon``, else ``scheduled_before_change``).
      ``due_at = min(base_due_at, close of the scheduled day)`` (``pulled_to_schedule``
      when that is sooner), never before the clock start. Urgency only moves the
      order here: the work must happen before the change either way.
    - **urgent**: ahead of its class in the order (``urgent_ahead``). With a
      deadline after the clock start, ``due_at = min(base_due_at, deadline)``
      (``pulled_to_deadline``). With a deadline not after the clock start (today
      or passed, ``deadline_passed``), ``due_at = min(base_due_at, clock start +
      urgent_same_day_minutes of service time)`` (``pulled_same_day``).
    - **not_urgent**: behind its class (``not_urgent_behind``). With a deadline,
      the customer's window ends at the close of the last service day on or
      before it; when that is later than ``base_due_at``, ``due_at`` is the window
      end (``follows_customer_window``), never earlier than ``base_due_at``.
    - **none** with a deadline: ``due_at`` stays; ``deadline_before_due`` or
      ``deadline_passed`` tell the technician the target misses the customer's date.

    ``on_call_now``: critical, outside the applicable hours at arrival, and the
    on-call hours cover the arrival; the promise (``due_at``) does not count on it.
    """
    require_aware(arrival, "arrival")
    settings = calendar.settings
    extended = contract and priority is Priority.CRITICAL
    target = settings.targets.minutes(priority, contract)
    # Compare in UTC only: same-zone comparisons of aware datetimes ignore the
    # offset, which orders the repeated autumn hour wrongly.
    clock_starts = calendar.next_open(arrival, extended).astimezone(UTC)
    base = calendar.add_service_minutes(clock_starts, target, extended).astimezone(UTC)
    due = base
    scheduled: date | None = None
    labels: list[str] = []

    if urgency is Urgency.URGENT:
        labels.append(URGENT_AHEAD)
    elif urgency is Urgency.NOT_URGENT:
        labels.append(NOT_URGENT_BEHIND)

    if planned_change and deadline is not None:
        scheduled = calendar.service_day_on_or_before(deadline - timedelta(days=1), extended)
        close = _utc(calendar.closing_on(scheduled, extended))
        if close <= clock_starts:
            # The clock starts in an open range, so its local day is a service day.
            scheduled = calendar.local_date(clock_starts)
            close = _utc(calendar.closing_on(scheduled, extended))
            labels.append(CHANGE_TOO_SOON)
        else:
            labels.append(SCHEDULED_BEFORE_CHANGE)
        if close < due:
            due = max(close, clock_starts)
            labels.append(PULLED_TO_SCHEDULE)
    elif deadline is not None:
        by = deadline_instant(deadline, calendar, extended).astimezone(UTC)
        if urgency is Urgency.URGENT:
            if by > clock_starts:
                if by < base:
                    due = by
                    labels.append(PULLED_TO_DEADLINE)
            else:
                labels.append(DEADLINE_PASSED)
                quick = calendar.add_service_minutes(
                    clock_starts, settings.urgent_same_day_minutes, extended
                ).astimezone(UTC)
                if quick < base:
                    due = quick
                    labels.append(PULLED_SAME_DAY)
        elif urgency is Urgency.NOT_URGENT:
            window_day = calendar.service_day_on_or_before(deadline, extended)
            window_end = _utc(calendar.closing_on(window_day, extended))
            if window_end <= clock_starts:
                labels.append(DEADLINE_PASSED)
            elif window_end > base:
                due = window_end
                labels.append(FOLLOWS_CUSTOMER_WINDOW)
        elif by <= clock_starts:
            labels.append(DEADLINE_PASSED)
        elif by < base:
            labels.append(DEADLINE_BEFORE_DUE)

    on_call = (
        priority is Priority.CRITICAL
        and not calendar.is_open(arrival, extended)
        and calendar.is_on_call(arrival)
    )
    return Plan(
        due_at=due.astimezone(calendar.zone),
        base_due_at=base.astimezone(calendar.zone),
        clock_starts=clock_starts.astimezone(calendar.zone),
        extended_hours=extended,
        target_minutes=target,
        scheduled_for=scheduled,
        adjustments=tuple(labels),
        on_call_now=on_call,
        order_key=work_order_key(priority, contract, urgency, arrival),
    )
