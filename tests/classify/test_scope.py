"""Who is affected decides between critical and normal (triage.md).

Company-wide scope said with place words, counts, "none of" or "every PC I checked"
is critical; a contrast about people ("alle anderen können arbeiten") or one device's
network or mail makes it one workplace. Sentences written for these tests, German
and English.
"""

from __future__ import annotations

import pytest

from mailbot.classify import Classifier
from tests.classify.judging import judge

# Company-wide scope said with place words, counts or "none of", not "alle".
WIDE_SCOPE = [
    ("Netzwerk", "Seit halb acht im ganzen Betrieb kein Netzwerk: Werkstatt, Büro, Teile, alles."),
    ("Telefone", "Keines der Telefone in der Kanzlei hat ein Freizeichen."),
    ("DATEV", "DATEV startet an keinem Arbeitsplatz, wir sind zu siebt und kommen nicht rein."),
    ("Mail", "Im ganzen Haus kommen seit dem Morgen keine E-Mails an."),
    ("Internet", "Am Standort Hafenstraße ist seit 7 Uhr kein Internet, die ganze Schicht steht."),
    ("S:", "Das Laufwerk S: ist überall verschwunden, auf jedem Rechner."),
    ("Switch", "Der Core-Switch im Serverschrank ist komplett dunkel, keine Lampe leuchtet."),
    ("Praxis", "Die Praxissoftware lässt sich bei allen 6 Kolleginnen nicht öffnen."),
    ("Phones", "None of the desk phones in reception or the back office work."),
    ("Email", "Nobody here has been able to send or receive email since about nine."),
    ("ERP", "The ERP won't open on any workstation, all 12 of us are stuck."),
    ("Internet", "No internet at the depot since 6am, nothing goes out, the whole shift is idle."),
    ("G drive", "The G: drive has vanished on every PC in the office."),
    ("Switch", "The main switch in the rack is dead, no lights at all."),
]


@pytest.mark.parametrize(("subject", "text"), WIDE_SCOPE)
def test_company_wide_scope_is_critical(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "critical", c.reasons
    assert c.planned_change is False


# Company-wide outages without the word "ausgefallen".
CRITICAL = [
    ("Terminalserver", "Der Terminalserver nimmt keine Anmeldungen an, alle Thin Clients hängen."),
    ("Telefone", "Kein einziges Telefon funktioniert, wir sind nicht erreichbar."),
    ("Telefon", "Anrufer hören nur ein Besetztzeichen, niemand erreicht uns."),
    ("Citrix", "Niemand kommt mehr in Citrix, es erscheint nur eine Fehlermeldung."),
    ("Mail", "Seit 9 Uhr kommen bei keinem von uns Mails an, Exchange antwortet nicht."),
    ("Netz", "Kein Rechner im Haus kommt ins Netzwerk, auch das Internet ist weg."),
    ("DATEV", "Keiner kann DATEV öffnen, der Server meldet 'Datenbank nicht verfügbar'."),
    ("Phones", "None of our phones work, callers just get a busy tone."),
    ("Server", "Nobody can log in to the terminal server, every thin client is stuck."),
    ("Internet", "We have no internet at all in the office, all PCs show no connection."),
    ("Praxissoftware", "Die Praxissoftware startet an keinem Arbeitsplatz mehr."),
]


@pytest.mark.parametrize(("subject", "text"), CRITICAL)
def test_company_wide_outage_is_critical(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "critical", c.reasons


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


EVERY_PC_CHECKED = [
    ("Outlook", 'Outlook shows "Disconnected" on every PC I have looked at.'),
    ("Outlook", "Outlook is disconnected on all the machines I tried."),
    ("Laufwerk", "Das Laufwerk P: ist weg, auf jedem Rechner, den ich geprüft habe."),
    ("DATEV", "DATEV startet nicht, auf allen Rechnern, die ich probiert habe."),
]


@pytest.mark.parametrize(("subject", "text"), EVERY_PC_CHECKED)
def test_every_pc_checked_is_company_wide(clf: Classifier, subject: str, text: str) -> None:
    assert judge(clf, subject, text).priority == "critical"


# A contrast about devices says nothing about scope; stated company-wide scope wins.
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


# Scope words that do not mean everyone.
SINGLE_DESPITE_SCOPE_WORDS = [
    ("Outlook", "Ich kann nichts mehr senden, die Mails bleiben im Postausgang hängen."),
    (
        "Anmeldung",
        "Frau Kaiser kann sich nicht anmelden, alle anderen können sich normal anmelden.",
    ),
    ("Outlook", "Bei mir startet Outlook nicht, bei den Kollegen geht alles."),
    ("Scan", "Scannen in den Ordner geht für niemanden mehr, kopieren und drucken geht."),
    ("Drucker", "Der Drucker im Flur druckt nicht, andere Drucker gehen."),
    ("VPN", "Mein VPN verbindet sich nicht, die anderen im Homeoffice sind drin."),
    ("Teams", "Teams crashes on my PC, the rest of the office is fine."),
    ("Login", "I can't log in to the server, the others are fine."),
    ("Laufwerk", "Nur bei mir fehlt das Laufwerk S:, alle anderen sehen es."),
]


@pytest.mark.parametrize(("subject", "text"), SINGLE_DESPITE_SCOPE_WORDS)
def test_contrast_means_single(clf: Classifier, subject: str, text: str) -> None:
    assert judge(clf, subject, text).priority == "normal"


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


# One device without network or mail is one workplace.
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


# One device or one user's connection with a server named in its error message or in
# the sentence is that device's fault (issue 20), not a central outage.
DEVICE_NAMES_SERVER = [
    ("Scanner", 'Der Scanner am Kopierer meldet "Keine Verbindung zum Server", wenn ich in '
     "den Ordner scannen will."),
    ("Homeoffice", "Ich komme von zu Hause aus nicht ins VPN, der Client sagt "
     '"VPN-Server antwortet nicht".'),
    ("Röntgen", "Das Röntgengerät im Zimmer 4 überträgt keine Aufnahmen mehr zum Server."),
    ("Copier", 'Our copier shows "SMB server unreachable" when I scan to my folder.'),
    ("VPN", "From home my laptop cannot connect to the VPN; it says the server is not "
     "responding."),
    ("Lab device", "The blood analyser in the lab no longer sends results to the LIS server."),
]


@pytest.mark.parametrize(("subject", "text"), DEVICE_NAMES_SERVER)
def test_one_device_naming_a_server_is_normal(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "normal", c.reasons


def test_everyone_seeing_the_servers_error_is_critical(clf: Classifier) -> None:
    c = judge(clf, "Server", 'An allen Arbeitsplätzen kommt "Der Server ist nicht erreichbar".')
    assert c.priority == "critical"


@pytest.mark.parametrize(
    ("text", "priority"),
    [
        ("Ich sitze im Homeoffice und kann mich nicht mit dem VPN verbinden. Es kommt die "
         "Fehlermeldung: Der Server hat die Verbindung abgelehnt.", "normal"),
        ("Seit heute früh kann sich kein Mitarbeiter im Homeoffice mit dem VPN verbinden.",
         "critical"),
        ("I can't log in to the VPN from my laptop at home, everyone else is fine.", "normal"),
        ("None of us can log in to the VPN this morning, I tried too.", "critical"),
    ],
)
def test_one_users_vpn_and_everyones(clf: Classifier, text: str, priority: str) -> None:
    assert judge(clf, "VPN", text).priority == priority
