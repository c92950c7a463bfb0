"""Is a technician's mail really from the staff? Only our own receiving server may say so.

The receiving MTA prepends an ``Authentication-Results`` header (RFC 8601) with its
own authserv-id. We trust exactly that topmost header, and only when its id is
``[staff] authserv_id``; anything below it may have been written by the sender.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.config import Config
from mailbot.mail.parse import ParsedMail

_RESULT = re.compile(r"\b(dkim|spf|dmarc)\s*=\s*([a-z]+)\b([^;]*)", re.IGNORECASE)
_PROP = re.compile(
    r"\b(header\.d|header\.i|header\.from|smtp\.mailfrom)\s*=\s*([^\s;()]+)", re.IGNORECASE
)
_COMMENT = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class AuthVerdict:
    authenticated: bool
    reason: str


def staff_authenticated(mail: ParsedMail, config: Config) -> AuthVerdict:
    if not config.is_staff(mail.from_addr):
        return AuthVerdict(False, f"{mail.from_addr or 'sender'} is not a staff address")
    if not config.staff.authserv_id:
        return AuthVerdict(False, "no [staff] authserv_id configured: no sender can be verified")
    results = mail.headers.get("authentication-results", ())
    if not results:
        return AuthVerdict(False, "no Authentication-Results header")
    top = _COMMENT.sub(" ", results[0])
    authserv = top.split(";", 1)[0].strip().split()[0].lower() if top.strip() else ""
    if authserv != config.staff.authserv_id.lower():
        return AuthVerdict(
            False, f"topmost Authentication-Results is from {authserv or '?'}, not our server"
        )

    def staff_domain(value: str) -> bool:
        return config.is_staff(value)

    for method, outcome, rest in _RESULT.findall(top):
        if outcome.lower() != "pass":
            continue
        props = {k.lower(): v for k, v in _PROP.findall(rest)}
        method = method.lower()
        if method == "dkim" and any(
            staff_domain(props.get(k, "")) for k in ("header.d", "header.i")
        ):
            return AuthVerdict(True, f"dkim=pass for {props.get('header.d') or props['header.i']}")
        if (
            method == "spf"
            and staff_domain(props.get("smtp.mailfrom", ""))
            and (
                "@" not in props.get("smtp.mailfrom", "")
                or props["smtp.mailfrom"].lower().strip("<>") == mail.from_addr
            )
        ):
            return AuthVerdict(True, f"spf=pass for {props['smtp.mailfrom']}")
        if method == "dmarc" and staff_domain(props.get("header.from", "")):
            return AuthVerdict(True, f"dmarc=pass for {props['header.from']}")
    return AuthVerdict(False, "our server reports no dkim, spf or dmarc pass for a staff domain")
