"""What a sentence (a clause unit, see ``_clauses``) says is failing, and how badly.

Scope decides, not vocabulary. A failure is critical only when a hard outage word
meets a central system or an "everyone" that is not contradicted ("alle anderen
können arbeiten" makes it one user's problem); a single device, a printer, a slowdown
or one user's account is normal; anything that used to work and now misbehaves is at
least normal. Resolved, negated, past, expiring, hypothetical, reported and
closed-office sentences are not a current failure. ``_decide`` weighs the findings of
a whole mail.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mailbot.classify._evidence import SentenceEvidence

__all__ = [
    "FAILURE",
    "OBJECTS",
    "PLANNING",
    "RANK",
    "Finding",
    "company_wide",
    "failing",
    "find_faults",
    "inactive",
    "narrow",
    "narrowed_by_body",
    "plans",
    "reopened",
    "settled",
    "several_down",
]

RANK = {"low": 0, "normal": 1, "critical": 2}
FAILURE = ("OUTAGE", "MALFUNCTION", "DEGRADATION", "SECURITY_EVENT", "SECURITY_SEVERE", "WIDE")
OBJECTS = ("CENTRAL", "APP", "SINGLE", "PRINTER")
#: strong planned kinds (a new hire, a leaver, a move, new hardware) and generic
#: set-up verbs ("einrichten", "install"), which a quote or advice question also uses
PLANNING = ("PLANNED", "PLANNED_WEAK")


@dataclass(frozen=True)
class Finding:
    priority: str
    category: str
    reasons: tuple[tuple[str, str], ...]
    #: the sentence it was found in (set by ``find_faults``)
    sentence: SentenceEvidence | None = None
    #: critical on evidence that allows another reading (one cue, or inferred): the
    #: judgement is marked unsure (``_doubt``)
    weak: bool = False


def reopened(s: SentenceEvidence) -> bool:
    """Back, but not settled: "seems fine now but it happened three times today",
    "works again but the screen is still cracked", "kommt wieder, fällt dann wieder aus"."""
    return s.has("RESOLVED") and s.has("REMAINDER", "INTERMITTENT")


def settled(s: SentenceEvidence) -> bool:
    return s.has("RESOLVED") and not reopened(s)


def inactive(s: SentenceEvidence) -> bool:
    """A sentence about the past, a settled matter, a negation, an expiry or a what-if."""
    # "die Praxis ist am Freitag geschlossen, niemand geht ans Telefon": a closed office
    if settled(s) or s.has("HYPOTHETICAL", "EXPIRY", "FUTURE", "CLOSED"):
        return True
    # "ein Partner hat erzählt, bei ihm seien alle Server verschlüsselt worden": someone
    # else's story; but what a pop-up claims ("er sei infiziert") is this device's symptom
    if s.has("REPORTED") and s.has("PAST", "REPORTING"):
        return True
    # "auf meinem iPad keine Mails mehr, am Rechner funktioniert alles": the "works"
    # is said of the other devices; the user's own fault beside it stays current.
    if s.has("NEGATION") and not (s.has("SCOPE_ONE") and s.has("OUTAGE", "MALFUNCTION")):
        return True
    # An intrusion is told in the past ("jemand hat sich angemeldet, wir waren das
    # nicht") but the attacker's access lasts until someone removes it; not one that
    # someone else told of ("a partner told us their server was encrypted last week").
    lasting = s.has("SECURITY_SEVERE") and not s.has("REPORTING")
    return s.has("PAST") and not s.has("NOW") and not lasting


def failing(s: SentenceEvidence) -> bool:
    if s.has("COSMETIC") and not s.has("PRINTER", "CENTRAL") and not (
        s.has("SINGLE") and s.has("OUTAGE")
    ):
        # "Hintergrundbild schwarz statt Logo", "icons rearranged themselves": how a
        # workplace looks, not a fault of it (triage.md: cosmetic faults are low)
        return False
    if s.has(*FAILURE) or (s.has("SECURITY") and s.has("OUTAGE", "MALFUNCTION")):
        return True
    # A thing plus "nicht mehr", "nur noch", "ständig", "keeps", "no longer": something
    # that used to work misbehaves, in whatever verb ("klingelt nicht mehr", "hält nur
    # noch 20 Minuten"). Not when the sentence plans or weighs a change.
    if s.has("SYMPTOM_HINT") and s.has(*OBJECTS) and not s.has(*PLANNING, "ADVICE"):
        return True
    # A colour cast, streaks, frayed lines, an offset: a fault of a device ("Monitor
    # mit Grünstich"), but only cosmetic on a logo or a signature, which names none.
    return s.has("QUALITY") and s.has("SINGLE", "PRINTER")


def narrow(s: SentenceEvidence) -> bool:
    """About one device, one printer or one user, and not about everyone."""
    return s.has("SCOPE_ONE", "SINGLE", "PRINTER") and not s.has("SCOPE_ALL", "WIDE")


def _current_or_past(s: SentenceEvidence) -> bool:
    """Not settled, negated, hypothetical or someone else's; the past counts."""
    return not settled(s) and not s.has("NEGATION", "HYPOTHETICAL", "REPORTED", "FUTURE")


