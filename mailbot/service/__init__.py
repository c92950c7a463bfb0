"""service: the long-running service, its worker pool and the views the command line shows.

What the rest of the code may use:

- :class:`Runtime` (``runtime``): start-up, ``ingest``, ``once``, ``drain``, ``serve``
  and the views; :class:`DrainSummary` is what a drain did.
- the views' results (``views``): :class:`TicketRow`, :class:`TicketDetail`,
  :class:`QuarantineRow`, :class:`Health`.
- the ``classify``/``evaluate`` output (``report``): :func:`classify_file`,
  :func:`evaluate_folder`.
- technicians' corrections read back (``corrections``: export, training;
  ``correction_report``: ``evaluate --corrections``), imported by their module path.

``drain`` (the backlog drain and the sending thread), ``watch`` (IDLE per mailbox
under a lease) and ``pool`` (the forked processes) are the runtime's own parts.

The names are loaded on first use: ``mailbot classify`` needs the report, not the
store and the runtime behind it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailbot.service.drain import DrainSummary
    from mailbot.service.report import FileError, FileJudgement, classify_file, evaluate_folder
    from mailbot.service.runtime import Runtime
    from mailbot.service.views import Health, QuarantineRow, TicketDetail, TicketRow

__all__ = [
    "DrainSummary",
    "FileError",
    "FileJudgement",
    "Health",
    "QuarantineRow",
    "Runtime",
    "TicketDetail",
    "TicketRow",
    "classify_file",
    "evaluate_folder",
]

_HOME = {
    "DrainSummary": "drain",
    "FileError": "report",
    "FileJudgement": "report",
    "classify_file": "report",
    "evaluate_folder": "report",
    "Runtime": "runtime",
    "Health": "views",
    "QuarantineRow": "views",
    "TicketDetail": "views",
    "TicketRow": "views",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
