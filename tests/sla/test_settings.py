"""SlaSettings and the [sla] table: defaults, and a ConfigError naming the key for each mistake."""

from __future__ import annotations

import tomllib
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest

from mailbot.config import parse_sla
from mailbot.errors import ConfigError
from mailbot.sla import ReactionTarget, ReactionTargets, SlaSettings, TimeRange, WeeklyHours

PATH = Path("/etc/mailbot/mailbot.toml")

FULL = """
[sla]
timezone = "Europe/Vienna"
country = "de"
subdivision = "by"
hours = { mon-thu = ["08:00-12:00", "13:00-17:00"], fri = "08:00-14:00" }
extended_hours = { sat-sun = "09:00-13:00" }
holidays_close_extended = false
half_days = ["12-24"]
half_day_close = 11:30:00
closed_days = [2026-12-28, "2026-12-29"]
oncall_address = "bereitschaft@itservice.example"
oncall_hours = { sat-sun = "00:00-24:00" }
urgent_same_day_minutes = 30

[sla.targets]
critical = [30, 120]
normal = { contract = 240, no_contract = 480 }
"""


def test_empty_table_gives_the_defaults() -> None:
    assert parse_sla({}, PATH) == SlaSettings()


def test_defaults_are_those_of_triage_md() -> None:
    s = SlaSettings()
    assert (s.timezone, s.country, s.subdivision) == ("Europe/Berlin", "DE", "NW")
    assert [s.hours.on(d) for d in range(7)] == [(TimeRange(420, 1140),)] * 5 + [(), ()]
    assert s.extended_hours.on(5) == (TimeRange(480, 1080),)
    assert s.targets == ReactionTargets(
        ReactionTarget(60, 240), ReactionTarget(480, 960), ReactionTarget(1440, 2880)
    )
    assert s.half_days == ()  # the service page names no half days (issue 20)
    assert s.half_day_close == time(12, 0)
    assert s.oncall_address is None and s.oncall_hours.is_empty
    assert s.urgent_same_day_minutes == 60


def test_full_table_from_toml() -> None:
    s = parse_sla(tomllib.loads(FULL)["sla"], PATH)
    assert (s.timezone, s.country, s.subdivision) == ("Europe/Vienna", "DE", "BY")
    assert s.hours.on(0) == (TimeRange(480, 720), TimeRange(780, 1020))
    assert s.hours.on(4) == (TimeRange(480, 840),)
    assert s.hours.on(5) == ()
    assert s.extended_hours.on(6) == (TimeRange(540, 780),)
    assert s.holidays_close_extended is False
    assert s.half_days == ((12, 24),)
    assert s.half_day_close == time(11, 30)
    assert s.closed_days == frozenset({date(2026, 12, 28), date(2026, 12, 29)})
    assert s.oncall_address == "bereitschaft@itservice.example"
    assert s.oncall_hours.on(5) == (TimeRange(0, 1440),)
    assert s.urgent_same_day_minutes == 30
    assert s.targets.critical == ReactionTarget(30, 120)
    assert s.targets.normal == ReactionTarget(240, 480)
    assert s.targets.low == ReactionTarget(1440, 2880)  # not named: default kept


