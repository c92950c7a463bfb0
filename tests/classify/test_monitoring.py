"""Alarm formats: state -> priority, stable key per host and service; an alarm
mail is judged by its state, not by its words.
"""

from __future__ import annotations

from mailbot.classify import Classifier, parse_alarm, state_priority
from tests.classify.judging import judge


def test_icinga_service_warning() -> None:
    a = parse_alarm(
        "** PROBLEM Service Alert: fs01.kanzlei/disk D: is WARNING **",
        "***** Icinga 2 *****\nNotification Type: PROBLEM\nService: disk D:\nHost: fs01.kanzlei\n"
        "State: WARNING\n",
    )
    assert a is not None and a.state == "warning" and state_priority(a) == "normal"
    assert a.key == "fs01.kanzlei/disk d:"


def test_nagios_host_down_and_recovery_share_key() -> None:
    down = parse_alarm("** PROBLEM Host Alert: router01 is DOWN **", "Host: router01\nState: DOWN")
    up = parse_alarm("** RECOVERY Host Alert: router01 is UP **", "Host: router01\nState: UP")
    assert down is not None and up is not None
    assert state_priority(down) == "critical" and state_priority(up) == "low"
    assert up.recovery and down.key == up.key


def test_zabbix_problem_and_resolved() -> None:
    body = "Problem name: Ping lost on srv01\nHost: srv01\nSeverity: High\n"
    problem = parse_alarm("Problem: Ping lost on srv01", body)
    resolved = parse_alarm("Resolved in 3m: Ping lost on srv01", body)
    assert problem is not None and resolved is not None
    assert state_priority(problem) == "critical"
    assert resolved.recovery and state_priority(resolved) == "low"
    assert problem.key == resolved.key


def test_zabbix_average_is_normal() -> None:
    a = parse_alarm("Problem: High CPU on app01", "Host: app01\nSeverity: Average\n")
    assert a is not None and state_priority(a) == "normal"


def test_prtg_down_and_up() -> None:
    down = parse_alarm(
        "[PRTG Network Monitor] Ping (fw01) Down", "Sensor: Ping\nDevice: fw01\nStatus: Down"
    )
    up = parse_alarm(
        "[PRTG Network Monitor] Ping (fw01) Down ended (now: Up)",
        "Sensor: Ping\nDevice: fw01\nStatus: Down ended (now: Up)",
    )
    assert down is not None and up is not None
    assert state_priority(down) == "critical" and state_priority(up) == "low"
    assert down.key == up.key == "fw01/ping"


def test_checkmk_transitions() -> None:
    crit = parse_alarm(
        "Check_MK: dc01/CPU load OK -> CRIT", "Host: dc01\nService: CPU load\nState: OK -> CRIT"
    )
    warn = parse_alarm(
        "Check_MK: dc01/CPU load CRIT -> WARN", "Host: dc01\nService: CPU load\nState: CRIT -> WARN"
    )
    assert crit is not None and warn is not None
    assert state_priority(crit) == "critical" and state_priority(warn) == "normal"
    assert crit.key == warn.key


def test_customer_mail_is_no_alarm() -> None:
    assert parse_alarm("Server down!", "Hallo, der Server ist down. State: schlecht") is None


def test_prtg_german_warning_error_and_ok() -> None:
    body = (
        "PRTG Network Monitor – Benachrichtigung\n\nSensor: Freier Speicher C:\n"
        "Gerät: srv-dc01 (192.168.10.5)\nStatus: {}\nLetzte Meldung: 8 % frei\n"
    )
    warn = parse_alarm("[PRTG] Warnung: Freier Speicher C: auf srv-dc01", body.format("Warnung"))
    err = parse_alarm("[PRTG] Fehler: Freier Speicher C: auf srv-dc01", body.format("Fehler"))
    ok = parse_alarm("[PRTG] OK: Freier Speicher C: auf srv-dc01", body.format("OK"))
    assert warn is not None and err is not None and ok is not None
    assert state_priority(warn) == "normal"
    assert state_priority(err) == "critical"
    assert ok.recovery and state_priority(ok) == "low"
    assert warn.key == err.key == ok.key == "srv-dc01/freier speicher c:"


def test_prtg_german_down_status() -> None:
    a = parse_alarm(
        "[PRTG] Ping srv-fs01 Down",
        "PRTG Network Monitor\nSensor: Ping\nGerät: srv-fs01 (10.0.0.20)\nStatus: Down\n",
    )
    assert a is not None and a.host == "srv-fs01" and state_priority(a) == "critical"


def test_checkmk_german_critical_and_ok() -> None:
    crit = parse_alarm(
        "Check_MK: nas01/Dateisystem /volume1 KRITISCH",
        "Host: nas01\nDienst: Dateisystem /volume1\nZustand: KRITISCH\nAusgabe: 97 % belegt\n",
    )
    ok = parse_alarm(
        "Check_MK: nas01/Dateisystem /volume1 OK",
        "Host: nas01\nDienst: Dateisystem /volume1\nZustand: OK\n",
    )
    assert crit is not None and ok is not None
    assert state_priority(crit) == "critical" and state_priority(ok) == "low"
    assert crit.key == ok.key == "nas01/dateisystem /volume1"


def test_icinga_german_fields() -> None:
    a = parse_alarm(
        "Icinga: Dienst HTTP auf web01 ist WARNUNG",
        "***** Icinga 2 *****\nBenachrichtigungstyp: PROBLEM\nHost: web01\nDienst: HTTP\n"
        "Zustand: WARNUNG\n",
    )
    assert a is not None and a.service == "HTTP" and state_priority(a) == "normal"


# Checkmk notifications without "Check_MK" in them.
def test_checkmk_stars_warning_is_an_alarm() -> None:
    a = parse_alarm(
        "*** WARNING *** fs02.kanzlei-roth/Disk D:/ WARN",
        "Host:     fs02.kanzlei-roth\nService:  Disk D:/\nState/Event: WARN\nOutput: 87% used\n",
    )
    assert a is not None and a.state == "warning" and state_priority(a) == "normal"
    assert a.host == "fs02.kanzlei-roth"


def test_checkmk_stars_critical_host() -> None:
    a = parse_alarm(
        "*** CRITICAL *** router.spedition-kraus CRIT",
        "Host: router.spedition-kraus\nState/Event: UP -> DOWN\n",
    )
    assert a is not None and state_priority(a) == "critical"


def test_alarm_sets_priority_and_alarm(clf: Classifier) -> None:
    c = judge(
        clf,
        "** PROBLEM Host Alert: dc01.kanzlei is DOWN **",
        "***** Icinga 2 *****\nNotification Type: PROBLEM\nHost: dc01.kanzlei\nState: DOWN\n",
    )
    assert c.priority == "critical"
    assert c.alarm is not None and c.alarm.key == "dc01.kanzlei/host"
    assert c.category == "monitoring"


def test_alarm_recovery_is_low(clf: Classifier) -> None:
    c = judge(
        clf,
        "** RECOVERY Service Alert: fs01/disk C: is OK **",
        "Notification Type: RECOVERY\nService: disk C:\nHost: fs01\nState: OK\n",
    )
    assert c.priority == "low"
    assert c.resolved is True
