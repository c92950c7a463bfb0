"""``classify`` and ``evaluate`` output: the judgement of one file as the CLI contract's JSON."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from mailbot.config import Config
from mailbot.errors import ParseError
from mailbot.judge import Judge
from mailbot.mail.parse import parse_message


def classify_file(judge: Judge, path: Path) -> dict[str, Any]:
    """One ``classify --json`` object; an unreadable file gives ``file`` and ``error``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return {"file": str(path), "error": exc.strerror or str(exc)}
    try:
        mail = parse_message(raw)
    except ParseError as exc:
        return {"file": str(path), "error": str(exc)}
    j = judge.judge(mail, arrival=mail.date)
    c = j.classification
    due = None
    if j.plan is not None:
        due = j.plan.due_at.astimezone(judge.calendar.zone).isoformat()
    return {
        "file": str(path),
        "message_id": mail.message_id,
        "from": mail.from_addr,
        "subject": mail.subject,
        "language": c.language.value,
        "body": j.body,
        "automated": j.automated,
        "priority": c.priority.value,
        "urgency": c.urgency.value,
        "deadline": c.deadline.isoformat() if c.deadline else None,
        "planned_change": c.planned_change,
        "contract": j.contract,
        "due_at": due,
        "reasons": list(c.reasons),
        "automated_reasons": list(j.automated_reasons),
        "category": c.category,
        "resolved": c.resolved,
        "alarm": ({**asdict(c.alarm), "key": c.alarm.key} if c.alarm is not None else None),
    }


def evaluate_folder(config: Config, path: Path) -> tuple[str, dict[str, Any]]:
    from mailbot.classify import evaluate, format_report

    judge = Judge(config)

    def predict(eml: Path) -> dict[str, object]:
        result = classify_file(judge, eml)
        if "error" in result:
            return {
                "language": None,
                "priority": None,
                "urgency": None,
                "deadline": None,
                "planned_change": None,
                "automated": None,
            }
        return result

    report = evaluate(path, predict)
    return format_report(report), asdict(report)
