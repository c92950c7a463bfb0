"""Labelled examples as JSON lines (the shape of ``models/train``) and as training mail."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from mailbot.classify import (
    LabelledExample,
    LabelledMail,
    example_line,
    json_key,
    label_code,
    read_examples,
    read_training_set,
)
from mailbot.classify._train import with_extra
from mailbot.kinds import LabelField


def example(field: LabelField, label: str, bot: str) -> LabelledExample:
    return LabelledExample("x-1", "en", "Printer", "It prints blank pages.", field, label, bot)


@pytest.mark.parametrize(
    ("field", "label", "bot", "key", "written"),
    [
        (LabelField.PRIORITY, "low", "normal", "priority", ("low", "normal")),
        (LabelField.URGENCY, "urgent", "none", "urgency", ("urgent", "none")),
        (LabelField.DEADLINE, "2026-11-27", "", "deadline", ("2026-11-27", None)),
        (LabelField.PLANNED_CHANGE, "true", "false", "planned", (True, False)),
    ],
)
def test_each_field_round_trips_with_the_training_files_key(
    tmp_path: Path,
    field: LabelField,
    label: str,
    bot: str,
    key: str,
    written: tuple[object, object],
) -> None:
    original = example(field, label, bot)
    line = example_line(original)
    row = json.loads(line)
    assert (row[key], row["bot"]) == written
    path = tmp_path / "x.jsonl"
    path.write_text(line + "\n\n", encoding="utf-8")
    assert read_examples(path, field) == [original]


def test_a_training_file_reads_as_examples_the_bot_agreed_with(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(
        json.dumps({"id": "de-1", "language": "de", "subject": "Umzug", "body": "Wir ziehen um.",
                    "planned": True}) + "\n",
        encoding="utf-8",
    )
    [read] = read_examples(path, LabelField.PLANNED_CHANGE)
    assert (read.label, read.bot, read.corrected) == ("true", "true", False)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (LabelField.PRIORITY, "urgent", "'priority' must be one of critical, low, normal"),
        (LabelField.URGENCY, None, "'urgency' must be one of"),
        (LabelField.PLANNED_CHANGE, "yes", "'planned' must be true or false"),
        (LabelField.DEADLINE, 20261127, "'deadline' must be an ISO date or null"),
    ],
)
def test_a_label_that_is_no_value_of_its_field_is_refused(
    tmp_path: Path, field: LabelField, value: object, message: str
) -> None:
    row = {"id": "x", "language": "de", "subject": "s", "body": "b", json_key(field): value}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_examples(path, field)


def test_a_deadline_that_is_no_date_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "x", "language": "de", "subject": "s", "body": "b",
                                "deadline": "Freitag"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError):
        read_examples(path, LabelField.DEADLINE)


def test_an_exported_planned_change_is_a_mail_of_the_training_set(tmp_path: Path) -> None:
    original = example(LabelField.PLANNED_CHANGE, "false", "true")
    (tmp_path / "c.jsonl").write_text(example_line(original) + "\n", encoding="utf-8")
    assert read_training_set(tmp_path) == [original.training_mail()]
    assert original.training_mail() == LabelledMail(
        "x-1", "en", "Printer", "It prints blank pages.", False
    )


def test_only_planned_change_examples_are_training_mail() -> None:
    with pytest.raises(ValueError, match="no model is trained on priority"):
        example(LabelField.PRIORITY, "low", "normal").training_mail()


def test_codes_of_each_kind_of_label() -> None:
    assert [label_code(v) for v in ("normal", True, False, None, date(2026, 11, 27))] == [
        "normal", "true", "false", "", "2026-11-27"
    ]


def test_extra_mails_join_after_the_set_unless_it_holds_their_id() -> None:
    files = [LabelledMail("de-1", "de", "a", "b", True)]
    reviewed = LabelledMail("correction-1001-planned_change", "de", "c", "d", False)
    new = LabelledMail("correction-1002-planned_change", "de", "e", "f", True)
    assert with_extra([*files, reviewed], [reviewed, new]) == [*files, reviewed, new]
    assert with_extra(files, []) == files
