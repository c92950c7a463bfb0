"""A dead central device told by its symptoms only (issue 20): no light on the switch,
no PC with a network, printers, DMS and phones gone at once. Critical, though the mail
names no outage of the device; where it is only inferred, the judgement says it is
unsure and that it could be less."""

from __future__ import annotations

import pytest

from mailbot.classify import Classifier
from mailbot.kinds import DoubtKind
from mailbot.triage import Priority
from tests.classify.judging import judge

SYMPTOMS = [
    ("Netzwerk", "Seit halb acht hat kein PC im Büro mehr Netzwerk, das Symbol zeigt ein "
     "rotes Kreuz."),
    ("Switch?", "Am Switch im Keller leuchten keine LEDs mehr, und die Rechner finden "
     "nichts im Netz."),
    ("Nichts geht", "Wir kommen heute nirgends rein: keine Laufwerke, kein Internet, keine "
     "Mails."),
    ("No network", "None of our computers has a network connection since we arrived this "
     "morning."),
    ("Switch", "All the lights on the switch in the cabinet are off and no workstation can "
     "reach the server."),
]


@pytest.mark.parametrize(("subject", "text"), SYMPTOMS)
def test_a_dead_central_device_told_by_symptoms_is_critical(
    clf: Classifier, subject: str, text: str
) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "critical", c.reasons
    assert c.basis


SEVERAL = [
    ("Probleme", "Die Drucker sind weg, das DMS lädt nicht und die Telefone haben kein "
     "Freizeichen."),
    ("Everything odd", "The printers have vanished, Outlook cannot connect and the phones "
     "have no dial tone."),
]


@pytest.mark.parametrize(("subject", "text"), SEVERAL)
def test_several_systems_down_at_once_are_critical_but_unsure(
    clf: Classifier, subject: str, text: str
) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "critical", c.reasons
    assert c.doubt is not None and c.doubt.kind == DoubtKind.WEAK_EVIDENCE
    assert c.doubt.alternative == Priority.NORMAL


def test_several_faults_of_ones_own_workplace_stay_normal(clf: Classifier) -> None:
    c = judge(clf, "Mein PC", "Mein Drucker geht nicht, mein Outlook hängt und Teams stürzt ab.")
    assert c.priority == "normal"
    assert c.doubt is None
