"""The affix index of the evidence matcher gives exactly what testing every affix
pattern against a word gave: the same patterns, the same objects, in the same order
(exact-word patterns first, then affix patterns in the order they were read)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mailbot.classify import Classifier
from mailbot.classify._nlp import EvidenceMatcher, _Pattern, _tokenizer_only
from mailbot.mail.parse import parse_message

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"

TRICKY = [
    "", " ", "  ", "\n", "\r\n", "\t", "\x00", ".", "..", ",", "*", "**", "*a", "a*",
    "~", "~~", "|", "||", "-", "--", "_", "__", "'", '"', "@", "#", "?", "!", "/", "\\",
    "ä", "ö", "ü", "ß", "ẞ", "straße", "größe", "ärger", "drückerei", "e\u0301",
    "ǆ", "ﬁ", "İ".lower(), "\u200b", "\ufffd", "\ud800", "🖨", "🖨️", "日本語", "ا",
    "how-to-", "how_to_", "_decrypt", "decrypt_", "x" * 5000, "ä" * 300,
    "netzwerkdruckerserverlizenzen", "a" * 17, "1", "12.12.2026", "http://x.example/y",
]


def brute_force(matcher: EvidenceMatcher, word: str) -> tuple[_Pattern, ...]:
    """What ``_candidates`` computed before the index: every affix pattern tested."""
    by_word = tuple(matcher._by_word.get(word, ()))
    return by_word + tuple(p for p in matcher._by_affix if p[1][0].fits(word))


def assert_same(matcher: EvidenceMatcher, words: set[str]) -> None:
    differ = [
        w
        for w in sorted(words)
        if [id(p) for p in matcher._starting_with(w)] != [id(p) for p in brute_force(matcher, w)]
    ]
    assert not differ, f"{len(differ)} words differ, e.g. {differ[:5]!r}"


def affix_variants(matcher: EvidenceMatcher) -> set[str]:
    """Words at and around every affix's edges, and words that carry several affixes."""
    prefixes = [p[1][0].values[0] for p in matcher._by_affix if p[1][0].kind == "prefix"]
    suffixes = [p[1][0].values[0] for p in matcher._by_affix if p[1][0].kind == "suffix"]
    words: set[str] = set(matcher._by_word)
    for v in prefixes + suffixes:
        words |= {v, v[:-1], v[1:], v + "x", "x" + v, v + v, "x" + v + "x", v.upper()}
    words |= {p + s for p in prefixes for s in suffixes}
    words |= {s + p for p in prefixes for s in suffixes}
    words |= {w + s for w in matcher._by_word for s in suffixes}
    return words


def mail_words(matcher: EvidenceMatcher) -> set[str]:
    paths = sorted(ROOT.glob("eval/*/*.eml")) + sorted((SHARED / "examples").glob("*.eml"))
    if not paths:
        pytest.skip("no example mails")
    words: set[str] = set()
    for path in paths:
        raw = path.read_bytes()
        mail = parse_message(raw)
        for text in (mail.subject, mail.text, raw.decode("utf-8", "replace")):
            words.update(matcher.tokens(text)[1].words)
    return words


def test_index_matches_brute_force_on_mail_and_tricky_words(clf: Classifier) -> None:
    matcher = clf._pipes.matcher
    assert matcher._by_affix, "no affix patterns: nothing is tested"
    words = mail_words(matcher) | affix_variants(matcher) | set(TRICKY)
    assert_same(matcher, words)


def test_index_keeps_reading_order_of_overlapping_affixes() -> None:
    """Patterns written so that one word fits many of them, prefixes and suffixes
    interleaved, affixes shared, nested and of equal length."""
    rng = random.Random(7)
    stems = ["a", "ab", "abc", "ä", "äb", "ß", "x|y", "-", "ab-", "bc", "c", "größ", "straße"]
    phrases: dict[str, list[str]] = {}
    for n in range(400):
        stem = rng.choice(stems) + rng.choice(["", "", *stems])
        shape = rng.choice(["{}*", "*{}", "{}* ~ fehler", "*{} ~~ nicht", "{}|{}x", "{}"])
        phrases.setdefault(f"L{n % 5}", []).append(shape.format(stem, stem))
    matcher = EvidenceMatcher(_tokenizer_only("de"), phrases)
    assert len(matcher._by_affix) > 100
    alphabet = ["a", "b", "c", "ä", "ß", "-", "|", "x", "y", "straße", "größ"]
    words = {"".join(rng.choices(alphabet, k=rng.randint(0, 8))) for _ in range(20_000)}
    assert_same(matcher, words | affix_variants(matcher) | set(TRICKY))
    # The order is what is under test here: many words must fit several affixes.
    several = [w for w in words if sum(p[1][0].fits(w) for p in matcher._by_affix) > 2]
    assert len(several) > 1000
