"""Every deadline form of triage.md, resolved in the service's zone (Europe/Berlin here)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbot.classify import DEFAULT_ZONE, Classifier, find_deadline
from mailbot.judge import Judge
from mailbot.mail.parse import parse_message
from tests.helpers import make_mail, write_config

BERLIN = ZoneInfo("Europe/Berlin")
TUE = datetime(2026, 11, 24, 15, 30, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Das brauche ich bis morgen.", date(2026, 11, 25)),
        ("Bitte bis Freitag erledigen.", date(2026, 11, 27)),
        ("Es reicht, wenn das innerhalb der nächsten 3 Tage bearbeitet wird.", date(2026, 11, 27)),
        ("Bis Ende der Woche wäre gut.", date(2026, 11, 27)),
        ("Bitte bis zum 30.11. fertig.", date(2026, 11, 30)),
        ("Bitte bis zum 20.11. fertig.", date(2027, 11, 20)),
        ("Der neue Kollege fängt am 1.12. an.", date(2026, 12, 1)),
        ("Zum 01. Dezember fängt Frau Roth an.", date(2026, 12, 1)),
        ("Bitte bis übermorgen.", date(2026, 11, 26)),
        ("Bis nächsten Montag bitte.", date(2026, 11, 30)),
        ("Die Abrechnung muss heute noch raus.", date(2026, 11, 24)),
        ("Could you fix it by Friday?", date(2026, 11, 27)),
        ("We need it by tomorrow.", date(2026, 11, 25)),
        ("Please send the quote by December 3rd.", date(2026, 12, 3)),
        ("Within the next 2 days would be great.", date(2026, 11, 26)),
        ("By the end of the week please.", date(2026, 11, 27)),
    ],
)
def test_forms(text: str, expected: date) -> None:
    found = find_deadline(text, TUE, zone=BERLIN)
    assert found is not None
    assert found.day == expected


@pytest.mark.parametrize(
    "text",
    [
        "Anfang nächster Woche wäre gut.",
        "In den nächsten Tagen bitte.",
        "This week or next is fine.",
        "Anfang Januar reicht.",
        "Whenever you can in the new year.",
        "Gestern war der Server kurz weg.",
        "Am Montag war der Drucker defekt.",
        "Am Wochenende war das Internet weg.",
        "Guten Morgen, der Drucker geht nicht.",
        "Wir sind Montag bis Freitag im Büro.",
        "I'm off from tomorrow until the 4th anyway.",
        "Danke! Bis morgen!",
    ],
)
def test_no_deadline(text: str) -> None:
    assert find_deadline(text, TUE, zone=BERLIN) is None


def test_berlin_day_not_utc_day() -> None:
    # 23:30 UTC on Monday is already Tuesday in Berlin: "bis morgen" is Wednesday.
    sent = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    found = find_deadline("Bitte bis morgen.", sent, zone=BERLIN)
    assert found is not None and found.day == date(2026, 11, 25)


def test_friday_message_means_next_friday() -> None:
    fri = datetime(2026, 11, 27, 9, 0, tzinfo=BERLIN)
    found = find_deadline("Bitte bis Freitag.", fri, zone=BERLIN)
    assert found is not None and found.day == date(2026, 12, 4)


# The zone is the service's, from the configuration; "morgen" depends on it.
NEW_YORK = ZoneInfo("America/New_York")
#: Tuesday in Berlin, still Monday evening in New York
EARLY_TUESDAY = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)


def test_the_classifier_resolves_deadlines_in_the_zone_it_is_given(clf: Classifier) -> None:
    assert clf.zone == DEFAULT_ZONE == BERLIN
    text = "Bitte bis morgen reparieren."
    assert clf.classify("Drucker", text, EARLY_TUESDAY).deadline == date(2026, 11, 25)
    abroad = clf.in_zone(NEW_YORK)
    assert abroad.zone == NEW_YORK and clf.in_zone(BERLIN) is clf
    assert abroad.classify("Drucker", text, EARLY_TUESDAY).deadline == date(2026, 11, 24)


def test_the_judge_takes_the_zone_from_the_configuration(tmp_path: Path, clf: Classifier) -> None:
    (tmp_path / "ny").mkdir()
    judge = Judge(write_config(tmp_path / "ny", '\n[sla]\ntimezone = "America/New_York"\n'), clf)
    assert judge.classifier.zone == NEW_YORK
    raw = make_mail("t.roth@praxis-weber.example", "Drucker", "Bitte bis morgen reparieren.",
                    when=EARLY_TUESDAY)
    seen = judge.judge(parse_message(raw), arrival=EARLY_TUESDAY + timedelta(minutes=1))
    assert seen.classification.deadline == date(2026, 11, 24)
    # Without an [sla] table the shared classifier serves as it is.
    assert Judge(write_config(tmp_path), clf).classifier is clf
