"""Fourth round of triage failure modes, on sentences written for these tests.

Contrast that is about lamps rather than people, ransomware told beside one's own
PC, a bare "heute" taken for a deadline, planned changes that name devices and
dates, intermittent faults taken for resolved, one device's network or mail taken
for an outage, and questions of choice or cost taken for faults.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from mailbot.classify import Classifier, find_deadline
from mailbot.triage import Classification

BERLIN = ZoneInfo("Europe/Berlin")
SENT = datetime(2026, 11, 24, 10, 15, tzinfo=BERLIN)  # a Tuesday


def judge(clf: Classifier, subject: str, text: str) -> Classification:
    return clf.classify(subject, text, SENT)


# 1. A contrast about devices says nothing about scope; stated company-wide scope wins.
SCOPE_OVER_CONTRAST = [
    (
        "Netzwerk",
        "Im ganzen Haus kein Netzwerk: Büro, Lager, Verladung, alles. "
        "Der Rest im Schrank hat Strom, die anderen Lämpchen leuchten.",
    ),
    (
        "Netz",
        "Bei uns geht im ganzen Gebäude kein Netzwerk, Werkstatt, Büro, alles. "
        "Am Switch blinken alle anderen LEDs normal.",
    ),
    (
        "Internet",
        "Kein Internet, es geht nichts raus, die ganze Schicht steht rum. "
        "Die anderen Lämpchen am Router leuchten grün.",
    ),
    (
        "S:",
        "Laufwerk S: ist weg, auf jedem PC den ich angeschaut habe. "
        "Die anderen Geräte im Schrank laufen.",
    ),
    (
        "Internet down",
        "No internet since 7. Nothing gets out, the whole shift is standing "
        "around. All the other LEDs on the router are green.",
    ),
    (
        "Mail",
        "Since 8 nobody in the building can send or receive e-mail. "
        "The rest of the equipment in the rack has power.",
    ),
]


@pytest.mark.parametrize(("subject", "text"), SCOPE_OVER_CONTRAST)
def test_contrast_about_devices_does_not_narrow_scope(
    clf: Classifier, subject: str, text: str
) -> None:
    assert judge(clf, subject, text).priority == "critical"


PEOPLE_CONTRAST = [
    ("Outlook", "Outlook hängt bei mir seit heute. Der Rest des Büros kann normal arbeiten."),
    ("Rechner", "Mein Rechner kommt nicht ins Internet. Bei den anderen geht es."),
    ("Outlook", "Mein Outlook startet nicht, alle anderen Kollegen können arbeiten."),
    ("Laptop", "My laptop won't connect to the VPN. Everyone else is fine."),
    ("PC", "My PC has no network, the rest of the office is fine."),
    ("Internet", "Bei allen anderen geht das Internet, nur bei mir nicht."),
    ("VPN", "The VPN works for the whole team except for me."),
]


@pytest.mark.parametrize(("subject", "text"), PEOPLE_CONTRAST)
def test_contrast_about_people_keeps_it_normal(clf: Classifier, subject: str, text: str) -> None:
    assert judge(clf, subject, text).priority == "normal"


# 2. Ransomware on shared data is critical even when the writer mentions their own PC.
RANSOM_SHARED = [
    (
        "Dateien",
        "Heute früh waren auf dem S: Laufwerk alle Word-Dateien in .crypt umbenannt, "
        "daneben eine Datei LIESMICH mit Bitcoin-Adresse. Mein Rechner ist aus.",
    ),
    (
        "Erpressung",
        "Mein Rechner ist aus. Auf dem Netzlaufwerk sind alle Dateien umbenannt, "
        "eine Lösegeldforderung liegt dabei.",
    ),
    (
        "Hilfe",
        "Auf meinem PC ist eine Erpressernachricht aufgetaucht, und auf Laufwerk G: "
        "haben alle Dateien eine neue Endung.",
    ),
    (
        "ransomware",
        "Files in the client folders on the G: drive suddenly have a strange "
        "extension and there is a ransom note. I have switched off my PC.",
    ),
    (
        "urgent",
        "There is a ransom note on the shares, all client folders have a strange "
        "extension. I switched off my PC straight away.",
    ),
]


@pytest.mark.parametrize(("subject", "text"), RANSOM_SHARED)
def test_ransomware_on_shared_data_is_critical(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "critical"
    assert c.category == "security"


@pytest.mark.parametrize(
    "text",
    [
        "Auf meinem Laptop sind Dateien verschlüsselt und es gibt eine Lösegeldforderung, "
        "aber nur auf meinem Laptop, die Netzlaufwerke sind in Ordnung.",
        "Ransom note on my laptop and my files have a weird extension, but only on my "
        "laptop, the network drives are fine.",
    ],
)
def test_ransomware_confined_to_own_laptop_is_normal(clf: Classifier, text: str) -> None:
    assert judge(clf, "Virus", text).priority == "normal"


# 3. A bare "heute"/"today" is no deadline; firm forms and a start that day are.
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


# 4. Planned changes that name devices and dates, without the classic verbs.
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


@pytest.mark.parametrize(
    "text",
    [
        "Frau Ott hat heute angefangen, alles funktioniert, großes Lob an euch.",
        "The new starter began today, everything works, thanks a lot!",
        "Wie kann ich WhatsApp auf das neue Handy übertragen?",
        "Bitte Frau Maier noch Schreibrechte auf den Ordner Personal geben.",
    ],
)
def test_not_a_planned_change(clf: Classifier, text: str) -> None:
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


# 5. Intermittent or partly fixed is not resolved.
@pytest.mark.parametrize(
    "text",
    [
        "The Wi-Fi keeps dropping out, comes back after a minute.",
        "Das Internet kommt wieder, fällt dann wieder aus.",
        "VPN seems fine now but it happened three times today.",
        "The external monitor works again but the laptop screen is still cracked.",
        "Das WLAN bricht ständig ab und ist nach einer Minute wieder da.",
        "Telefon geht wieder, aber das Headset rauscht immer noch.",
        "Der Server läuft jetzt wieder, aber heute schon dreimal ausgefallen.",
    ],
)
def test_intermittent_is_not_resolved(clf: Classifier, text: str) -> None:
    c = judge(clf, "Störung", text)
    assert c.resolved is False
    assert c.priority == "normal", c.reasons


@pytest.mark.parametrize(
    "text", ["Der Drucker geht wieder, danke.", "The VPN works again, thanks for the help."]
)
def test_really_resolved_stays_resolved(clf: Classifier, text: str) -> None:
    c = judge(clf, "Erledigt", text)
    assert c.resolved is True
    assert c.priority == "low"


# 6. One device without network or mail is one workplace.
@pytest.mark.parametrize(
    "text",
    [
        "The PC at reception has no network.",
        "Reception PC: no network since this morning.",
        "Der PC am Empfang hat kein Netzwerk.",
        "My iPhone no longer receives office mail, Outlook on the PC is fine.",
        "Mein Handy bekommt keine Firmenmails mehr, am PC geht Outlook.",
        "Seit heute kommen auf meinem iPad keine Mails mehr an, am Rechner funktioniert alles.",
    ],
)
def test_one_device_network_or_mail_is_normal(clf: Classifier, text: str) -> None:
    assert judge(clf, "Problem", text).priority == "normal"


# 7. Questions of choice, cost or availability are low.
@pytest.mark.parametrize(
    "text",
    [
        "Alter Computer – reparieren oder neu?",
        "Unser alter Drucker ist 10 Jahre alt – lohnt sich reparieren oder lieber neu kaufen?",
        "Outlook oder Thunderbird, was ist besser?",
        "Should we use Outlook or Thunderbird on the new laptops?",
        "Are you open between Christmas and New Year? And what would a contract cost?",
        "Habt ihr zwischen den Jahren offen? Und was würde ein Wartungsvertrag kosten?",
    ],
)
def test_choice_and_cost_questions_are_low(clf: Classifier, text: str) -> None:
    c = judge(clf, "Frage", text)
    assert c.priority == "low"
    assert c.planned_change is False
