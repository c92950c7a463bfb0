"""Triage rules of triage.md on varied mails of my own (German and English)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from mailbot.classify import Classifier
from mailbot.triage import Classification

BERLIN = ZoneInfo("Europe/Berlin")
# Tuesday
SENT = datetime(2026, 11, 24, 10, 15, tzinfo=BERLIN)


def judge(clf: Classifier, subject: str, text: str, sent: datetime = SENT) -> Classification:
    return clf.classify(subject, text, sent)


CRITICAL = [
    ("Server weg", "Hallo, der Server ist weg, wir kommen an keine Dateien mehr."),
    ("Exchange", "bei niemandem geht Outlook, Exchange antwortet nicht."),
    ("Dringend: Internet", "Seit 8 Uhr haben wir kein Internet mehr im ganzen Büro."),
    ("DATEV", "DATEV startet bei keinem Mitarbeiter, alle bekommen eine Fehlermeldung."),
    ("", "Der Terminalserver ist ausgefallen, keiner kann arbeiten."),
    (
        "Telefonanlage tot",
        "Unsere Telefonanlage ist komplett ausgefallen, die Praxis ist nicht erreichbar.",
    ),
    ("VPN", "Das VPN geht bei allen Außendienstlern nicht mehr."),
    (
        "Verschlüsselt!",
        "Auf dem Fileserver sind alle Dateien verschlüsselt, da liegt eine Lösegeldforderung.",
    ),
    ("Server down", "Our file server is down, nobody can open any files."),
    ("Email outage", "Nobody in the office can send or receive email since 9am."),
    ("Internet", "The internet connection is down for the whole office."),
    ("Ransomware", "We found a ransom note on the server and the shared files are encrypted."),
    ("NAS", "Die Synology ist nicht mehr erreichbar, an allen Rechnern fehlt das Laufwerk P:."),
    ("Switch", "Der zentrale Switch im Keller ist ausgefallen, kein PC hat mehr Netzwerk."),
    ("ERP steht", "Das ERP ist down, der ganze Betrieb steht still."),
]


@pytest.mark.parametrize(("subject", "text"), CRITICAL)
def test_critical(clf: Classifier, subject: str, text: str) -> None:
    assert judge(clf, subject, text).priority == "critical"


NORMAL = [
    ("Outlook", "Hallo, mein Outlook startet nicht mehr."),
    ("Server langsam", "Der Server ist seit heute sehr langsam, arbeiten geht aber."),
    ("Drucker", "Der Drucker im 2. OG druckt nicht, die anderen gehen."),
    ("Monitor", "Mein zweiter Bildschirm bleibt schwarz."),
    ("Laptop", "My laptop won't start, the screen stays black."),
    ("Printer", "The printer at reception keeps jamming and won't print."),
    ("Slow", "The ERP has been slower than usual this week, timeouts now and then."),
    ("Passwort", "Frau Berger kann sich nicht an ihrem PC anmelden, Passwort abgelaufen."),
    ("Telefon", "Das Telefon an meinem Arbeitsplatz hat kein Freizeichen."),
    ("Virus?", "Auf meinem Laptop kommt ständig ein Fenster, dass ein Virus gefunden wurde."),
    ("Keyboard", "My keyboard is broken, some keys don't work."),
    ("VPN hakt", "Das VPN bricht bei mir immer wieder ab, ca. alle 20 Minuten."),
]


@pytest.mark.parametrize(("subject", "text"), NORMAL)
def test_normal(clf: Classifier, subject: str, text: str) -> None:
    assert judge(clf, subject, text).priority == "normal"


LOW = [
    ("Frage", "Kein Ausfall, nur eine Frage: wie richte ich eine Abwesenheitsnotiz ein?"),
    ("Ursache", "Gestern war der Server kurz weg, läuft wieder, bitte Ursache prüfen."),
    ("Angebot", "Können Sie uns ein Angebot für 3 neue Office-Lizenzen schicken?"),
    ("Licences", "Could you send us a quote for two more Microsoft 365 licences?"),
    ("Question", "Quick question: how do I share my calendar with a colleague?"),
    ("WG: Newsletter", "Betrifft uns das? Bei uns läuft alles normal."),
    ("Danke", "Läuft wieder, vielen Dank für die Hilfe!"),
    ("Re: printer", "All sorted now, it works again. Thanks!"),
    ("Wunsch", "Wir hätten gern ein zweites Postfach für die Buchhaltung."),
    ("Erreichbarkeit", "Sind Sie zwischen den Jahren erreichbar, falls der Server ausfällt?"),
]


@pytest.mark.parametrize(("subject", "text"), LOW)
def test_low(clf: Classifier, subject: str, text: str) -> None:
    assert judge(clf, subject, text).priority == "low"


def test_forwarded_newsletter_shouting_critical_is_low(clf: Classifier) -> None:
    c = judge(
        clf,
        "WG: KRITISCH: Sicherheitslücke",
        "Zur Info, kam als Newsletter. Sie erhalten diesen Newsletter, weil Sie ihn "
        "abonniert haben. Zum Abmelden klicken Sie hier.",
    )
    assert c.priority == "low"
    assert c.urgency == "none"


def test_reply_subject_does_not_override_resolved_body(clf: Classifier) -> None:
    c = judge(clf, "AW: Exchange geht nicht!!!", "Geht wieder, danke!")
    assert c.priority == "low"
    assert c.resolved is True
    assert c.category == "resolved"


def test_new_issue_after_resolved_one_counts(clf: Classifier) -> None:
    c = judge(
        clf,
        "AW: Laufwerk",
        "Das Laufwerk geht wieder, danke.\nAndere Sache: meine Maus reagiert nicht mehr.",
    )
    assert c.priority == "normal"
    assert c.resolved is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bitte dringend anschauen, der Drucker geht nicht.", "urgent"),
        ("Eilt! Der Scanner geht nicht.", "urgent"),
        ("Please help ASAP, my laptop won't boot.", "urgent"),
        ("Bis morgen muss die Abrechnung raus, DATEV startet bei mir nicht.", "urgent"),
        ("Nicht dringend: mein Monitor flackert manchmal.", "not_urgent"),
        ("Hat Zeit, bei Gelegenheit bitte den Drucker prüfen.", "not_urgent"),
        ("No rush, whenever you get a chance.", "not_urgent"),
        ("Hilfe!!! Mein Drucker geht nicht!!!", "none"),
        ("Mein Drucker druckt nicht.", "none"),
        ('Auf dem Bildschirm steht "Rufen Sie sofort den Support an".', "none"),
        (
            "Kein Stress, es reicht, wenn das innerhalb der nächsten 3 Tage bearbeitet wird.",
            "not_urgent",
        ),
    ],
)
def test_urgency(clf: Classifier, text: str, expected: str) -> None:
    assert judge(clf, "Anfrage", text).urgency == expected


def test_urgency_does_not_change_priority(clf: Classifier) -> None:
    calm = judge(clf, "Drucker", "Der Drucker im Flur druckt nicht.")
    rushed = judge(clf, "Drucker", "Der Drucker im Flur druckt nicht. Dringend!")
    assert calm.priority == rushed.priority == "normal"
    assert rushed.urgency == "urgent"


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
def test_planned_change(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.planned_change is True
    assert c.priority == "low"


def test_failure_is_never_planned_change(clf: Classifier) -> None:
    c = judge(clf, "Neuer Laptop", "Der neue Laptop von Frau Kern startet nicht.")
    assert c.planned_change is False
    assert c.priority == "normal"


def test_planned_change_deadline_is_day_of_change(clf: Classifier) -> None:
    c = judge(clf, "Neuer Kollege", "Der neue Kollege fängt am 1.12. an.")
    assert c.deadline == date(2026, 12, 1)


def test_deadline_in_subject(clf: Classifier) -> None:
    c = judge(clf, "Angebot bis Freitag", "Wir brauchen ein Angebot für einen neuen Server.")
    assert c.deadline == date(2026, 11, 27)


def test_reasons_in_message_language(clf: Classifier) -> None:
    de = judge(clf, "Server", "Der Exchange-Server ist ausgefallen, keiner hat Mail.")
    en = judge(clf, "Server", "The Exchange server is down, nobody has email.")
    assert de.language == "de" and en.language == "en"
    assert any("ausgefallen" in r for r in de.reasons)
    assert any("down" in r for r in en.reasons)


def test_alarm_sets_priority_and_alarm(clf: Classifier) -> None:
    c = judge(
        clf,
        "** PROBLEM Host Alert: dc01.kanzlei is DOWN **",
        "***** Icinga 2 *****\nNotification Type: PROBLEM\nHost: dc01.kanzlei\nState: DOWN\n",
    )
    assert c.priority == "critical"
    assert c.alarm is not None and c.alarm.key == "dc01.kanzlei/host"
    assert c.category == "monitoring"


def test_alarm_recovery_is_low(clf: Classifier) -> None:
    c = judge(
        clf,
        "** RECOVERY Service Alert: fs01/disk C: is OK **",
        "Notification Type: RECOVERY\nService: disk C:\nHost: fs01\nState: OK\n",
    )
    assert c.priority == "low"
    assert c.resolved is True


def test_automated_auto_reply_is_low(clf: Classifier) -> None:
    c = judge(clf, "Automatische Antwort: Server", "Ich bin bis 4.1. nicht im Büro.")
    assert c.priority == "low"
    assert c.deadline is None


def test_empty_message(clf: Classifier) -> None:
    c = judge(clf, "", "")
    assert c.priority == "low"
    assert c.urgency == "none"
    assert c.deadline is None
