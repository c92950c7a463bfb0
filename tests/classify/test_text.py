"""The text judged: reasons in the message's language, an empty message, and a
pasted log judged by what the writer says first.
"""

from __future__ import annotations

from mailbot.classify import Classifier
from tests.classify.judging import judge


def test_reasons_in_message_language(clf: Classifier) -> None:
    de = judge(clf, "Server", "Der Exchange-Server ist ausgefallen, keiner hat Mail.")
    en = judge(clf, "Server", "The Exchange server is down, nobody has email.")
    assert de.language == "de" and en.language == "en"
    assert any("ausgefallen" in r for r in de.reasons)
    assert any("down" in r for r in en.reasons)


def test_empty_message(clf: Classifier) -> None:
    c = judge(clf, "", "")
    assert c.priority == "low"
    assert c.urgency == "none"
    assert c.deadline is None


def test_a_pasted_log_of_a_million_characters_is_judged_by_what_comes_first(
    clf: Classifier,
) -> None:
    log = "2026-11-24 10:01:07 ERROR sync failed 0x80070005\n" * 30_000  # 1.5 MB
    text = "Dringend: der Server ist ausgefallen, niemand kann arbeiten.\nDas Log:\n" + log
    c = judge(clf, "Server weg", text)
    assert c.priority == "critical" and c.urgency == "urgent"
