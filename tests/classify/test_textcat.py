"""The trained planned-change model: reproducible from the repository, and asked only
where the rules are unsure. Mails below are written for these tests, not taken from
the training set.

The byte comparison holds for the spaCy/thinc versions the artifact was built with
(``models/textcat/meta.json``); after an upgrade that changes the weights, run
``mailbot train`` and commit the new artifact."""

from __future__ import annotations

import filecmp
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from mailbot.classify import Classifier
from mailbot.classify._nlp import default_models_dir
from mailbot.classify._textcat import PlannedModel
from mailbot.classify._train import read_training_set, train_to
from mailbot.cli import app

SENT = datetime(2026, 11, 24, 10, 15, tzinfo=ZoneInfo("Europe/Berlin"))
MODELS = default_models_dir()

PROBES = [
    ("Neuer Plotter", "Der neue Plotter kommt am Mittwoch, bitte einrichten."),
    ("Drucker", "Der Drucker im Flur druckt seit heute nur noch Streifen."),
    ("Leaver", "Tom leaves us on Friday, please close his account."),
    ("VPN", "Nobody can connect to the VPN since this morning."),
    ("Umzug", "Wir ziehen am 3. um, an dem Tag ist das Netz natürlich weg."),
]


def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def retrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("textcat") / "textcat"
    train_to(MODELS / "train", out)
    return out


def test_retraining_reproduces_the_committed_artifact(retrained: Path) -> None:
    committed = MODELS / "textcat"
    assert _files(retrained) == _files(committed)
    for name in _files(committed):
        assert filecmp.cmp(retrained / name, committed / name, shallow=False), name
    fresh, stored = PlannedModel.load(retrained), PlannedModel.load(committed)
    for subject, text in PROBES:
        assert fresh.score(subject, text) == stored.score(subject, text)


def test_training_twice_gives_the_same_model(retrained: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    train_to(MODELS / "train", again)
    for name in _files(retrained):
        assert filecmp.cmp(retrained / name, again / name, shallow=False), name


def test_training_set_is_labelled_and_large_enough() -> None:
    mails = read_training_set(MODELS / "train")
    german = [m for m in mails if m.language == "de"]
    english = [m for m in mails if m.language == "en"]
    assert len(german) >= 300 and len(english) >= 130
    assert len({m.id for m in mails}) == len(mails)
    share = sum(m.planned for m in mails) / len(mails)
    assert 0.3 < share < 0.7


def test_cli_train_writes_a_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m" / "config.cfg").is_file()


ANNOUNCED_WITH_DOWNTIME = [
    (
        "Tausch Switch",
        "Hallo,\nder neue Switch ist gestern gekommen. Der alte fällt immer wieder aus. "
        "Bitte den Tausch am Samstag einplanen, dann ist das Netz halt kurz weg.\nGruß",
    ),
    (
        "Upgrade of our terminal server",
        "Hi,\nplease upgrade the terminal server on Saturday as discussed. Nobody will be "
        "able to log in while it runs, that's fine at the weekend.\nThanks",
    ),
]


@pytest.mark.parametrize(("subject", "text"), ANNOUNCED_WITH_DOWNTIME)
def test_announcement_with_downtime_is_planned_and_low(
    clf: Classifier, subject: str, text: str
) -> None:
    c = clf.classify(subject, text, SENT)
    assert c.planned_change, c.reasons
    assert c.priority == "low", c.reasons
    assert any("planned change" in r or "geplante Änderung" in r for r in c.reasons)


FAULTS_WITH_CHANGE_WORDS = [
    (
        "Neuer Laptop",
        "Mein neuer Laptop startet seit heute nicht mehr, der Bildschirm bleibt schwarz.",
    ),
    ("After the update", "Since the update last night the accounting program crashes for me."),
    ("Server", "Der Server ist seit 8 Uhr weg, keiner kommt an die Daten. Bitte sofort!"),
]


@pytest.mark.parametrize(("subject", "text"), FAULTS_WITH_CHANGE_WORDS)
def test_fault_with_change_words_stays_a_fault(clf: Classifier, subject: str, text: str) -> None:
    c = clf.classify(subject, text, SENT)
    assert not c.planned_change, c.reasons
    assert c.priority in ("normal", "critical"), c.reasons


def test_model_verdict_is_a_reason_and_rules_alone_differ(clf: Classifier) -> None:
    subject, text = ANNOUNCED_WITH_DOWNTIME[0]
    with_model = clf.classify(subject, text, SENT)
    assert any(r.startswith("trainiertes Modell") for r in with_model.reasons)
    rules = clf.with_planned_model(None).classify(subject, text, SENT)
    assert not any("Modell" in r for r in rules.reasons)


def test_clear_fault_never_asks_the_model(clf: Classifier) -> None:
    c = clf.classify("Drucker", "Der Drucker zieht kein Papier ein.", SENT)
    assert not any("Modell" in r for r in c.reasons)


def test_own_fault_beside_an_onboarding_keeps_its_priority(clf: Classifier) -> None:
    """The model may read the whole mail as a plan; a fault of its own stays a fault."""
    text = (
        "Hallo,\nam 1. fängt Frau Berg bei uns an, bitte Laptop und Postfach einrichten.\n"
        "Außerdem startet mein Outlook seit heute früh nicht mehr.\nGruß"
    )
    c = clf.classify("Zwei Anliegen", text, SENT)
    assert c.priority == "normal", c.reasons
    assert not c.planned_change


def test_old_broken_device_beside_a_delivery_is_planned(clf: Classifier) -> None:
    text = (
        "Hallo,\nder alte Scanner am Empfang ist schon länger kaputt. Der neue wird am "
        "Dienstag geliefert, bitte am Mittwoch einrichten und mit der Praxissoftware "
        "verbinden.\nDanke"
    )
    c = clf.classify("Scanner Empfang", text, SENT)
    assert c.planned_change, c.reasons
    assert c.priority == "low", c.reasons


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        (
            "Angebot Etikettendrucker",
            "Hallo zusammen,\n\nkönnt ihr uns ein Angebot für zwei neue Etikettendrucker "
            "fürs Lager machen? Aufstellen und einrichten solltet ihr sie dann auch.\n\n"
            "Gruß\nJens Otto",
        ),
        (
            "Quote for new laptops",
            "Hi,\n\nhow much would three new laptops for the sales team cost, including "
            "setup and migration of the old data? Please send us an offer.\n\nThanks,\nAmy",
        ),
    ],
)
def test_a_quote_request_for_new_hardware_is_not_a_planned_change(
    clf: Classifier, subject: str, body: str
) -> None:
    c = clf.classify(subject, body, SENT)
    assert c.planned_change is False
    assert c.priority.value == "low"


def test_a_quote_beside_a_new_hire_with_a_start_date_stays_planned(clf: Classifier) -> None:
    c = clf.classify(
        "Neue Mitarbeiterin ab 1.12.",
        "Hallo,\n\nam 1.12. fängt Frau Demir bei uns an. Bitte richtet ihr einen Arbeitsplatz "
        "und ein Postfach ein. Ein Angebot für den Monitor brauchen wir nicht, der ist da.\n\n"
        "Gruß\nKarl Brandt",
        SENT,
    )
    assert c.planned_change is True
