"""Priority across the rules: varied mails of each level (German and English),
a batch written after the rules and checked before any change to them, and guards
that the later rules swallow no real fault and invent no plan.
"""

from __future__ import annotations

import pytest

from mailbot.classify import Classifier
from tests.classify.judging import judge

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


# A batch written after the first rules and checked before any change to them:
# unusual verbs for a misbehaving thing, and sentences that merely mention one.
MIXED = [
    ("normal", "Tastatur", "Bei mir tippt die Tastatur doppelte Buchstaben."),
    ("normal", "Outlook", "Outlook fragt ständig nach meinem Kennwort."),
    ("normal", "Bildschirm", "Der Monitor von Frau Yildiz bleibt dunkel, der PC läuft aber."),
    ("normal", "Telefon", "Mein Telefon klingelt nicht mehr, Anrufe gehen direkt auf die Mailbox."),
    (
        "normal",
        "Scanner",
        "Der Scanner im Lager bricht bei jedem zweiten Dokument mit Fehler 0x12 ab.",
    ),
    ("normal", "Laptop", "Der Akku von meinem Laptop hält nur noch 20 Minuten."),
    (
        "normal",
        "Zugang",
        "Herr Brandt kommt nicht mehr in sein Postfach, bei allen anderen klappt es.",
    ),
    ("normal", "Excel", "Excel stürzt bei mir jedes Mal ab, wenn ich die Lohnliste öffne."),
    ("normal", "Sync", "My OneDrive keeps showing sync errors."),
    ("normal", "Printer", "The printer on the first floor prints every page twice."),
    ("normal", "Teams", "Teams won't let me share my screen anymore."),
    (
        "normal",
        "Kasse",
        "Die Kasse im Verkaufsraum zeigt seit heute früh eine Fehlermeldung beim Bonieren.",
    ),
    ("normal", "Langsam", "Das DMS ist seit Montag bei allen sehr langsam."),
    (
        "critical",
        "Mail",
        "Seit heute Morgen kann keiner in der Kanzlei Mails senden oder empfangen.",
    ),
    ("critical", "Server", "Der Server ist nicht erreichbar, niemand kommt an die Patientenakten."),
    ("critical", "Internet", "Internet im ganzen Autohaus tot, auch die Telefone gehen nicht."),
    (
        "critical",
        "Warenwirtschaft",
        "Die Warenwirtschaft startet auf keinem Rechner, alle Filialen stehen.",
    ),
    ("critical", "Outage", "Our whole office has no network since 8am, nobody can work."),
    ("critical", "VPN", "None of our field staff can connect to the VPN."),
    ("low", "Frage", "Können Sie mir sagen, wie ich eine Signatur in Outlook einrichte?"),
    ("low", "Danke", "Danke, der Drucker läuft wieder einwandfrei."),
    ("low", "Info", "Zur Info: wir sind vom 23.12. bis 2.1. geschlossen."),
    (
        "low",
        "Lizenz",
        "Unsere Office-Lizenzen laufen im Januar aus, bitte um ein Angebot zur Verlängerung.",
    ),
    ("low", "Wunsch", "Wäre es möglich, für unsere Azubis einen Gast-WLAN-Zugang einzurichten?"),
    ("low", "Question", "Is it possible to get a second monitor for my desk?"),
    ("low", "Thanks", "Thanks, everything is working fine again."),
    ("low", "AW: Server down", "Danke für die schnelle Hilfe gestern, es läuft alles."),
    ("low", "Neuer PC", "Frau Klein fängt am 15.12. bei uns an und braucht einen PC."),
    ("low", "Umzug", "We are moving offices on 1 February and need help with the network."),
    (
        "low",
        "Update",
        "Bitte installieren Sie bei Gelegenheit das neue DATEV-Update auf allen Rechnern.",
    ),
    (
        "normal",
        "Phishing",
        "Ich habe gerade eine Mail von der 'Sparkasse' bekommen und auf den Link geklickt.",
    ),
    ("normal", "Virus", "Our antivirus quarantined a file on Lisa's laptop, what should we do?"),
    (
        "critical",
        "Verschlüsselt",
        "Alle Dateien auf dem Netzlaufwerk haben die Endung .locked und es liegt eine "
        "Lösegeldforderung da.",
    ),
    ("normal", "Passwort", "I forgot my password and now my account is locked."),
    (
        "low",
        "Frage",
        "Wir brauchen den alten Laptop von Herrn Kaiser nicht mehr, können Sie ihn abholen?",
    ),
    ("low", "Info", "Ab nächster Woche arbeitet Frau Roth nur noch vormittags."),
    (
        "low",
        "Wunsch",
        "Können Sie bei allen Rechnern den Bildschirmschoner auf 10 Minuten stellen?",
    ),
    ("low", "Angebot", "Was kostet ein zusätzlicher Monitor für jeden Arbeitsplatz?"),
    ("low", "Frage", "Funktioniert unser Drucker auch mit AirPrint?"),
    ("low", "Termin", "Passt Ihnen Donnerstag für die Wartung des Servers?"),
    ("low", "Frage", "Ist es normal, dass Windows ständig Updates installiert?"),
    ("low", "Rückmeldung", "Seit dem Tausch der Festplatte läuft der Rechner wieder super, danke!"),
    (
        "low",
        "Anfrage",
        "Wir möchten, dass alle Mitarbeiter ihre Mails auch auf dem Handy lesen können.",
    ),
    (
        "low",
        "Question",
        "Could you check whether our backup ran last night? Just curious, nothing is broken.",
    ),
    ("low", "Newsletter", "Please remove me from your newsletter."),
    (
        "low",
        "Passwort",
        "Bitte das Passwort für das Gäste-WLAN ändern, der alte Praktikant kennt es noch.",
    ),
    (
        "low",
        "Zertifikat",
        "Unser VPN-Zertifikat läuft in 3 Wochen ab, sonst können die Außendienstler "
        "nicht mehr rein.",
    ),
    (
        "low",
        "Domain",
        "Please renew the domain before it expires on December 10th, otherwise mail will stop.",
    ),
    (
        "normal",
        "Drucker",
        "Der Drucker druckt nicht mehr, bitte dringend, wir müssen heute Rechnungen verschicken.",
    ),
    ("normal", "Server", "Der Server ist seit dem Update ziemlich träge, arbeiten kann man aber."),
    ("normal", "WLAN", "Im Besprechungsraum bricht das WLAN immer wieder ab."),
    ("critical", "Exchange", "Exchange ist down, keiner bekommt Mails."),
    (
        "critical",
        "Domäne",
        "Niemand kann sich mehr an der Domäne anmelden, 'Domänencontroller nicht erreichbar'.",
    ),
    ("critical", "Telefonanlage", "Die Telefonanlage ist ausgefallen, Kunden kommen nicht durch."),
    (
        "normal",
        "Outlook",
        "Bei Frau Berg und Herrn Kurz hängt Outlook beim Start, die anderen können arbeiten.",
    ),
    ("low", "AW: Drucker geht nicht", "Super, danke, das hat geklappt!"),
    (
        "normal",
        "AW: Laptop",
        "Leider geht es immer noch nicht, der Laptop startet weiterhin nicht.",
    ),
    (
        "low",
        "Software",
        "Wir haben eine neue Version von Lexware gekauft, bitte am Freitag installieren.",
    ),
]