def _critical(
    s: SentenceEvidence, context: list[SentenceEvidence], contrast: bool
) -> Finding | None:
    """Critical when a hard outage meets a central system or everyone, and nothing says
    it is slow-but-working, one user's, or a printer's."""
    if contrast or reopened(s) or s.has("DEGRADATION", "INTERMITTENT", "WORKS_BUT"):
        return None
    if s.has("WIDE"):
        return Finding("critical", "outage", (("outage", s.first("WIDE")),))
    if not s.has("OUTAGE"):
        return None
    own_object = s.has(*OBJECTS)
    # A central system named next door counts, unless that sentence is about one device
    # or one user: "ich komme von zu Hause nicht ins VPN. Der Client meldet: Server
    # nicht erreichbar" is that user's connection. So does one the device's message
    # names ("it says the server is not responding") when the sentence next door is
    # about that one device.
    said = s.has("DEVICE_SAYS") and not s.has("SCOPE_ALL", "WIDE")
    near_narrow = any(narrow(c) for c in context)
    central = (s.has("CENTRAL") and not (said and near_narrow)) or (
        not own_object and any(c.has("CENTRAL") and not narrow(c) for c in context)
    )
    everyone = s.has("SCOPE_ALL") or any(
        c.has("SCOPE_ALL") and not c.has("SCOPE_ONE") and not inactive(c) for c in context
    )
    # "none of the phones in reception", "an keinem Arbeitsplatz": a universal said in
    # the sentence itself outweighs a place or a "my" next to it.
    universal = s.has("SCOPE_NONE") and s.has("SCOPE_ALL")
    one = (s.has("SCOPE_ONE") and not universal) or (s.has("SINGLE") and not everyone)
    if s.has("PRINTER") and not s.has("CENTRAL"):
        return None
    if not s.has("CENTRAL") and any(c.has("PRINTER") and not c.has("CENTRAL") for c in context):
        # "Scan in Ordner geht für niemanden. Das Gerät zeigt: SMB-Verbindung
        # fehlgeschlagen": one copier everyone uses is still one printer (triage.md)
        return None
    what = s.first("CENTRAL") or s.first("APP") or s.first("SINGLE")
    outage = ("outage", what) if what else ("outage_words", s.first("OUTAGE"))
    if everyone and (universal or not s.has("SCOPE_ONE")):
        scope = s.first("SCOPE_ALL") or next(
            c.first("SCOPE_ALL") for c in context if c.has("SCOPE_ALL")
        )
        return Finding("critical", "outage", (outage, ("scope_all", scope)))
    if central and not one:
        if s.has("CENTRAL"):
            return Finding("critical", "outage", (("outage", s.first("CENTRAL")),))
        # "Unser Server im Keller. Seit heute früh geht nichts": the system is named only
        # in the sentence next door, which leaves room for another reading
        named = next(c.first("CENTRAL") for c in context if c.has("CENTRAL") and not narrow(c))
        return Finding("critical", "outage", (("outage", named),), weak=True)
    return None


def company_wide(s: SentenceEvidence) -> bool:
    """Company-wide: "Nobody can work", or an outage said of everyone / every place in one sentence
    that names no single user."""
    if inactive(s) or s.has("SCOPE_ONE", "CONTRAST"):
        return False
    return s.has("WIDE") or (s.has("SCOPE_ALL") and s.has("OUTAGE"))


def _judge_sentence(
    s: SentenceEvidence, context: list[SentenceEvidence], contrast: bool
) -> Finding | None:
    if (
        s.has("SECURITY_SEVERE")
        and not contrast
        and not (s.has("SCOPE_ONE", "SINGLE") and not s.has("CENTRAL", "SCOPE_ALL"))
    ):
        return Finding("critical", "security", (("security", s.first("SECURITY_SEVERE")),))
    if (
        s.has("SECURITY_EVENT")
        and not contrast
        # "the admin password was changed too": told in the past, and still the evidence
        and (s.has("ADMIN") or any(c.has("ADMIN") and _current_or_past(c) for c in context))
    ):
        # "Mails im Gesendet-Ordner des Admin-Kontos, geschickt hat sie keiner von uns":
        # an admin account that does what nobody here did is compromised (triage.md)
        return Finding(
            "critical", "security", (("security_admin", s.first("SECURITY_EVENT")),), weak=True
        )
    found = _critical(s, context, contrast)
    if found is not None:
        return found
    if s.has("SECURITY_EVENT", "SECURITY_SEVERE") or (
        s.has("SECURITY") and s.has("OUTAGE", "MALFUNCTION")
    ):
        what = s.first("SECURITY_EVENT") or s.first("SECURITY_SEVERE") or s.first("SECURITY")
        return Finding("normal", "security", (("security_single", what),))
    if not failing(s) and not reopened(s):
        return None
    if s.has("PRINTER"):
        return Finding("normal", "printer", (("printer", s.first("PRINTER")),))
    slow = s.has("DEGRADATION") or (
        s.has("INTERMITTENT", "WORKS_BUT") and s.has("OUTAGE", "MALFUNCTION")
    )
    slow = slow or (reopened(s) and not s.has("SINGLE", "PRINTER"))
    if slow and (s.has("CENTRAL", "SCOPE_ALL") or any(c.has("CENTRAL") for c in context)):
        what = s.first("CENTRAL") or s.first("APP") or s.first("SCOPE_ALL")
        what = what or next(c.first("CENTRAL") for c in context if c.has("CENTRAL"))
        return Finding("normal", "degradation", (("degradation", what),))
    what = s.first("SINGLE") or s.first("APP") or s.first("CENTRAL")
    what = what or s.first("MALFUNCTION") or s.first("OUTAGE") or s.first("DEGRADATION")
    return Finding("normal", "single_device", (("single", what),))


