"""Knowing when the judgement is unsure, and what else it could be.

Three kinds of doubt (``DoubtKind``):

- weak evidence: critical on evidence that allows another reading: inferred from
  several systems failing at once, an admin account doing what nobody here did, a
  central system named only in the sentence next door, or only the subject saying so;
- the rules disagree: a critical outage of a central system, and elsewhere the same
  system said of one user or one device ("das VPN ist weg … ich komme nicht ins VPN");
- the trained model disagrees: its probability of a planned change lies close to the
  threshold the rules gave it (``_decide._second_opinion``).

A doubt never lowers what the customer is promised: where critical is in doubt, the
judgement is critical and the doubt names the lower reading; where the model would
turn a fault into a planned change without being clearly sure, the fault stands and
the planned change is the alternative.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.classify._evidence import SentenceEvidence
from mailbot.classify._faults import Finding, failing, inactive, narrow
from mailbot.kinds import DoubtKind

__all__ = ["MODEL_MARGIN", "ModelOpinion", "Unsure", "weigh"]

#: How close to its threshold the model's probability must be for a doubt: the model
#: is trained on a few hundred mails, and within this band its verdict is a coin it
#: should not be trusted with alone.
MODEL_MARGIN = 0.15


@dataclass(frozen=True)
class Unsure:
    kind: DoubtKind
    #: the other reading: its priority and whether it is a planned change
    alternative: str
    alternative_planned: bool
    #: (reason key, words), rendered in the message's language by ``_reasons``
    reason: tuple[str, str]


@dataclass(frozen=True)
class ModelOpinion:
    """The trained model's say where it was asked."""

    p: float
    #: the threshold it had to reach against the rules' reading
    need: float


def _shared_system(a: SentenceEvidence, b: SentenceEvidence) -> bool:
    """Both name the same central system ("VPN" and "VPN-Server" alike)."""
    own = {w.lower()[:4] for w in a.hits.get("CENTRAL", ())}
    return any(w.lower()[:4] in own for w in b.hits.get("CENTRAL", ()))


def _critical_doubt(
    best: Finding, findings: list[Finding], units: list[SentenceEvidence]
) -> Unsure | None:
    s = best.sentence
    if best.weak:
        key, words = best.reasons[0]
        return Unsure(DoubtKind.WEAK_EVIDENCE, "normal", False, ("doubt_" + key, words))
    if s is None:
        return None
    if s.has("SCOPE_ALL", "WIDE") or best.category != "outage":
        return None
    if s.is_subject and not any(
        f.priority == "critical" and f.sentence is not None and not f.sentence.is_subject
        for f in findings
    ):
        # "Server down" above a body that tells of no outage
        return Unsure(DoubtKind.WEAK_EVIDENCE, "normal", False, ("doubt_subject", s.text))
    for u in units:
        # a person's own view of the same system ("ich komme nicht ins VPN"), not a
        # device word beside it ("der Bildschirm des Servers bleibt schwarz")
        if u is s or u.is_subject or inactive(u) or not u.has("SCOPE_ONE"):
            continue
        if not narrow(u) or not failing(u):
            continue
        if _shared_system(s, u):
            words = u.first("SCOPE_ONE") or u.first("SINGLE") or u.first("PRINTER")
            return Unsure(DoubtKind.RULES_DISAGREE, "normal", False, ("doubt_one", words))
    return None


def weigh(
    priority: str,
    planned: bool,
    findings: list[Finding],
    units: list[SentenceEvidence],
    opinion: ModelOpinion | None,
) -> Unsure | None:
    """The doubt about a judgement of ``priority`` (and ``planned``), or None."""
    critical = [f for f in findings if f.priority == "critical"]
    if priority == "critical" and critical:
        # one finding that is sure outweighs weak ones beside it
        best = next((f for f in critical if not f.weak), critical[0])
        found = _critical_doubt(best, findings, units)
        if found is not None:
            return found
    if opinion is not None and abs(opinion.p - opinion.need) < MODEL_MARGIN:
        if planned:
            # the rules' plan, kept by the model without much conviction
            return Unsure(
                DoubtKind.MODEL_DISAGREES, "low", False, ("doubt_not_planned", f"{opinion.p:.0%}")
            )
        return Unsure(
            DoubtKind.MODEL_DISAGREES, "low", True, ("doubt_planned", f"{opinion.p:.0%}")
        )
    return None
