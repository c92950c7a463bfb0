"""The SMTP protocol seam: every ``smtplib`` call lives here.

``send`` speaks only to :func:`connect`, :func:`send_one`, :func:`still_answers`
and :func:`hang_up`. A blocking client in the send thread: sending is one
conversation at a time anyway, and an event loop in that thread cost twice the
CPU per mail (see the README's benchmarks), which the drain shares with everything
else on the machine.

Connection failures leave as :class:`TransientSendError` (a timeout as
:class:`SendTimeoutError`) or :class:`PermanentSendError`; a mail's own refusal
comes back as a verdict, so the caller can write it and go on.
"""

from __future__ import annotations

import contextlib
import json
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from enum import StrEnum
from functools import cache

from mailbot.config import SmtpConfig
from mailbot.errors import PermanentSendError, SendTimeoutError, TransientSendError
from mailbot.store import Outbox


class Verdict(StrEnum):
    """What became of one mail's SMTP transaction."""

    SENT = "sent"
    #: worth another try later: 4xx, a lost connection, a timeout
    TRANSIENT = "transient"
    #: refused for good: 5xx, or a row that can never be sent
    PERMANENT = "permanent"


#: a verdict and the server's reply (or what went wrong) in words
Result = tuple[Verdict, str]

#: a bare CR or LF; SMTP wants every line to end in CRLF (RFC 5321 2.3.8)
_BARE_EOL = re.compile(rb"\r\n|\r|\n")


