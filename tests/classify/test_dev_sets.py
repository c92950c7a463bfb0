"""Over the development sets (``eval/de``, ``eval/en``, ``models/dev``): every judgement
states what its priority rests on, and every doubt says why (issue 20: "a priority
without a reason is a defect"). The frozen set (``eval/frozen``) is not read here: it
measures the work once, at the end.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailbot.config import load_config
from mailbot.judge import Judge
from mailbot.mail.parse import ParseLimits, parse_message
from mailbot.triage import Classification

ROOT = Path(__file__).resolve().parents[2]
DEV_SETS = [ROOT / "eval" / "de", ROOT / "eval" / "en", ROOT / "models" / "dev" / "de",
            ROOT / "models" / "dev" / "en"]  # fmt: skip


def _judged(folder: Path, judge: Judge) -> list[tuple[str, dict[str, object], Classification]]:
    found = []
    for line in (folder / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        expected = json.loads(line)
        raw = (folder / f"{expected['id']}.eml").read_bytes()
        mail = parse_message(raw, ParseLimits(zone=judge.calendar.zone))
        found.append((str(expected["id"]), expected, judge.judge(mail, mail.date).classification))
    return found


@pytest.fixture(scope="module")
def judged() -> list[tuple[str, dict[str, object], Classification]]:
    judge = Judge(load_config(ROOT / "examples" / "mailbot.toml"))
    return [item for folder in DEV_SETS for item in _judged(folder, judge)]


def test_the_sets_are_there(judged: list[tuple[str, dict[str, object], Classification]]) -> None:
    assert len(judged) == 305 + 80


def test_every_priority_has_its_reason(
    judged: list[tuple[str, dict[str, object], Classification]],
) -> None:
    missing = [ident for ident, _, c in judged if not c.basis]
    assert missing == []
    # the basis is part of what the acknowledgement tells the customer
    stray = [ident for ident, _, c in judged if not set(c.basis) <= set(c.reasons)]
    assert stray == []


def test_every_doubt_says_why_and_keeps_the_safer_promise(
    judged: list[tuple[str, dict[str, object], Classification]],
) -> None:
    doubts = [(ident, c) for ident, _, c in judged if c.doubt is not None]
    assert doubts, "the sets hold mails the rules are unsure about"
    for ident, c in doubts:
        assert c.doubt is not None
        assert c.doubt.reason.strip(), ident
        # the judgement is never below the other reading: the customer gets the safer one
        assert c.priority.rank <= c.doubt.alternative.rank, ident
        assert (c.doubt.alternative, c.doubt.alternative_planned) != (
            c.priority,
            c.planned_change,
        ), ident
