"""Technicians' commands: one per line in the new text of their mail.

``#prio kritisch|normal|niedrig`` (critical|normal|low), ``#status offen|wartend|erledigt``
(open|waiting|solved), ``#übernehmen`` / ``#take``, ``#intern``; in a reply to the daily
spam notice ``#kein-spam 17 18`` / ``#not-spam 17`` with the IDs the notice lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from mailbot.kinds import TicketStatus
from mailbot.triage import Priority

_LINE = re.compile(r"^\s*#(\w[\w-]*)(?:[ \t]+(\S+))?\s*$", re.UNICODE)
_PRIORITY = {
    "kritisch": Priority.CRITICAL,
    "critical": Priority.CRITICAL,
    "hoch": Priority.CRITICAL,
    "normal": Priority.NORMAL,
    "mittel": Priority.NORMAL,
    "niedrig": Priority.LOW,
    "low": Priority.LOW,
    "gering": Priority.LOW,
}
_STATUS = {
    "offen": TicketStatus.OPEN,
    "open": TicketStatus.OPEN,
    "wartend": TicketStatus.WAITING,
    "waiting": TicketStatus.WAITING,
    "warten": TicketStatus.WAITING,
    "erledigt": TicketStatus.SOLVED,
    "solved": TicketStatus.SOLVED,
    "geschlossen": TicketStatus.SOLVED,
    "closed": TicketStatus.SOLVED,
}
#: "#kein-spam 17, 18" (IDs with or without "#"): the rest of the line is read here,
#: where the other commands take one word at most
_NOT_SPAM = re.compile(r"^\s*#(kein-?spam|not-?spam|no-?spam)\b(.*)$", re.IGNORECASE)
_SPAM_ID = re.compile(r"#?(\d{1,12})")
_TAKE = frozenset({"übernehmen", "uebernehmen", "take"})
_INTERNAL = frozenset({"intern", "internal"})


class CommandName(StrEnum):
    PRIORITY = "priority"
    STATUS = "status"
    TAKE = "take"
    INTERNAL = "internal"
    NOT_SPAM = "not_spam"


@dataclass(frozen=True)
class Command:
    name: CommandName
    #: the new priority (a Priority) or status (a TicketStatus); the spam IDs,
    #: space-separated, of NOT_SPAM; "" for the others
    value: str = ""
    line: str = ""

    @property
    def ids(self) -> tuple[int, ...]:
        """The IDs a NOT_SPAM command names, in its order, each once."""
        return tuple(dict.fromkeys(int(i) for i in self.value.split()))


@dataclass(frozen=True)
class CommandScan:
    commands: tuple[Command, ...]
    #: what remains for the customer: the text without the command lines
    text: str
    #: lines that look like commands but are not understood
    unknown: tuple[str, ...]

    @property
    def internal(self) -> bool:
        return any(c.name == CommandName.INTERNAL for c in self.commands)


def scan(text: str) -> CommandScan:
    commands: list[Command] = []
    unknown: list[str] = []
    kept: list[str] = []
    for line in text.splitlines():
        spam = _NOT_SPAM.match(line)
        if spam is not None:
            ids = _spam_ids(spam.group(2))
            if ids:
                commands.append(Command(CommandName.NOT_SPAM, ids, line.strip()))
            else:
                unknown.append(line.strip())  # no ID, or words where IDs belong
            continue
        match = _LINE.match(line)
        if not match:
            kept.append(line)
            continue
        word, arg = match.group(1).lower(), (match.group(2) or "").lower()
        if word == "prio" and arg in _PRIORITY:
            commands.append(Command(CommandName.PRIORITY, _PRIORITY[arg], line.strip()))
        elif word == "status" and arg in _STATUS:
            commands.append(Command(CommandName.STATUS, _STATUS[arg], line.strip()))
        elif word in _TAKE and not arg:
            commands.append(Command(CommandName.TAKE, "", line.strip()))
        elif word in _INTERNAL and not arg:
            commands.append(Command(CommandName.INTERNAL, "", line.strip()))
        elif word in ("prio", "status"):
            unknown.append(line.strip())
        else:
            # "#3 im Flur" or a hashtag in prose is text, not a command
            kept.append(line)
    return CommandScan(tuple(commands), "\n".join(kept).strip("\n"), tuple(unknown))


def _spam_ids(rest: str) -> str:
    """The IDs after ``#kein-spam``, space-separated; "" unless the rest of the line is
    IDs and separators only."""
    tokens = [t for t in re.split(r"[\s,;]+", rest) if t]
    found = [_SPAM_ID.fullmatch(t) for t in tokens]
    if not tokens or not all(found):
        return ""
    return " ".join(m.group(1) for m in found if m is not None)
