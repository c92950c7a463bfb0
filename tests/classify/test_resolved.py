"""Settled and past incidents are low, whatever the subject shouted; intermittent
or partly fixed is not settled. Sentences written for these tests.
"""

from __future__ import annotations

import pytest

from mailbot.classify import Classifier
from tests.classify.judging import judge

# Settled and past incidents, even of central systems.
SETTLED = [
    ("AW: Drucker Lager", "Drucker im Lager druckt wieder, die Touren sind pünktlich raus. Danke!"),
    (
        "Server",
        "Hat sich erledigt, seit ein paar Minuten können alle wieder arbeiten. Bitte schauen Sie "
        "trotzdem nach der Ursache.",
    ),
    (
        "Terminalserver",
        "Heute Nacht war der Terminalserver eine Viertelstunde nicht erreichbar, danach lief er "
        "wieder. Heute ist alles normal.",
    ),
    (
        "Internet",
        "Heute früh war das Internet eine halbe Stunde weg, seitdem läuft es ohne Probleme.",
    ),
    ("RE: Phones down", "Phones are back, customers can reach us again. Cheers!"),
    (
        "Email",
        "Email was down for everyone for about 20 minutes this morning but it has been fine "
        "since then. Could you check what happened?",
    ),
    (
        "Server",
        "Yesterday afternoon the file server dropped out for ten minutes, then came back. "
        "Everything normal today.",
    ),
]


@pytest.mark.parametrize(("subject", "text"), SETTLED)
def test_settled_incident_is_low(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "low", c.reasons


# Resolved and thanks, whatever the subject shouted.
RESOLVED = [
    (
        "Server ausgefallen!!!",
        "Hat sich erledigt, geht bei allen wieder. Bitte trotzdem Ursache prüfen.",
    ),
    (
        "AW: Internet weg - keiner kann arbeiten",
        "Läuft seit Ihrem Einsatz stabil, danke! Lassen Sie uns im neuen Jahr über einen neuen "
        "Server reden.",
    ),
    ("RE: Exchange down for everyone", "All good now, mail flows again. Thanks a lot!"),
    ("AW: Telefonanlage tot", "Vielen Dank, die Telefone funktionieren wieder einwandfrei."),
    ("Re: nobody can print", "Fixed itself after the restart, thanks anyway."),
]


@pytest.mark.parametrize(("subject", "text"), RESOLVED)
def test_resolved_follow_up_is_low(clf: Classifier, subject: str, text: str) -> None:
    c = judge(clf, subject, text)
    assert c.priority == "low", c.reasons
    assert c.planned_change is False


# Intermittent or partly fixed is not resolved.
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


# A recovery word inside a failure is none: "geht wieder nicht", "seitdem geht an keinem
# Arbeitsplatz das Netzwerk" (issue 20's probes).
@pytest.mark.parametrize(
    ("text", "priority"),
    [
        ("Der Drucker geht wieder nicht, er zieht kein Papier ein.", "normal"),
        ("Im Serverraum ist der Switch dunkel, seitdem geht an keinem Arbeitsplatz das "
         "Netzwerk.", "critical"),
        ("Der Drucker geht wieder, vielen Dank!", "low"),
    ],
)
def test_recovery_words_inside_a_failure(clf: Classifier, text: str, priority: str) -> None:
    assert judge(clf, "Drucker", text).priority == priority
