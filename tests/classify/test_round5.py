"""Fifth round of triage failure modes, on sentences written for these tests.

Mail flow outages phrased as ability, "on every PC I checked" as company-wide scope,
presence statements ("nobody else is in yet") that are no scope contrast, announced
hires, leavers, moves and updates that name a workplace, and job titles as new people.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from mailbot.classify import Classifier
from mailbot.triage import Classification

BERLIN = ZoneInfo("Europe/Berlin")
SENT = datetime(2026, 11, 24, 10, 15, tzinfo=BERLIN)  # a Tuesday


def judge(clf: Classifier, subject: str, text: str) -> Classification:
    return clf.classify(subject, text, SENT)


MAIL_FLOW_WIDE = [
    ("Mail", "Nobody in the building has been able to send or receive e-mail since about 9:45."),
    ("E-Mail", "Seit dem Mittag gehen Mails weder raus noch rein."),
    ("E-Mail", "Keiner im Büro kann seit heute früh Mails senden oder empfangen."),
    ("Mails", "Wir bekommen seit 8 Uhr keine Mails mehr."),
    ("Mail", "Since this morning there is no e-mail in or out for the whole office."),
    ("Email", "No one in the office has been able to receive email since lunch."),
    ("Mail", "The whole office: e-mails are not coming in since 10."),
]


@pytest.mark.parametrize(("subject", "text"), MAIL_FLOW_WIDE)
def test_company_mail_flow_outage_is_critical(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "critical", c.reasons


MAIL_FLOW_ONE = [
    ("Mail", "I can't send or receive e-mail on my laptop since this morning."),
    (
        "E-Mail",
        "Bei mir gehen seit heute keine Mails mehr raus, die Kollegen sind nicht betroffen.",
    ),
    ("Mail", "My e-mails are not coming in since yesterday, everyone else is fine."),
]


@pytest.mark.parametrize(("subject", "text"), MAIL_FLOW_ONE)
def test_one_users_mail_flow_is_normal(clf: Classifier, subject: str, text: str) -> None:
    assert judge(clf, subject, text).priority == "normal"


EVERY_PC_CHECKED = [
    ("Outlook", 'Outlook shows "Disconnected" on every PC I have looked at.'),
    ("Outlook", "Outlook is disconnected on all the machines I tried."),
    ("Laufwerk", "Das Laufwerk P: ist weg, auf jedem Rechner, den ich geprüft habe."),
    ("DATEV", "DATEV startet nicht, auf allen Rechnern, die ich probiert habe."),
]


@pytest.mark.parametrize(("subject", "text"), EVERY_PC_CHECKED)
def test_every_pc_checked_is_company_wide(clf: Classifier, subject: str, text: str) -> None:
    assert judge(clf, subject, text).priority == "critical"


PRESENCE = [
    (
        "S:",
        'all files on the S: drive now end in ".crypt". I have switched off my PC '
        "and nobody else is in yet.",
    ),
    (
        "Server",
        "Auf dem Server sind alle Dateien verschlüsselt, überall liegt eine Lösegeldforderung. "
        "Ich bin als Erster im Büro, sonst ist noch niemand da.",
    ),
    (
        "Files",
        "The shared drive is encrypted, there is a ransom note in every folder. "
        "I'm the first one in, the others are not in yet.",
    ),
    (
        "NAS",
        "Alle Dateien auf dem NAS sind verschlüsselt. Ich habe den anderen gesagt, "
        "dass sie ihre Rechner nicht einschalten sollen.",
    ),
    (
        "Ransomware",
        "The files on the file server are encrypted. I told the others not to switch on "
        "their computers.",
    ),
]


@pytest.mark.parametrize(("subject", "text"), PRESENCE)
def test_presence_is_no_contrast(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "critical", c.reasons


PLANNED_WITH_PLACE = [
    (
        "New receptionist",
        "We have decided to hire a second receptionist in the new year. She starts on "
        "Monday 11 January and will need a login for the practice software, a workstation "
        "at reception desk 3 (currently empty, there is a network socket) and a phone.",
        date(2027, 1, 11),
    ),
    (
        "Neue Empfangskraft",
        "Wir stellen zum 1. Februar eine zweite Empfangskraft ein. Sie braucht einen "
        "Arbeitsplatz am Empfang 3, der ist noch leer, eine Netzwerkdose ist da.",
        date(2027, 2, 1),
    ),
    (
        "Leaver",
        "Her last working day is Friday 18 December; please disable her accounts; "
        "her laptop stays here.",
        date(2026, 12, 18),
    ),
    (
        "Austritt",
        "Frau Berger hat am Freitag, 18. Dezember ihren letzten Arbeitstag. Bitte sperrt "
        "dann ihre Zugänge, ihr Laptop bleibt hier.",
        date(2026, 12, 18),
    ),
    (
        "Move",
        "We are moving on Saturday 16 January. 14 workstations, the NAS, two printers "
        "need to be moved and set up.",
        date(2027, 1, 16),
    ),
    (
        "Umzug",
        "Wir ziehen am Samstag, 16. Januar um; 14 Arbeitsplätze, das NAS und zwei Drucker "
        "müssen umgezogen und eingerichtet werden.",
        date(2027, 1, 16),
    ),
    (
        "Update",
        "update of the practice software on 20 January, please be there",
        date(2027, 1, 20),
    ),
    (
        "Update",
        "Am 20. Januar ist das Update der Praxissoftware, bitte seid dabei.",
        date(2027, 1, 20),
    ),
]


@pytest.mark.parametrize(("subject", "text", "day"), PLANNED_WITH_PLACE)
def test_announced_change_naming_a_place_is_planned(
    clf: Classifier, subject: str, text: str, day: date
) -> None:
    c = judge(clf, subject, text)
    assert (c.priority, c.planned_change, c.deadline) == ("low", True, day), c.reasons


JOB_TITLES = [
    ("MFA", "Die neue MFA fängt am 16. Dezember an.", date(2026, 12, 16)),
    ("MFA", "neue MFA ab 16. Dezember", date(2026, 12, 16)),
    ("ZFA", "neue ZFA ab 3. Dezember", date(2026, 12, 3)),
    (
        "Verkäuferin",
        "Neue Verkäuferin ab 1. Dezember, sie braucht einen Kassenzugang.",
        date(2026, 12, 1),
    ),
    (
        "Monteur",
        "Der neue Monteur startet am 1. Dezember und braucht ein Diensthandy.",
        date(2026, 12, 1),
    ),
    (
        "Disponentin",
        "Eine neue Disponentin ab 7. Dezember, bitte Arbeitsplatz vorbereiten.",
        date(2026, 12, 7),
    ),
    (
        "Aushilfe",
        "Ab Montag, 30. November kommt eine Aushilfe, bitte ein Konto anlegen.",
        date(2026, 11, 30),
    ),
    (
        "Temp",
        "We have a temp from 30 November for three weeks, she needs a login.",
        date(2026, 11, 30),
    ),
    (
        "Receptionist",
        "New receptionist from 14 December, she needs a login and a phone.",
        date(2026, 12, 14),
    ),
    ("Apprentice", "New apprentice from 1 December.", date(2026, 12, 1)),
]


@pytest.mark.parametrize(("subject", "text", "day"), JOB_TITLES)
def test_job_titles_are_new_people(clf: Classifier, subject: str, text: str, day: date) -> None:
    c = judge(clf, subject, text)
    assert (c.priority, c.planned_change, c.deadline) == ("low", True, day), c.reasons
