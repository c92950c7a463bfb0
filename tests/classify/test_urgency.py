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


# "sofort" / "immediately" telling what happened is no request for speed; other words
# for urgency are (issue 20).
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ich habe sofort den Stecker gezogen, jetzt startet der PC nicht mehr.", "none"),
        ("Mails an Kollegen kommen sofort an, Mails nach außen hängen im Postausgang.", "none"),
        ("I unplugged the printer immediately, now it shows an error.", "none"),
        ("Internal messages arrive straight away but external ones bounce.", "none"),
        ("Bitte melden Sie sich sofort, mein Rechner zeigt einen Virus.", "urgent"),
        ("Der Scanner geht nicht. Bitte so schnell wie möglich.", "urgent"),
        ("Bitte dringend melden, Outlook stürzt ständig ab.", "urgent"),
        ("My laptop won't start, please come as fast as possible.", "urgent"),
        ("We need someone immediately, the card reader is broken.", "urgent"),
    ],
)
def test_urgency_in_other_words(clf: Classifier, text: str, expected: str) -> None:
    assert judge(clf, "Problem", text).urgency == expected


# A phrase of no urgency never lowers the priority of a fault (issue 20).
@pytest.mark.parametrize(
    "text",
    [
        "Kein Notfall: der Drucker in der Buchhaltung druckt nur noch Streifen.",
        "Ist nicht schlimm, aber mein Monitor flackert seit gestern.",
        "Not urgent – my docking station no longer charges the laptop.",
        "No rush, the label printer keeps jamming.",
    ],
)
def test_no_urgency_never_lowers_a_fault(clf: Classifier, text: str) -> None:
    c = judge(clf, "Störung", text)
    assert c.priority == "normal", c.reasons
    assert c.urgency == "not_urgent"
