"""The SMTP protocol seam: every ``aiosmtplib`` call lives here.

The sender speaks only to :func:`connect`, :func:`send_one`, :func:`still_answers`
and :func:`hang_up`, coroutines on the sender's event loop; several connections
share that loop, each carrying one mail at a time.

Connection failures leave as :class:`TransientSendError` (a timeout as
:class:`SendTimeoutError`) or :class:`PermanentSendError`; a mail's own refusal
comes back as an :class:`Attempt`, so the caller can write it and go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING

import aiosmtplib
from aiosmtplib.email import quote_address

from mailbot.config import SmtpConfig
from mailbot.errors import PermanentSendError, SendTimeoutError, TransientSendError
from mailbot.kinds import AuthMethod
from mailbot.outbound import _sasl
from mailbot.store import Outbox

if TYPE_CHECKING:
    from mailbot.oauth.tokens import TokenSource


class Verdict(StrEnum):
    """What became of one mail's SMTP transaction."""

    SENT = "sent"
    #: worth another try later: 4xx, a lost connection, a timeout
    TRANSIENT = "transient"
    #: refused for good: 5xx, or a row that can never be sent
    PERMANENT = "permanent"


#: a verdict and the server's reply (or what went wrong) in words
Result = tuple[Verdict, str]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One mail's transaction as the sender needs to judge it."""

    verdict: Verdict
    reply: str
    #: the connection is gone (lost, timed out, or the server said 421): the next
    #: mail needs a new one
    hung_up: bool = False
    #: the connection broke before the message was handed over: the server cannot
    #: have accepted it, so it may go out again at once on another connection
    before_data: bool = False

    @property
    def result(self) -> Result:
        return self.verdict, self.reply


#: a 4xx asking the client to slow down: too many connections or mails, a rate or a
#: limit reached, or an enhanced status in 4.7.x (RFC 3463: security or policy)
_SLOW_DOWN = re.compile(r"\b4\.7\.\d{1,3}\b|\btoo many\b|\brate(?:[ -]?limit\w*)?\b|\blimit", re.I)


def asks_to_slow_down(reply: str) -> bool:
    """True for a reply that says the server wants fewer or slower mails: 421
    (closing), or another 4xx that names a rate, a limit or a policy (4.7.x)."""
    if reply.startswith("421"):
        return True
    return reply.startswith("4") and _SLOW_DOWN.search(reply) is not None


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
    # aiosmtplib would look the name up in a thread for every new connection; it
    # does not change.
    return socket.getfqdn()


async def connect(cfg: SmtpConfig, tokens: TokenSource | None = None) -> aiosmtplib.SMTP:
    """A greeted connection, on TLS when configured (never falling back to plain
    text) and logged in when a username is set: with a password, or with ``auth =
    "oauth2"`` an access token of ``tokens`` (see :mod:`._sasl`)."""
    where = f"SMTP connect to {cfg.host}:{cfg.port}"
    implicit = cfg.security == "ssl"
    context = _tls_context(cfg.ca_file, cfg.verify) if cfg.security != "none" else None
    client = aiosmtplib.SMTP(
        hostname=cfg.host, port=cfg.port, local_hostname=_local_hostname(),
        timeout=cfg.timeout, use_tls=implicit, tls_context=context if implicit else None,
        # Never the library's opportunistic STARTTLS: ours is required or not used.
        start_tls=False,
    )
    try:
        await client.connect()
        await _greet(client)
        if cfg.security == "starttls":
            if not client.supports_extension("starttls"):
                raise TransientSendError(f"{where}: the server does not offer STARTTLS")
            await client.starttls(tls_context=context)
            await _greet(client)  # RFC 3207: what was offered before TLS no longer counts
        if cfg.auth == AuthMethod.OAUTH2:
            if tokens is None:
                raise PermanentSendError(f"SMTP login as {cfg.username}: auth = oauth2, "
                                         "but no token source was given")
            await _sasl.login(client, cfg, tokens)
        elif cfg.username:
            await client.login(cfg.username, cfg.password)
    except aiosmtplib.SMTPAuthenticationError as exc:
        discard(client)
        raise PermanentSendError(
            f"SMTP login as {cfg.username}: {exc.code} {exc.message.strip()}"
        ) from exc
    except aiosmtplib.SMTPResponseException as exc:  # greeting, EHLO, STARTTLS refused
        discard(client)
        text = f"SMTP connect: {exc.code} {exc.message.strip()}"
        raise (PermanentSendError(text) if exc.code >= 500 else TransientSendError(text)) from exc
    except (TransientSendError, PermanentSendError):  # ours (no STARTTLS, no token)
        discard(client)
        raise
    except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
        # OSError: refused, reset, or a certificate that does not verify
        discard(client)
        raise _transport_error(where, exc) from exc
    return client