@cache
def _tls_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    """Built once per process: loading the CA bundle costs more than sending a mail."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        # Only on explicit request (verify = false), e.g. a relay with a self-signed cert.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@cache
def _local_hostname() -> str:
    # smtplib would look the name up for every new connection; it does not change.
    return socket.getfqdn()


def connect(cfg: SmtpConfig) -> smtplib.SMTP:
    """A greeted connection, on TLS when configured (never falling back to plain
    text) and logged in when a username is set."""
    where = f"SMTP connect to {cfg.host}:{cfg.port}"
    context = _tls_context(cfg.ca_file, cfg.verify) if cfg.security != "none" else None
    client: smtplib.SMTP | None = None
    try:
        if cfg.security == "ssl":
            client = smtplib.SMTP_SSL(
                cfg.host, cfg.port, local_hostname=_local_hostname(),
                timeout=cfg.timeout, context=context,
            )
        else:
            client = smtplib.SMTP(
                cfg.host, cfg.port, local_hostname=_local_hostname(), timeout=cfg.timeout
            )
        client.ehlo_or_helo_if_needed()
        if cfg.security == "starttls":
            if not client.has_extn("starttls"):
                raise TransientSendError(f"{where}: the server does not offer STARTTLS")
            client.starttls(context=context)
            client.ehlo_or_helo_if_needed()
        if cfg.username:
            client.login(cfg.username, cfg.password)
    except smtplib.SMTPAuthenticationError as exc:
        _drop(client)
        raise PermanentSendError(
            f"SMTP login as {cfg.username}: {exc.smtp_code} {_text(exc.smtp_error)}"
        ) from exc
    except smtplib.SMTPResponseException as exc:
        _drop(client)
        code = exc.smtp_code
        text = f"SMTP connect: {code} {_text(exc.smtp_error)}"
        raise (PermanentSendError(text) if code >= 500 else TransientSendError(text)) from exc
    except TransientSendError:  # ours (no STARTTLS), an OSError too: not wrapped again
        _drop(client)
        raise
    except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors
        _drop(client)
        raise _transport_error(where, exc) from exc
    return client


def is_open(client: smtplib.SMTP) -> bool:
    return client.sock is not None


def still_answers(client: smtplib.SMTP) -> bool:
    """NOOP on a connection that sat idle; a dead one is closed."""
    if is_open(client):
        with contextlib.suppress(OSError):
            if client.noop()[0] == 250:
                return True
    client.close()
    return False


def hang_up(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except OSError:
        client.close()


def send_one(client: smtplib.SMTP, row: Outbox, before_data: Callable[[], None]) -> Result:
    """One SMTP transaction: envelope, then ``before_data``, then the message.

    A refusal resets the envelope (RSET), so the next mail starts clean; a
    transport failure leaves the connection to the caller to judge.
    """
    try:
        recipients = json.loads(row.recipients)
    except ValueError:
        return Verdict.PERMANENT, f"recipients are not JSON: {row.recipients[:200]!r}"
    if not isinstance(recipients, list) or not recipients:
        return Verdict.PERMANENT, "no recipients"
    addresses = [str(r) for r in recipients]
    refused: dict[str, tuple[int, str]] = {}
    try:
        client.ehlo_or_helo_if_needed()
        options = []
        if client.has_extn("size"):
            # RFC 1870: the octets as sent, a bare line end counted as CRLF
            size = len(row.raw) + row.raw.count(b"\n") - row.raw.count(b"\r\n")
            options.append(f"SIZE={size}")
        if not row.raw.isascii() and client.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if not all(addr.isascii() for addr in [row.envelope_from, *addresses]):
            if not client.has_extn("smtputf8"):
                return Verdict.TRANSIENT, "SMTPUTF8 is not supported by the server"
            options.append("SMTPUTF8")
        code, reply = client.mail(row.envelope_from, options)
        if code != 250:
            _reset(client)
            return _by_reply(code, reply)
        for address in addresses:
            code, reply = client.rcpt(address)
            if code not in (250, 251):
                refused[address] = (code, _text(reply))
        if len(refused) == len(addresses):
            _reset(client)
            return _all_refused(refused)
    except smtplib.SMTPResponseException as exc:
        _reset(client)
        return _by_reply(exc.smtp_code, exc.smtp_error)
    except OSError as exc:  # smtplib's errors, a lost connection among them
        return Verdict.TRANSIENT, str(_transport_error("SMTP", exc))
    except ValueError as exc:  # an address that cannot go on the wire (CR, LF, encoding)
        _reset(client)
        # Coded like the server's own refusal, so the address counts as bounced.
        return Verdict.PERMANENT, f"553 5.1.3 unsendable address: {exc}"
    # Outside the handlers above: a failing store is not this mail's SMTP error.
    before_data()
    try:
        code, reply = client.data(_crlf(row.raw))
    except smtplib.SMTPResponseException as exc:  # DATA itself refused (no 354)
        _reset(client)
        return _by_reply(exc.smtp_code, exc.smtp_error)
    except OSError as exc:
        return Verdict.TRANSIENT, str(_transport_error("SMTP", exc))
    if code != 250:
        _reset(client)
        return _by_reply(code, reply)
    text = _text(reply)
    if refused:
        # Accepted for some: a retry would duplicate it for those; keep who was refused.
        text += " (refused: " + "; ".join(f"{a}: {c} {r}" for a, (c, r) in refused.items())
        text += ")"
    return Verdict.SENT, text


def _transport_error(what: str, exc: BaseException) -> TransientSendError:
    # smtplib reports a read timeout as a lost connection; the timeout is its context.
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        return SendTimeoutError(f"{what}: timed out")
    return TransientSendError(f"{what}: {exc or type(exc).__name__}")


def _crlf(raw: bytes) -> bytes:
    """The raw bytes as queued, with any bare line end made CRLF; smtplib sends bytes
    as they are and only dot-stuffs them."""
    if raw.count(b"\n") == raw.count(b"\r\n") == raw.count(b"\r"):
        return raw
    return _BARE_EOL.sub(b"\r\n", raw)


def _reset(client: smtplib.SMTP) -> None:
    """RSET after a refusal, so the next mail starts with an empty envelope; a failing
    RSET is not reported over the refusal that caused it."""
    with contextlib.suppress(OSError):
        client.rset()


def _drop(client: smtplib.SMTP | None) -> None:
    if client is not None:
        client.close()


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return text.strip()


def _by_reply(code: int, reply: bytes | str) -> Result:
    # Only a 5xx is final; a reply without a readable code (-1) is tried again.
    verdict = Verdict.PERMANENT if 500 <= code < 600 else Verdict.TRANSIENT
    return verdict, f"{code} {_text(reply)}"


def _all_refused(refused: dict[str, tuple[int, str]]) -> Result:
    codes = [code for code, _ in refused.values()]
    detail = "; ".join(f"{a}: {code} {text}" for a, (code, text) in refused.items())
    # The code leads: Outgoing.may_auto_reply reads a failed row whose last_error
    # starts with "5" as a bounced address.
    transient = any(400 <= c < 500 for c in codes)
    code = min(c for c in codes if 400 <= c < 500) if transient else max(codes)
    return (Verdict.TRANSIENT if transient else Verdict.PERMANENT), f"{code} {detail}"
