"""spaCy pipelines and the evidence matchers, built once per process.

Both pipelines are blank (tokenizer only) plus a lookup lemmatizer fed from
spacy-lookups-data; nothing is downloaded. spaCy's own lookup lemmatizer
hashes all 355,000 German forms into a Table on start (about 1.5 s), which
alone would break the load budget, so the same table is read as a plain dict
and applied by a small component.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language
from spacy.matcher import Matcher
from spacy.tokens import Doc

__all__ = ["Pipelines", "default_models_dir", "load_pipelines"]

_GAP = {"OP": "{0,4}"}


def default_models_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "models"


def _lookup_table(lang: str) -> dict[str, str]:
    data = resources.files("spacy_lookups_data") / "data" / f"{lang}_lemma_lookup.json.gz"
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        table: dict[str, str] = json.load(fh)
    return table


class LookupLemmatizer:
    """Sets token.lemma_ from a form -> lemma dict (spacy-lookups-data)."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    def __call__(self, doc: Doc) -> Doc:
        table = self.table
        for token in doc:
            text = token.text
            token.lemma_ = table.get(text) or table.get(text.lower()) or text
        return doc


@Language.factory("mailbot_lookup_lemmatizer", default_config={"lang": "de"})
def _make_lemmatizer(nlp: Language, name: str, lang: str) -> Callable[[Doc], Doc]:
    return LookupLemmatizer(_lookup_table(lang))


def _token_pattern(word: str) -> dict[str, Any]:
    if word == "~":
        return dict(_GAP)
    if "|" in word:
        return {"LOWER": {"IN": word.split("|")}}
    if len(word) > 1 and word.startswith("*"):
        return {"LOWER": {"REGEX": f"{_escape(word[1:])}$"}}
    if len(word) > 1 and word.endswith("*"):
        return {"LOWER": {"REGEX": f"^{_escape(word[:-1])}"}}
    return {"LOWER": word}


def _escape(text: str) -> str:
    import re

    return re.escape(text).replace(r"\*", ".*")


def _phrase_pattern(nlp: Language, phrase: str) -> list[dict[str, Any]]:
    pattern: list[dict[str, Any]] = []
    for part in phrase.lower().split():
        if part == "~" or "|" in part or part.startswith("*") or part.endswith("*"):
            pattern.append(_token_pattern(part))
        else:
            # Let the tokenizer split "n't", "e-mail?" or "fritz!box" the way it splits the text.
            pattern.extend({"LOWER": tok.text} for tok in nlp.make_doc(part))
    return pattern


def read_patterns(models_dir: Path) -> dict[str, list[str]]:
    """label -> phrases, both languages together (customers mix them)."""
    patterns: dict[str, list[str]] = {}
    for path in sorted((models_dir / "patterns").glob("*/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        patterns.setdefault(str(data["label"]), []).extend(str(p) for p in data["phrases"])
    return patterns


@dataclass(frozen=True)
class Pipelines:
    nlp: dict[str, Language]
    matchers: dict[str, Matcher]


def load_pipelines(models_dir: Path) -> Pipelines:
    patterns = read_patterns(models_dir)
    nlps: dict[str, Language] = {}
    matchers: dict[str, Matcher] = {}
    for lang in ("de", "en"):
        nlp = spacy.blank(lang)
        nlp.add_pipe("mailbot_lookup_lemmatizer", config={"lang": lang})
        matcher = Matcher(nlp.vocab)
        for label, phrases in patterns.items():
            matcher.add(label, [_phrase_pattern(nlp, p) for p in phrases])
        nlps[lang] = nlp
        matchers[lang] = matcher
    return Pipelines(nlp=nlps, matchers=matchers)
