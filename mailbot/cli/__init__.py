"""The command line (design.md's contract): run, once, ingest, classify, tickets, ticket, ...

Every command takes ``--config``; a configuration problem is one line on stderr and
exit status 2, never a traceback.
"""

from __future__ import annotations

import sys

# The commands register themselves on ``app`` when their modules are imported.
from mailbot.cli import _groups, _work  # noqa: F401
from mailbot.cli._common import app, err

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
