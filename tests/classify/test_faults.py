"""A fault of one workplace is normal: what misbehaves, not the words used.

Single devices described without outage words, slow but working systems, limited
printer functions and intermittent sync, degraded devices and faults asked as
questions, worn or sticking parts. Sentences written for these tests.
"""

from __future__ import annotations

import pytest

from mailbot.classify import Classifier
from tests.classify.judging import SENT, judge

# A single device or one user's thing misbehaving, described without outage words.
SINGLE_FAULTS = [
    ("Kartenleser", "Das Kartenlesegerät an der Anmeldung liest keine Gesundheitskarten mehr."),
    ("Scanner", "Unser Dokumentenscanner liefert seit heute nur weiße Seiten."),
    ("Telefon", "Im Display von meinem Tischtelefon steht nur noch 'Kein Dienst'."),
    ("Etiketten", "Der Etikettendrucker im Lager druckt alles verschoben."),
    ("Bondrucker", "Der Bondrucker an Kasse 2 zieht das Papier schief ein."),
    ("Zeiterfassung", "Das Zeiterfassungsterminal nimmt die Chips der Fahrer nicht an."),
    ("MDE", "Auf den Handscannern erscheint bei den zwei neuen Lagerhelfern 'Benutzer unbekannt'."),
    ("Drucker", "Der Drucker im Sekretariat wird als offline angezeigt."),
    ("Laptop", "Bei meinem Laptop ist das Display gebrochen, man sieht nur noch Streifen."),
    ("Postfach", "Mein Postfach ist voll, ich kann keine Mails mehr verschicken."),
    ("Passwort", "Frau Öztürk wird ihr Passwort nicht mehr akzeptiert."),
    ("Monitor", "Der rechte Bildschirm an Platz 4 flackert und wird dann schwarz."),
    ("Kasse", "Die EC-Karten-Terminal an der Theke piept nur und bricht die Zahlung ab."),
    ("Headset", "Mein Headset wird am PC nicht mehr erkannt."),
    ("Dockingstation", "Seit heute lädt mein Notebook an der Dockingstation nicht mehr."),
    ("Label printer", "The label printer in dispatch keeps printing blank labels."),
    ("Card reader", "The card reader at the front desk won't read any cards since this morning."),
    ("Scanner", "Our scanner only produces black pages now."),
    ("Phone", "My desk phone shows 'no service' on the display."),
    ("Laptop", "The screen of my laptop stays blank after login."),
    ("Password", "Tom's password is rejected every time he tries to log in."),
    ("Mailbox", "My mailbox is full and I can't send anything."),
    ("Time clock", "The time clock doesn't accept the new badges."),
    ("Printer", "Printer in room 3 says paper jam but there is no paper stuck."),
    ("Keyboard", "Half the keys on my keyboard are stuck."),
    ("Offline", "Mein Drucker zeigt offline, was kann ich tun?"),
]


@pytest.mark.parametrize(("subject", "text"), SINGLE_FAULTS)
def test_single_device_fault_is_normal(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "normal", c.reasons
    assert c.planned_change is False


def test_nothing_since_is_not_an_outage(clf: Classifier) -> None:
    c = judge(clf, "Rückmeldung", "Der Neustart hat geholfen, seitdem ist nichts mehr aufgefallen.")
    assert c.priority == "low"


# Slow but working is a degradation, not an outage.
DEGRADED = [
    (
        "Eilt: WaWi",
        "In allen Filialen ist die Warenwirtschaft total lahm, jede Buchung dauert "
        "Minuten, es geht aber. Eilt!",
    ),
    ("Server", "Der Server ist heute für alle extrem langsam, Dateien öffnen dauert ewig."),
    ("ERP", "Das ERP hängt bei allen immer wieder kurz, danach geht es weiter."),
    ("Internet", "Das Internet ist im ganzen Büro sehr zäh."),
    ("Slow", "The ERP is really sluggish for everyone today, every booking takes ages."),
    ("VPN", "VPN drops intermittently for all remote staff, reconnecting works."),
]


@pytest.mark.parametrize(("subject", "text"), DEGRADED)
def test_degradation_is_normal(clf: Classifier, subject: str, text: str) -> None:
    assert judge(clf, subject, text).priority == "normal"


# Printer functions, intermittent sync and one phone: normal even when "everyone".
NORMAL_NOT_CRITICAL = [
    ("Scan", "Scan-to-Mail am Kopierer im 2. Stock geht bei keinem mehr, drucken geht normal."),
    (
        "Kalender",
        "Der gemeinsame Kalender synchronisiert auf allen Handys nur unregelmäßig, Termine "
        "tauchen erst nach Stunden auf, manchmal sofort.",
    ),
    ("Telefon", "Nach dem Umzug an den neuen Schreibtisch geht mein Telefon nicht, nicht eilig."),
    ("Scan", "Scan to email on the big copier doesn't work for anyone, printing is fine."),
    (
        "Calendar",
        "The shared calendar only syncs now and then on all our phones; new appointments show "
        "up hours later.",
    ),
    ("Phone", "Since I moved desks my phone doesn't work. Not urgent."),
]


@pytest.mark.parametrize(("subject", "text"), NORMAL_NOT_CRITICAL)
def test_limited_fault_is_normal(clf: Classifier, subject: str, text: str) -> None:
    assert judge(clf, subject, text).priority == "normal"


# Degraded single devices and faults asked as questions: normal, not low.
DEGRADED_DEVICE = [
    (
        "Drucker offline",
        "mein drucker steht am laptop dauernd auf offline obwohl er an ist, was tun?",
    ),
    (
        "Plotter",
        "Unser Plotter druckt dünne Linien seit letzter Woche ausgefranst. Man kann es lesen, "
        "wir können weiterarbeiten.",
    ),
    ("Monitor", "Mein zweiter Bildschirm hat seit einigen Tagen einen Rotstich, bei Gelegenheit."),
    ("Drucker", "Beim Drucker im Sekretariat ist der Ausdruck um einen Zentimeter versetzt."),
    ("Printer", "why does my printer always show offline on my laptop even though it is on?"),
    ("Monitor", "My monitor has had a yellow tint for a few days now, no rush."),
    (
        "Plotter",
        "The plotter has been printing streaky lines for a couple of days, still readable.",
    ),
]


@pytest.mark.parametrize(("subject", "text"), DEGRADED_DEVICE)
def test_degraded_device_is_normal(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "normal", c.reasons


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
