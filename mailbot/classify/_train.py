"""``mailbot train``: build the planned-change text classifier from ``models/train``.

Reproducible by construction: the mails are read in a fixed order (file name, then
line), numpy's and Python's generators are seeded, the shuffle per epoch comes from
its own seeded generator, and no dropout is used. The model is a bag of words and word
pairs (``spacy.TextCatBOW.v3``): no vectors, nothing downloaded, trains in seconds,
and its weights are a hashed table of fixed size (``_HASH_LENGTH``) so the artifact
stays small.

Reproducible bytes also need the same versions of the packages that compute and write
the weights (``BYTE_DECIDING``, pinned by ``requirements.lock``); ``train_to`` records
them beside the model (``TRAINED_WITH``), so a retraining that differs can tell a
version change from a change of the training.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

from spacy.language import Language
from spacy.training import Example
from thinc.api import fix_random_seed

from mailbot.classify._textcat import (
    LABELS,
    OTHER,
    PLANNED,
    PlannedModel,
    blank_pipeline,
    model_text,
)
from mailbot.sla import SlaSettings

__all__ = [
    "BYTE_DECIDING",
    "FOLDED_IN",
    "TRAINED_WITH",
    "CrossValidation",
    "LabelledMail",
    "Scores",
    "build_textcat",
    "cross_validate",
    "installed_versions",
    "read_training_set",
    "recorded_versions",
    "train_to",
    "version_drift",
    "with_extra",
]

SEED = 0
EPOCHS = 12
BATCH = 8
#: 2^15 hashed n-gram slots x 2 labels: ~260 KB of weights; the training set has far
#: fewer distinct unigrams and bigrams than slots, so collisions are rare.
_HASH_LENGTH = 2**15
_MODEL_CONFIG = {
    "model": {
        "@architectures": "spacy.TextCatBOW.v3",
        "exclusive_classes": True,
        "ngram_size": 2,
        "no_output_layer": False,
        "length": _HASH_LENGTH,
    }
}
#: The packages whose versions decide the model's bytes: spaCy and thinc (architecture,
#: initialisation, optimiser, serialisation; meta.json names spaCy's version), numpy and
#: blis (the arithmetic), murmurhash (which hash slot an n-gram lands in), srsly (the
#: msgpack of the weights), confection (the text of config.cfg), spacy-lookups-data
#: (tables a blank pipeline may load into the vocab).
BYTE_DECIDING = (
    "spacy",
    "thinc",
    "numpy",
    "blis",
    "murmurhash",
    "srsly",
    "confection",
    "spacy-lookups-data",
)
#: The record of those versions (and Python's), inside the model's folder.
TRAINED_WITH = "trained_with.json"
#: The record of the mails a model took in beyond ``models/train`` (technicians'
#: corrections), inside its folder; absent from a model of the training set alone.
FOLDED_IN = "corrections.json"
#: A fixed message date for cross-validation (deadlines do not enter the score).
_SENT = datetime(2026, 11, 24, 9, 0, tzinfo=SlaSettings().zone)


@dataclass(frozen=True)
class LabelledMail:
    id: str
    language: str
    subject: str
    body: str
    planned: bool


def read_training_set(train_dir: Path) -> list[LabelledMail]:
    """All ``*.jsonl`` files of the folder, in name order, each in line order."""
    mails: list[LabelledMail] = []
    for path in sorted(train_dir.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row.get("planned"), bool):
                raise ValueError(f"{path}:{n}: 'planned' must be true or false")
            mails.append(
                LabelledMail(
                    str(row["id"]),
                    str(row["language"]),
                    str(row["subject"]),
                    str(row["body"]),
                    row["planned"],
                )
            )
    return mails


def _batches(order: Sequence[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(order), size):
        yield list(order[i : i + size])


def build_textcat(mails: Sequence[LabelledMail], *, seed: int = SEED) -> Language:
    """Train a fresh pipeline (blank German tokenizer + textcat) on the mails.

    One model for both languages: customers mix them in one mail, the technical words
    (server, update, laptop) are shared, and the English set alone is small. The German
    tokenizer is the one the rules use for both languages too (``_nlp``).
    """
    fix_random_seed(seed)
    nlp = blank_pipeline()
    nlp.add_pipe("textcat", config=_MODEL_CONFIG)
    examples = [
        Example.from_dict(
            nlp.make_doc(model_text(m.subject, m.body)),
            {"cats": {PLANNED: float(m.planned), OTHER: float(not m.planned)}},
        )
        for m in mails
    ]
    textcat = nlp.get_pipe("textcat")
    for label in LABELS:
        textcat.add_label(label)  # type: ignore[attr-defined]
    optimizer = nlp.initialize(lambda: examples)
    shuffle = random.Random(seed)
    order = list(range(len(examples)))
    for _ in range(EPOCHS):
        shuffle.shuffle(order)
        for batch in _batches(order, BATCH):
            nlp.update([examples[i] for i in batch], sgd=optimizer, drop=0.0)
    return nlp


def with_extra(mails: Sequence[LabelledMail], extra: Sequence[LabelledMail]) -> list[LabelledMail]:
    """The training set, then the extra mails whose id it does not hold yet (a
    correction reviewed and added to ``models/train`` keeps its id), in their order."""
    known = {m.id for m in mails}
    return [*mails, *(m for m in extra if m.id not in known)]


def train_to(
    train_dir: Path,
    out_dir: Path,
    *,
    seed: int = SEED,
    extra: Sequence[LabelledMail] = (),
) -> int:
    """Train from ``train_dir`` (and ``extra``: technicians' corrections) and replace
    ``out_dir`` with the model; returns the number of mails. Written to a sibling
    folder first, so a failed run leaves the old model in place.

    A model with extra mails names them in ``FOLDED_IN``: it is not reproducible from
    the repository alone. Without them nothing but the training set decides the bytes.
    """
    files = read_training_set(train_dir)
    mails = with_extra(files, extra)
    if not mails:
        raise ValueError(f"no labelled mails in {train_dir}")
    nlp = build_textcat(mails, seed=seed)
    tmp = out_dir.with_name(out_dir.name + ".new")
    shutil.rmtree(tmp, ignore_errors=True)
    nlp.to_disk(tmp)
    record = json.dumps(installed_versions(), indent=2, sort_keys=True) + "\n"
    (tmp / TRAINED_WITH).write_text(record, encoding="utf-8")
    added = [m.id for m in mails[len(files) :]]
    if added:
        folded = json.dumps({"mails": len(added), "ids": added}, indent=1) + "\n"
        (tmp / FOLDED_IN).write_text(folded, encoding="utf-8")
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return len(mails)


def installed_versions() -> dict[str, str]:
    """Python's version (major.minor) and those of ``BYTE_DECIDING``, as installed."""
    found = {name: version(name) for name in BYTE_DECIDING}
    found["python"] = f"{sys.version_info.major}.{sys.version_info.minor}"
    return found


def recorded_versions(model_dir: Path) -> dict[str, str]:
    """The versions a model was trained with; empty for a model trained before the
    record existed."""
    path = model_dir / TRAINED_WITH
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(name): str(v) for name, v in data.items()}


