"""Urgency is the customer's word only and never touches the priority.
"""

from __future__ import annotations

import pytest

from mailbot.classify import Classifier
from tests.classify.judging import judge


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bitte dringend anschauen, der Drucker geht nicht.", "urgent"),
        ("Eilt! Der Scanner geht nicht.", "urgent"),
        ("Please help ASAP, my laptop won't boot.", "urgent"),
        ("Bis morgen muss die Abrechnung raus, DATEV startet bei mir nicht.", "urgent"),
        ("Nicht dringend: mein Monitor flackert manchmal.", "not_urgent"),
        ("Hat Zeit, bei Gelegenheit bitte den Drucker prüfen.", "not_urgent"),
        ("No rush, whenever you get a chance.", "not_urgent"),
        ("Hilfe!!! Mein Drucker geht nicht!!!", "none"),
        ("Mein Drucker druckt nicht.", "none"),
        ('Auf dem Bildschirm steht "Rufen Sie sofort den Support an".', "none"),
        (
            "Kein Stress, es reicht, wenn das innerhalb der nächsten 3 Tage bearbeitet wird.",
            "not_urgent",
        ),
    ],
)
def test_urgency(clf: Classifier, text: str, expected: str) -> None:
    assert judge(clf, "Anfrage", text).urgency == expected


def test_urgency_does_not_change_priority(clf: Classifier) -> None:
    calm = judge(clf, "Drucker", "Der Drucker im Flur druckt nicht.")
    rushed = judge(clf, "Drucker", "Der Drucker im Flur druckt nicht. Dringend!")
    assert calm.priority == rushed.priority == "normal"
    assert rushed.urgency == "urgent"