async def _greet(client: aiosmtplib.SMTP) -> None:
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        if not client.is_connected:
            raise
        await client.helo()


def is_open(client: aiosmtplib.SMTP) -> bool:
    return client.is_connected


async def still_answers(client: aiosmtplib.SMTP) -> bool:
    """NOOP on a connection that sat idle; a dead one is closed."""
    if client.is_connected:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.noop()
            return True
    discard(client)
    return False


async def hang_up(client: aiosmtplib.SMTP) -> None:
    transport = client.transport
    try:
        if client.is_connected:
            await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        pass
    finally:
        client.close()
        _abort(transport)  # after QUIT nothing is left to protect: see discard()


def discard(client: aiosmtplib.SMTP) -> None:
    """Close at once: the transport is aborted rather than closed, which on TLS would
    wait for the server's closing handshake on a loop that may stop right after (the
    sender's last round), leaving the socket open."""
    transport = client.transport
    client.close()
    _abort(transport)


def _abort(transport: asyncio.BaseTransport | None) -> None:
    if isinstance(transport, asyncio.Transport):
        transport.abort()


async def send_one(
    client: aiosmtplib.SMTP, row: Outbox, before_data: Callable[[], Awaitable[None]]
) -> Attempt:
    """One SMTP transaction: envelope, then ``before_data``, then the message.

    A refusal resets the envelope (RSET), so the next mail starts clean; after a
    transport failure the attempt says the connection is gone.
    """
    try:
        recipients = json.loads(row.recipients)
    except ValueError:
        return Attempt(Verdict.PERMANENT, f"recipients are not JSON: {row.recipients[:200]!r}")
    if not isinstance(recipients, list) or not recipients:
        return Attempt(Verdict.PERMANENT, "no recipients")
    addresses = [str(r) for r in recipients]
    try:
        envelope = await _envelope(client, row, addresses)
    except (aiosmtplib.SMTPException, OSError) as exc:
        # Lost, timed out, or in a state the library refuses to go on from: either
        # way the message was not handed over.
        discard(client)
        return Attempt(Verdict.TRANSIENT, str(_transport_error("SMTP", exc)), True, True)
    except ValueError as exc:  # an address that cannot go on the wire (CR, LF, space)
        await _reset(client)
        # Coded like the server's own refusal, so the address counts as bounced.
        return Attempt(Verdict.PERMANENT, f"553 5.1.3 unsendable address: {exc}")
    if isinstance(envelope, Attempt):
        return envelope
    # Outside the handlers above: a failing store is not this mail's SMTP error.
    await before_data()
    try:
        # aiosmtplib makes every bare CR or LF a CRLF and dot-stuffs the lines.
        response = await client.data(row.raw)
    except aiosmtplib.SMTPDataError as exc:  # DATA refused, before or after the message
        await _reset(client)
        return _by_reply(client, exc.code, exc.message)
    except (aiosmtplib.SMTPException, OSError) as exc:
        # The message may have arrived: whether the server took it is unknown.
        discard(client)
        return Attempt(Verdict.TRANSIENT, str(_transport_error("SMTP", exc)), True)
    text = response.message.strip()
    if envelope:
        # Accepted for some: a retry would duplicate it for those; keep who was refused.
        text += " (refused: " + "; ".join(f"{a}: {c} {r}" for a, (c, r) in envelope.items())
        text += ")"
    return Attempt(Verdict.SENT, text)


#: what a refused recipient got: code and reply
_Refused = dict[str, tuple[int, str]]