def test_strings_work_where_toml_has_literals() -> None:
    s = parse_sla({"half_day_close": "13:00", "subdivision": ""}, None)
    assert s.half_day_close == time(13, 0)
    assert s.subdivision is None  # national holidays only


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ({"holiday": "NW"}, "sla.holiday", "unknown key"),
        ({"timezone": "Mars/Olympus"}, "sla.timezone", "unknown time zone"),
        ({"timezone": 1}, "sla.timezone", "expected a non-empty string"),
        ({"country": "XX"}, "sla.country", "unknown country"),
        ({"subdivision": "XX"}, "sla.subdivision", "unknown state"),
        ({"subdivision": 5}, "sla.subdivision", "expected a string"),
        ({"hours": "07:00-19:00"}, "sla.hours", "expected a table"),
        ({"hours": {}}, "sla.hours", "no service hours"),
        ({"hours": {"mon": "19:00-07:00"}}, "sla.hours.mon", "end must be after the start"),
        ({"hours": {"mon": "07:00-07:00"}}, "sla.hours.mon", "end must be after the start"),
        ({"hours": {"mon": "7-19"}}, "sla.hours.mon", "not a time"),
        ({"hours": {"mon": "07:00"}}, "sla.hours.mon", "not a range"),
        ({"hours": {"mon": "07:00-25:00"}}, "sla.hours.mon", "not a valid time"),
        ({"hours": {"mon": "07:60-19:00"}}, "sla.hours.mon", "not a valid time"),
        ({"hours": {"mon": "24:00-24:00"}}, "sla.hours.mon", "not a valid time"),
        ({"hours": {"mon": 7}}, "sla.hours.mon", "expected"),
        ({"hours": {"mon": [7]}}, "sla.hours.mon", "expected"),
        ({"hours": {"monday": "07:00-19:00"}}, "sla.hours.monday", "unknown day"),
        ({"hours": {"fri-mon": "07:00-19:00"}}, "sla.hours.fri-mon", "unknown day"),
        (
            {"hours": {"mon-fri": "07:00-19:00", "fri": "07:00-12:00"}},
            "sla.hours.fri",
            "given twice",
        ),
        ({"extended_hours": {"sat": "18:00-08:00"}}, "sla.extended_hours.sat", "end must be"),
        ({"holidays_close_extended": "yes"}, "sla.holidays_close_extended", "true or false"),
        ({"targets": [60, 240]}, "sla.targets", "expected a table"),
        ({"targets": {"critical": [60]}}, "sla.targets.critical", "two positive integers"),
        ({"targets": {"critical": [0, 240]}}, "sla.targets.critical", "two positive integers"),
        ({"targets": {"critical": ["60", "240"]}}, "sla.targets.critical", "positive integers"),
        ({"targets": {"critical": [True, 240]}}, "sla.targets.critical", "positive integers"),
        ({"targets": {"critical": [60.5, 240]}}, "sla.targets.critical", "positive integers"),
        ({"targets": {"normal": {"contract": 60}}}, "sla.targets.normal", "positive integers"),
        ({"targets": {"urgent": [60, 240]}}, "sla.targets.urgent", "unknown priority"),
        ({"half_days": "12-24"}, "sla.half_days", "expected a list"),
        ({"half_days": ["24.12."]}, "sla.half_days", "not MM-DD"),
        ({"half_days": ["02-30"]}, "sla.half_days", "not a day of the year"),
        ({"half_day_close": "25:00"}, "sla.half_day_close", "not a valid time"),
        ({"half_day_close": 12}, "sla.half_day_close", "expected a time"),
        ({"closed_days": "2026-12-28"}, "sla.closed_days", "expected a list"),
        ({"closed_days": ["2026-13-01"]}, "sla.closed_days", "not a date"),
        ({"closed_days": ["28.12.2026"]}, "sla.closed_days", "not a date"),
        ({"closed_days": [5]}, "sla.closed_days", "not a date"),
        ({"oncall_address": "nobody"}, "sla.oncall_address", "e-mail address"),
        ({"oncall_address": 5}, "sla.oncall_address", "expected a string"),
        ({"oncall_address": "a@b.example"}, "sla.oncall_hours", "required when oncall_address"),
        ({"oncall_hours": {"sat": "00:00-24:00"}}, "sla.oncall_address", "required when"),
        ({"urgent_same_day_minutes": 0}, "sla.urgent_same_day_minutes", "positive integer"),
        ({"urgent_same_day_minutes": True}, "sla.urgent_same_day_minutes", "positive integer"),
    ],
)
def test_config_errors_name_the_key(table: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_sla(table, PATH)
    assert info.value.key == key
    assert problem in info.value.problem
    assert info.value.path == str(PATH)
    assert str(info.value).startswith(f"{PATH}: {key}: ")


def test_not_a_table() -> None:
    with pytest.raises(ConfigError) as info:
        parse_sla(["sla"], None)
    assert (info.value.key, info.value.path) == ("sla", "<defaults>")


def test_every_german_state_is_accepted() -> None:
    for state in (
        "BB",
        "BE",
        "BW",
        "BY",
        "HB",
        "HE",
        "HH",
        "MV",
        "NI",
        "NW",
        "RP",
        "SH",
        "SL",
        "SN",
        "ST",
        "TH",
    ):
        assert parse_sla({"subdivision": state}, PATH).subdivision == state


def test_weekly_hours_of_raises_config_errors_too() -> None:
    with pytest.raises(ConfigError):
        WeeklyHours.of({"mon": "19:00-07:00"})
