"""The vocabulary of triage, shared by every stage.

These are the values of ``../shared/spec/triage.md``; the classifier produces a
:class:`Classification`, the SLA clock and the store consume it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from mailbot.kinds import DoubtKind


class Priority(StrEnum):
    CRITICAL = "critical"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Lower rank is worked on first."""
        return {"critical": 0, "normal": 1, "low": 2}[self.value]


class Urgency(StrEnum):
    URGENT = "urgent"
    NOT_URGENT = "not_urgent"
    NONE = "none"

    @property
    def rank(self) -> int:
        """Order of work inside a priority: urgent before none before not_urgent."""
        return {"urgent": 0, "none": 1, "not_urgent": 2}[self.value]


class Language(StrEnum):
    DE = "de"
    EN = "en"


@dataclass(frozen=True)
class Alarm:
    """A monitoring notification (Icinga/Nagios, Zabbix, PRTG, Checkmk)."""

    system: str
    host: str
    service: str
    #: normalised: "down", "critical", "warning", "unknown", "up", "ok"
    state: str
    #: True for RECOVERY / OK / UP / resolved notifications
    recovery: bool

    @property
    def key(self) -> str:
        """Stable per host and service, so repeats and recoveries find their ticket."""
        return f"{self.host.strip().lower()}/{self.service.strip().lower()}"


@dataclass(frozen=True)
class Doubt:
    """The judgement is unsure: the other reading the evidence allows, and why.

    The judgement itself is the safer of the two (where critical is in doubt, it is
    critical), so the customer is never promised less than a reading allows."""

    kind: DoubtKind
    alternative: Priority
    #: whether the other reading is a planned change
    alternative_planned: bool
    #: why, in the message's language ("betrifft evtl. nur einen Arbeitsplatz: mein")
    reason: str

    def as_json(self) -> dict[str, str | bool]:
        """As stored in a message's evidence and printed by ``classify --json``."""
        return {
            "kind": self.kind.value,
            "alternative": self.alternative.value,
            "alternative_planned_change": self.alternative_planned,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Classification:
    language: Language
    priority: Priority
    urgency: Urgency
    deadline: date | None
    planned_change: bool
    #: the evidence, as short human-readable strings in the message's language
    reasons: tuple[str, ...] = field(default_factory=tuple)
    #: short machine label of what the message is about ("outage", "degradation",
    #: "single_device", "question", "planned_change", "monitoring", "resolved", ...)
    category: str = ""
    #: the customer says the matter is settled ("hat sich erledigt", "solved")
    resolved: bool = False
    alarm: Alarm | None = None
    #: None when the rules are sure; else the other reading and why
    doubt: Doubt | None = None
    #: the reasons (of ``reasons``) that the priority rests on; never empty
    basis: tuple[str, ...] = ()
