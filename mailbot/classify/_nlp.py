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
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

__all__ = ["Pipelines", "default_models_dir", "load_pipelines"]


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


@dataclass(frozen=True)
class _Spec:
    """One token of a pattern: exact word(s), a prefix, a suffix, or a gap."""

    kind: str  # "word" | "prefix" | "suffix" | "gap"
    values: frozenset[str]


def _spec(word: str) -> _Spec:
    if word == "~":
        return _Spec("gap", frozenset())
    if len(word) > 1 and word.startswith("*"):
        return _Spec("suffix", frozenset([word[1:]]))
    if len(word) > 1 and word.endswith("*"):
        return _Spec("prefix", frozenset([word[:-1]]))
    return _Spec("word", frozenset(word.split("|")))


def _fits(spec: _Spec, token: str) -> bool:
    (value,) = spec.values if spec.kind in ("prefix", "suffix") else ("",)
    if spec.kind == "word":
        return token in spec.values
    if spec.kind == "prefix":
        return token.startswith(value)
    return token.endswith(value)


class EvidenceMatcher:
    """Plain phrases go to spaCy's PhraseMatcher (hash lookups); phrases with
    wildcards or gaps are few and are tried only where their first token fits.
    spaCy's Matcher tries every pattern at every token, which for ~1,400
    patterns cost 70 ms a mail."""

    def __init__(self, nlp: Language, patterns: dict[str, list[str]]) -> None:
        self._phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        self._by_word: dict[str, list[tuple[str, tuple[_Spec, ...]]]] = {}
        self._by_affix: list[tuple[str, tuple[_Spec, ...]]] = []
        for label, phrases in patterns.items():
            plain: list[Doc] = []
            for phrase in phrases:
                words = phrase.lower().split()
                if any(
                    w == "~" or "|" in w or (len(w) > 1 and "*" in (w[0], w[-1])) for w in words
                ):
                    specs = tuple(_spec(w) for w in self._split_words(nlp, words))
                    if specs[0].kind == "word":
                        for value in specs[0].values:
                            self._by_word.setdefault(value, []).append((label, specs))
                    else:
                        self._by_affix.append((label, specs))
                else:
                    plain.append(nlp.make_doc(phrase.lower()))
            self._phrases.add(label, plain)
        self._strings = nlp.vocab.strings
        # One regex answers "could any wildcard pattern start here?" for most tokens.
        prefixes = [next(iter(sp[0].values)) for _, sp in self._by_affix if sp[0].kind == "prefix"]
        suffixes = [next(iter(sp[0].values)) for _, sp in self._by_affix if sp[0].kind == "suffix"]
        alternatives = [f"^(?:{'|'.join(map(re.escape, prefixes))})"] if prefixes else []
        if suffixes:
            alternatives.append(f"(?:{'|'.join(map(re.escape, suffixes))})$")
        self._affix_gate = re.compile("|".join(alternatives) or "(?!)")

    @staticmethod
    def _split_words(nlp: Language, words: list[str]) -> list[str]:
        out: list[str] = []
        for w in words:
            if w == "~" or "|" in w or (len(w) > 1 and "*" in (w[0], w[-1])):
                out.append(w)
            else:
                out.extend(t.text for t in nlp.make_doc(w))
        return out

    def _extend(self, specs: tuple[_Spec, ...], lowers: list[str], start: int) -> int | None:
        """End (exclusive) of the shortest match of specs at start, or None."""

        def walk(k: int, i: int) -> int | None:
            if k == len(specs):
                return i
            spec = specs[k]
            if spec.kind == "gap":
                for skip in range(5):
                    end = walk(k + 1, i + skip)
                    if end is not None:
                        return end
                return None
            if i < len(lowers) and _fits(spec, lowers[i]):
                return walk(k + 1, i + 1)
            return None

        return walk(0, start)

    def __call__(self, doc: Doc) -> list[tuple[str, int, int]]:
        strings = self._strings
        found = [(strings[m], s, e) for m, s, e in self._phrases(doc)]
        lowers = [t.lower_ for t in doc]
        for i, low in enumerate(lowers):
            for label, specs in self._by_word.get(low, ()):
                end = self._extend(specs, lowers, i)
                if end is not None:
                    found.append((label, i, end))
            if not self._affix_gate.search(low):
                continue
            for label, specs in self._by_affix:
                if _fits(specs[0], low):
                    end = self._extend(specs, lowers, i)
                    if end is not None:
                        found.append((label, i, end))
        return found


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
    matchers: dict[str, EvidenceMatcher]


def load_pipelines(models_dir: Path) -> Pipelines:
    patterns = read_patterns(models_dir)
    nlps: dict[str, Language] = {}
    matchers: dict[str, EvidenceMatcher] = {}
    for lang in ("de", "en"):
        nlp = spacy.blank(lang)
        nlp.add_pipe("mailbot_lookup_lemmatizer", config={"lang": lang})
        nlps[lang] = nlp
        matchers[lang] = EvidenceMatcher(nlp, patterns)
    return Pipelines(nlp=nlps, matchers=matchers)
