"""Apply triage.md to the evidence.

Scope decides, not vocabulary. A failure sentence is critical only when a hard
outage word meets a central system or an "everyone" that is not contradicted
("alle anderen können arbeiten" makes it one user's problem); a single device,
a printer, a slowdown or one user's account is normal; anything that used to
work and now misbehaves is at least normal. Resolved, negated, past, expiring
and hypothetical sentences are not a current failure. Urgency is the customer's
word only and never touches the priority.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from mailbot.classify._evidence import Evidence, SentenceEvidence

__all__ = ["Judgement", "SecondOpinion", "judge"]

#: P(planned change) from the trained model (``_textcat``), computed only when asked;
#: None when no model is installed.
SecondOpinion = Callable[[], float | None]

_RANK = {"low": 0, "normal": 1, "critical": 2}
_FAILURE = ("OUTAGE", "MALFUNCTION", "DEGRADATION", "SECURITY_EVENT", "SECURITY_SEVERE", "WIDE")
_OBJECTS = ("CENTRAL", "APP", "SINGLE", "PRINTER")
#: strong planned kinds (a new hire, a leaver, a move, new hardware) and generic
#: set-up verbs ("einrichten", "install"), which a quote or advice question also uses
_PLANNING = ("PLANNED", "PLANNED_WEAK")
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


@dataclass(frozen=True)
class _Finding:
    priority: str
    category: str
    reasons: tuple[tuple[str, str], ...]
    #: the sentence it was found in (set by ``_findings``)
    sentence: SentenceEvidence | None = None


def _reopened(s: SentenceEvidence) -> bool:
    """Back, but not settled: "seems fine now but it happened three times today",
    "works again but the screen is still cracked", "kommt wieder, fällt dann wieder aus"."""
    return s.has("RESOLVED") and s.has("REMAINDER", "INTERMITTENT")


def _settled(s: SentenceEvidence) -> bool:
    return s.has("RESOLVED") and not _reopened(s)


def _inactive(s: SentenceEvidence) -> bool:
    """A sentence about the past, a settled matter, a negation, an expiry or a what-if."""
    if _settled(s) or s.has("HYPOTHETICAL", "EXPIRY", "FUTURE"):
        return True
    # "auf meinem iPad keine Mails mehr, am Rechner funktioniert alles": the "works"
    # is said of the other devices; the user's own fault beside it stays current.
    if s.has("NEGATION") and not (s.has("SCOPE_ONE") and s.has("OUTAGE", "MALFUNCTION")):
        return True
    # An intrusion is told in the past ("jemand hat sich angemeldet, wir waren das
    # nicht") but the attacker's access lasts until someone removes it.
    return s.has("PAST") and not s.has("NOW", "SECURITY_SEVERE")


def _failing(s: SentenceEvidence) -> bool:
    if s.has(*_FAILURE) or (s.has("SECURITY") and s.has("OUTAGE", "MALFUNCTION")):
        return True
    # A thing plus "nicht mehr", "nur noch", "ständig", "keeps", "no longer": something
    # that used to work misbehaves, in whatever verb ("klingelt nicht mehr", "hält nur
    # noch 20 Minuten"). Not when the sentence plans or weighs a change.
    if s.has("SYMPTOM_HINT") and s.has(*_OBJECTS) and not s.has(*_PLANNING, "ADVICE"):
        return True
    # A colour cast, streaks, frayed lines, an offset: a fault of a device ("Monitor
    # mit Grünstich"), but only cosmetic on a logo or a signature, which names none.
    return s.has("QUALITY") and s.has("SINGLE", "PRINTER")


def _narrow(s: SentenceEvidence) -> bool:
    """About one device, one printer or one user, and not about everyone."""
    return s.has("SCOPE_ONE", "SINGLE", "PRINTER") and not s.has("SCOPE_ALL", "WIDE")


def _critical(
    s: SentenceEvidence, context: list[SentenceEvidence], contrast: bool
) -> _Finding | None:
    """Critical when a hard outage meets a central system or everyone, and nothing says
    it is slow-but-working, one user's, or a printer's."""
    if contrast or _reopened(s) or s.has("DEGRADATION", "INTERMITTENT", "WORKS_BUT"):
        return None
    if s.has("WIDE"):
        return _Finding("critical", "outage", (("outage", s.first("WIDE")),))
    if not s.has("OUTAGE"):
        return None
    own_object = s.has(*_OBJECTS)
    # A central system named next door counts, unless that sentence is about one device
    # or one user: "ich komme von zu Hause nicht ins VPN. Der Client meldet: Server
    # nicht erreichbar" is that user's connection.
    central = s.has("CENTRAL") or (
        not own_object and any(c.has("CENTRAL") and not _narrow(c) for c in context)
    )
    everyone = s.has("SCOPE_ALL") or any(
        c.has("SCOPE_ALL") and not c.has("SCOPE_ONE") and not _inactive(c) for c in context
    )
    # "none of the phones in reception", "an keinem Arbeitsplatz": a universal said in
    # the sentence itself outweighs a place or a "my" next to it.
    universal = s.has("SCOPE_NONE") and s.has("SCOPE_ALL")
    one = (s.has("SCOPE_ONE") and not universal) or (s.has("SINGLE") and not everyone)
    if s.has("PRINTER") and not s.has("CENTRAL"):
        return None
    what = s.first("CENTRAL") or s.first("APP") or s.first("SINGLE") or s.first("OUTAGE")
    if everyone and (universal or not s.has("SCOPE_ONE")):
        scope = s.first("SCOPE_ALL") or next(
            c.first("SCOPE_ALL") for c in context if c.has("SCOPE_ALL")
        )
        return _Finding("critical", "outage", (("outage", what), ("scope_all", scope)))
    if central and not one:
        return _Finding("critical", "outage", (("outage", s.first("CENTRAL") or what),))
    return None


def _company_wide(s: SentenceEvidence) -> bool:
    """Company-wide: "Nobody can work", or an outage said of everyone / every place in one sentence
    that names no single user."""
    if _inactive(s) or s.has("SCOPE_ONE", "CONTRAST"):
        return False
    return s.has("WIDE") or (s.has("SCOPE_ALL") and s.has("OUTAGE"))


def _judge_sentence(
    s: SentenceEvidence, context: list[SentenceEvidence], contrast: bool
) -> _Finding | None:
    if (
        s.has("SECURITY_SEVERE")
        and not contrast
        and not (s.has("SCOPE_ONE", "SINGLE") and not s.has("CENTRAL", "SCOPE_ALL"))
    ):
        return _Finding("critical", "security", (("security", s.first("SECURITY_SEVERE")),))
    found = _critical(s, context, contrast)
    if found is not None:
        return found
    if s.has("SECURITY_EVENT", "SECURITY_SEVERE") or (
        s.has("SECURITY") and s.has("OUTAGE", "MALFUNCTION")
    ):
        what = s.first("SECURITY_EVENT") or s.first("SECURITY_SEVERE") or s.first("SECURITY")
        return _Finding("normal", "security", (("security_single", what),))
    if not _failing(s) and not _reopened(s):
        return None
    if s.has("PRINTER"):
        return _Finding("normal", "printer", (("printer", s.first("PRINTER")),))
    slow = s.has("DEGRADATION") or (
        s.has("INTERMITTENT", "WORKS_BUT") and s.has("OUTAGE", "MALFUNCTION")
    )
    slow = slow or (_reopened(s) and not s.has("SINGLE", "PRINTER"))
    if slow and (s.has("CENTRAL", "SCOPE_ALL") or any(c.has("CENTRAL") for c in context)):
        what = s.first("CENTRAL") or s.first("APP") or s.first("SCOPE_ALL")
        what = what or next(c.first("CENTRAL") for c in context if c.has("CENTRAL"))
        return _Finding("normal", "degradation", (("degradation", what),))
    what = s.first("SINGLE") or s.first("APP") or s.first("CENTRAL")
    what = what or s.first("MALFUNCTION") or s.first("OUTAGE") or s.first("DEGRADATION")
    return _Finding("normal", "single_device", (("single", what),))


def _plans(s: SentenceEvidence) -> bool:
    """A sentence announcing a change: not advice ("wir empfehlen, es zu installieren"),
    not a how-to ("wie bekomme ich WhatsApp auf das neue Handy"), not the thanks after
    it ("hat heute angefangen, alles lief"), and not past or hypothetical."""
    return s.has(*_PLANNING) and not s.has("ADVICE", "HOWTO", "SUCCESS") and not _inactive(s)


def _hints(s: SentenceEvidence) -> bool:
    """A hint of a change, for asking the model. Unlike ``_plans``, a future or past
    sentence counts ("der Server wird am Samstag getauscht", "kurz weg" said of the
    change): announcements are told in the future, and the model weighs the rest."""
    if not s.has(*_PLANNING, "CHANGE_HINT") or _settled(s) or s.has("HYPOTHETICAL", "SUCCESS"):
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


def _findings(sentences: list[SentenceEvidence], contrast: bool) -> list[_Finding]:
    findings: list[_Finding] = []
    # A strong planned kind (hire, leaver, move, update) in the mail: "der Server ist dann
    # offline", "an dem Tag kann niemand arbeiten", "hat aber noch kein Netzwerk", "der
    # alte PC startet nicht mehr, den könnt ihr entsorgen" describe the change, not a fault.
    planning = any(s.has("PLANNED") and _plans(s) for s in sentences)
    # "Heute früh war das Internet weg. Seit neun läuft es wieder.": a past outage
    # followed by a settled sentence is history, even with "heute" in it.
    settled = max((i for i, s in enumerate(sentences) if _settled(s)), default=-1)
    for i, s in enumerate(sentences):
        if not s.hits or _inactive(s) or (i < settled and s.has("PAST")):
            continue
        if planning and s.has("PLAN_CONSEQUENCE"):
            continue
        if s.has("PROPOSAL") and s.has(*_PLANNING):
            # "für die Umstellung schlage ich Samstag vor, da läuft kein Versand": the
            # quiet day chosen for a change, not an outage.
            continue
        # The neighbours, and the other clauses of its own sentence ("der Server, der
        # gestern neu gestartet wurde, ist weg" names the server in another clause).
        near = sentences[max(0, i - 1) : i + 2]
        mates = [c for c in sentences if c.sentence == s.sentence and c not in near]
        context = [c for c in near if c is not s] + mates
        found = _judge_sentence(s, context, contrast)
        if found is not None:
            findings.append(replace(found, sentence=s))
    return findings


def _part_of_change(f: _Finding) -> bool:
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
    findings: list[_Finding],
    cued: bool,
    planned: bool,
    resolved: bool,
) -> tuple[bool, list[_Finding], tuple[str, str] | None]:
    """Ask the trained model where the rules are unsure; returns (planned, findings,
    the model's reason). The rule "a failure is never a planned change" holds: when the
    model judges a mail planned, its failure sentences describe the change (the old
    device that is replaced, the network that is down on moving day), not a fault.

    Unsure means: a hint of a change (``PLANNED``, ``PLANNED_WEAK``, ``CHANGE_HINT``)
    beside a failure finding, or in a mail the rules leave without a verdict; a plan
    cue the rules accepted (a question or thanks may use the same words). Never asked:
    a mail without any hint of a change, an expiry, a past incident, a settled matter.
    A confirmed plan and a hint without a plan leave no reason (see below).
    """
    if planned:
        need = MODEL_VETO
    elif not cued:
        return planned, findings, None
    elif findings:
        if not all(_part_of_change(f) for f in findings):
            return planned, findings, None
        critical = any(f.priority == "critical" for f in findings)
        need = MODEL_OVER_CRITICAL if critical else MODEL_OVER_FAULT
    elif resolved or any(s.has("EXPIRY") or (s.has("OUTAGE") and _inactive(s)) for s in sentences):
        return planned, findings, None
    else:
        need = MODEL_OVER_NOTHING
    p = ask()
    if p is None:
        return planned, findings, None
    verdict = p >= need
    reason = ("model_planned" if verdict else "model_not_planned", f"{p:.0%}")
    # The verdict is a reason where the rules were in conflict (a hint beside a fault) or
    # where the model changed the outcome. A mere check that agrees with the rules' plan,
    # or a hint it found to be nothing, adds only noise to the customer's acknowledgement.
    if verdict == planned and not findings:
        return verdict, findings, None
    return verdict, [] if verdict else findings, reason


@dataclass(frozen=True)
class _Reading:
    """Which sentences count and the failures found in them, before any verdict."""

    body: list[SentenceEvidence]
    subject: list[SentenceEvidence]
    #: the subject's sentences (when they count) and the body's
    sentences: list[SentenceEvidence]
    #: the same as clause units (``Evidence.units``): failures are judged on these
    units: list[SentenceEvidence]
    findings: list[_Finding]
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
    ) and not any(_company_wide(s) for s in units)
    body_findings = _findings(body_units, contrast)
    if any(s.has("GENUINE") for s in body) and not any(
        s.has("SECURITY_EVENT", "SECURITY_SEVERE") for s in ev.sentences
    ):
        # "Is this mail genuine?": the sentences before it tell what the suspicious
        # mail claims ("your mailbox is full"), not a fault of the customer's. Once
        # someone clicked or typed a password it is a security event again.
        body_findings = []
    body_resolved = any(_settled(s) for s in body_units) and not body_findings
    body_says = any(s.has(*_FAILURE, "RESOLVED", "QUESTION", *_PLANNING, "THANKS") for s in body)
    # The subject of a reply repeats the old state ("AW: LVS geht nicht!!!"); a body that
    # says the matter is settled makes any subject's outage history.
    use_subject = not body_resolved and not (reply_subject and body_says)
    sentences = (subject if use_subject else []) + body
    in_units = (subject_units if use_subject else []) + body_units
    findings = _findings(in_units, contrast) if use_subject and subject else body_findings
    if _narrowed_by_body(findings, body_findings):
        # "DATEV startet nicht" in the subject, "DATEV startet an meinem Rechner nicht" in
        # the body: the subject is the headline, the body says whose problem it is.
        findings = body_findings
    if not body_findings and any(s.has("GENUINE") for s in body):
        findings = []
    return _Reading(body, subject, sentences, in_units, findings, body_resolved)


def _narrowed_by_body(findings: list[_Finding], body_findings: list[_Finding]) -> bool:
    """A critical finding only in the subject, told of one device or user in the body."""
    subject_critical = [
        f for f in findings if f.priority == "critical" and f.sentence and f.sentence.is_subject
    ]
    if not subject_critical or not body_findings:
        return False
    if any(f.priority == "critical" for f in body_findings):
        return False
    told = [f.sentence for f in body_findings if f.sentence is not None]
    return any(_narrow(s) for s in told) and not any(
        s is not None and s.has("SCOPE_ALL") for f in subject_critical for s in (f.sentence,)
    )


def _automated(r: _Reading, reply_subject: bool) -> Judgement | None:
    bounce = [s.first("BOUNCE") for s in r.subject if s.has("BOUNCE")]
    if bounce and not reply_subject:
        # A delivery-status notification ("Undelivered Mail Returned to Sender") quotes
        # "could not be delivered" and error codes; it is the mailer's, nobody's fault.
        return Judgement("low", "automated", "none", False, False, (("automated", bounce[0]),))
    if any(s.has("AUTOMATED") for s in r.sentences):
        # Newsletters, advisories and auto-replies shout ("critical, update
        # immediately") but report no failure of the customer's and ask for nothing.
        marker = next(s.first("AUTOMATED") for s in r.sentences if s.has("AUTOMATED"))
        return Judgement("low", "automated", "none", False, False, (("automated", marker),))
    return None


def _plan_cues(
    sentences: list[SentenceEvidence],
) -> tuple[list[SentenceEvidence], bool, bool]:
    """(the sentences that plan a change, any hint of one, a hint in a sentence apart
    from the failures)."""
    planned_in = [s for s in sentences if _plans(s)]
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
        _hints(s) and (not _failing(s) or s.has("PLAN_CONSEQUENCE", "PROPOSAL"))
        for s in sentences
        if not s.is_subject
    )
    if all(not s.has("PLANNED") for s in planned_in) and (
        any(s.has("ADVICE", "HOWTO") for s in sentences)
        or not any(s.has(*_OBJECTS) for s in sentences)
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
    past = [s for s in sentences if s.has("OUTAGE") and _inactive(s)]
    if expiring:
        return "expiry", ("expiry", expiring[0])
    if past:
        return "past_incident", ("past", past[0].first("OUTAGE"))
    if asked:
        return "question", ("question", asked[0])
    return "information", None


def _verdict(
    r: _Reading, findings: list[_Finding], planned: bool, planned_in: list[SentenceEvidence]
) -> tuple[str, str, list[tuple[str, str]]]:
    """(priority, category, reasons) from what the rules and the model settled."""
    if findings:
        best = max(findings, key=lambda f: _RANK[f.priority])
        return best.priority, best.category, list(best.reasons)
    if r.body_resolved and not (planned and any(s.has("PLANNED") for s in planned_in)):
        return "low", "resolved", [
            ("resolved", next(s.first("RESOLVED") for s in r.units if _settled(s)))
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
    # Quotes and orders are their own kind of low request in triage.md: asking what a new
    # plotter would cost plans nothing yet. Where the rules found no plan, the model is
    # not asked to find one in a quote request.
    quote = not planned and any(s.has("QUOTE") for s in sentences)
    if second_opinion is not None and not quote:
        hint = cued_apart if findings else cued
        planned, findings, model = _second_opinion(
            second_opinion, sentences, findings, hint, planned, r.body_resolved
        )
    priority, category, reasons = _verdict(r, findings, planned, planned_in)
    if model is not None:
        reasons.append(model)
    if urgency_reason is not None:
        reasons.append(urgency_reason)
    resolved = r.body_resolved and category == "resolved"
    return Judgement(priority, category, urgency, planned, resolved, tuple(reasons))
