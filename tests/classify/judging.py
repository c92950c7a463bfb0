"""What the classifier tests share: the date of their messages and a short call."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from mailbot.classify import Classifier
from mailbot.triage import Classification

BERLIN = ZoneInfo("Europe/Berlin")
#: when the test messages were sent: a Tuesday morning
SENT = datetime(2026, 11, 24, 10, 15, tzinfo=BERLIN)


def judge(clf: Classifier, subject: str, text: str) -> Classification:
    return clf.classify(subject, text, SENT)
