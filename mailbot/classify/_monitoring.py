"""Recognise monitoring notifications (Icinga 2/Nagios, Zabbix, PRTG, Checkmk).

Alarms are judged by their state, not by words: "CRITICAL" in a newsletter is
nothing, "State: CRITICAL" in an Icinga mail is a down service. The key of an
alarm must be the same for the PROBLEM and the RECOVERY mail, so the service
name is taken without state words and without the host.
"""

from __future__ import annotations

import re

from mailbot.triage import Alarm

__all__ = ["parse_alarm", "state_priority"]

_FIELD = re.compile(r"^\s*([A-Za-zÄÖÜäöü][A-Za-zÄÖÜäöüß /_-]{1,30}?)\s*:\s*(.*?)\s*$")
# German field names of PRTG, Checkmk and Icinga, read as their English names.
_FIELD_ALIASES = {
    "gerät": "device",
    "zustand": "state",
    "dienst": "service",
    "service-beschreibung": "service description",
    "benachrichtigungstyp": "notification type",
    "typ": "notification type",
    "rechner": "host",
    "hostname": "host",
    "schweregrad": "severity",
    "problemname": "problem name",
    # Checkmk's HTML/ASCII mail templates
    "state/event": "state",
    "zustand/ereignis": "state",
}

_STATES: dict[str, str] = {
    "down": "down",
    "unreachable": "down",
    "critical": "critical",
    "crit": "critical",
    "disaster": "critical",
    "high": "critical",
    "warning": "warning",
    "warn": "warning",
    "average": "warning",
    "unusual": "warning",
    "information": "warning",
    "unknown": "unknown",
    "unkn": "unknown",
    "up": "up",
    "ok": "ok",
    "recovery": "ok",
    "resolved": "ok",
    # German notifications (PRTG "Fehler" is its Down state)
    "fehler": "down",
    "kritisch": "critical",
    "krit": "critical",
    "warnung": "warning",
    "ungewöhnlich": "warning",
    "unbekannt": "unknown",
    "wiederhergestellt": "ok",
}
_STATE_WORD = re.compile(
    r"\b(down|unreachable|critical|crit|disaster|high|warning|warn|average|unusual|"
    r"unknown|unkn|up|ok|fehler|kritisch|krit|warnung|ungewöhnlich|unbekannt|wiederhergestellt)\b",
    re.IGNORECASE,
)


# Checkmk's default subject: "*** WARNING *** host/service WARN", without its name.
_CHECKMK_SUBJECT = re.compile(
    r"\s*\*{2,3}\s*(warning|critical|unknown|ok|down|up|unreachable|recovery|problem)\s*\*{2,3}"
    r"\s*(?P<target>\S+)",
    re.IGNORECASE,
)


