"""spaCy tokenizers and the evidence matcher, built once per process.

Only the tokenizer runs (``nlp.make_doc``): evidence is matched on lower-case
token text, so no lemmatizer or tagger is loaded (the German lemma table alone
took 1.5 s to read). Per mail, all work on tokens goes through arrays that
spaCy fills in C (``Doc.to_array``); no ``Token`` object is created, because
creating ~300 of them per mail cost more than everything else together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spacy
from spacy.attrs import IDX, LOWER
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc

__all__ = ["Match", "Pipelines", "Tokens", "default_models_dir", "load_pipelines"]

#: (label, first token, end token exclusive)
Match = tuple[str, int, int]


def default_models_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "models"


@dataclass(frozen=True)
class _Spec:
    """One token of a pattern: exact word(s), a prefix, a suffix, or a gap."""

    kind: str  # "word" | "prefix" | "suffix" | "gap" | "clause"
    values: tuple[str, ...]

    def fits(self, token: str) -> bool:
        if self.kind == "word":
            return token in self.values
        if self.kind == "prefix":
            return token.startswith(self.values[0])
        return token.endswith(self.values[0])


def _is_wild(word: str) -> bool:
    return word in ("~", "~~") or "|" in word or (len(word) > 1 and "*" in (word[0], word[-1]))


def _spec(word: str) -> _Spec:
    if word == "~":
        return _Spec("gap", ())
    if word == "~~":
        return _Spec("clause", ())
    if len(word) > 1 and word.startswith("*"):
        return _Spec("suffix", (word[1:],))
    if len(word) > 1 and word.endswith("*"):
        return _Spec("prefix", (word[:-1],))
    return _Spec("word", tuple(word.split("|")))


@dataclass(frozen=True)
class Tokens:
    """One tokenised text: lower-case hashes and char offsets, as plain lists."""

    text: str
    lower: list[int]
    idx: list[int]
    #: lower-case token texts
    words: list[str]

    def __len__(self) -> int:
        return len(self.lower)

    def word(self, i: int) -> str:
        return self.words[i]

    def span_text(self, start: int, end: int) -> str:
        stop = self.idx[end] if end < len(self.idx) else len(self.text)
        return self.text[self.idx[start] : stop].strip()


_Pattern = tuple[str, tuple[_Spec, ...]]
_CLAUSE_END = frozenset([",", ";", ":", ".", "!", "?", "\n", "aber", "but", "und", "and"])


class EvidenceMatcher:
    """Plain phrases of all labels go into one PhraseMatcher (match id = label).

    Phrases with wildcards or gaps are indexed by what their first token can be;
    which of them may start at a given token is computed once per distinct token
    and cached, so a mail costs one dict lookup per token. A token not seen before
    costs a few lookups per character (its prefixes and suffixes), not one test per
    affix pattern: a backlog of new mail brings thousands of new words.
    """

    def __init__(self, nlp: Language, patterns: dict[str, list[str]]) -> None:
        self._nlp = nlp
        self._strings = nlp.vocab.strings
        self._phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        self._by_word: dict[str, list[_Pattern]] = {}
        self._by_affix: list[_Pattern] = []
        self._starts: dict[int, tuple[_Pattern, ...]] = {}
        self._words: dict[int, str] = {}
        for label, phrases in patterns.items():
            plain: list[Doc] = []
            for phrase in phrases:
                words = phrase.lower().split()
                if not any(_is_wild(w) for w in words):
                    plain.append(nlp.make_doc(phrase.lower()))
                    continue
                specs = tuple(_spec(w) for w in self._split_words(words))
                if specs[0].kind == "word":
                    for value in specs[0].values:
                        self._by_word.setdefault(value, []).append((label, specs))
                else:
                    self._by_affix.append((label, specs))
            if plain:
                self._phrases.add(label, plain)
        # Positions in _by_affix, keyed by the affix: candidates keep _by_affix order.
        self._by_prefix: dict[str, list[int]] = {}
        self._by_suffix: dict[str, list[int]] = {}
        # Anything the two tables cannot answer is tested one by one, as before.
        self._unindexed: list[int] = []
        for position, (_, specs) in enumerate(self._by_affix):
            first = specs[0]
            table = {"prefix": self._by_prefix, "suffix": self._by_suffix}.get(first.kind)
            if table is None or not first.values or not first.values[0]:
                self._unindexed.append(position)
            else:
                table.setdefault(first.values[0], []).append(position)
        # Only lengths some affix has are worth slicing a word at.
        self._prefix_lengths = sorted({len(k) for k in self._by_prefix})
        self._suffix_lengths = sorted({len(k) for k in self._by_suffix})

    def _split_words(self, words: list[str]) -> list[str]:
        """Plain words of a wildcard pattern are tokenised like the text ("won't" -> 2)."""
        out: list[str] = []
        for w in words:
            out.extend([w] if _is_wild(w) else [t.text for t in self._nlp.make_doc(w)])
        return out

    def tokens(self, text: str) -> tuple[Doc, Tokens]:
        doc = self._nlp.make_doc(text)
        arr = doc.to_array([LOWER, IDX]).tolist() if len(doc) else []
        lower = [r[0] for r in arr]
        # A dict of the hashes seen so far is ~5x cheaper than the StringStore per token.
        cache = self._words
        words = [cache.get(h) or self._remember(h) for h in lower]
        return doc, Tokens(text, lower, [r[1] for r in arr], words)

    def _remember(self, h: int) -> str:
        word = str(self._strings[h])
        if len(self._words) < 200_000:
            self._words[h] = word
        return word

    def _candidates(self, h: int) -> tuple[_Pattern, ...]:
        found = self._starts.get(h)
        if found is None:
            found = self._starting_with(str(self._strings[h]))
            self._starts[h] = found
        return found

    def _starting_with(self, word: str) -> tuple[_Pattern, ...]:
        """The patterns whose first token fits ``word``: exact words, then affixes."""
        size = len(word)
        positions: list[int] = []
        for k in self._prefix_lengths:
            if k > size:
                break
            positions.extend(self._by_prefix.get(word[:k], ()))
        for k in self._suffix_lengths:
            if k > size:
                break
            positions.extend(self._by_suffix.get(word[-k:], ()))
        affix = self._by_affix
        positions.extend(i for i in self._unindexed if affix[i][1][0].fits(word))
        if len(positions) > 1:
            positions.sort()
        return tuple(self._by_word.get(word, ())) + tuple(affix[i] for i in positions)

    @staticmethod
    def _extend(specs: tuple[_Spec, ...], words: list[str], start: int) -> int | None:
        """End (exclusive) of the shortest match of specs at start, or None."""
        n = len(words)
        if len(specs) == 3 and specs[1].kind in ("gap", "clause") and specs[2].kind != "gap":
            # The common shape "geht ~ nicht", without recursion.
            last, clause = specs[2], specs[1].kind == "clause"
            for j in range(start + 1, min(n, start + (11 if clause else 6))):
                if last.fits(words[j]):
                    return j + 1
                if clause and words[j] in _CLAUSE_END:
                    return None
            return None

        def walk(k: int, i: int) -> int | None:
            if k == len(specs):
                return i
            spec = specs[k]
            if spec.kind in ("gap", "clause"):
                # "~~" spans the German middle field ("lädt mein Notebook an der
                # Dockingstation nicht"), but not past a comma into the next clause.
                for skip in range(5 if spec.kind == "gap" else 10):
                    if (
                        skip
                        and spec.kind == "clause"
                        and (i + skip > n or words[i + skip - 1] in _CLAUSE_END)
                    ):
                        return None
                    end = walk(k + 1, i + skip)
                    if end is not None:
                        return end
                return None
            if i < n and spec.fits(words[i]):
                return walk(k + 1, i + 1)
            return None

        return walk(1, start + 1)

    def __call__(self, doc: Doc, toks: Tokens) -> list[Match]:
        strings = self._strings
        found: list[Match] = [(strings[m], s, e) for m, s, e in self._phrases(doc)]
        candidates = self._candidates
        for i, h in enumerate(toks.lower):
            for label, specs in candidates(h):
                end = self._extend(specs, toks.words, i)
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
    matcher: EvidenceMatcher


def _tokenizer_only(lang: str) -> Language:
    """A blank pipeline whose tokenizer keeps its cache for the whole mail.

    spaCy stops caching the tokens of a text once one special case occurred in it
    (spaCy #1250), and "\n" is a special case, so every mail with a line break was
    tokenised from scratch at ~14 us a token. Without special cases, abbreviations
    such as "z.B." split off their final ".", which the sentence splitter
    (``_evidence``) knows, and "won't" stays one token, as patterns are written.
    """
    nlp = spacy.blank(lang)
    tokenizer = nlp.tokenizer
    assert isinstance(tokenizer, Tokenizer)
    tokenizer.rules = {}
    # Evidence is matched on LOWER alone. A word spaCy has not seen gets a lexeme
    # whose every attribute (shape, norm, like_num, is_stop, ... 23 of them) is
    # computed in Python; a backlog brings thousands of new words, and those
    # attributes were never read.
    vocab: Any = nlp.vocab  # spaCy's type stubs leave this attribute out
    vocab.lex_attr_getters = {LOWER: vocab.lex_attr_getters[LOWER]}
    return nlp


def load_pipelines(models_dir: Path) -> Pipelines:
    """One tokenizer for both languages: without special cases the German and English
    rules differ only in rare punctuation, customers mix the languages in one mail,
    and a second pipeline would cost load time and memory for nothing."""
    return Pipelines(matcher=EvidenceMatcher(_tokenizer_only("de"), read_patterns(models_dir)))
