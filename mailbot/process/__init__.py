"""process: one stored mail at a time, from raw bytes to a ticket, its events and replies.

``runner`` is the loop (claims, quarantine, retry); ``dispose`` the ways a mail can
go; ``turn`` what one mail's way carries; ``acknowledge``, ``staff``, ``threads``,
``tickets`` and ``escalate`` the parts they use. The names below are what the rest of
mailbot may use. They load on first use: the runner brings the classifier (spaCy),
which commands that only read tickets must not pay for.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailbot.kinds import OutcomeStatus
    from mailbot.process.escalate import remind_overdue
    from mailbot.process.runner import Processor, ProcessReport, describe
    from mailbot.process.turn import Arrival, Outcome

__all__ = [
    "Arrival",
    "Outcome",
    "OutcomeStatus",
    "ProcessReport",
    "Processor",
    "describe",
    "remind_overdue",
]

_HOMES = {
    "Arrival": "mailbot.process.turn",
    "Outcome": "mailbot.process.turn",
    "OutcomeStatus": "mailbot.kinds",
    "ProcessReport": "mailbot.process.runner",
    "Processor": "mailbot.process.runner",
    "describe": "mailbot.process.runner",
    "remind_overdue": "mailbot.process.escalate",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home), name)
