"""The trained planned-change text classifier (``models/textcat``), a second opinion.

The rules decide; this model is asked only where they are unsure (``_decide``): an
announcement that also mentions something broken or offline, a plan cue in a question,
a mail with no evidence either way. It is a spaCy ``textcat`` over bags of words and
word pairs, trained by ``mailbot train`` (``_train``) from ``models/train``.

Loaded on first use, not with the pipelines: most mail never needs it, and a process
that only classifies clear cases should not pay its load time.
"""

from __future__ import annotations

import threading
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokenizer import Tokenizer

__all__ = [
    "LABELS",
    "PLANNED",
    "LazyPlannedModel",
    "PlannedModel",
    "blank_pipeline",
    "model_text",
]

PLANNED = "PLANNED"
OTHER = "OTHER"
LABELS = (PLANNED, OTHER)
#: Enough for subject and new text of any real request; bounds the cost of a pasted log.
_MAX_CHARS = 4000


def model_text(subject: str, text: str) -> str:
    """What the model sees, the same in training and prediction: the subject, then the
    new text, lower-cased (bag-of-words features are case-sensitive, customers are not)."""
    return f"{' '.join(subject.split())}\n{text}"[:_MAX_CHARS].lower()


def blank_pipeline() -> Language:
    """The blank German pipeline the model is trained in, with a tokenizer that keeps
    its cache for the whole mail: spaCy stops caching once a special case occurred in a
    text, and "\n" is one, so a mail's 400 tokens would each cost ~14 us (see ``_nlp``)."""
    nlp = spacy.blank("de")
    tokenizer = nlp.tokenizer
    assert isinstance(tokenizer, Tokenizer)
    tokenizer.rules = {}
    return nlp


class PlannedModel:
    """P(planned change) of a mail."""

    def __init__(self, nlp: Language) -> None:
        self._nlp = nlp
        self._textcat = nlp.get_pipe("textcat")

    @classmethod
    def load(cls, path: Path) -> PlannedModel:
        return cls(spacy.load(path))

    def score(self, subject: str, text: str) -> float:
        # Only the tokenizer and the textcat: calling the whole pipeline would run the
        # same two steps with more bookkeeping.
        doc = self._textcat(self._nlp.make_doc(model_text(subject, text)))
        return float(doc.cats.get(PLANNED, 0.0))


class LazyPlannedModel:
    """Loads the committed model the first time a mail needs it; without the
    directory there is no second opinion and the rules alone decide."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._model: PlannedModel | None = None
        self._missing = False
        self._lock = threading.Lock()

    def load(self) -> PlannedModel | None:
        """The model, loaded on first call (call it before forking: the children then
        share the parent's copy); None without the directory."""
        if self._model is None and not self._missing:
            with self._lock:
                if self._model is None and not self._missing:
                    if (self._path / "config.cfg").is_file():
                        self._model = PlannedModel.load(self._path)
                    else:
                        self._missing = True
        return self._model

    def score(self, subject: str, text: str) -> float | None:
        model = self.load()
        if model is None:
            return None
        return model.score(subject, text)
