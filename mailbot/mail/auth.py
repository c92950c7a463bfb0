"""Is a technician's mail really from the staff, is a sender forged? Only our own
receiving server may say so.

The receiving MTA prepends an ``Authentication-Results`` header (RFC 8601) with its
own authserv-id. We trust exactly that topmost header, and only when its id is
``[staff] authserv_id``; anything below it may have been written by the sender.
The same header, read by :func:`forged_sender`, tells a forged sender (DMARC failed
under an enforced policy, SPF failed for the From domain) from a real one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot.config import Config
from mailbot.kinds import SpamSource
from mailbot.mail.parse import ParsedMail

_RESULT = re.compile(r"\b(dkim|spf|dmarc)\s*=\s*([a-z]+)\b([^;]*)", re.IGNORECASE)
_PROP = re.compile(
    r"\b(header\.d|header\.i|header\.from|smtp\.mailfrom)\s*=\s*([^\s;()]+)", re.IGNORECASE
)
_COMMENT = re.compile(r"\([^()]*\)")
_RESINFO = re.compile(r"^\s*([a-z][\w-]*)\s*=\s*([a-z]+)\b(.*)$", re.IGNORECASE | re.DOTALL)
#: where receivers write the DMARC policy of a failed domain: a property (Microsoft's
#: ``action=``, RFC 7489's registered ``policy.dmarc``) or a comment (``(p=reject)``,
#: ``(policy=reject)``)
_POLICY_PROP = re.compile(
    r"\b(?:policy\.dmarc|policy\.published-domain-policy|action)\s*=\s*([\w.]+)", re.IGNORECASE
)
_POLICY_COMMENT = re.compile(r"\b(?:p|policy)\s*=\s*([\w.]+)", re.IGNORECASE)
#: the policies under which the domain's owner asks for failed mail to be refused
#: or held (Microsoft's "oreject": reject overridden, delivered as junk)
_ENFORCED = frozenset({"reject", "quarantine", "oreject", "pct.quarantine", "pct.reject"})


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
    authserv = authserv_of(results[0])
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


def authserv_of(value: str) -> str:
    """The authserv-id an Authentication-Results value starts with, lower-cased; ""
    for none."""
    words = _COMMENT.sub(" ", value).split(";", 1)[0].split()
    return words[0].lower() if words else ""


@dataclass(frozen=True)
class Forgery:
    source: SpamSource
    reason: str


def forged_sender(results: str, from_addr: str) -> Forgery | None:
    """What our server's Authentication-Results value says against the From address:
    DMARC failed under a reject or quarantine policy, or SPF failed for the From
    domain; None when neither (a pass, none, softfail, or a policy of "none")."""
    domain = from_addr.rpartition("@")[2].lower()
    for part in results.split(";")[1:]:
        found = _RESINFO.match(part)
        if found is None:
            continue
        method, outcome, rest = found.group(1).lower(), found.group(2).lower(), found.group(3)
        if outcome != "fail":
            continue
        props = {k.lower(): v.lower() for k, v in _PROP.findall(_COMMENT.sub(" ", rest))}
        if method == "dmarc":
            checked = props.get("header.from", "") or domain
            if domain and checked != domain:
                continue  # the failure is about another domain than the From
            policy = _dmarc_policy(rest)
            if policy in _ENFORCED:
                return Forgery(SpamSource.DMARC, f"DMARC fail for {checked} (policy {policy})")
        elif method == "spf":
            mailfrom = props.get("smtp.mailfrom", "").strip("<>").rpartition("@")[2]
            if domain and mailfrom == domain:
                return Forgery(SpamSource.SPF, f"SPF fail for the From domain {domain}")
    return None


def _dmarc_policy(rest: str) -> str:
    prop = _POLICY_PROP.search(_COMMENT.sub(" ", rest))
    if prop is not None:
        return prop.group(1).lower()
    for comment in _COMMENT.findall(rest):
        said = _POLICY_COMMENT.search(comment)
        if said is not None:
            return said.group(1).lower()
    return ""
