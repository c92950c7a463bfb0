"""sla: when a ticket is due.

Read in this order, each module using only those before it:

- :mod:`~mailbot.sla.hours`: times of day, ranges and the hours of a week (wall clock);
- :mod:`~mailbot.sla.settings`: :class:`SlaSettings`, the zone, holidays, hours and targets;
- :mod:`~mailbot.sla.calendar`: :class:`BusinessCalendar`, the instants and service minutes;
- :mod:`~mailbot.sla.plan`: :func:`plan` of a ticket and the order of work.

The configuration (:mod:`mailbot.config`) builds the settings from the ``[sla]``
table; nothing here reads a file.
"""

from mailbot.sla.calendar import BusinessCalendar, require_aware
from mailbot.sla.hours import HoursGroup, TimeRange, WeeklyHours, parse_clock
from mailbot.sla.planning import (
    ADJUSTMENTS,
    Adjustment,
    Plan,
    deadline_instant,
    plan,
    work_order_key,
)
from mailbot.sla.settings import ReactionTarget, ReactionTargets, SlaSettings

__all__ = [
    "ADJUSTMENTS",
    "Adjustment",
    "BusinessCalendar",
    "HoursGroup",
    "Plan",
    "ReactionTarget",
    "ReactionTargets",
    "SlaSettings",
    "TimeRange",
    "WeeklyHours",
    "deadline_instant",
    "parse_clock",
    "plan",
    "require_aware",
    "work_order_key",
]