def version_drift(recorded: dict[str, str], installed: dict[str, str]) -> list[str]:
    """One line per package whose installed version is not the one recorded."""
    return [
        f"trained with {name} {recorded.get(name, '(not recorded)')}, "
        f"installed {installed.get(name, '(not installed)')}"
        for name in sorted(recorded.keys() | installed.keys())
        if recorded.get(name) != installed.get(name)
    ]


@dataclass(frozen=True)
class Scores:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def line(self, name: str) -> str:
        return (
            f"{name:<18} P {self.precision:.3f}  R {self.recall:.3f}  F1 {self.f1:.3f}"
            f"  (tp {self.tp}, fp {self.fp}, fn {self.fn})"
        )


def _scores(pairs: Iterable[tuple[bool, bool]]) -> Scores:
    tp = fp = fn = 0
    for expected, predicted in pairs:
        tp += expected and predicted
        fp += predicted and not expected
        fn += expected and not predicted
    return Scores(tp, fp, fn)


@dataclass(frozen=True)
class CrossValidation:
    folds: int
    mails: int
    rules: Scores
    combined: Scores
    model_alone: Scores
    #: ids whose verdict the model changed, with the new verdict's correctness
    changed: tuple[tuple[str, bool], ...]

    def report(self) -> str:
        fixed = sum(1 for _, ok in self.changed if ok)
        return "\n".join(
            [
                f"planned change, {self.folds}-fold cross-validation on {self.mails} mails",
                self.rules.line("rules alone"),
                self.combined.line("rules + textcat"),
                self.model_alone.line("textcat alone"),
                f"verdicts changed by the model: {len(self.changed)}"
                f" ({fixed} fixed, {len(self.changed) - fixed} broken)",
            ]
        )


def cross_validate(
    train_dir: Path,
    models_dir: Path,
    *,
    folds: int = 5,
    extra: Sequence[LabelledMail] = (),
) -> CrossValidation:
    """Mail i is held out in fold i % folds; each fold's model never saw its mails.
    ``extra`` (technicians' corrections) joins the set after the training files."""
    from mailbot.classify._classifier import Classifier

    mails = with_extra(read_training_set(train_dir), extra)
    rules = Classifier.load(models_dir).with_planned_model(None)
    rule_pairs, combined_pairs, model_pairs = [], [], []
    changed: list[tuple[str, bool]] = []
    for fold in range(folds):
        held = [m for i, m in enumerate(mails) if i % folds == fold]
        model = PlannedModel(build_textcat([m for i, m in enumerate(mails) if i % folds != fold]))
        both = rules.with_planned_model(model)
        for m in held:
            alone = rules.classify(m.subject, m.body, _SENT).planned_change
            with_model = both.classify(m.subject, m.body, _SENT).planned_change
            rule_pairs.append((m.planned, alone))
            combined_pairs.append((m.planned, with_model))
            model_pairs.append((m.planned, model.score(m.subject, m.body) >= 0.5))
            if alone != with_model:
                changed.append((m.id, with_model == m.planned))
    return CrossValidation(
        folds,
        len(mails),
        _scores(rule_pairs),
        _scores(combined_pairs),
        _scores(model_pairs),
        tuple(changed),
    )
