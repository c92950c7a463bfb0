"""German or English, from function words.

Function words are the most reliable signal in short mails ("Server weg, bitte
melden" vs "server down, please call"), and nouns like "Server", "Update" or
"Laptop" are shared by both languages, so they are not counted. Ties go to
German, the language of most customers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.triage import Language

__all__ = ["LanguageGuess", "detect_language"]

_DE = frozenset(
    ["der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer", "eines", "und", "oder", "aber", "nicht", "kein", "keine", "keiner", "ist", "sind", "war", "waren", "wird", "werden", "wurde", "hat", "haben", "hatte", "ich", "wir", "sie", "er", "es", "ihr", "ihnen", "mich", "mir", "uns", "euch", "mein", "meine", "unser", "unsere", "ihre", "bei", "mit", "von", "vom", "zum", "zur", "für", "auf", "aus", "nach", "seit", "bis", "noch", "schon", "auch", "nur", "sehr", "wie", "was", "wer", "wo", "wann", "warum", "wieso", "weil", "dass", "da", "dann", "doch", "mal", "bitte", "danke", "hallo", "gruß", "grüße", "viele", "guten", "tag", "morgen", "heute", "gestern", "geht", "gehen", "läuft", "kann", "können", "könnten", "müssen", "muss", "soll", "sollte", "wäre", "würde", "gibt", "immer", "wieder", "mehr", "nichts", "alle", "allen", "jetzt", "hier", "dort", "über", "unter", "vor", "zwischen", "ganz", "gar", "sich", "im", "am", "ans", "ins", "eilt", "dringend", "frage", "sehr", "geehrte", "geehrter", "herr", "frau", "liebe", "lieber", "zusammen", "leider"]
)
_EN = frozenset(
    ["the", "a", "an", "and", "or", "but", "not", "no", "is", "are", "was", "were", "be", "been", "has", "have", "had", "i", "we", "you", "he", "she", "it", "they", "them", "my", "our", "your", "his", "her", "their", "this", "that", "these", "those", "with", "from", "for", "on", "in", "at", "to", "of", "by", "as", "if", "then", "so", "too", "very", "how", "what", "who", "where", "when", "why", "because", "can", "could", "should", "would", "will", "shall", "must", "may", "might", "do", "does", "did", "done", "please", "thanks", "thank", "hi", "hello", "dear", "regards", "cheers", "best", "kind", "again", "today", "tomorrow", "yesterday", "anymore", "any", "all", "none", "nobody", "everyone", "there", "here", "out", "off", "just", "still", "also", "only", "get", "got", "getting", "there's", "it's", "i'm", "don't", "doesn't", "can't", "won't", "isn't", "aren't", "we're", "you're", "working", "work", "works"]
)
_WORD = re.compile(r"[a-zäöüß']+")


@dataclass(frozen=True)
class LanguageGuess:
    language: Language
    de: int
    en: int


def _score(text: str) -> tuple[int, int]:
    words = _WORD.findall(text.lower())
    de = sum(1 for w in words if w in _DE)
    en = sum(1 for w in words if w in _EN)
    # Umlauts and ß are German evidence that survives one-word mails.
    de += len(re.findall(r"[äöüß]", text.lower())) // 2
    return de, en


def detect_language(text: str, subject: str = "") -> LanguageGuess:
    """The language of the new text; the subject only decides when the text says little."""
    de, en = _score(text)
    if de + en < 4:
        sde, sen = _score(subject)
        de, en = de + sde, en + sen
    lang = Language.EN if en > de else Language.DE
    return LanguageGuess(lang, de, en)
