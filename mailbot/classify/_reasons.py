"""Short evidence strings in the language of the message."""

from __future__ import annotations

from collections.abc import Iterable

from mailbot.classify._deadline import Deadline
from mailbot.triage import Alarm, Language

__all__ = ["alarm_reason", "deadline_reason", "render"]

_TEMPLATES: dict[str, dict[Language, str]] = {
    "outage": {Language.DE: "{} ausgefallen", Language.EN: "{} down"},
    "several_down": {
        Language.DE: "mehrere Systeme zugleich gestört: {}",
        Language.EN: "several systems failing at once: {}",
    },
    "scope_all": {Language.DE: "betrifft alle ({})", Language.EN: "affects everyone ({})"},
    "security": {Language.DE: "Sicherheitsvorfall: {}", Language.EN: "security incident: {}"},
    "security_admin": {
        Language.DE: "Admin-Konto missbraucht? {}",
        Language.EN: "admin account misused? {}",
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


def render(reasons: Iterable[tuple[str, str]], language: Language) -> tuple[str, ...]:
    return tuple(_TEMPLATES[key][language].format(words.strip()) for key, words in reasons)


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
