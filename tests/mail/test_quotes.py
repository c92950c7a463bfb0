"""new_text(): quoted history, signatures and footers removed (German and English)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.mail.quotes import new_text

CORPUS = Path("/work/shared/corpus")
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")


def test_german_reply_header_and_quote() -> None:
    body = (
        "Läuft wieder, danke!\n\nAm 23.11.2026 um 07:21 schrieb IT-Service <s@x.example>:\n"
        "> Der Server war weg.\n"
    )
    assert new_text(body) == "Läuft wieder, danke!"


def test_outlook_header_block_without_quote_marks() -> None:
    body = (
        "Jetzt geht gar nichts mehr.\n\nVon: A <a@x.example>\nGesendet: Montag, 1. Dezember 2026\n"
        "An: service@x.example\nBetreff: Fileserver\n\nKein Notfall, hat Zeit.\n"
    )
    assert new_text(body) == "Jetzt geht gar nichts mehr."


def test_original_message_separator_and_greeting_signature() -> None:
    body = (
        "Hallo,\n\nder Drucker geht nicht.\n\nMit freundlichen Grüßen\nJulia Peters\n"
        "Tel. 0201 / 12 34\nAmtsgericht Essen HRB 1234\n\n-----Ursprüngliche Nachricht-----\n"
        "Von: x\nBetreff: y\n\nDringend!"
    )
    out = new_text(body)
    assert "Drucker geht nicht" in out
    assert "Grüßen" not in out and "Amtsgericht" not in out and "Dringend" not in out


def test_mobile_signature_and_english_reply() -> None:
    body = (
        "Server is down again.\n\nSent from my iPhone\n\n"
        "On Mon, Nov 23, 2026 at 9:00 AM Bob wrote:\n> ok"
    )
    assert new_text(body) == "Server is down again."


def test_contact_block_without_greeting_is_dropped() -> None:
    body = (
        "Ist das normal nach dem Update?\n\nHeike Schmitz\nBuchhaltung\nSchmitz GmbH\n"
        "Hammer Landstraße 91, 41460 Neuss\nTel. +49 2131 7780\nGeschäftsführer: H. Schmitz\n"
    )
    assert new_text(body) == "Ist das normal nach dem Update?"


def test_regards_inside_sentence_is_kept() -> None:
    body = "With regards to the invoice, the printer still does not work.\nThanks,\nSam"
    out = new_text(body)
    assert "printer still does not work" in out and "Sam" not in out


@needs_corpus
@pytest.mark.parametrize(
    "name",
    ["email_german.txt", "email_german_2.txt", "email_german_3.txt", "email_german_outlook.txt"],
)
def test_crisp_german_fixtures_keep_only_the_reply(name: str) -> None:
    path = CORPUS / "crisp-email-reply-parser/test/fixtures" / name
    out = new_text(path.read_text(encoding="utf-8"))
    assert out.startswith("Fusce bibendum")
    assert out.rstrip().endswith("nec nibh.")


@needs_corpus
def test_alfonsrv_multiline_german_header() -> None:
    path = CORPUS / "alfonsrv-mail-parser-reply/test/emails/multiline_on_de.txt"
    assert new_text(path.read_text(encoding="utf-8")) == "Am heutigen Tage"


@needs_corpus
def test_fiedl_german_outlook_reply() -> None:
    path = CORPUS / "fiedl-extended_email_reply_parser/spec/email_fixtures/email_de_2.txt"
    out = new_text(path.read_text(encoding="utf-8"))
    assert "ich hatte das bereits aktiviert" in out
    assert "support@example.org" not in out


@needs_corpus
@pytest.mark.parametrize(
    "name", ["email_tricky_1_on_false_positive.txt", "email_tricky_6_regards_in_sentence.txt"]
)
def test_crisp_false_positives_keep_text(name: str) -> None:
    path = CORPUS / "crisp-email-reply-parser/test/fixtures" / name
    out = new_text(path.read_text(encoding="utf-8"))
    assert "actual" in out or "performance is great" in out
