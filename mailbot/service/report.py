"""``classify`` and ``evaluate`` output: the judgement of one file as the CLI contract's JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mailbot.config import Config
from mailbot.errors import ParseError
from mailbot.judge import Judge
from mailbot.mail.parse import ParseLimits, parse_message
from mailbot.triage import Alarm, Doubt


@dataclass(frozen=True)
class FileError:
    """A file that could not be read or parsed; the command goes on with the next."""

    file: str
    error: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FileJudgement:
    """What the bot would decide about one message file, without storing anything."""

    file: str
    message_id: str
    #: the sender's address (``from`` in the JSON)
    sender: str
    subject: str
    language: str
    body: str
    automated: bool
    priority: str
    urgency: str
    deadline: str | None
    planned_change: bool
    contract: bool
    #: ISO 8601 in the configured zone; None for automated mail
    due_at: str | None
    reasons: list[str]
    automated_reasons: list[str]
    category: str
    resolved: bool
    alarm: Alarm | None
    #: our receiving server's spam verdict and the header that decided; None: no spam
    spam: str | None = None
    #: a robot's mail that would be stored as information, not as a ticket
    information: bool = False
    #: None, or the other reading the judgement was weighed against and why
    unsure: Doubt | None = None

    def as_json(self) -> dict[str, Any]:
        """One ``classify --json`` object (design.md's contract, in this key order)."""
        data = asdict(self)
        if self.alarm is not None:
            data["alarm"] = {**data["alarm"], "key": self.alarm.key}
        data["unsure"] = None if self.unsure is None else self.unsure.as_json()
        return {("from" if key == "sender" else key): value for key, value in data.items()}


def classify_file(judge: Judge, path: Path) -> FileJudgement | FileError:
    """The judgement of one file; an unreadable file gives a :class:`FileError`."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return FileError(str(path), exc.strerror or str(exc))
    try:
        mail = parse_message(raw, ParseLimits(zone=judge.calendar.zone))
    except ParseError as exc:
        return FileError(str(path), str(exc))
    j = judge.judge(mail, arrival=mail.date)
    c = j.classification
    due = None
    if j.plan is not None:
        due = j.plan.due_at.astimezone(judge.calendar.zone).isoformat()
    return FileJudgement(
        file=str(path),
        message_id=mail.message_id,
        sender=mail.from_addr,
        subject=mail.subject,
        language=c.language.value,
        body=j.body,
        automated=j.automated,
        priority=c.priority.value,
        urgency=c.urgency.value,
        deadline=c.deadline.isoformat() if c.deadline else None,
        planned_change=c.planned_change,
        contract=j.contract,
        due_at=due,
        reasons=list(c.reasons),
        automated_reasons=list(j.automated_reasons),
        category=c.category,
        resolved=c.resolved,
        alarm=c.alarm,
        spam=f"{j.spam.reason} ({j.spam.header})" if j.spam.spam else None,
        information=j.information,
        unsure=c.doubt,
    )


#: what the evaluation counts as a prediction for a file that could not be read
_NO_PREDICTION: dict[str, object] = dict.fromkeys(
    ("language", "priority", "urgency", "deadline", "planned_change", "automated")
)


def evaluate_folder(config: Config, path: Path | list[Path]) -> tuple[str, dict[str, Any]]:
    from mailbot.classify import evaluate, format_report

    judge = Judge(config)

    def predict(eml: Path) -> dict[str, object]:
        result = classify_file(judge, eml)
        if isinstance(result, FileError):
            return dict(_NO_PREDICTION)
        return result.as_json()

    report = evaluate(path, predict)
    return format_report(report), asdict(report)
