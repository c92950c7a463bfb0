"""SMTP AUTH with an OAuth2 access token on an ``aiosmtplib.SMTP`` connection.

XOAUTH2 (what Exchange Online and Google take) is aiosmtplib's own ``auth_xoauth2``;
OAUTHBEARER (RFC 7628), which aiosmtplib lacks, is built here. A token the server
refuses is renewed once and tried again (a revoked one, or one ended early); what
the token source cannot deliver leaves as the sender's connection errors: for good
(:class:`PermanentSendError`: a new login is needed) or for now.

The sender's ``connect`` calls :func:`login` where it would call ``client.login``
for ``[smtp] auth = "oauth2"``.
"""

from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING

import aiosmtplib

from mailbot.config import SmtpConfig
from mailbot.errors import (
    PermanentSendError,
    TokenRefusedError,
    TokenUnavailableError,
    TransientSendError,
)
from mailbot.kinds import SaslMechanism

if TYPE_CHECKING:
    from mailbot.oauth.tokens import AccessToken, TokenSource

#: RFC 4954 4: the server's "go on" to a SASL exchange
_CONTINUE = 334
_DONE = 235


async def login(client: aiosmtplib.SMTP, cfg: SmtpConfig, tokens: TokenSource) -> AccessToken:
    """Authenticate ``client`` as ``cfg.username`` with the token set ``cfg.oauth``."""
    token = await _token(tokens, cfg)
    try:
        await authenticate(client, cfg.mechanism, cfg.username, token.token, cfg.host, cfg.port)
    except aiosmtplib.SMTPAuthenticationError:
        token = await _token(tokens, cfg, rejected=token.token)
        await authenticate(client, cfg.mechanism, cfg.username, token.token, cfg.host, cfg.port)
    return token


async def authenticate(
    client: aiosmtplib.SMTP,
    mechanism: SaslMechanism,
    username: str,
    token: str,
    host: str = "",
    port: int = 0,
) -> None:
    """One AUTH exchange; raises ``aiosmtplib.SMTPAuthenticationError`` when refused."""
    if mechanism == SaslMechanism.XOAUTH2:
        await client.auth_xoauth2(username, token)
        return
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()
    response = await client.execute_command(
        b"AUTH", b"OAUTHBEARER", base64.b64encode(oauthbearer(username, token, host, port))
    )
    if response.code == _CONTINUE:
        # RFC 7628 3.2.3: the error is a challenge; the client ends the exchange with a
        # lone %x01 and the server then answers with the failure.
        response = await client.execute_command(base64.b64encode(b"\x01"))
    if response.code != _DONE:
        raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)


def oauthbearer(username: str, token: str, host: str = "", port: int = 0) -> bytes:
    """The client's first message of RFC 7628 3.1: a GS2 header naming the user
    (",", "=" escaped as RFC 5801 says), then key=value pairs each ended by %x01."""
    user = username.replace("=", "=3D").replace(",", "=2C")
    pairs = ([f"host={host}"] if host else []) + ([f"port={port}"] if port else [])
    pairs.append(f"auth=Bearer {token}")
    return f"n,a={user},\x01".encode() + b"".join(p.encode() + b"\x01" for p in pairs) + b"\x01"


async def _token(tokens: TokenSource, cfg: SmtpConfig, rejected: str = "") -> AccessToken:
    # A refresh is a blocking HTTP request: off the event loop, which other
    # connections share.
    try:
        return await asyncio.to_thread(tokens.access_token, cfg.oauth, rejected=rejected)
    except TokenRefusedError as exc:
        raise PermanentSendError(f"SMTP login as {cfg.username}: {exc}") from exc
    except TokenUnavailableError as exc:
        raise TransientSendError(f"SMTP login as {cfg.username}: {exc}") from exc