def _fields(body: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in body.splitlines():
        m = _FIELD.match(line)
        if m and m.group(2):
            key = m.group(1).strip().lower()
            found.setdefault(_FIELD_ALIASES.get(key, key), m.group(2))
    return found


def _last_state(text: str) -> str | None:
    """In "OK -> CRIT" the state after the arrow is the current one."""
    words = _STATE_WORD.findall(text)
    return _STATES[words[-1].lower()] if words else None


def _system(subject: str, body: str) -> str | None:
    head = f"{subject}\n{body[:2000]}".lower()
    if "icinga" in head:
        return "icinga"
    if "nagios" in head:
        return "nagios"
    if "zabbix" in head or re.match(r"\s*(problem|resolved)( in \S+)?:", subject, re.I):
        return "zabbix"
    if "prtg" in head:
        return "prtg"
    if "check_mk" in head or "checkmk" in head or _CHECKMK_SUBJECT.match(subject):
        return "checkmk"
    if re.search(r"\*\*\s*(problem|recovery|acknowledgement)\s+(service|host)\s+alert", head):
        return "nagios"
    return None


def _clean_service(service: str, host: str) -> str:
    service = service.strip()
    if host:
        service = re.sub(rf"\s+on\s+{re.escape(host)}\b.*$", "", service, flags=re.I)
    service = re.sub(r"\s+(is|ist)\s+\w+\s*$", "", service, flags=re.I)
    return service.strip(" *")


def _icinga(subject: str, f: dict[str, str]) -> tuple[str, str, str | None, bool]:
    m = re.search(
        r"(problem|recovery|acknowledgement|flappingstart|custom)?\s*(service|host)\s+alert:\s*"
        r"(.+?)\s+is\s+(\w+)",
        subject,
        re.I,
    )
    host = f.get("host", "")
    service = f.get("service", "")
    state = _last_state(f.get("state", "")) if "state" in f else None
    if m:
        target = m.group(3).strip()
        if m.group(2).lower() == "service" and "/" in target:
            host = host or target.split("/", 1)[0]
            service = service or target.split("/", 1)[1]
        else:
            host = host or target
        state = state or _STATES.get(m.group(4).lower())
    kind = (f.get("notification type", "") or (m.group(1) if m and m.group(1) else "")).lower()
    recovery = kind.startswith("recovery") or state in ("ok", "up")
    return host, service, state, recovery


def _zabbix(subject: str, f: dict[str, str]) -> tuple[str, str, str | None, bool]:
    m = re.match(r"\s*(problem|resolved)(?: in [^:]+)?:\s*(.+)$", subject, re.I)
    recovery = (
        bool(m and m.group(1).lower() == "resolved") or "resolved" in f.get("status", "").lower()
    )
    host = f.get("host", "").split("(")[0].strip()
    name = f.get("problem name") or f.get("trigger") or (m.group(2) if m else "")
    state = _last_state(f.get("severity", "")) or _last_state(f.get("trigger severity", ""))
    if recovery:
        state = "ok"
    return host, _clean_service(name, host), state, recovery


def _prtg(subject: str, f: dict[str, str]) -> tuple[str, str, str | None, bool]:
    host = (f.get("device", "") or f.get("probe", "")).split("(")[0].strip()
    service = f.get("sensor", "")
    status = f.get("status", "") or f.get("state", "")
    if not status:
        status = re.sub(r"^.*\]", "", subject)
    state = _last_state(re.sub(r"\(.*?\)", "", status)) or _last_state(status)
    # "Down ended (now: Up)" is the recovery of a Down.
    if re.search(
        r"ended|beendet|now:\s*up|jetzt:\s*(?:up|ok)|\bup\b", status, re.I
    ) and not re.search(r"\b(?:down|fehler)\b(?!\s+(?:ended|beendet))", status, re.I):
        state = "up"
    if not service or not host:
        m = re.search(
            r"\]\s*(?:sensor\s+)?(.+?)\s+(?:\((.+?)\)\s+)?(down|warning|up|unusual)\b",
            subject,
            re.I,
        )
        if m:
            service = service or m.group(1)
            host = host or (m.group(2) or "")
    return host, service.split("(")[0].strip(), state, state in ("up", "ok")


def _checkmk(subject: str, f: dict[str, str]) -> tuple[str, str, str | None, bool]:
    host = f.get("host", "") or f.get("hostname", "")
    service = f.get("service", "") or f.get("service description", "")
    state_text = f.get("state", "") or f.get("event", "") or f.get("host state", "")
    if not state_text:
        state_text = subject
    state = _last_state(state_text)
    m = re.search(
        r"check_?mk:\s*([^\s/]+)(?:/(.+?)|\s+-\s+(.+?))?\s+(?:\w+\s*->\s*)?(\w+)\s*$", subject, re.I
    )
    if m:
        host = host or m.group(1)
        svc = m.group(2) or m.group(3) or ""
        svc = re.sub(r"(\s*\w+\s*->\s*)+\w*\s*$", "", svc).strip()
        if svc.lower() in _STATES:
            svc = ""
        service = service or svc
    star = _CHECKMK_SUBJECT.match(subject)
    if star and not host:
        host, _, svc = star.group("target").partition("/")
        service = service or svc.rstrip("/")
    hm = re.search(r"host\s+(\S+)\s+is\s+(\w+)", subject + "\n" + state_text, re.I)
    if hm and not host:
        host = hm.group(1)
    return host, service, state, state in ("up", "ok")


def parse_alarm(subject: str, body: str) -> Alarm | None:
    """An Alarm when subject and body are a monitoring notification, else None."""
    subject = " ".join(subject.split())
    system = _system(subject, body)
    if system is None:
        return None
    f = _fields(body)
    if system in ("icinga", "nagios"):
        host, service, state, recovery = _icinga(subject, f)
    elif system == "zabbix":
        host, service, state, recovery = _zabbix(subject, f)
    elif system == "prtg":
        host, service, state, recovery = _prtg(subject, f)
    else:
        host, service, state, recovery = _checkmk(subject, f)
    if not host or state is None:
        return None
    if not service and state in ("down", "up"):
        service = "host"
    return Alarm(
        system=system,
        host=host.strip(),
        service=service.strip() or "host",
        state=state,
        recovery=recovery or state in ("ok", "up"),
    )


def state_priority(alarm: Alarm) -> str:
    """triage.md: DOWN/CRITICAL is critical, WARNING normal, RECOVERY/OK low."""
    if alarm.recovery or alarm.state in ("ok", "up"):
        return "low"
    if alarm.state in ("down", "critical"):
        return "critical"
    return "normal"