async def _envelope(
    client: aiosmtplib.SMTP, row: Outbox, addresses: list[str]
) -> Attempt | _Refused:
    """MAIL and RCPT: the recipients the server refused, or how the mail ended when
    the envelope failed."""
    options: list[bytes] = []
    if client.supports_extension("size"):
        # RFC 1870: the octets as sent, a bare line end counted as CRLF
        size = len(row.raw) + row.raw.count(b"\n") - row.raw.count(b"\r\n")
        options.append(b"SIZE=%d" % size)
    if not row.raw.isascii() and client.supports_extension("8bitmime"):
        options.append(b"BODY=8BITMIME")
    encoding = "ascii"
    if not all(addr.isascii() for addr in [row.envelope_from, *addresses]):
        if not client.supports_extension("smtputf8"):
            return Attempt(Verdict.TRANSIENT, "SMTPUTF8 is not supported by the server")
        options.append(b"SMTPUTF8")
        encoding = "utf-8"
    # The commands go straight to the protocol: the library's mail() and rcpt() parse
    # each address as a header would, which cost a fifth of the client's CPU a mail.
    reply = await client.execute_command(
        b"MAIL", b"FROM:" + _path(row.envelope_from, encoding), *options
    )
    if reply.code != 250:
        await _reset(client)
        return _by_reply(client, reply.code, reply.message)
    refused: _Refused = {}
    for address in addresses:
        reply = await client.execute_command(b"RCPT", b"TO:" + _path(address, encoding))
        if reply.code == 421:  # the server is closing: not this recipient's answer
            return _by_reply(client, reply.code, reply.message)
        if reply.code not in (250, 251):
            refused[address] = (reply.code, reply.message.strip())
    if len(refused) == len(addresses):
        await _reset(client)
        return _all_refused(refused)
    return refused


#: an address with nothing to quote or strip: it goes into MAIL or RCPT as it is
_PLAIN_ADDRESS = re.compile(r'[^\s<>"(),;:\\\[\]\x00-\x1f\x7f]+')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _path(address: str, encoding: str) -> bytes:
    """``<address>`` for MAIL or RCPT; ValueError when it cannot go on the wire."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return b"<" + address.encode(encoding) + b">"
    if _CONTROL.search(address):
        # Refused, not cut short: the address parser would drop what follows a CR or
        # LF and send to what is left.
        raise ValueError(f"control character in {address!r}")
    # Anything else the way aiosmtplib's own mail() and rcpt() would put it (it
    # refuses what would end the address or the command line).
    return quote_address(address).encode(encoding)


def _transport_error(what: str, exc: BaseException) -> TransientSendError:
    if isinstance(exc, TimeoutError):  # aiosmtplib's timeouts are TimeoutErrors
        return SendTimeoutError(f"{what}: timed out")
    return TransientSendError(f"{what}: {exc or type(exc).__name__}")


async def _reset(client: aiosmtplib.SMTP) -> None:
    """RSET after a refusal, so the next mail starts with an empty envelope; a failing
    RSET is not reported over the refusal that caused it (the connection is then
    closed, and the next mail gets a new one)."""
    if client.is_connected:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.rset()


def _by_reply(client: aiosmtplib.SMTP, code: int, reply: str) -> Attempt:
    # Only a 5xx is final; a reply without a readable code (-1) is tried again.
    verdict = Verdict.PERMANENT if 500 <= code < 600 else Verdict.TRANSIENT
    # aiosmtplib closes on 421 itself; a server that closes after another reply too.
    hung_up = code == 421 or not client.is_connected
    return Attempt(verdict, f"{code} {reply.strip()}", hung_up)


def _all_refused(refused: dict[str, tuple[int, str]]) -> Attempt:
    codes = [code for code, _ in refused.values()]
    detail = "; ".join(f"{a}: {code} {text}" for a, (code, text) in refused.items())
    # The code leads: Outgoing.may_auto_reply reads a failed row whose last_error
    # starts with "5" as a bounced address.
    transient = any(400 <= c < 500 for c in codes)
    code = min(c for c in codes if 400 <= c < 500) if transient else max(codes)
    return Attempt(Verdict.TRANSIENT if transient else Verdict.PERMANENT, f"{code} {detail}")
