"""Sixth round: a worn or sticking part of one workplace device is a disturbance of a
single workplace (normal, triage.md), also when the customer says there is no rush;
words that look alike in requests stay low. Sentences written for these tests."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mailbot.classify import Classifier

SENT = datetime(2026, 11, 24, 10, 15, tzinfo=ZoneInfo("Europe/Berlin"))

WORN_DEVICES = [
    ("Tastatur", "Bei meiner Tastatur hakt die Enter-Taste, eilt aber nicht."),
    ("Maus", "Die Maus hat einen Wackelkontakt, der Zeiger springt dauernd."),
    ("Handy", "Der Akku vom Diensthandy ist sehr schwach, kein Stress."),
    ("Headset", "Mein Headset knistert beim Telefonieren."),
    ("Keyboard", "A couple of keys on my keyboard stick, no hurry."),
    ("Laptop", "My laptop battery drains within an hour these days."),
    ("Monitor", "There are two dead pixels in the middle of my monitor."),
    ("Mouse", "The scroll wheel of my mouse is worn out."),
]


@pytest.mark.parametrize(("subject", "text"), WORN_DEVICES)
def test_worn_part_of_one_device_is_normal(clf: Classifier, subject: str, text: str) -> None:
    c = clf.classify(subject, text, SENT)
    assert c.priority == "normal", c.reasons
    assert not c.planned_change


LOOKALIKE_REQUESTS = [
    ("USB", "Could you order five USB sticks and some sticky notes for reception?"),
    ("Outlook", "Wo muss ich in Outlook den Haken setzen, damit eine Lesebestätigung kommt?"),
    ("Etiketten", "Wir kleben ab Januar neue Etiketten auf die Geräte, brauchen Sie eine Liste?"),
]


@pytest.mark.parametrize(("subject", "text"), LOOKALIKE_REQUESTS)
def test_lookalike_words_in_requests_stay_low(clf: Classifier, subject: str, text: str) -> None:
    assert clf.classify(subject, text, SENT).priority == "low"
