"""The ``[sla]`` table, read with the same :class:`Table` as every other section.

```toml
[sla]
timezone = "Europe/Vienna"         # any IANA zone; default: SlaSettings.timezone
country = "DE"
subdivision = "NW"                 # any state code; "" = national holidays only
hours = { mon-fri = "07:00-19:00" }   # days not named are closed;
                                   # a day may be a list: ["07:00-12:00", "13:00-19:00"]
extended_hours = { sat = "08:00-18:00" }  # added for contract customers' critical failures
holidays_close_extended = true
half_days = ["12-24", "12-31"]     # MM-DD, every year; default: none
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

Every key is optional; the defaults are those of :class:`~mailbot.sla.SlaSettings`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from mailbot.config._table import Table
from mailbot.sla import ReactionTarget, ReactionTargets, SlaSettings, WeeklyHours, parse_clock
from mailbot.triage import Priority

_MONTH_DAY_RE = re.compile(r"^(\d{2})-(\d{2})$")
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RANGES = '"HH:MM-HH:MM" or a list of them'
_TARGET = "two positive integers: [contract, no_contract] minutes"


def parse_sla(data: Any, path: Path | str | None) -> SlaSettings:
    """The settings of an ``[sla]`` table given as data (``tomllib`` output)."""
    return read_sla(Table(data, "sla", path))


def read_sla(t: Table) -> SlaSettings:
    """Raises :class:`ConfigError` naming the key (``sla.targets.critical``) for unknown
    keys, wrong types, bad or reversed times, unknown zones and states."""
    d = SlaSettings()
    settings = SlaSettings(
        timezone=t.get_text("timezone", d.timezone),
        country=t.get_text("country", d.country).upper(),
        subdivision=_optional_text(t, "subdivision", d.subdivision, upper=True),
        hours=_hours(t, "hours", d.hours),
        extended_hours=_hours(t, "extended_hours", d.extended_hours),
        holidays_close_extended=t.get_bool("holidays_close_extended", d.holidays_close_extended),
        targets=_targets(t.table("targets", "a table of critical, normal, low"), d.targets),
        half_days=_half_days(t, d.half_days),
        half_day_close=_half_day_close(t, d.half_day_close),
        closed_days=_closed_days(t),
        oncall_address=_oncall_address(t),
        oncall_hours=_hours(t, "oncall_hours", d.oncall_hours),
        urgent_same_day_minutes=t.get_int(
            "urgent_same_day_minutes", d.urgent_same_day_minutes, minimum=1
        ),
    )
    t.done()
    settings.validate(t.path)
    return settings


def _optional_text(t: Table, name: str, default: str | None, upper: bool = False) -> str | None:
    """A string where "" means none (no state, no on-call address)."""
    value: str | None = t.get_str(name, default)
    if value is None or not value.strip():
        return None
    return value.strip().upper() if upper else value.strip()


def _oncall_address(t: Table) -> str | None:
    address = _optional_text(t, "oncall_address", None)
    if address is not None and ("@" not in address or any(c.isspace() for c in address)):
        raise t.error("oncall_address", "expected an e-mail address")
    return address


def _hours(t: Table, name: str, default: WeeklyHours) -> WeeklyHours:
    days = t.optional_table(name, 'a table like {mon-fri = "07:00-19:00"}')
    if days is None:
        return default
    spec: dict[str, str | list[str]] = {}
    for day in days.data:
        ranges = days.value(day)
        if not isinstance(ranges, str | list) or not all(isinstance(r, str) for r in ranges):
            # A wrong day name is the first mistake to report, in the calendar's own words.
            WeeklyHours.of({day: []}, days.prefix, days.path)
            raise days.error(day, f"expected {_RANGES}")
        spec[day] = ranges
    return WeeklyHours.of(spec, days.prefix, days.path)


def _targets(t: Table, default: ReactionTargets) -> ReactionTargets:
    found: dict[Priority, ReactionTarget] = {}
    for priority in Priority:
        spec = t.value(priority.value)
        if spec is not None:
            found[priority] = _target(t, priority.value, spec)
    t.done("priority")
    return ReactionTargets(
        critical=found.get(Priority.CRITICAL, default.critical),
        normal=found.get(Priority.NORMAL, default.normal),
        low=found.get(Priority.LOW, default.low),
    )


def _target(t: Table, name: str, spec: Any) -> ReactionTarget:
    if isinstance(spec, list) and len(spec) == 2:
        pair = spec
    elif isinstance(spec, Mapping) and set(spec) == {"contract", "no_contract"}:
        pair = [spec["contract"], spec["no_contract"]]
    else:
        raise t.error(name, f"expected {_TARGET}")
    try:
        return ReactionTarget(pair[0], pair[1])
    except ValueError:
        raise t.error(name, f"expected {_TARGET}") from None


def _half_days(t: Table, default: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    items = t.get("half_days", list, None, 'a list like ["12-24", "12-31"]')
    if items is None:
        return default
    days: list[tuple[int, int]] = []
    for item in items:
        match = _MONTH_DAY_RE.match(item) if isinstance(item, str) else None
        if match is None:
            raise t.error("half_days", f"{item!r} is not MM-DD")
        days.append((int(match.group(1)), int(match.group(2))))
    return tuple(days)  # SlaSettings.validate checks that each is a real day


def _half_day_close(t: Table, default: time) -> time:
    value = t.get("half_day_close", (time, str), default, 'a time like "12:00"')
    if isinstance(value, time):
        return value
    try:
        minutes = parse_clock(value)
    except ValueError as exc:
        raise t.error("half_day_close", str(exc)) from None
    return time(minutes // 60, minutes % 60)


def _closed_days(t: Table) -> frozenset[date]:
    items = t.get("closed_days", list, [], 'a list of dates like "2026-12-28"')
    days: set[date] = set()
    for item in items:
        # A TOML datetime is a date too, but a moment is not a day off.
        if isinstance(item, date) and not isinstance(item, datetime):
            days.add(item)
        elif isinstance(item, str) and _ISO_DATE_RE.match(item):
            try:
                days.add(date.fromisoformat(item))
            except ValueError:
                raise t.error("closed_days", f"{item!r} is not a date") from None
        else:
            raise t.error("closed_days", f"{item!r} is not a date YYYY-MM-DD")
    return frozenset(days)

