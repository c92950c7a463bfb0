"""Requests, questions, advice, quotes and expiry notices are low, also when
they name a device or say "can't". Sentences written for these tests.
"""

from __future__ import annotations

import pytest

from mailbot.classify import Classifier
from tests.classify.judging import SENT, judge

# Requests and questions that name a device or say "can't": nothing is broken.
REQUESTS = [
    (
        "WLAN",
        "Können Sie mir nochmal das Passwort fürs Gäste-WLAN schicken? Ich finde den Zettel nicht.",
    ),
    (
        "Rechnung",
        "Unsere Steuerberaterin findet die Rechnung vom Oktober nicht, könnten Sie sie "
        "nochmal senden?",
    ),
    ("Toner", "Bitte bestellen Sie uns zwei schwarze Toner für den Drucker am Empfang."),
    ("Signatur", "Das Logo in unserer Signatur sieht verpixelt aus, können Sie es ersetzen?"),
    ("Mailprogramm", "Was würden Sie uns empfehlen, Outlook oder Thunderbird?"),
    (
        "Alter PC",
        "Mein PC ist acht Jahre alt, läuft aber noch. Reparieren oder gleich einen neuen?",
    ),
    (
        "Echt?",
        "Ich habe eine Mail von der Bank bekommen, ich soll meine Daten bestätigen. Ist die echt? "
        "Angeklickt habe ich nichts.",
    ),
    ("Termin", "Ich kann am Donnerstag leider nicht zum Termin kommen, geht auch Freitag?"),
    ("Wi-Fi", "Could you send me the guest wifi password again? I can't find where I put it."),
    ("Invoice", "Our bookkeeper can't find your September invoice, could you send a copy?"),
    (
        "Genuine?",
        "I got a mail saying my mailbox is nearly full with a link to upgrade. Is it genuine? "
        "I haven't clicked anything.",
    ),
    ("Licence", "I don't know which Office licence we have, could you check for me?"),
    ("Toner", "Could you order two black cartridges for the printer in accounts?"),
]


@pytest.mark.parametrize(("subject", "text"), REQUESTS)
def test_request_is_low(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "low", c.reasons


# Questions and advice.
QUESTIONS = [
    ("Frage", "Was ist für uns besser, Outlook oder Thunderbird?"),
    ("PC", "Was würde ein neuer PC für den Empfang ungefähr kosten?"),
    ("2FA", "Wie aufwendig wäre es, Zwei-Faktor-Anmeldung für alle Mitarbeiter einzuführen?"),
    ("Backup", "Wie oft wird eigentlich unser Server gesichert?"),
    ("Question", "Should we buy a new NAS or extend the old one?"),
    ("Teams", "Can all employees use Teams on their phones as well?"),
]


@pytest.mark.parametrize(("subject", "text"), QUESTIONS)
def test_question_is_low(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "low", c.reasons
    assert c.planned_change is False


# Questions of choice, cost or availability are low.
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


LOOKALIKE_REQUESTS = [
    ("USB", "Could you order five USB sticks and some sticky notes for reception?"),
    ("Outlook", "Wo muss ich in Outlook den Haken setzen, damit eine Lesebestätigung kommt?"),
    ("Etiketten", "Wir kleben ab Januar neue Etiketten auf die Geräte, brauchen Sie eine Liste?"),
]


@pytest.mark.parametrize(("subject", "text"), LOOKALIKE_REQUESTS)
def test_lookalike_words_in_requests_stay_low(clf: Classifier, subject: str, text: str) -> None:
    assert clf.classify(subject, text, SENT).priority == "low"


# Expiry, renewal, quotes with a date: low, with urgency where said.
EXPIRY = [
    (
        "Zertifikat",
        "Das SSL-Zertifikat der Homepage läuft am 3.12. ab, danach geht die Seite "
        "nicht mehr. Bitte dringend verlängern.",
    ),
    ("Lizenz", "Die Virenschutz-Lizenz läuft Ende des Monats aus, sonst sind die PCs ungeschützt."),
    ("Domain", "Our domain expires next week, otherwise email will stop working. Please renew."),
    ("Angebot", "Bitte bis Freitag ein Angebot für 3 neue Monitore, eilt."),
]


@pytest.mark.parametrize(("subject", "text"), EXPIRY)
def test_expiry_and_quotes_are_low(clf: Classifier, subject: str, text: str) -> None:
    assert judge(clf, subject, text).priority == "low"


# Cosmetic and how-to questions about one workplace stay low (issue 20).
COSMETIC = [
    ("Hintergrund", "Seit dem Neustart ist mein Desktop-Hintergrund grau statt blau. Stört "
     "nicht, aber wie ändere ich das?"),
    ("Symbole", "Die Symbole in meiner Taskleiste sind plötzlich ganz klein, wie mache ich "
     "sie wieder größer?"),
    ("Signatur", "Wie kann ich in Outlook meine Signatur ändern? Das Logo ist verrutscht."),
    ("Font", "The font in my Outlook reading pane suddenly looks tiny. How do I change it?"),
    ("Wallpaper", "My wallpaper keeps changing back to the default one. Can I stop that?"),
]


@pytest.mark.parametrize(("subject", "text"), COSMETIC)
def test_cosmetic_and_how_to_questions_stay_low(clf: Classifier, subject: str, text: str) -> None:
    c = clf.classify(subject, text, SENT)
    assert c.priority == "low", c.reasons


def test_a_screen_that_stays_black_is_no_cosmetic_matter(clf: Classifier) -> None:
    assert clf.classify("Monitor", "Mein Bildschirm bleibt schwarz.", SENT).priority == "normal"
