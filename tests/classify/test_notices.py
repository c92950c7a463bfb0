"""Notices and what-ifs are not failures (issue 20): an office that will be closed and
whose phones nobody answers, a question of what would happen if the server failed."""

from __future__ import annotations

import pytest

from mailbot.classify import Classifier
from tests.classify.judging import judge

NOTICES = [
    ("Brückentag", "Am Freitag nach Himmelfahrt ist unsere Kanzlei geschlossen, es geht "
     "niemand ans Telefon."),
    ("Betriebsurlaub", "Wir sind vom 22.12. bis 2.1. im Betriebsurlaub, in der Zeit ist "
     "niemand erreichbar."),
    ("Closed Monday", "Our practice will be closed on Monday for staff training; no one will "
     "be answering the phones."),
    ("Notfallplan", "Was würde eigentlich passieren, wenn unser Exchange-Server ausfällt? "
     "Könnte dann keiner mehr Mails schicken?"),
    ("What if", "What happens if our firewall dies over the weekend – would nobody be able "
     "to work on Monday?"),
]


@pytest.mark.parametrize(("subject", "text"), NOTICES)
def test_notices_and_what_ifs_are_low(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "low", c.reasons
    assert c.urgency == "none"


def test_a_real_outage_with_a_closed_day_mentioned_stays_critical(clf: Classifier) -> None:
    c = judge(
        clf,
        "Telefonanlage",
        "Die Telefonanlage ist seit heute früh komplett ausgefallen, keiner erreicht uns. "
        "Morgen ist das Büro geschlossen, bitte also heute noch.",
    )
    assert c.priority == "critical"


def test_nobody_at_the_phone_without_a_closure_may_be_an_outage(clf: Classifier) -> None:
    c = judge(
        clf,
        "Telefon",
        "Kunden beschweren sich, dass bei uns niemand ans Telefon geht, die Telefonanlage ist "
        "tot.",
    )
    assert c.priority == "critical"


def test_a_closure_is_no_planned_change(clf: Classifier) -> None:
    c = judge(
        clf,
        "Betriebsferien",
        "Zur Info: unsere Kanzlei ist vom 23.12. bis einschließlich 1.1. geschlossen. Ab dem "
        "4.1. sind wir wieder für Sie da.",
    )
    assert (c.priority, c.planned_change, c.deadline) == ("low", False, None)
    assert c.basis and c.basis[0].startswith("Mitteilung")
