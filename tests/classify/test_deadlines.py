"""Deadlines: every form of triage.md, dates that are no deadline, and the
service's zone (from the configuration; Europe/Berlin here) that "morgen" depends on.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbot.classify import DEFAULT_ZONE, Classifier, find_deadline
from mailbot.judge import Judge
from mailbot.mail.parse import parse_message
from tests.classify.judging import BERLIN, SENT, judge
from tests.helpers import make_mail, write_config

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


# A bare "heute"/"today" is no deadline; firm forms and a start that day are.
@pytest.mark.parametrize(
    "text",
    [
        "Seit heute früh ist der Server langsam.",
        "Heute ist der Server sehr langsam, bitte mal schauen.",
        "Umzug heute, bitte denkt an die Telefone.",
        "Urgent, we need the new mailbox today?",
        "The mailbox has been full since today, we need more space.",
        "Der Drucker geht seit gestern nicht, wir brauchen ihn dringend.",
    ],
)
def test_bare_today_is_no_deadline(clf: Classifier, text: str) -> None:
    assert judge(clf, "Info", text).deadline is None


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("Die Abrechnung muss bis heute Abend fertig sein.", date(2026, 11, 24)),
        ("Die Lohnabrechnung muss heute noch raus, bitte helfen.", date(2026, 11, 24)),
        ("Bitte spätestens heute erledigen.", date(2026, 11, 24)),
        ("Please send it by today.", date(2026, 11, 24)),
        ("We need the quote today at the latest.", date(2026, 11, 24)),
        ("Der Neue fängt heute an, bitte Zugang einrichten.", date(2026, 11, 24)),
        ("Ab morgen beginnt Frau Yilmaz, bitte Zugang vorbereiten.", date(2026, 11, 25)),
    ],
)
def test_firm_today_and_start_days_are_deadlines(clf: Classifier, text: str, day: date) -> None:
    assert judge(clf, "Bitte", text).deadline == day


def test_bare_today_in_deadline_module_alone() -> None:
    found = find_deadline("Wir brauchen das heute, der Server ist langsam.", SENT, zone=BERLIN)
    assert found is None
    found = find_deadline("Wir brauchen das heute noch.", SENT, zone=BERLIN)
    assert found is not None and found.day == date(2026, 11, 24)


# Dates that are not deadlines, and the ones that are.
DEADLINES = [
    ("Seit dem 12.10. stürzt mein Rechner öfter ab.", None),
    ("Am Wochenende war das Internet weg, jetzt geht es wieder.", None),
    ("Die Lieferung kam am 20.11., bitte den Monitor bis Freitag anschließen.", date(2026, 11, 27)),
    ("Der Termin am 18.11. ist ausgefallen. Mein Laptop geht nicht.", None),
    (
        "Der neue Kollege fängt am 1.12. an, bis zum 30.11. muss alles fertig sein.",
        date(2026, 11, 30),
    ),
    ("Wir brauchen das spätestens am Donnerstag.", date(2026, 11, 26)),
    ("Please have it ready by December 3rd.", date(2026, 12, 3)),
]


@pytest.mark.parametrize(("text", "day"), DEADLINES)
def test_deadline_choice(clf: Classifier, text: str, day: date | None) -> None:
    assert judge(clf, "Anliegen", text).deadline == day


def test_deadline_in_subject(clf: Classifier) -> None:
    c = judge(clf, "Angebot bis Freitag", "Wir brauchen ein Angebot für einen neuen Server.")
    assert c.deadline == date(2026, 11, 27)


def test_planned_change_deadline_is_day_of_change(clf: Classifier) -> None:
    c = judge(clf, "Neuer Kollege", "Der neue Kollege fängt am 1.12. an.")
    assert c.deadline == date(2026, 12, 1)


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


# The message day with a clock time or what must go out, "bis dahin", and the first day
# after the holidays (issue 20). SENT is Tuesday, 24 November 2026.
SAME_DAY = [
    "Die Unterlagen müssen heute bis 14 Uhr beim Notar sein, mein Drucker streikt.",
    "Bis heute 17:00 muss die Ausschreibung hochgeladen sein, das Portal lädt nicht.",
    "The payroll has to go out today, but the accounting software won't start.",
    "The courier picks up at 4 pm today and the label printer is jammed.",
    "Heute raus muss noch die Rechnung an den Kunden, Outlook hängt.",
    "Der Lieferschein-Drucker druckt nicht und der LKW fährt heute um 14 Uhr.",
]


@pytest.mark.parametrize("text", SAME_DAY)
def test_the_message_day_with_a_clock_time_is_an_urgent_deadline(
    clf: Classifier, text: str
) -> None:
    c = judge(clf, "Problem", text)
    assert c.deadline == date(2026, 11, 24), c.reasons
    assert c.urgency == "urgent"


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("Am Freitag, 27.11., kommt der Wirtschaftsprüfer. Bis dahin muss das alte Notebook "
         "wieder starten.", date(2026, 11, 27)),
        ("Wir ziehen am 5.12. um; bis dahin sollte die neue Leitung geschaltet sein.",
         date(2026, 12, 5)),
        ("Our audit is on 2 December. By then the archive drive must be readable again.",
         date(2026, 12, 2)),
    ],
)
def test_bis_dahin_takes_the_day_named_before(clf: Classifier, text: str, day: date) -> None:
    assert judge(clf, "Bitte", text).deadline == day


@pytest.mark.parametrize(
    "text",
    [
        "Heute ist der erste Tag nach den Feiertagen, und mein Drucker druckt nicht.",
        "Heute ist unser erster Arbeitstag nach der Inventur, der Scanner geht nicht.",
        "Today is our first day back after the break and my screen stays black.",
        "Gestern bis dahin lief alles, seitdem startet der PC nicht.",
    ],
)
def test_the_first_day_after_the_holidays_is_no_deadline(clf: Classifier, text: str) -> None:
    assert judge(clf, "Störung", text).deadline is None
