"""Is a mail spam? Only our own receiving server may say so.

The filters of the receiving server write their verdicts into the header:
SpamAssassin (``X-Spam-Flag``, ``X-Spam-Status``), rspamd (``X-Spamd-Result``,
``X-Rspamd-Score``, ``X-Rspamd-Action``), Exchange Online Protection
(``X-MS-Exchange-Organization-SCL``, ``X-Forefront-Antispam-Report``). A sender can
write every one of them too, and a customer's own provider may have added its own on
the way out, so a verdict counts only when it stands above the first ``Received``
line that our MX wrote (``[spam] mx``): what is below that line came with the mail.
With ``[spam] server_strips_foreign_headers`` the provider says its server removes
the copies that came with the mail, and a verdict counts wherever it stands.

``Authentication-Results`` (RFC 8601) from our server (``[staff] authserv_id``) with
a DMARC failure under a reject or quarantine policy, or an SPF failure for the From
domain, marks a forged sender (:func:`mailbot.mail.auth.forged_sender`): answering it
would be backscatter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mailbot.config import Config, SpamConfig
from mailbot.kinds import SpamSource
from mailbot.mail.auth import authserv_of, forged_sender
from mailbot.mail.parse import ParsedMail

#: the headers a filter of ours writes its verdict in, by the filter that writes them
VERDICT_HEADERS: dict[str, SpamSource] = {
    "x-spam-flag": SpamSource.SPAMASSASSIN,
    "x-spam-status": SpamSource.SPAMASSASSIN,
    "x-spamd-result": SpamSource.RSPAMD,
    "x-rspamd-score": SpamSource.RSPAMD,
    "x-rspamd-action": SpamSource.RSPAMD,
    "x-ms-exchange-organization-scl": SpamSource.EXCHANGE,
    "x-forefront-antispam-report": SpamSource.EXCHANGE,
}
_AUTH_RESULTS = "authentication-results"
#: the names as their writers spell them, for events and lists (the parser keeps
#: names lower-cased)
_SPELLING = {
    name: name.title().replace("-Ms-", "-MS-").replace("-Scl", "-SCL")
    for name in (*VERDICT_HEADERS, _AUTH_RESULTS)
}
#: the spam filter verdicts (SFV) of Exchange Online Protection that mean spam: its
#: filter's, a mail flow rule's, and the organisation's or a user's blocked senders
_EXCHANGE_SPAM = frozenset({"spm", "sks", "skb", "blk"})
_NUMBER = r"(-?\d+(?:\.\d+)?)"
_SA_STATUS = re.compile(r"^\s*(yes|no)\b", re.IGNORECASE)
_SA_SCORE = re.compile(rf"\b(?:score|hits)\s*=\s*{_NUMBER}", re.IGNORECASE)
_RSPAMD_RESULT = re.compile(rf"\[\s*{_NUMBER}\s*/\s*{_NUMBER}\s*\]")
_RSPAMD_FLAG = re.compile(r"^\s*[\w-]+\s*:\s*(true|false)\b", re.IGNORECASE)
_BY_HOST = re.compile(r"\bby\s+([^\s;()]+)", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")
_SHOWN = 160


@dataclass(frozen=True)
class Header:
    """One header as it stands in the mail: its place from the top, name and value."""

    position: int
    name: str
    value: str

    def shown(self) -> str:
        """``Name: value`` for events and the spam list, shortened."""
        text = f"{_SPELLING.get(self.name, self.name.title())}: {self.value}"
        return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


@dataclass(frozen=True)
class SpamVerdict:
    spam: bool
    source: SpamSource | None = None
    #: the header that decided, as ``Name: value``
    header: str = ""
    #: the decision in words ("rspamd score 8.10 >= 6.0")
    reason: str = ""
    #: verdict headers that came with the mail (below our MX's Received): not read
    ignored: tuple[str, ...] = ()


#: the verdict on mail no filter of ours judged
NOT_SPAM = SpamVerdict(False)


def headers_in_order(mail: ParsedMail) -> list[Header]:
    """Every header with its place, top to bottom (the parser keeps the order of the
    names; the values of one name are in order within it)."""
    seen: dict[str, int] = {}
    found: list[Header] = []
    for position, name in enumerate(mail.header_order):
        index = seen.get(name, 0)
        seen[name] = index + 1
        values = mail.headers.get(name, ())
        if index < len(values):
            found.append(Header(position, name, values[index]))
    return found


def ours_from(headers: list[Header], rules: SpamConfig) -> int | None:
    """The place of the first Received line our MX wrote; None when there is none."""
    for h in headers:
        if h.name == "received":
            # Comments first: "(helo checked by ...)" names no host of this hop.
            by = _BY_HOST.search(_COMMENT.sub(" ", h.value))
            if by is not None and _names_our_mx(by.group(1), rules.mx):
                return h.position
    return None


def _names_our_mx(host: str, names: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for name in names:
        if name.startswith("."):
            if host.endswith(name):
                return True
        elif host == name:
            return True
    return False


def spam_verdict(mail: ParsedMail, config: Config) -> SpamVerdict:
    """What our server said about ``mail``: spam (with the header that decided) or not,
    and which verdict headers were not read because the mail brought them along."""
    rules = config.spam
    headers = headers_in_order(mail)
    cut = ours_from(headers, rules) if rules.mx else None

    def trusted(h: Header) -> bool:
        if rules.server_strips_foreign_headers:
            return True
        return cut is not None and h.position < cut

    verdicts = [h for h in headers if h.name in VERDICT_HEADERS]
    positioned = bool(rules.mx) or rules.server_strips_foreign_headers
    ours = (config.staff.authserv_id or "").lower()
    # A copy of our server's Authentication-Results below its Received line is a
    # sender's invention: worth a note, never a verdict.
    claims = [
        h for h in headers
        if positioned and h.name == _AUTH_RESULTS and ours and authserv_of(h.value) == ours
    ]
    ignored = tuple(h.shown() for h in sorted(verdicts + claims, key=lambda h: h.position)
                    if not trusted(h))
    for h in verdicts:
        reason = _READERS[h.name](h.value, rules) if trusted(h) else ""
        if reason:
            return SpamVerdict(True, VERDICT_HEADERS[h.name], h.shown(), reason, ignored)
    results = _our_results(headers, config, trusted if positioned else None)
    if results is not None:
        forgery = forged_sender(results.value, mail.from_addr)
        if forgery is not None:
            return SpamVerdict(True, forgery.source, results.shown(), forgery.reason, ignored)
    return SpamVerdict(False, ignored=ignored)


def _our_results(
    headers: list[Header], config: Config, trusted: Callable[[Header], bool] | None
) -> Header | None:
    """The topmost Authentication-Results our server wrote (its authserv-id is
    ``[staff] authserv_id``), among those that stand where our server writes.

    Without ``[spam] mx`` (``trusted`` None) it is the topmost one of all, as for technicians' mail
    (:func:`mailbot.mail.auth.staff_authenticated`): a border MTA removes copies that
    carry its own id (RFC 8601, section 5).
    """
    ours = (config.staff.authserv_id or "").lower()
    if not ours:
        return None
    results: Iterator[Header] = (h for h in headers if h.name == _AUTH_RESULTS)
    if trusted is None:
        top = next(results, None)
        return top if top is not None and authserv_of(top.value) == ours else None
    for h in results:
        if trusted(h) and authserv_of(h.value) == ours:
            return h
    return None


# -- the readers of each filter's header: the reason it is spam, or "" -------------


def _flag(value: str, rules: SpamConfig) -> str:
    return "SpamAssassin: X-Spam-Flag YES" if value.strip().lower() == "yes" else ""


def _status(value: str, rules: SpamConfig) -> str:
    said = _SA_STATUS.match(value)
    if said is not None and said.group(1).lower() == "yes":
        return "SpamAssassin: X-Spam-Status Yes"
    score = _SA_SCORE.search(value)
    if score is not None and float(score.group(1)) >= rules.spamassassin_score:
        return f"SpamAssassin score {score.group(1)} >= {rules.spamassassin_score:g}"
    return ""


def _spamd_result(value: str, rules: SpamConfig) -> str:
    flag = _RSPAMD_FLAG.match(value)
    if flag is not None and flag.group(1).lower() == "true":
        return "rspamd: spam (True)"
    score = _RSPAMD_RESULT.search(value)
    if score is not None and float(score.group(1)) >= rules.rspamd_score:
        return f"rspamd score {score.group(1)} >= {rules.rspamd_score:g}"
    return ""


def _rspamd_score(value: str, rules: SpamConfig) -> str:
    score = re.match(rf"\s*{_NUMBER}", value)
    if score is not None and float(score.group(1)) >= rules.rspamd_score:
        return f"rspamd score {score.group(1)} >= {rules.rspamd_score:g}"
    return ""


def _rspamd_action(value: str, rules: SpamConfig) -> str:
    action = " ".join(value.lower().split())
    return f"rspamd action {action!r}" if action in rules.rspamd_actions else ""


def _scl(value: str, rules: SpamConfig) -> str:
    number = re.match(r"\s*(-?\d+)", value)
    if number is not None and int(number.group(1)) >= rules.exchange_scl:
        return f"Exchange SCL {number.group(1)} >= {rules.exchange_scl}"
    return ""


def _forefront(value: str, rules: SpamConfig) -> str:
    fields: dict[str, str] = {}
    for item in value.split(";"):
        key, _, found = item.partition(":")
        fields.setdefault(key.strip().lower(), found.strip())
    verdict = fields.get("sfv", "").lower()
    if verdict in _EXCHANGE_SPAM:
        return f"Exchange Online Protection: SFV {verdict.upper()}"
    scl = fields.get("scl", "")
    if re.fullmatch(r"-?\d+", scl) and int(scl) >= rules.exchange_scl:
        return f"Exchange SCL {scl} >= {rules.exchange_scl}"
    return ""


_READERS: dict[str, Callable[[str, SpamConfig], str]] = {
    "x-spam-flag": _flag,
    "x-spam-status": _status,
    "x-spamd-result": _spamd_result,
    "x-rspamd-score": _rspamd_score,
    "x-rspamd-action": _rspamd_action,
    "x-ms-exchange-organization-scl": _scl,
    "x-forefront-antispam-report": _forefront,
}
