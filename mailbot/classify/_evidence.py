"""Turn subject and new text into evidence: which pattern labels hold in which sentence.

Evidence is kept per sentence because triage is about what belongs together:
"alle" in "alle Scanner sind wieder drin" is not the scope of an outage in the
next line. Matches that cross a sentence boundary are dropped for the same reason.
Sentences are cut on the token list (cheap): after . ! ? ; and at line breaks,
except where a line was only wrapped (a word, a break, a lower-case word).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

from mailbot.classify._clauses import CLAUSE_BOUND, Clauses, split_clauses
from mailbot.classify._nlp import Match, Pipelines, Tokens

__all__ = ["Evidence", "SentenceEvidence", "gather", "is_reply_subject"]

_QUOTED = re.compile(r"\"[^\"\n]{0,200}\"|„[^“\n]{0,200}[“\"]|»[^«\n]{0,200}«|“[^”\n]{0,200}”")
_REPLY_SUBJECT = re.compile(r"^\s*((re|aw|wg|fw|fwd|antw|antwort|wtr)\s*(\[\d+\])?\s*:\s*)+", re.I)
_END_CHARS = frozenset(".!?;…")
_CANDIDATE = re.compile(r"[.!?;…\n]")
# Tokens after which "." ends an abbreviation, not a sentence (the tokenizer runs
# without special cases, see ``_nlp``). Single letters cover "z. B.", "i. A.", "e.g".
_ABBREVIATIONS = frozenset(
    [
        "bzw",
        "ca",
        "dr",
        "nr",
        "tel",
        "str",
        "std",
        "min",
        "max",
        "inkl",
        "ggf",
        "evtl",
        "usw",
        "etc",
        "vgl",
        "bspw",
        "sog",
        "abt",
        "geb",
        "hr",
        "fr",
        "mo",
        "di",
        "mi",
        "do",
        "sa",
        "so",
        "jan",
        "feb",
        "mär",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "okt",
        "nov",
        "dez",
        "mr",
        "mrs",
        "ms",
        "vs",
        "approx",
        "dept",
        "e.g",
        "i.e",
        "z.b",
        "u.a",
        "d.h",
        "o.g",
        "i.a",
        "ext",
        "durchw",
    ]
)

# A match of the first label inside a match of the second does not count.
_SHADOWED_BY: dict[str, tuple[str, ...]] = {
    "URGENT": ("NOT_URGENT",),
    # "I can't find the note", "ich kann am Donnerstag nicht kommen": a person's
    # "can't" or "nicht", not a thing that fails.
    "OUTAGE": ("NEGATION", "RESOLVED", "NOT_FAULT"),
    "MALFUNCTION": ("NEGATION", "RESOLVED", "NOT_FAULT"),
    "SCOPE_ALL": ("NEGATION", "SCOPE_ONE", "RESOLVED", "CONTRAST", "PRESENCE"),
    # "nobody else is in yet", "ich bin als Erster im Büro", "I told the others not to
    # switch on": who is at the office, not who is affected.
    "SCOPE_NONE": ("PRESENCE",),
    "CONTRAST": ("PRESENCE",),
    "SECURITY": ("NEGATION",),
    "DEGRADATION": ("RESOLVED",),
    # "kein Totalausfall, aber ...", "not a total outage"
    "WIDE": ("NEGATION",),
    # "the staff are back on Monday" is a person's return, not a system's; "geht wieder
    # nicht", "seitdem geht an keinem Platz das Netz" are no recovery.
    "RESOLVED": ("NOT_FAULT", "OUTAGE"),
}
# Words inside quotation marks are an error message or a subject line the customer
# cites ("rufen Sie sofort den Support an", "Ihre Sendung konnte nicht zugestellt
# werden"), not the customer's own urgency or an automated mail.
# A server or system named in a quoted error message ("Verbindung zum Server
# fehlgeschlagen" on a copier, "the connection to the server failed" on one iPhone) is
# what the device says it cannot reach, not the system that is down.
_NOT_IN_QUOTES = frozenset(("URGENT", "AUTOMATED", "SECURITY_SEVERE", "CENTRAL"))


@dataclass
class SentenceEvidence:
    text: str
    start: int
    end: int
    is_subject: bool = False
    hits: dict[str, list[str]] = field(default_factory=dict)
    #: a sentence whose clauses differ in negation, past, what-if or reported speech:
    #: its units, split where the clauses differ (``_clauses``); empty when it is one
    parts: tuple[SentenceEvidence, ...] = ()
    #: the number of the sentence a unit belongs to (its parts share it)
    sentence: int = 0

    def has(self, *labels: str) -> bool:
        return not self.hits.keys().isdisjoint(labels)

    def first(self, label: str) -> str:
        found = self.hits.get(label)
        return found[0] if found else ""


@dataclass(frozen=True)
class Evidence:
    #: whole sentences: what a mail plans, asks or settles is read from these
    sentences: tuple[SentenceEvidence, ...]

    def any(self, *labels: str) -> bool:
        return any(s.has(*labels) for s in self.sentences)

    @property
    def units(self) -> tuple[SentenceEvidence, ...]:
        """The sentences with each split sentence replaced by its parts: failures are
        judged on these, so a modifier holds only in the clause it stands in."""
        return tuple(u for s in self.sentences for u in (s.parts or (s,)))


def is_reply_subject(subject: str) -> bool:
    return _REPLY_SUBJECT.match(subject) is not None


def _cut_after(toks: Tokens, i: int, subject_end: int) -> bool:
    text, idx, n = toks.text, toks.idx, len(toks)
    first = text[idx[i]]
    if first in _END_CHARS:
        word = toks.word(i)
        if not all(c in _END_CHARS for c in word):
            return False
        if i > 0 and word == ".":
            prev = toks.word(i - 1)
            return not (len(prev) == 1 and prev.isalpha()) and prev not in _ABBREVIATIONS
        return True
    if first.isspace() and "\n" in toks.word(i):
        # A wrapped line: a word before the break and a lower-case word after it.
        if 0 < i < n - 1 and idx[i] > subject_end:
            return not (text[idx[i - 1]].isalnum() and text[idx[i + 1]].islower())
        return True
    return False


def _boundaries(toks: Tokens, subject_end: int) -> list[tuple[int, int]]:
    """Token ranges of the sentences. Only tokens at a punctuation mark or a line
    break are looked at (found by one regex pass), not every token."""
    idx, n = toks.idx, len(toks)
    candidates = {bisect_right(idx, m.start()) - 1 for m in _CANDIDATE.finditer(toks.text)}
    cuts = {i for i in candidates if i >= 0 and _cut_after(toks, i, subject_end)}
    if subject_end > 0:
        last_of_subject = bisect_right(idx, subject_end - 1) - 1
        if last_of_subject >= 0:
            cuts.add(last_of_subject)
    spans: list[tuple[int, int]] = []
    start = 0
    for i in sorted(cuts):
        if i + 1 > start:
            spans.append((start, i + 1))
        start = i + 1
    if start < n:
        spans.append((start, n))
    return spans


def _only_match(quote: str, match: str) -> bool:
    return quote.strip('"„“”»« ').strip(".") == match.strip(".") or quote[1:-1].strip() == match


def _shadowed(label: str, s: int, e: int, by_label: dict[str, list[tuple[int, int]]]) -> bool:
    return any(
        x <= s and e <= y
        for other in _SHADOWED_BY.get(label, ())
        for x, y in by_label.get(other, ())
    )


def gather(pipes: Pipelines, subject: str, text: str) -> Evidence:
    """Evidence of the subject (first sentence, marked) and of the new text."""
    subject = " ".join(subject.split())
    combined = f"{subject}\n{text}".replace("’", "'").replace("`", "'")
    subject_end = len(subject) if subject else -1
    matcher = pipes.matcher
    doc, toks = matcher.tokens(combined)
    if not len(toks):
        return Evidence(())
    spans = _boundaries(toks, subject_end)
    sent_of: list[int] = []
    for k, (a, b) in enumerate(spans):
        sent_of.extend([k] * (b - a))
    ids = Clauses(toks)
    matches: list[Match] = [
        m
        for m in matcher(doc, toks)
        if sent_of[m[1]] == sent_of[m[2] - 1]
        and not (m[0] in CLAUSE_BOUND and m[2] - m[1] > 1 and ids[m[1]] != ids[m[2] - 1])
    ]
    by_label: dict[str, list[tuple[int, int]]] = {}
    for label, s, e in matches:
        by_label.setdefault(label, []).append((s, e))
    quoted: list[tuple[int, int]] = []
    if any(label in _NOT_IN_QUOTES for label in by_label):
        quoted = [m.span() for m in _QUOTED.finditer(combined)]
    kept: list[list[Match]] = [[] for _ in spans]
    for label, s, e in sorted(matches, key=lambda m: m[1]):
        if label in _SHADOWED_BY and _shadowed(label, s, e, by_label):
            continue
        if quoted and label in _NOT_IN_QUOTES:
            a, z = toks.idx[s], toks.idx[e - 1] + len(toks.word(e - 1))
            # A cited message does not count, but a quoted name that is the match
            # itself does: files ending in ".crypt", a note "README_RESTORE.txt".
            if any(x <= a < y and not _only_match(combined[x:y], combined[a:z]) for x, y in quoted):
                continue
        kept[sent_of[s]].append((label, s, e))
    sentences = [
        _sentence(toks, combined, subject_end, (a, b, k), kept[k], ids)
        for k, (a, b) in enumerate(spans)
    ]
    return Evidence(tuple(sentences))


def _unit(
    toks: Tokens, combined: str, subject_end: int, at: tuple[int, int, int], found: list[Match]
) -> SentenceEvidence:
    first, end, number = at
    start = toks.idx[first]
    stop = toks.idx[end] if end < len(toks) else len(combined)
    unit = SentenceEvidence(
        combined[start:stop], start, stop, is_subject=start < subject_end, sentence=number
    )
    for label, s, e in found:
        unit.hits.setdefault(label, []).append(toks.span_text(s, e))
    return unit


def _sentence(
    toks: Tokens,
    combined: str,
    subject_end: int,
    at: tuple[int, int, int],
    found: list[Match],
    ids: Clauses,
) -> SentenceEvidence:
    """One sentence's evidence, with its parts where its clauses differ in a modifier."""
    whole = _unit(toks, combined, subject_end, at, found)
    a, b, number = at
    units = split_clauses(toks, a, b, found, ids)
    if len(units) == 1:
        return whole
    parts = []
    for first, end, matched, inherited in units:
        part = _unit(toks, combined, subject_end, (first, end, number), matched)
        for label, words in inherited.items():
            part.hits.setdefault(label, []).append(words)
        parts.append(part)
    whole.parts = tuple(parts)
    return whole
