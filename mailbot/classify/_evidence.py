"""Turn subject and new text into evidence: which pattern labels hold in which sentence.

Evidence is kept per sentence because triage is about what belongs together:
"alle" in "alle Scanner sind wieder drin" is not the scope of an outage in the
next line. Matches that cross a sentence boundary are dropped for the same reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailbot.classify._nlp import Pipelines

__all__ = ["Evidence", "SentenceEvidence", "gather", "is_reply_subject"]

_SPLIT = re.compile(r"(?<!\d)(?<!\b[a-zA-Z])[.!?;]+(?=\s)|\n\s*")
_QUOTED = re.compile(r"\"[^\"\n]{0,200}\"|„[^“\n]{0,200}“|»[^«\n]{0,200}«|“[^”\n]{0,200}”")
_REPLY_SUBJECT = re.compile(r"^\s*((re|aw|wg|fw|fwd|antw|antwort|wtr)\s*(\[\d+\])?\s*:\s*)+", re.I)

# A match of the first label inside a match of the second does not count.
_SHADOWED_BY: dict[str, tuple[str, ...]] = {
    "URGENT": ("NOT_URGENT",),
    "OUTAGE": ("NEGATION", "RESOLVED"),
    "SCOPE_ALL": ("NEGATION",),
    "SECURITY": ("NEGATION",),
}


@dataclass
class SentenceEvidence:
    text: str
    start: int
    end: int
    is_subject: bool = False
    hits: dict[str, list[str]] = field(default_factory=dict)

    def has(self, *labels: str) -> bool:
        return any(label in self.hits for label in labels)

    def first(self, label: str) -> str:
        found = self.hits.get(label)
        return found[0] if found else ""


@dataclass(frozen=True)
class Evidence:
    sentences: tuple[SentenceEvidence, ...]

    def any(self, *labels: str) -> bool:
        return any(s.has(*labels) for s in self.sentences)


def is_reply_subject(subject: str) -> bool:
    return _REPLY_SUBJECT.match(subject) is not None


def _sentence_spans(text: str, subject_end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SPLIT.finditer(text):
        end = m.end()
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans or [(0, len(text))]


def _find(sentences: list[SentenceEvidence], pos: int) -> SentenceEvidence | None:
    lo, hi = 0, len(sentences) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        sent = sentences[mid]
        if pos < sent.start:
            hi = mid - 1
        elif pos >= sent.end:
            lo = mid + 1
        else:
            return sent
    return None


def gather(pipes: Pipelines, lang: str, subject: str, text: str) -> Evidence:
    """Evidence of the subject (first sentence, marked) and of the new text."""
    subject = " ".join(subject.split())
    combined = f"{subject}\n{text}".replace("’", "'").replace("`", "'")
    subject_end = len(subject)
    spans = _sentence_spans(combined, subject_end)
    sentences = [
        SentenceEvidence(combined[a:b], a, b, is_subject=a < subject_end and subject_end > 0)
        for a, b in spans
    ]
    quoted = [m.span() for m in _QUOTED.finditer(combined)]
    # Tokenizer only: the evidence is matched on token text, lemmas are not needed here.
    doc = pipes.nlp[lang].make_doc(combined)
    # Keep only matches inside one sentence, each with its sentence.
    placed: list[tuple[str, int, int, SentenceEvidence]] = []
    for label_name, s, e in pipes.matchers[lang](doc):
        a, b = doc[s].idx, doc[e - 1].idx + len(doc[e - 1])
        sent = _find(sentences, a)
        if sent is not None and b <= sent.end:
            placed.append((label_name, a, b, sent))
    by_label: dict[str, list[tuple[int, int]]] = {}
    for label, a, b, _ in placed:
        by_label.setdefault(label, []).append((a, b))
    for label, a, b, sent in sorted(placed, key=lambda r: r[1]):
        if any(
            x <= a and b <= y
            for other in _SHADOWED_BY.get(label, ())
            for x, y in by_label.get(other, [])
        ):
            continue
        # Words inside quotation marks are an error message or a subject line the
        # customer cites ("rufen Sie sofort den Support an"), not the customer's urgency.
        if label == "URGENT" and any(x <= a and b <= y for x, y in quoted):
            continue
        sent.hits.setdefault(label, []).append(combined[a:b])
    return Evidence(tuple(sentences))
