"""Labelled examples of one judgement each: what technicians corrected, as training
mail or as JSON lines in the shape of ``models/train/*.jsonl``.

A correction of a field that a trained model decides (``MODEL_FIELDS``) can be
folded into that model's training (``mailbot train --with-corrections``). The other
fields are decided by rules alone: their corrections are written out
(``mailbot corrections export``) for people to review and add to the training or
development data; no rule learns from them by itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from mailbot.classify._train import LabelledMail
from mailbot.kinds import LabelField
from mailbot.triage import Priority, Urgency

__all__ = [
    "MODEL_FIELDS",
    "LabelledExample",
    "example_line",
    "json_key",
    "label_code",
    "read_examples",
]

#: the fields a trained model decides, whose corrections training can take in
MODEL_FIELDS: frozenset[LabelField] = frozenset({LabelField.PLANNED_CHANGE})
#: the JSON key of a field's label where it is not the field's name: the training
#: set's own key for a planned change
_KEYS = {LabelField.PLANNED_CHANGE: "planned"}
#: the key of the bot's value beside the label, for the reviewer
BOT_KEY = "bot"
#: the values a label of these fields may take
_CHOICES: dict[LabelField, frozenset[str]] = {
    LabelField.PRIORITY: frozenset(Priority),
    LabelField.URGENCY: frozenset(Urgency),
}


def json_key(field: LabelField) -> str:
    return _KEYS.get(field, field.value)


def label_code(value: str | date | bool | None) -> str:
    """A label as stored and compared: a priority or urgency value, an ISO date, ""
    for no deadline, "true"/"false" for a planned change."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _json_value(field: LabelField, code: str) -> str | bool | None:
    """A stored code as the training files write that field: a boolean for a planned
    change, null for no deadline."""
    if field is LabelField.PLANNED_CHANGE:
        return code == "true"
    if field is LabelField.DEADLINE and not code:
        return None
    return code


def _code_of(field: LabelField, value: object, where: str) -> str:
    if field is LabelField.PLANNED_CHANGE:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: {json_key(field)!r} must be true or false")
    elif field is LabelField.DEADLINE:
        if value is not None:
            if not isinstance(value, str):
                raise ValueError(f"{where}: 'deadline' must be an ISO date or null")
            date.fromisoformat(value)  # refuses what is no date
    elif value not in _CHOICES[field]:
        choices = ", ".join(sorted(_CHOICES[field]))
        raise ValueError(f"{where}: {json_key(field)!r} must be one of {choices}")
    return label_code(value if isinstance(value, bool | str) else None)


@dataclass(frozen=True)
class LabelledExample:
    """One mail the bot judged, one field of it, and the label a person gave."""

    id: str
    language: str
    subject: str
    #: the new text of the mail, as the classifier was given it
    body: str
    field: LabelField
    #: the label, as :func:`label_code` writes it
    label: str
    #: what the bot said, the same way
    bot: str

    @property
    def corrected(self) -> bool:
        return self.label != self.bot

    def training_mail(self) -> LabelledMail:
        """The example as a mail of the planned-change training set."""
        if self.field is not LabelField.PLANNED_CHANGE:
            raise ValueError(f"{self.id}: no model is trained on {self.field}")
        return LabelledMail(
            self.id, self.language, self.subject, self.body, self.label == "true"
        )


def example_line(example: LabelledExample) -> str:
    """One JSON line: the training files' keys (id, language, subject, body, the
    label), then the bot's value for whoever reviews it."""
    row = {
        "id": example.id,
        "language": example.language,
        "subject": example.subject,
        "body": example.body,
        json_key(example.field): _json_value(example.field, example.label),
        BOT_KEY: _json_value(example.field, example.bot),
    }
    return json.dumps(row, ensure_ascii=False)


def read_examples(path: Path, field: LabelField) -> list[LabelledExample]:
    """The examples of ``field`` in a JSON-lines file written by :func:`example_line`
    (or a training file: without the bot's value, the label stands for it)."""
    examples: list[LabelledExample] = []
    key = json_key(field)
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        row = json.loads(line)
        if not isinstance(row, dict) or key not in row:
            raise ValueError(f"{where}: no {key!r} label")
        label = _code_of(field, row[key], where)
        bot = _code_of(field, row[BOT_KEY], where) if BOT_KEY in row else label
        examples.append(
            LabelledExample(
                str(row["id"]),
                str(row["language"]),
                str(row["subject"]),
                str(row["body"]),
                field,
                label,
                bot,
            )
        )
    return examples
