"""Planned changes (hires, leavers, moves, new hardware, updates) are low and
carry the day of the change; a failure is never a planned change, and neither is a
question, a quote or thanks for a finished change. Sentences written for these tests.
"""

from __future__ import annotations

from datetime import date

import pytest

from mailbot.classify import Classifier
from tests.classify.judging import judge


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("Neue Mitarbeiterin", "Am 1.12. fängt Frau Yilmaz bei uns an, sie braucht PC und Mail."),
        ("Austritt", "Herr Kaya verlässt uns zum 31.12., bitte sein Konto deaktivieren."),
        ("Software", "Wir möchten die neue Version der Praxissoftware installieren lassen."),
        ("Umzug", "Im Januar ziehen wir in neue Räume um, können Sie den Umzug der IT planen?"),
        ("New starter", "A new colleague joins us on Monday, please set up a laptop and email."),
        ("Office move", "We are moving to the 3rd floor next month and need help with the move."),
        ("Neue Laptops", "Wir haben 5 neue Laptops bestellt, die ausgerollt werden sollen."),
    ],
)
def test_announced_changes_are_planned(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.planned_change is True
    assert c.priority == "low"


def test_failure_is_never_planned_change(clf: Classifier) -> None:
    c = judge(clf, "Neuer Laptop", "Der neue Laptop von Frau Kern startet nicht.")
    assert c.planned_change is False
    assert c.priority == "normal"


# Planned changes and their day.
PLANNED_WITH_DAY = [
    (
        "Neuer Azubi",
        "Zum 01. Februar beginnt unser neuer Auszubildender, bitte PC und Mail vorbereiten.",
        date(2027, 2, 1),
    ),
    (
        "Praktikantin",
        "Ab dem 15.1. ist eine Praktikantin bei uns, sie braucht einen Zugang.",
        date(2027, 1, 15),
    ),
    (
        "Austritt",
        "Frau Lange hört zum 31.12. auf, bitte das Konto danach deaktivieren.",
        date(2026, 12, 31),
    ),
    (
        "Update",
        "Für die Kanzleisoftware gibt es eine neue Version, können Sie uns beim Update helfen?",
        None,
    ),
    (
        "Umzug",
        "Am Montag, den 7.12. ziehen zwei Kollegen ins Büro nebenan um, bitte die "
        "Arbeitsplätze mitnehmen.",
        date(2026, 12, 7),
    ),
    (
        "Neue Telefone",
        "Wir haben neue Telefone bekommen, die ab Montag ausgerollt werden sollen.",
        date(2026, 11, 30),
    ),
    (
        "New hire",
        "Our new apprentice starts on January 4th, please prepare a laptop.",
        date(2027, 1, 4),
    ),
    ("Leaver", "Mark leaves us at the end of the month, please disable his account.", None),
    ("Drucker", "Wir haben einen neuen Drucker gekauft, können Sie ihn bei uns einrichten?", None),
]


@pytest.mark.parametrize(("subject", "text", "day"), PLANNED_WITH_DAY)
def test_planned_change_and_its_day(
    clf: Classifier, subject: str, text: str, day: date | None
) -> None:
    c = judge(clf, subject, text)
    assert c.planned_change is True, c.reasons
    assert c.priority == "low"
    if day is not None:
        assert c.deadline == day


# Planned changes that name hardware or software, with the day of the change.
PLANNED_NAMING_DEVICES = [
    (
        "CAD",
        "Zum Jahreswechsel steigen wir auf die neue Version der CAD-Software um, installiert "
        "werden muss sie auf acht Rechnern.",
        None,
    ),
    (
        "Farbdrucker",
        "Der neue Farbdrucker ist angekommen. Können Sie ihn bis Donnerstag anschließen und "
        "einrichten? Der alte kann dann weg.",
        date(2026, 11, 26),
    ),
    (
        "Empfang",
        "Ab dem neuen Jahr haben wir eine zweite Kraft am Empfang, sie braucht einen Benutzer, "
        "einen PC und ein Telefon.",
        None,
    ),
    (
        "Austritt",
        "Herr Brandt verlässt uns, sein letzter Tag ist Mittwoch, der 16. Dezember. Bitte sperren "
        "Sie dann seine Zugänge, das Notebook bleibt im Büro.",
        date(2026, 12, 16),
    ),
    (
        "Umzug",
        "Am Samstag, 23. Januar 2027 ziehen wir in die neuen Räume, zwölf Arbeitsplätze, der "
        "Server und zwei Drucker müssen mit. Am Montag soll alles laufen.",
        date(2027, 1, 23),
    ),
    (
        "Update",
        "Am 19. Januar kommt das Update der Praxissoftware, können Sie es einspielen?",
        date(2027, 1, 19),
    ),
    (
        "Röntgen",
        "Am Donnerstag, 10.12., kommt unser neues Röntgengerät, der Rechner dafür muss vorher "
        "vorbereitet sein.",
        date(2026, 12, 10),
    ),
    (
        "Server",
        "Bitte bestellen Sie den neuen Server. Für die Umstellung schlage ich Samstag, 6.2. vor, "
        "da ist niemand im Lager und es läuft kein Versand.",
        date(2027, 2, 6),
    ),
    (
        "New starter",
        "We are taking on a second bookkeeper in January; she will need a login, a laptop and "
        "a phone.",
        None,
    ),
    (
        "Leaver",
        "Anna's last day is Friday 11 December, please lock her accounts then. Her laptop "
        "stays in the office.",
        date(2026, 12, 11),
    ),
    (
        "Move",
        "We move to the new premises on Saturday 30 January 2027: nine desks, the NAS and the "
        "printers have to come along. Staff are back on Monday.",
        date(2027, 1, 30),
    ),
]


@pytest.mark.parametrize(("subject", "text", "day"), PLANNED_NAMING_DEVICES)
def test_planned_change_naming_devices(
    clf: Classifier, subject: str, text: str, day: date | None
) -> None:
    c = judge(clf, subject, text)
    assert c.planned_change is True, c.reasons
    assert c.priority == "low", c.reasons
    assert c.deadline == day


# Planned changes that name devices and dates, without the classic verbs.
PLANNED_WITH_DATES = [
    (
        "Neuer Verkäufer",
        "Herr Krause beginnt ab 02.12. als Verkäufer bei uns, bitte PC und Telefon vorbereiten.",
        date(2026, 12, 2),
    ),
    (
        "Assistentin",
        "Ab dem 1. Dezember verstärkt uns eine neue Assistentin. Sie braucht "
        "einen PC, ein Headset und ein Postfach.",
        date(2026, 12, 1),
    ),
    (
        "Praktikum",
        "Das Praktikum von Jonas endet am 31.01., danach Konto bitte deaktivieren.",
        date(2027, 1, 31),
    ),
    (
        "Austritt",
        "Austritt Frau Lenz zum 29.01. – Laptop und Handy kommen zurück.",
        date(2027, 1, 29),
    ),
    ("Leaving", "Anna leaves us on 11 December, her laptop stays with us.", date(2026, 12, 11)),
    (
        "Raum",
        "Am Montag tauschen das Sekretariat und Herr Dr. Kunz die Räume, PC, Drucker "
        "und Telefon müssen umgezogen werden.",
        date(2026, 11, 30),
    ),
    (
        "Swap",
        "On Monday accounting and sales swap offices; the PCs and phones have to move too.",
        date(2026, 11, 30),
    ),
    (
        "Praxis",
        "Am 15.01. ist das Update des Praxisprogramms, bitte begleiten Sie das.",
        date(2027, 1, 15),
    ),
    (
        "Update",
        "There is an update of the practice software on 20 January, can you assist?",
        date(2027, 1, 20),
    ),
    (
        "Leaver",
        "Leaver: last working day Friday 18 December. Please disable the accounts, "
        "the laptop stays in the office.",
        date(2026, 12, 18),
    ),
    (
        "Move",
        "Office move on Saturday 16 January 2027: 14 workstations, NAS, 3 printers, phones.",
        date(2027, 1, 16),
    ),
    (
        "Umzug",
        "Am Samstag, 12.12., ziehen wir um. Der Server und die Telefone sind dann "
        "offline, bitte alles abbauen und im neuen Büro wieder anschließen.",
        date(2026, 12, 12),
    ),
    (
        "Update",
        "Update des Praxisprogramms am 15.01., bitte begleiten. An dem Tag kann "
        "niemand mit dem Programm arbeiten.",
        date(2027, 1, 15),
    ),
    (
        "Update",
        "Update of the practice software on 20 January, please assist; the system "
        "will be unavailable for everyone that morning.",
        date(2027, 1, 20),
    ),
    (
        "Neue Kollegin",
        "Ab 01.12. fängt Frau Berg an. Ihr PC steht schon da, hat aber noch "
        "kein Netzwerk und keinen Benutzer.",
        date(2026, 12, 1),
    ),
]


@pytest.mark.parametrize(("subject", "text", "day"), PLANNED_WITH_DATES)
def test_planned_change_with_devices_and_date(
    clf: Classifier, subject: str, text: str, day: date
) -> None:
    c = judge(clf, subject, text)
    assert c.planned_change is True, c.reasons
    assert c.priority == "low"
    assert c.resolved is False
    assert c.deadline == day


@pytest.mark.parametrize(
    "text",
    [
        "We will hire a second receptionist next year, she will need a login, a "
        "workstation and a phone.",
        "Wir bekommen einen neuen Azubi. Er braucht einen Rechner, der alte PC im Lager "
        "startet nicht mehr, den könnt ihr entsorgen.",
    ],
)
def test_planned_change_without_date(clf: Classifier, text: str) -> None:
    c = judge(clf, "Planung", text)
    assert c.planned_change is True
    assert c.priority == "low"
    assert c.deadline is None


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


NOT_PLANNED_BUT_NEW = [
    ("Update", "Seit dem Update startet die Praxissoftware bei mir nicht mehr.", "normal"),
    ("Neue Kollegin", "Die neue Kollegin kann sich nicht anmelden.", "normal"),
    ("New starter", "The new colleague cannot log in to his laptop.", "normal"),
    ("Anschaffung", "Lohnt sich für uns ein neuer Server, oder reicht der alte noch?", "low"),
    ("Angebot", "Bitte ein Angebot für zwei Lizenzen, wir entscheiden dann im Januar.", "low"),
    ("Danke", "Danke für die Einrichtung der neuen Laptops letzte Woche, alles läuft.", "low"),
]


@pytest.mark.parametrize(("subject", "text", "priority"), NOT_PLANNED_BUT_NEW)
def test_faults_and_questions_about_new_things_are_not_planned(
    clf: Classifier, subject: str, text: str, priority: str
) -> None:
    c = judge(clf, subject, text)
    assert c.planned_change is False, c.reasons
    assert c.priority == priority


# Not a planned change: advisories, how-tos, permissions, quotes, thanks.
NOT_PLANNED_LOW = [
    (
        "Sicherheitsupdate",
        "Microsoft hat ein wichtiges Sicherheitsupdate veröffentlicht. Wir empfehlen allen "
        "Kunden, es zeitnah zu installieren.",
    ),
    ("Handy", "Wie bekomme ich meine Kontakte auf das neue Handy?"),
    ("Rechte", "Bitte geben Sie Frau Kunz Zugriff auf den Ordner Buchhaltung."),
    ("Gäste-WLAN", "Kann man bei uns ein Gäste-WLAN einrichten? Was würde das kosten?"),
    (
        "WLAN Keller",
        "Mesh oder Repeater, was ist für unser Lager besser? Könntet ihr das einrichten?",
    ),
    (
        "Danke",
        "Herr Yilmaz hat heute angefangen, sein Rechner lief vom ersten Moment an. Vielen Dank!",
    ),
    ("WhatsApp", "How do I get WhatsApp onto my new phone?"),
    ("Folder", "Could you give Mark read access to the Projects folder?"),
    ("Thanks", "Our new colleague started on Monday and everything worked perfectly, thank you!"),
    (
        "Advisory",
        "A critical vulnerability was found in the VPN appliance; we advise all customers to "
        "install the patch this week.",
    ),
]


@pytest.mark.parametrize(("subject", "text"), NOT_PLANNED_LOW)
def test_not_planned_and_low(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.planned_change is False, c.reasons
    assert c.priority == "low", c.reasons
    assert c.deadline is None


@pytest.mark.parametrize(
    "text",
    [
        "Frau Ott hat heute angefangen, alles funktioniert, großes Lob an euch.",
        "The new starter began today, everything works, thanks a lot!",
        "Wie kann ich WhatsApp auf das neue Handy übertragen?",
        "Bitte Frau Maier noch Schreibrechte auf den Ordner Personal geben.",
    ],
)
def test_finished_starts_and_requests_are_not_planned(clf: Classifier, text: str) -> None:
    c = judge(clf, "Frage", text)
    assert c.planned_change is False
    assert c.priority == "low"
    assert c.deadline is None


@pytest.mark.parametrize(
    "text",
    [
        "Der neue PC von Frau Kern startet seit heute nicht mehr.",
        "The new laptop we got last week keeps crashing.",
    ],
)
def test_fault_of_new_hardware_is_no_plan(clf: Classifier, text: str) -> None:
    c = judge(clf, "Defekt", text)
    assert c.planned_change is False
    assert c.priority == "normal"
