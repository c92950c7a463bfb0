"""Bounces, newsletters and auto-replies are low and automated: they shout but
report no failure of the customer's and ask for nothing.
"""

from __future__ import annotations

import pytest

from mailbot.classify import Classifier
from tests.classify.judging import judge

BOUNCES = [
    (
        "Undelivered Mail Returned to Sender",
        "This is the mail system at host mx.example.net. I'm sorry to have to inform you that "
        "your message could not be delivered to one or more recipients.",
    ),
    (
        "Delivery Status Notification (Failure)",
        "Your message wasn't delivered to max@example.org because the address couldn't be found.",
    ),
    ("Mail delivery failed: returning message to sender", "A message could not be delivered."),
    (
        "Unzustellbar: Angebot Praxisumbau",
        "Die Nachricht konnte nicht an den Empfänger zugestellt werden. Fehler: 550 5.1.1",
    ),
]


@pytest.mark.parametrize(("subject", "text"), BOUNCES)
def test_bounce_is_low_automated(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "low", c.reasons
    assert c.category == "automated"


def test_forwarded_newsletter_shouting_critical_is_low(clf: Classifier) -> None:
    c = judge(
        clf,
        "WG: KRITISCH: Sicherheitslücke",
        "Zur Info, kam als Newsletter. Sie erhalten diesen Newsletter, weil Sie ihn "
        "abonniert haben. Zum Abmelden klicken Sie hier.",
    )
    assert c.priority == "low"
    assert c.urgency == "none"


def test_automated_auto_reply_is_low(clf: Classifier) -> None:
    c = judge(clf, "Automatische Antwort: Server", "Ich bin bis 4.1. nicht im Büro.")
    assert c.priority == "low"
    assert c.deadline is None
