"""Apply triage.md to the evidence of a whole mail.

The failures its sentences report (``_faults``), a planned change, a settled matter, a
question or nothing at all decide the priority; where the rules are unsure whether a
mail is a planned change, the trained model is asked. Urgency is the customer's word
only and never touches the priority.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mailbot.classify._doubt import MODEL_MARGIN, ModelOpinion, Unsure, weigh
from mailbot.classify._evidence import Evidence, SentenceEvidence
from mailbot.classify._faults import (
    FAILURE,
    OBJECTS,
    PLANNING,
    RANK,
    Finding,
    company_wide,
    failing,
    find_faults,
    inactive,
    narrowed_by_body,
    plans,
    settled,
    several_down,
)

__all__ = ["Judgement", "SecondOpinion", "judge"]

#: P(planned change) from the trained model (``_textcat``), computed only when asked;
#: None when no model is installed.
SecondOpinion = Callable[[], float | None]

#: How sure the trained model must be to overrule the rules (see ``_second_opinion``).
#: Turning a reported fault into a planned change needs more than a coin flip, and more
#: still when the fault would be critical: a missed critical failure costs the most.
MODEL_OVER_FAULT = 0.6
MODEL_OVER_CRITICAL = 0.7
#: A hint of a change that the rules leave without a verdict ("die neuen Access Points
#: liegen hier, bitte Termin für den Tausch") is judged planned when the model is fairly sure.
MODEL_OVER_NOTHING = 0.6
#: Below this, a plan cue the rules accepted is a question or thanks after all.
MODEL_VETO = 0.25


@dataclass(frozen=True)
class Judgement:
    priority: str
    category: str
    urgency: str
    planned_change: bool
    resolved: bool
    #: (label, words) pairs, turned into sentences of the message's language by the caller
    reasons: tuple[tuple[str, str], ...]
    #: marked unsure: the other reading and why (``_doubt``)
    doubt: Unsure | None = None
    #: the reasons the priority rests on (the rest: urgency)
    basis: tuple[tuple[str, str], ...] = ()


def _hints(s: SentenceEvidence) -> bool:
    """A hint of a change, for asking the model. Unlike ``plans``, a future or past
    sentence counts ("der Server wird am Samstag getauscht", "kurz weg" said of the
    change): announcements are told in the future, and the model weighs the rest."""
    if not s.has(*PLANNING, "CHANGE_HINT") or settled(s) or s.has("HYPOTHETICAL", "SUCCESS"):
        return False
    # "Danke für die Einrichtung letzte Woche": the thanks after a change plans nothing.
    return not (s.has("THANKS") and s.has("PAST"))


def _urgency(sentences: list[SentenceEvidence]) -> tuple[str, tuple[str, str] | None]:
    calm = [s.first("NOT_URGENT") for s in sentences if s.has("NOT_URGENT")]
    if calm:
        return "not_urgent", ("not_urgent", calm[0])
    rush = [s.first("URGENT") for s in sentences if s.has("URGENT")]
    if rush:
        return "urgent", ("urgent", rush[0])
    return "none", None


def _part_of_change(f: Finding) -> bool:
    """A failure a planned change may explain: what the change brings ("an dem Tag ist
    das Netz weg", "während des Tauschs", future tense), the old or intended thing and
    its long-known trouble (``CHANGE_CONTEXT``: "der alte ist eh kaputt", "seit langem
    träge"), or a failure told beside the change itself ("bitte den Tausch am Samstag,
    dann ..."), unless the change is its cause ("seit dem Update"). A fault of its own
    ("mein Outlook startet seit heute nicht") next to an onboarding stays a fault,
    whatever the model says of the whole mail."""
    s = f.sentence
    if s is None:
        return False
    if s.has("PLAN_CONSEQUENCE", "FUTURE", "PROPOSAL", "CHANGE_CONTEXT"):
        return True
    # A hint in the failing sentence itself counts, but not a change as the cause of a
    # fault ("seit dem Update langsamer", "since the update it crashes").
    return _hints(s) and not s.has("SYMPTOM_HINT", "NOW")


def _second_opinion(
    ask: SecondOpinion,
    sentences: list[SentenceEvidence],
    findings: list[Finding],
    cued: bool,
    planned: bool,
    resolved: bool,
) -> tuple[bool, list[Finding], tuple[str, str] | None, ModelOpinion | None]:
    """Ask the trained model where the rules are unsure; returns (planned, findings,
    the model's reason, what it said). The rule "a failure is never a planned change"
    holds: when the model judges a mail planned, its failure sentences describe the
    change (the old device that is replaced, the network that is down on moving day),
    not a fault.

    Unsure means: a hint of a change (``PLANNED``, ``PLANNED_WEAK``, ``CHANGE_HINT``)
    beside a failure finding, or in a mail the rules leave without a verdict; a plan
    cue the rules accepted (a question or thanks may use the same words). Never asked:
    a mail without any hint of a change, an expiry, a past incident, a settled matter.
    A confirmed plan and a hint without a plan leave no reason (see below).
    """
    if planned:
        need = MODEL_VETO
    elif not cued:
        return planned, findings, None, None
    elif findings:
        if not all(_part_of_change(f) for f in findings):
            return planned, findings, None, None
        critical = any(f.priority == "critical" for f in findings)
        need = MODEL_OVER_CRITICAL if critical else MODEL_OVER_FAULT
    elif resolved or any(s.has("EXPIRY") or (s.has("OUTAGE") and inactive(s)) for s in sentences):
        return planned, findings, None, None
    else:
        need = MODEL_OVER_NOTHING
    p = ask()
    if p is None:
        return planned, findings, None, None
    opinion = ModelOpinion(p, need)
    verdict = p >= need
    reason = ("model_planned" if verdict else "model_not_planned", f"{p:.0%}")
    if verdict and findings and p < need + MODEL_MARGIN:
        # Not clearly sure that a reported fault is part of a change: the fault stands,
        # marked unsure with the planned change as the other reading (the safer promise).
        verdict = False
        reason = ("model_unsure", f"{p:.0%}")
    # The verdict is a reason where the rules were in conflict (a hint beside a fault) or
    # where the model changed the outcome. A mere check that agrees with the rules' plan,
    # or a hint it found to be nothing, adds only noise to the customer's acknowledgement.
    if verdict == planned and not findings:
        return verdict, findings, None, opinion
    return verdict, [] if verdict else findings, reason, opinion


@dataclass(frozen=True)
class _Reading:
    """Which sentences count and the failures found in them, before any verdict."""

    body: list[SentenceEvidence]
    subject: list[SentenceEvidence]
    #: the subject's sentences (when they count) and the body's
    sentences: list[SentenceEvidence]
    #: the same as clause units (``Evidence.units``): failures are judged on these
    units: list[SentenceEvidence]
    findings: list[Finding]
    body_resolved: bool


def _read(ev: Evidence, reply_subject: bool) -> _Reading:
    body = [s for s in ev.sentences if not s.is_subject and s.hits]
    subject = [s for s in ev.sentences if s.is_subject and s.hits]
    body_units = [u for u in ev.units if not u.is_subject and u.hits]
    subject_units = [u for u in ev.units if u.is_subject and u.hits]
    # "alle anderen können arbeiten" makes the whole mail one user's matter, unless the
    # same sentence says the others are affected too ("bei den anderen auch nicht").
    # Only a contrast about people or workplaces counts: "der Rest im Schrank hat Strom",
    # "all the other LEDs are green" say nothing about who can work. Company-wide scope
    # stated in the mail ("im ganzen Haus kein Netzwerk", "nothing gets out") outweighs it.
    units = ev.units
    contrast = any(
        s.has("CONTRAST") and not s.has("SPREAD", "CONTRAST_THING") for s in units
    ) and not any(company_wide(s) for s in units)
    body_findings = find_faults(body_units, contrast)
    if any(s.has("GENUINE") for s in body) and not any(
        s.has("SECURITY_EVENT", "SECURITY_SEVERE") for s in ev.sentences
    ):
        # "Is this mail genuine?": the sentences before it tell what the suspicious
        # mail claims ("your mailbox is full"), not a fault of the customer's. Once
        # someone clicked or typed a password it is a security event again.
        body_findings = []
    body_resolved = any(settled(s) for s in body_units) and not body_findings
    body_says = any(s.has(*FAILURE, "RESOLVED", "QUESTION", *PLANNING, "THANKS") for s in body)
    # The subject of a reply repeats the old state ("AW: LVS geht nicht!!!"); a body that
    # says the matter is settled makes any subject's outage history.
    use_subject = not body_resolved and not (reply_subject and body_says)
    sentences = (subject if use_subject else []) + body
    in_units = (subject_units if use_subject else []) + body_units
    findings = find_faults(in_units, contrast) if use_subject and subject else body_findings
    if narrowed_by_body(findings, body_findings):
        # "DATEV startet nicht" in the subject, "DATEV startet an meinem Rechner nicht" in
        # the body: the subject is the headline, the body says whose problem it is.
        findings = body_findings
    if not body_findings and any(s.has("GENUINE") for s in body):
        findings = []
    several = several_down(findings, contrast)
    if several is not None:
        findings = [several, *findings]
    return _Reading(body, subject, sentences, in_units, findings, body_resolved)


def _automated(r: _Reading, reply_subject: bool) -> Judgement | None:
    bounce = [s.first("BOUNCE") for s in r.subject if s.has("BOUNCE")]
    if bounce and not reply_subject:
        # A delivery-status notification ("Undelivered Mail Returned to Sender") quotes
        # "could not be delivered" and error codes; it is the mailer's, nobody's fault.
        why = (("automated", bounce[0]),)
        return Judgement("low", "automated", "none", False, False, why, basis=why)
    if any(s.has("AUTOMATED") for s in r.sentences):
        # Newsletters, advisories and auto-replies shout ("critical, update
        # immediately") but report no failure of the customer's and ask for nothing.
        marker = next(s.first("AUTOMATED") for s in r.sentences if s.has("AUTOMATED"))
        why = (("automated", marker),)
        return Judgement("low", "automated", "none", False, False, why, basis=why)
    return None


def _plan_cues(
    sentences: list[SentenceEvidence],
) -> tuple[list[SentenceEvidence], bool, bool]:
    """(the sentences that plan a change, any hint of one, a hint in a sentence apart
    from the failures)."""
    planned_in = [s for s in sentences if plans(s)]
    # Any hint of a change, even in a question ("wie spielen wir das Update ein?") or with
    # words the rules do not count as a plan ("Tausch", "cutover"): where the rules see
    # such a hint but cannot settle it, the trained model is asked (``_second_opinion``).
    cued = any(_hints(s) for s in sentences)
    # Against a failure finding, the hint must stand in a sentence of its own: "die neue
    # Kollegin kann sich nicht anmelden" is a fault of the new thing, while "der alte ist
    # kaputt. Bitte den neuen am Freitag einrichten" schedules a change, and so does a
    # sentence whose failure is what the change brings ("bitte den Tausch am Samstag, dann
    # ist das Netz kurz weg"). A subject ("Neue Kollegin") names the topic, not what is
    # asked about it.
    cued_apart = any(
        _hints(s) and (not failing(s) or s.has("PLAN_CONSEQUENCE", "PROPOSAL"))
        for s in sentences
        if not s.is_subject
    )
    if all(not s.has("PLANNED") for s in planned_in) and (
        any(s.has("ADVICE", "HOWTO") for s in sentences)
        or not any(s.has(*OBJECTS) for s in sentences)
    ):
        # "Mesh oder Repeater, was ist besser? Könntet ihr das einrichten?": a set-up
        # verb beside a quote or advice question asks what to do, it plans nothing yet;
        # with no device or system named ("das Logo austauschen") it is a small request.
        planned_in = []
    return planned_in, cued, cued_apart


def _low_matter(sentences: list[SentenceEvidence]) -> tuple[str, tuple[str, str] | None]:
    """The category and reason of a mail without failure, plan or settled matter."""
    asked = [
        s.first("QUESTION") or s.first("ADVICE")
        for s in sentences
        if s.has("QUESTION", "ADVICE")
    ]
    expiring = [s.first("EXPIRY") for s in sentences if s.has("EXPIRY")]
    closed = [s.first("CLOSED") for s in sentences if s.has("CLOSED")]
    past = [s for s in sentences if s.has("OUTAGE") and inactive(s)]
    if expiring:
        return "expiry", ("expiry", expiring[0])
    if past:
        return "past_incident", ("past", past[0].first("OUTAGE"))
    if closed:
        return "information", ("notice", closed[0])
    if asked:
        return "question", ("question", asked[0])
    # Every priority has its reason: a mail that reports, asks and plans nothing is
    # information, and says so.
    return "information", ("information", "")


def _verdict(
    r: _Reading, findings: list[Finding], planned: bool, planned_in: list[SentenceEvidence]
) -> tuple[str, str, list[tuple[str, str]]]:
    """(priority, category, reasons) from what the rules and the model settled."""
    if findings:
        best = max(findings, key=lambda f: RANK[f.priority])
        return best.priority, best.category, list(best.reasons)
    if r.body_resolved and not (planned and any(s.has("PLANNED") for s in planned_in)):
        return "low", "resolved", [
            ("resolved", next(s.first("RESOLVED") for s in r.units if settled(s)))
        ]
    if planned:
        if not planned_in:
            return "low", "planned_change", []
        first = planned_in[0]
        return "low", "planned_change", [
            ("planned", first.first("PLANNED") or first.first("PLANNED_WEAK"))
        ]
    category, reason = _low_matter(r.sentences)
    return "low", category, [] if reason is None else [reason]


def judge(
    ev: Evidence, *, reply_subject: bool, second_opinion: SecondOpinion | None = None
) -> Judgement:
    r = _read(ev, reply_subject)
    automated = _automated(r, reply_subject)
    if automated is not None:
        return automated
    sentences, findings = r.sentences, r.findings
    urgency, urgency_reason = _urgency(
        [s for s in sentences if not (s.is_subject and reply_subject)]
    )
    planned_in, cued, cued_apart = _plan_cues(sentences)
    planned = not findings and bool(planned_in)
    model: tuple[str, str] | None = None
    opinion: ModelOpinion | None = None
    # Quotes and orders are their own kind of low request in triage.md: asking what a new
    # plotter would cost plans nothing yet. Where the rules found no plan, the model is
    # not asked to find one in a quote request.
    quote = not planned and any(s.has("QUOTE") for s in sentences)
    # "Unser Büro ist vom 23.12. bis 1.1. geschlossen, ab dem 4.1. sind wir wieder da": a
    # closure is the customer's notice, not a change to plan IT work for; but an update
    # to install "ab 14 Uhr, da ist die Praxis zu" is one.
    notice = any(s.has("CLOSED") for s in sentences) and not any(
        s.has(*PLANNING) for s in sentences
    )
    if second_opinion is not None and not quote and not notice:
        hint = cued_apart if findings else cued
        planned, findings, model, opinion = _second_opinion(
            second_opinion, sentences, findings, hint, planned, r.body_resolved
        )
    priority, category, reasons = _verdict(r, findings, planned, planned_in)
    doubt = weigh(priority, planned, findings, r.units, opinion)
    if model is not None:
        reasons.append(model)
    basis = tuple(reasons)
    if urgency_reason is not None:
        reasons.append(urgency_reason)
    resolved = r.body_resolved and category == "resolved"
    return Judgement(
        priority, category, urgency, planned, resolved, tuple(reasons), doubt, basis
    )
