"""Clause scoping (issue 20): negation, what-ifs, the past and reported speech hold in
the clause they stand in, and a conditional or a reporting verb reaches the clause
after it; the customer's urgency and a phrase of no urgency never cross a comma.
"""

from __future__ import annotations

import pytest

from mailbot.classify import Classifier
from tests.classify.judging import judge

# (subject, text, priority)
SCOPED = [
    # the past in one clause, a current outage in the next
    ("Fileserver", "Bis gestern Abend lief der Fileserver noch, seit heute früh kommt keiner "
     "mehr an die Laufwerke.", "critical"),
    ("Mail", "Last week the mail server was fine, but today nobody can send or receive "
     "email.", "critical"),
    # a what-if in one clause, a real fault in the next sentence or clause
    ("Monitor", "Sollte der Drucker wieder Probleme machen, melde ich mich. Jetzt bleibt aber "
     "mein Monitor schwarz.", "normal"),
    ("Laptop", "In case the scanner acts up again I'll let you know; right now my laptop "
     "won't start at all.", "normal"),
    # a negation that is about something else
    ("Drucker", "Kein Ausfall im Büro, aber mein Drucker zieht seit heute kein Papier ein.",
     "normal"),
    ("Outlook", "It's not the network, that works fine, but my Outlook crashes every time I "
     "open it.", "normal"),
    # a conditional that opens the sentence holds for its consequence
    ("Frage", "Falls unser Server einmal ausfällt, kann dann noch jemand arbeiten?", "low"),
    ("Question", "If the internet went down for the whole office, could we still use the "
     "phones?", "low"),
    # someone else's story, told in reported speech
    ("Frage Schutz", "Ein Bekannter hat erzählt, bei seiner Firma seien gestern alle Rechner "
     "verschlüsselt worden. Sind wir dagegen geschützt?", "low"),
    ("Entwarnung", "Herr Wolf meinte vorhin, das Internet sei weg, das stimmt aber nicht, er "
     "hatte nur das WLAN am Laptop aus.", "low"),
    ("All good", "My colleague said the file server had crashed, but it turned out she was "
     "on the guest Wi-Fi. All fine now.", "low"),
]


@pytest.mark.parametrize(("subject", "text", "priority"), SCOPED)
def test_modifiers_hold_in_their_clause(
    clf: Classifier, subject: str, text: str, priority: str
) -> None:
    c = judge(clf, subject, text)
    assert c.priority == priority, c.reasons


URGENCY = [
    ("Postfach", "Eilt bitte, ich komme seit heute nicht mehr in mein Postfach.", "urgent"),
    ("Drucker", "Eilt nicht, aber der Drucker im Flur druckt Streifen.", "not_urgent"),
    ("Login", "Urgent please, I can't log in to the accounting software.", "urgent"),
    ("Monitor", "No rush, my second monitor keeps flickering.", "not_urgent"),
]


@pytest.mark.parametrize(("subject", "text", "urgency"), URGENCY)
def test_urgency_stays_in_its_clause(
    clf: Classifier, subject: str, text: str, urgency: str
) -> None:
    assert judge(clf, subject, text).urgency == urgency