@pytest.mark.parametrize(("priority", "subject", "text"), MIXED)
def test_mixed_batch(clf: Classifier, priority: str, subject: str, text: str) -> None:
    assert judge(clf, subject, text).priority == priority


# Guards: the new rules must not swallow real faults or invent plans.
GUARDS = [
    ("normal", "PC", "The PC can't find the printer."),
    ("normal", "Drucker", "Mein Laptop findet den Drucker nicht mehr."),
    ("critical", "Internet", "Heute früh war das Internet weg und es geht immer noch nicht."),
    ("critical", "Server", "Staff are back on Monday. The server is down since this morning."),
    (
        "normal",
        "Phishing",
        "Is this mail genuine? I clicked the link and entered my password on my laptop.",
    ),
    ("normal", "Copier", "Nobody can scan on the copier, copying works."),
    ("normal", "Laptop", "I can't log in to my laptop."),
    ("critical", "Telefon", "Seit dem Umzug am Montag geht im ganzen Büro kein Telefon."),
    ("critical", "Mail", "Keiner von uns bekommt seit heute morgen Mails."),
    ("low", "Logo", "Können Sie unser Logo in der Signatur austauschen, es ist unscharf?"),
    ("low", "Lizenzen", "Ich weiß nicht, ob wir noch Lizenzen haben. Können Sie nachsehen?"),
]


@pytest.mark.parametrize(("priority", "subject", "text"), GUARDS)
def test_guards(clf: Classifier, priority: str, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == priority, c.reasons
    assert c.planned_change is False
