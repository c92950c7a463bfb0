"""Security incidents: critical on shared systems and data, normal on one
device; cited phishing text is no incident. Sentences written for these tests.
"""

from __future__ import annotations

import pytest

from mailbot.classify import Classifier
from tests.classify.judging import judge

# Security incidents on shared systems are critical; one device stays normal.
SHARED_SECURITY = [
    (
        "Dateien",
        "Auf dem Laufwerk S: heißen alle Mandantenordner jetzt .lockbit und in jedem liegt eine "
        "README_RESTORE.txt. Ich habe meinen PC sofort ausgeschaltet.",
    ),
    (
        "Projektordner",
        "In den Projektordnern auf dem Netzlaufwerk liegen Textdateien mit einer Forderung in "
        "Bitcoin, die Pläne lassen sich nicht mehr öffnen.",
    ),
    (
        "Admin",
        "Jemand anderes hat sich mit unserem Administratorkonto angemeldet, wir waren das nicht.",
    ),
    (
        "Microsoft 365",
        "Im Portal gibt es einen zweiten globalen Admin, den keiner von uns angelegt hat.",
    ),
    (
        "Postfächer",
        "In mehreren Postfächern stehen Regeln, die alle Mails an eine fremde Adresse "
        "weiterleiten.",
    ),
    (
        "Files",
        "Everything on the shared drive now ends in .crypt and each folder has a HOW_TO_DECRYPT "
        "file. I have turned my PC off.",
    ),
    ("Admin", "Someone else has been using our admin account, there are sign-ins from abroad."),
    (
        "Mail rules",
        "Several mailboxes have rules forwarding all mail to an outside gmail address.",
    ),
]


@pytest.mark.parametrize(("subject", "text"), SHARED_SECURITY)
def test_security_on_shared_systems_is_critical(clf: Classifier, subject: str, text: str) -> None:
    assert judge(clf, subject, text).priority == "critical"


# Ransomware on shared data is critical even when the writer mentions their own PC.
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


SINGLE_SECURITY = [
    ("Popup", "Auf meinem Laptop kommt ein Fenster, ich soll Microsoft anrufen, er sei infiziert."),
    ("Scam", "A pop-up on my laptop says it is infected and I should call a number."),
]


@pytest.mark.parametrize(("subject", "text"), SINGLE_SECURITY)
def test_security_on_one_device_stays_normal(clf: Classifier, subject: str, text: str) -> None:
    assert judge(clf, subject, text).priority == "normal"


# Security on one device, and cited phishing text.
SECURITY_SINGLE = [
    (
        "Anhang",
        "Eine Mitarbeiterin hat einen Anhang aus einer komischen Mail geöffnet, "
        "der Laptop ist jetzt vom Netz.",
    ),
    ("Virus", "Auf dem PC am Empfang meldet der Virenscanner einen Fund."),
    (
        "Phishing",
        "Ich habe auf einen Link in der Mail 'Ihre Sendung konnte nicht zugestellt "
        "werden' geklickt und mein Passwort eingegeben.",
    ),
    ("Malware", "A colleague opened a malicious attachment on his laptop."),
]


@pytest.mark.parametrize(("subject", "text"), SECURITY_SINGLE)
def test_security_on_one_device_is_normal(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "normal", c.reasons
    assert c.category != "automated"


# A compromised admin account sending phishing from company mailboxes (issue 20): in
# English too, and told without the words "hacked" or "compromised".
ADMIN_PHISHING = [
    ("Phishing von uns?", "Seit heute Nacht werden über unser Admin-Konto Phishing-Mails an "
     "alle unsere Kunden verschickt."),
    ("Admin", "Jemand hat unseren Administrator-Zugang übernommen und das Passwort geändert, "
     "aus den Postfächern gehen Betrugsmails raus."),
    ("Strange mails", "Our customers are receiving phishing emails sent from our staff "
     "mailboxes; none of us sent them."),
    ("M365 admin", "Somebody has taken over our global admin and is sending phishing to our "
     "contacts from several mailboxes."),
]


@pytest.mark.parametrize(("subject", "text"), ADMIN_PHISHING)
def test_compromised_admin_sending_phishing_is_critical(
    clf: Classifier, subject: str, text: str
) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "critical", c.reasons
    assert c.category == "security"


def test_admin_mail_nobody_sent_is_critical_but_unsure(clf: Classifier) -> None:
    c = judge(
        clf,
        "Seltsam",
        "Im Ordner Gesendet des Administratorkontos liegen Mails an Kunden, die keiner von uns "
        "verschickt hat.",
    )
    assert c.priority == "critical"
    assert c.doubt is not None and c.doubt.alternative == "normal"


def test_a_phishing_mail_received_stays_normal(clf: Classifier) -> None:
    c = judge(clf, "Phishing?", "Ich habe eine Phishing-Mail bekommen und auf den Link geklickt.")
    assert c.priority == "normal"


def test_taking_over_the_admin_work_is_no_attack(clf: Classifier) -> None:
    c = judge(clf, "Wartungsvertrag", "I have taken over the admin side of our shop and would "
              "like a quote for a maintenance contract.")
    assert c.priority == "low"


def test_admin_evidence_told_in_the_past_still_counts(clf: Classifier) -> None:
    c = judge(
        clf,
        "Strange emails",
        "Several of our clients got emails from our accounting mailbox asking them to pay to a "
        "new bank account. We never sent these. The admin password was changed too.",
    )
    assert c.priority == "critical" and c.doubt is not None
