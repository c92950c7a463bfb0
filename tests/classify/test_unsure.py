"""When the classifier is unsure (issue 20): the doubt's kind, the other reading and its
reason, with the judgement kept at the safer promise."""

from __future__ import annotations

import pytest

from mailbot.classify import Classifier, PlannedModel
from mailbot.kinds import DoubtKind
from mailbot.triage import Priority
from tests.classify.judging import judge


class FixedModel(PlannedModel):
    """A planned-change model that always says ``p``."""

    def __init__(self, p: float) -> None:
        self.p = p

    def score(self, subject: str, text: str) -> float:
        return self.p


#: a fault beside the change that replaces the faulty thing: the model is asked
OLD_PRINTER = (
    "Der alte Drucker im Flur ist eh kaputt, er zieht kein Papier mehr ein. "
    "Bitte den neuen am Freitag aufstellen."
)


def test_only_the_subject_naming_an_outage_is_critical_but_unsure(clf: Classifier) -> None:
    c = judge(clf, "Server down", "Bitte rufen Sie mich zurück.")
    assert c.priority == "critical"
    assert c.doubt is not None and c.doubt.kind == DoubtKind.WEAK_EVIDENCE
    assert c.doubt.alternative == Priority.NORMAL
    assert "Betreff" in c.doubt.reason


def test_a_system_down_for_all_and_told_of_one_user_is_unsure(clf: Classifier) -> None:
    c = judge(
        clf, "VPN", "Das VPN ist seit heute früh down. Ich komme von zu Hause nicht mehr ins VPN."
    )
    assert c.priority == "critical"
    assert c.doubt is not None and c.doubt.kind == DoubtKind.RULES_DISAGREE
    assert c.doubt.alternative == Priority.NORMAL


def test_a_clear_outage_is_sure(clf: Classifier) -> None:
    c = judge(clf, "Server", "Der Server ist ausgefallen, niemand kann arbeiten.")
    assert c.priority == "critical" and c.doubt is None


@pytest.mark.parametrize(
    ("p", "priority", "planned", "unsure"),
    [
        (0.95, "low", True, False),  # clearly a change: the model decides
        (0.65, "normal", False, True),  # above its threshold, not clearly: the fault stands
        (0.5, "normal", False, True),  # below, but close: a doubt
        (0.2, "normal", False, False),  # clearly no change
    ],
)
def test_the_model_near_its_threshold_leaves_a_doubt_and_the_fault(
    clf: Classifier, p: float, priority: str, planned: bool, unsure: bool
) -> None:
    c = judge(clf.with_planned_model(FixedModel(p)), "Drucker", OLD_PRINTER)
    assert (c.priority, c.planned_change) == (priority, planned)
    assert (c.doubt is not None) == unsure
    if c.doubt is not None:
        assert c.doubt.kind == DoubtKind.MODEL_DISAGREES
        assert (c.doubt.alternative, c.doubt.alternative_planned) == (Priority.LOW, True)
        assert f"{p:.0%}" in c.doubt.reason
