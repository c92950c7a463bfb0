"""Apply triage.md to the evidence.

Scope decides, not vocabulary: an outage word needs a central system or an
"everyone" in the same sentence to be critical; a single device, a printer or
a slowdown is normal; resolved, negated, past and hypothetical sentences do
not count as a current failure. Urgency is the customer's word only and never
touches the priority.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.classify._evidence import Evidence, SentenceEvidence

__all__ = ["Judgement", "judge"]

_RANK = {"low": 0, "normal": 1, "critical": 2}
_OBJECTS = ("CENTRAL", "APP", "SINGLE", "PRINTER", "SCOPE_ALL")


@dataclass(frozen=True)
class Judgement:
    priority: str
    category: str
    urgency: str
    planned_change: bool
    resolved: bool
    #: (label, words) pairs, turned into sentences of the message's language by the caller
    reasons: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Finding:
    priority: str
    category: str
    reasons: tuple[tuple[str, str], ...]


def _inactive(s: SentenceEvidence) -> bool:
    """A sentence about the past, a settled matter, a negation or a what-if."""
    if s.has("RESOLVED", "NEGATION", "HYPOTHETICAL"):
        return True
    return s.has("PAST") and "seit" not in s.text.lower() and "since" not in s.text.lower()


def _judge_sentence(s: SentenceEvidence, context: list[SentenceEvidence]) -> _Finding | None:
    has_object = s.has(*_OBJECTS) or any(c.has(*_OBJECTS) for c in context)
    outage = s.has("OUTAGE") and has_object
    degraded = s.has("DEGRADATION") or (outage and s.has("INTERMITTENT"))
    single = s.has("SINGLE", "SCOPE_ONE")
    everyone = s.has("SCOPE_ALL") or any(
        c.has("SCOPE_ALL") and not c.has("SCOPE_ONE") and not _inactive(c) for c in context
    )
    central = s.has("CENTRAL")
    if s.has("SECURITY_SEVERE") and not (single and not (central or everyone)):
        return _Finding("critical", "security", (("security", s.first("SECURITY_SEVERE")),))
    if outage and not degraded:
        if everyone and not (s.has("SCOPE_ONE") and not s.has("SCOPE_ALL")):
            what = s.first("CENTRAL") or s.first("APP") or s.first("SINGLE") or s.first("OUTAGE")
            if s.has("PRINTER") and not central:
                return _Finding("normal", "printer", (("printer", s.first("PRINTER")),))
            return _Finding(
                "critical",
                "outage",
                (("outage", what), ("scope_all", s.first("SCOPE_ALL") or "alle")),
            )
        if central and not single and not s.has("PRINTER"):
            return _Finding("critical", "outage", (("outage", s.first("CENTRAL")),))
    if s.has("SECURITY") and (single or s.has("OUTAGE")):
        return _Finding("normal", "security", (("security_single", s.first("SECURITY")),))
    if outage or (degraded and has_object):
        if s.has("PRINTER"):
            return _Finding("normal", "printer", (("printer", s.first("PRINTER")),))
        if degraded and (central or everyone):
            what = s.first("CENTRAL") or s.first("APP") or s.first("SCOPE_ALL")
            return _Finding("normal", "degradation", (("degradation", what),))
        what = s.first("SINGLE") or s.first("APP") or s.first("CENTRAL") or s.first("OUTAGE")
        return _Finding("normal", "single_device", (("single", what),))
    return None


def _urgency(ev: Evidence, reply_subject: bool) -> tuple[str, tuple[str, str] | None]:
    def counted(s: SentenceEvidence) -> bool:
        return not (s.is_subject and reply_subject)

    calm = [s.first("NOT_URGENT") for s in ev.sentences if s.has("NOT_URGENT") and counted(s)]
    if calm:
        return "not_urgent", ("not_urgent", calm[0])
    rush = [s.first("URGENT") for s in ev.sentences if s.has("URGENT") and counted(s)]
    if rush:
        return "urgent", ("urgent", rush[0])
    return "none", None


def judge(ev: Evidence, *, reply_subject: bool) -> Judgement:
    body = [s for s in ev.sentences if not s.is_subject]
    subject = [s for s in ev.sentences if s.is_subject]
    failure_labels = ("OUTAGE", "DEGRADATION", "SECURITY_SEVERE", "SECURITY")
    body_says = any(s.has(*failure_labels, "RESOLVED", "QUESTION", "PLANNED") for s in body)
    # A reply subject repeats the old state ("AW: LVS geht nicht!!!"); the body is current.
    use_subject = not reply_subject or not body_says
    sentences = (subject if use_subject else []) + body
    findings: list[_Finding] = []
    for i, s in enumerate(sentences):
        if _inactive(s):
            continue
        context = sentences[max(0, i - 1) : i] + sentences[i + 1 : i + 2]
        if s.is_subject:
            context = sentences[1:2]
        found = _judge_sentence(s, context)
        if found is not None:
            findings.append(found)
    if ev.any("AUTOMATED"):
        # Newsletters, advisories, auto-replies and bounces shout ("critical, update
        # immediately") but report no failure of the customer's and ask for nothing.
        marker = next(s.first("AUTOMATED") for s in ev.sentences if s.has("AUTOMATED"))
        return Judgement("low", "automated", "none", False, False, (("automated", marker),))
    urgency, urgency_reason = _urgency(ev, reply_subject)
    reasons: list[tuple[str, str]] = []
    resolved = any(s.has("RESOLVED") for s in body) and not findings
    failure = bool(findings)
    planned = not failure and any(s.has("PLANNED") for s in sentences if not _inactive(s))
    if findings:
        best = max(findings, key=lambda f: _RANK[f.priority])
        priority, category = best.priority, best.category
        reasons.extend(best.reasons)
    elif resolved:
        priority, category = "low", "resolved"
        reasons.append(("resolved", next(s.first("RESOLVED") for s in body if s.has("RESOLVED"))))
    elif planned:
        priority, category = "low", "planned_change"
        reasons.append(("planned", next(s.first("PLANNED") for s in sentences if s.has("PLANNED"))))
    else:
        priority = "low"
        asked = [s.first("QUESTION") for s in sentences if s.has("QUESTION")]
        past = [s for s in sentences if s.has("OUTAGE") and _inactive(s)]
        if past:
            category = "past_incident"
            reasons.append(("past", past[0].first("OUTAGE")))
        elif asked:
            category = "question"
            reasons.append(("question", asked[0]))
        else:
            category = "information"
    if urgency_reason is not None:
        reasons.append(urgency_reason)
    return Judgement(priority, category, urgency, planned, resolved, tuple(reasons))