def plans(s: SentenceEvidence) -> bool:
    """A sentence announcing a change: not advice ("wir empfehlen, es zu installieren"),
    not a how-to ("wie bekomme ich WhatsApp auf das neue Handy"), not the thanks after
    it ("hat heute angefangen, alles lief"), and not past or hypothetical."""
    return s.has(*PLANNING) and not s.has("ADVICE", "HOWTO", "SUCCESS") and not inactive(s)


def find_faults(sentences: list[SentenceEvidence], contrast: bool) -> list[Finding]:
    findings: list[Finding] = []
    # A strong planned kind (hire, leaver, move, update) in the mail: "der Server ist dann
    # offline", "an dem Tag kann niemand arbeiten", "hat aber noch kein Netzwerk", "der
    # alte PC startet nicht mehr, den könnt ihr entsorgen" describe the change, not a fault.
    planning = any(s.has("PLANNED") and plans(s) for s in sentences)
    # "Heute früh war das Internet weg. Seit neun läuft es wieder.": a past outage
    # followed by a settled sentence is history, even with "heute" in it.
    last_settled = max((i for i, s in enumerate(sentences) if settled(s)), default=-1)
    # "Die Praxis ist am Freitag geschlossen. Es geht niemand ans Telefon.": nobody at the
    # phone of a closed office is no outage; without a closure it may be one.
    closed = any(s.has("CLOSED") for s in sentences)
    for i, s in enumerate(sentences):
        # "meinte, der Server sei weg – das stimmt nicht": what was told or past before
        # a settled sentence is settled too
        told = s.has("PAST", "REPORTING", "REPORTED")
        if not s.hits or inactive(s) or (i < last_settled and told):
            continue
        if closed and s.has("UNSTAFFED"):
            continue
        if planning and s.has("PLAN_CONSEQUENCE"):
            continue
        if s.has("PROPOSAL") and s.has(*PLANNING):
            # "für die Umstellung schlage ich Samstag vor, da läuft kein Versand": the
            # quiet day chosen for a change, not an outage.
            continue
        # The neighbours, and the other clauses of its own sentence ("der Server, der
        # gestern neu gestartet wurde, ist weg" names the server in another clause).
        near = sentences[max(0, i - 1) : i + 2]
        mates = [
            c for c in sentences if c.sentence == s.sentence and all(c is not n for n in near)
        ]
        context = [c for c in near if c is not s] + mates
        found = _judge_sentence(s, context, contrast)
        if found is not None:
            findings.append(replace(found, sentence=s))
    return findings


def narrowed_by_body(findings: list[Finding], body_findings: list[Finding]) -> bool:
    """A critical finding only in the subject, told of one device or user in the body."""
    subject_critical = [
        f for f in findings if f.priority == "critical" and f.sentence and f.sentence.is_subject
    ]
    if not subject_critical or not body_findings:
        return False
    if any(f.priority == "critical" for f in body_findings):
        return False
    told = [f.sentence for f in body_findings if f.sentence is not None]
    return any(narrow(s) for s in told) and not any(
        s is not None and s.has("SCOPE_ALL") for f in subject_critical for s in (f.sentence,)
    )


#: how many different systems failing at once point to what they share
SEVERAL = 3


def several_down(findings: list[Finding], contrast: bool) -> Finding | None:
    """Printers gone, the DMS silent and the phones without a line, all at once and
    nobody's in particular: what they share (the network, a switch) is down, though
    the mail names no outage of it. Critical, and marked unsure (inferred)."""
    if contrast or any(f.priority == "critical" for f in findings):
        return None
    # "the PC at reception has no network … the software can't find the server": the
    # symptoms of one workstation, however many systems they name
    if any(f.sentence is not None and f.sentence.has("SCOPE_ONE") for f in findings):
        return None
    systems: dict[str, str] = {}
    for f in findings:
        s = f.sentence
        if s is None or f.category not in ("printer", "single_device"):
            continue
        for label in ("PRINTER", "CENTRAL", "APP"):
            for word in s.hits.get(label, ()):
                key = "printer" if label == "PRINTER" else word.lower()[:5]
                systems.setdefault(key, word)
    if len(systems) < SEVERAL:
        return None
    named = ", ".join(list(systems.values())[:4])
    return Finding("critical", "outage", (("several_down", named),), weak=True)
