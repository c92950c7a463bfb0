"""Clauses: the scope of negation, what-ifs, the past and reported speech.

A sentence's evidence is one unit for the decision (``_decide``), but a modifier holds
only in the clause it stands in: "der Server lief gestern noch, heute ist er weg" is
no past incident, "falls der Drucker morgen streikt, rufe ich an" says nothing of the
screen in the next clause, "kein Notfall, aber der Drucker druckt nicht" negates no
fault. Clauses are cut on punctuation (, ; : and a dash between words) and on a few
conjunctions ("but", "obwohl"). A sentence whose clauses agree about the modifiers
stays one unit; one whose clauses disagree is split into units where they do.

Two modifiers reach past their clause: a conditional that opens a sentence ("falls
der Server ausfällt, kann keiner arbeiten": the consequence is hypothetical too), and
a reporting verb in a clause without content of its own ("Frau Meier meinte, der
Server sei weg": what follows is what she said).
"""

from __future__ import annotations

import re
from bisect import bisect_right

from mailbot.classify._nlp import Match, Tokens

__all__ = ["CLAUSE_BOUND", "SCOPED", "Clauses", "split_clauses"]

#: labels that make a clause no current failure, scoped to their clause
SCOPED = frozenset({"NEGATION", "HYPOTHETICAL", "PAST", "REPORTED", "REPORTING", "FUTURE"})
#: labels that say nothing of what a clause is about: a clause with only these has no
#: content of its own (the customer's urgency counts for the whole mail anyway)
_NEUTRAL = SCOPED | {"NOW", "URGENT", "NOT_URGENT", "QUESTION", "THANKS"}
#: modifiers that hold for the next clause too when they open a sentence, or stand in
#: a clause of their own
_REACHING = frozenset({"HYPOTHETICAL", "REPORTING"})
#: a match of these labels that runs over a clause boundary joins two clauses' words
#: ("eilt bitte, ich komme nicht an" is no "eilt nicht", "kein Notfall, alles läuft"
#: no outage) and does not count
CLAUSE_BOUND = frozenset({"NOT_URGENT", "URGENT", "NEGATION", "OUTAGE"})
_CUT_AFTER = frozenset({",", ";", ":", "–", "—", "-", "--"})
_CUT_BEFORE = frozenset({"but", "although", "though", "whereas", "however", "sondern", "obwohl"})

#: (first token, end token exclusive, its matches, labels it inherits with their words)
Unit = tuple[int, int, list[Match], dict[str, str]]


def _spaced(toks: Tokens, i: int) -> bool:
    """A dash standing between words ("Server weg - keiner kommt"), not inside one."""
    text, at = toks.text, toks.idx[i]
    return 0 < at < len(text) - 1 and text[at - 1].isspace() and text[at + 1].isspace()


_CUT = re.compile(
    r"[,;:–—]|(?<=\s)--?(?=\s)|\b(?:but|although|though|whereas|however|sondern|obwohl)\b",
    re.IGNORECASE,
)


class Clauses:
    """The clause number of every token, from the tokens where a clause starts. Found by
    one pass of a regular expression over the text, not by a look at every token: most
    tokens are no cut, and the classifier's time goes per token."""

    def __init__(self, toks: Tokens) -> None:
        starts: list[int] = []
        idx, words = toks.idx, toks.words
        for m in _CUT.finditer(toks.text):
            i = bisect_right(idx, m.start()) - 1
            if i < 0 or idx[i] != m.start():
                continue  # inside a token ("E-Mail", "10:30")
            word = words[i]
            if word in _CUT_BEFORE:
                starts.append(i)
            elif word in _CUT_AFTER and (word not in ("-", "--") or _spaced(toks, i)):
                starts.append(i + 1)
        self.starts = sorted(set(starts))

    def __getitem__(self, token: int) -> int:
        return bisect_right(self.starts, token)

    def within(self, a: int, b: int) -> list[int]:
        """The first tokens of the clauses of tokens a..b, a first."""
        return [a, *(s for s in self.starts[bisect_right(self.starts, a) :] if s < b)]


def split_clauses(
    toks: Tokens, a: int, b: int, matches: list[Match], ids: Clauses
) -> list[Unit]:
    """The units of the sentence of tokens a..b: the whole sentence, or its clauses
    grouped where they agree about the scoped modifiers."""
    whole: list[Unit] = [(a, b, matches, {})]
    if ids[a] == ids[b - 1] or not any(label in SCOPED for label, _, _ in matches):
        return whole
    base = ids[a]
    n = ids[b - 1] - base + 1
    per_clause: list[list[Match]] = [[] for _ in range(n)]
    mods: list[dict[str, str]] = [{} for _ in range(n)]
    content = [False] * n
    opens: list[set[str]] = [set() for _ in range(n)]
    starts = ids.within(a, b)
    assert len(starts) == n
    for m in matches:
        label, s, e = m
        first, last = ids[s] - base, ids[e - 1] - base
        per_clause[first].append(m)
        if label in SCOPED:
            for k in range(first, last + 1):
                mods[k].setdefault(label, toks.span_text(s, e))
            if s <= starts[first] + 1:
                opens[first].add(label)
        elif label not in _NEUTRAL:
            content[first] = True
    for k in range(n):
        # "seit gestern", "since last week": a past that lasts until now
        if "PAST" in mods[k] and any(lb == "NOW" for lb, _, _ in per_clause[k]):
            del mods[k]["PAST"]
    inherited = _reach(mods, opens, content)
    # "kein Ausfall im Büro, aber mein Drucker zieht kein Papier ein": a modifier in a
    # clause of its own holds for none of the others
    if len({frozenset(mods[k]) for k in range(n) if content[k] or mods[k]}) <= 1:
        return whole
    return _group(starts, b, per_clause, mods, content, inherited)


def _reach(
    mods: list[dict[str, str]], opens: list[set[str]], content: list[bool]
) -> list[dict[str, str]]:
    """A conditional opening the sentence, and a reporting clause without content of its
    own, hold for the clause after them; returns what each clause inherited."""
    inherited: list[dict[str, str]] = [{} for _ in mods]
    for k in range(len(mods) - 1):
        lead = not any(content[:k])
        reaching = {m for m in opens[k] if m in _REACHING and lead}
        if not content[k]:
            reaching |= {m for m in mods[k] if m in _REACHING}
        for label in reaching:
            if label not in mods[k + 1]:
                mods[k + 1][label] = inherited[k + 1][label] = mods[k][label]
    return inherited


def _group(
    starts: list[int],
    b: int,
    per_clause: list[list[Match]],
    mods: list[dict[str, str]],
    content: list[bool],
    inherited: list[dict[str, str]],
) -> list[Unit]:
    """Consecutive clauses with the same modifiers form a unit; a clause with neither
    content nor modifiers joins the unit before it."""
    units: list[Unit] = []
    group: frozenset[str] | None = None
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else b
        own = frozenset(mods[k])
        plain = not content[k] and not own
        if units and (plain or group is None or own == group):
            first, _, found, extra = units[-1]
            units[-1] = (first, end, found + per_clause[k], {**extra, **inherited[k]})
            if group is None and not plain:
                group = own
            continue
        units.append((start, end, list(per_clause[k]), dict(inherited[k])))
        group = None if plain else own
    return units
