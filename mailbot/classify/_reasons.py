"""Short evidence strings in the language of the message."""

from __future__ import annotations

from collections.abc import Iterable

from mailbot.classify._deadline import Deadline
from mailbot.classify._doubt import Unsure
from mailbot.triage import Alarm, Doubt, Language, Priority

__all__ = ["alarm_reason", "deadline_reason", "doubt_of", "render"]

_TEMPLATES: dict[str, dict[Language, str]] = {
    "outage": {Language.DE: "{} ausgefallen", Language.EN: "{} down"},
    "several_down": {
        Language.DE: "mehrere Systeme zugleich gestört: {}",
        Language.EN: "several systems failing at once: {}",
    },
    "scope_all": {Language.DE: "betrifft alle ({})", Language.EN: "affects everyone ({})"},
    "security": {Language.DE: "Sicherheitsvorfall: {}", Language.EN: "security incident: {}"},
    "security_admin": {
        Language.DE: "Admin-Konto vermutlich missbraucht: {}",
        Language.EN: "admin account apparently misused: {}",
    },
    "security_single": {
        Language.DE: "Sicherheitsproblem an einem Gerät: {}",
        Language.EN: "security problem on one device: {}",
    },
    "printer": {Language.DE: "Drucker gestört: {}", Language.EN: "printer fault: {}"},
    "degradation": {
        Language.DE: "{} beeinträchtigt, nicht ausgefallen",
        Language.EN: "{} degraded, not down",
    },
    "single": {Language.DE: "einzelner Arbeitsplatz: {}", Language.EN: "single workplace: {}"},
    "resolved": {Language.DE: "Kunde: erledigt ({})", Language.EN: "customer: resolved ({})"},
    "planned": {Language.DE: "geplante Änderung: {}", Language.EN: "planned change: {}"},
    # The trained model's verdict where the rules were unsure, with its P(planned).
    "model_planned": {
        Language.DE: "trainiertes Modell: geplante Änderung ({} wahrscheinlich)",
        Language.EN: "trained model: planned change ({} likely)",
    },
    "model_not_planned": {
        Language.DE: "trainiertes Modell: keine geplante Änderung (geplant: {})",
        Language.EN: "trained model: not a planned change (planned: {})",
    },
    "model_unsure": {
        Language.DE: "trainiertes Modell: evtl. geplante Änderung ({}), die Störung gilt",
        Language.EN: "trained model: maybe a planned change ({}); the fault stands",
    },
    "expiry": {
        Language.DE: "Ablauf/Verlängerung: {}",
        Language.EN: "expiry/renewal: {}",
    },
    "question": {Language.DE: "Anfrage: {}", Language.EN: "request: {}"},
    "past": {
        Language.DE: "vergangene Störung, läuft wieder: {}",
        Language.EN: "past incident, working again: {}",
    },
    "automated": {
        Language.DE: "automatische Nachricht: {}",
        Language.EN: "automated message: {}",
    },
    "notice": {Language.DE: "Mitteilung: {}", Language.EN: "notice: {}"},
    "information": {
        Language.DE: "keine Störung gemeldet, nur eine Information",
        Language.EN: "no fault reported, information only",
    },
    "outage_words": {Language.DE: "Ausfall: {}", Language.EN: "outage: {}"},
    "urgent": {Language.DE: "Kunde: dringend ({})", Language.EN: "customer: urgent ({})"},
    "urgent_today": {
        Language.DE: "Kunde: Frist heute ({})",
        Language.EN: "customer: needed today ({})",
    },
    "not_urgent": {
        Language.DE: "Kunde: nicht dringend ({})",
        Language.EN: "customer: not urgent ({})",
    },
}


#: Why a judgement is unsure: the cue and the other reading it allows (``_doubt``).
_DOUBTS: dict[str, dict[Language, str]] = {
    "doubt_several_down": {
        Language.DE: "evtl. zentrale Störung (Netzwerk?), nur aus mehreren Symptomen: {}",
        Language.EN: "maybe a central failure (network?), only from several symptoms: {}",
    },
    "doubt_security_admin": {
        Language.DE: "evtl. missbrauchtes Admin-Konto: {}",
        Language.EN: "maybe a misused admin account: {}",
    },
    "doubt_outage": {
        Language.DE: "zentrales System nur im Satz daneben genannt: {}",
        Language.EN: "central system named only in the sentence next to it: {}",
    },
    "doubt_subject": {
        Language.DE: "nur der Betreff nennt den Ausfall: {}",
        Language.EN: "only the subject names the outage: {}",
    },
    "doubt_one": {
        Language.DE: "betrifft evtl. nur einen Arbeitsplatz: {}",
        Language.EN: "may affect only one workplace: {}",
    },
    "doubt_planned": {
        Language.DE: "evtl. geplante Änderung (Regeln und trainiertes Modell uneins, Modell: {})",
        Language.EN: "maybe a planned change (rules and trained model disagree, model: {})",
    },
    "doubt_not_planned": {
        Language.DE: "evtl. keine geplante Änderung (trainiertes Modell: nur {})",
        Language.EN: "maybe not a planned change (trained model: only {})",
    },
}


def doubt_of(unsure: Unsure | None, language: Language) -> Doubt | None:
    if unsure is None:
        return None
    key, words = unsure.reason
    text = _DOUBTS[key][language].format(" ".join(words.split())[:120])
    return Doubt(unsure.kind, Priority(unsure.alternative), unsure.alternative_planned, text)


def render(reasons: Iterable[tuple[str, str]], language: Language) -> tuple[str, ...]:
    # "Automatische Antwort:" is matched with its colon (the prefix form), not said so
    return tuple(
        _TEMPLATES[key][language].format(words.strip().rstrip(":").strip())
        for key, words in reasons
    )


def deadline_reason(deadline: Deadline, language: Language) -> str:
    if language is Language.DE:
        return f"Frist: {deadline.phrase} ({deadline.day:%d.%m.%Y})"
    return f"deadline: {deadline.phrase} ({deadline.day.isoformat()})"


def alarm_reason(alarm: Alarm, language: Language) -> str:
    if language is Language.DE:
        return (
            f"Monitoring ({alarm.system}): {alarm.host}/{alarm.service} ist {alarm.state.upper()}"
        )
    return f"monitoring ({alarm.system}): {alarm.host}/{alarm.service} is {alarm.state.upper()}"
