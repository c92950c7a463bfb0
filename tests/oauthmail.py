"""An SMTP server (aiosmtpd) that takes XOAUTH2 and OAUTHBEARER logins and asks the
test authorization server about each token, as Dovecot's oauth2 passdb does."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx2
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult

from tests.oauthserver import RESOURCE_CLIENT, RESOURCE_SECRET
from tests.servers import RecordingHandler, free_port

#: RFC 7628 3.2.2 / Google's XOAUTH2: the error a client is shown before the 535
_INVALID = json.dumps({"status": "invalid_token", "scope": "mail"})


class OAuthHandler(RecordingHandler):
    """Records mail like the plain test server; ``auth_*`` are the mechanisms aiosmtpd
    offers (it finds them on the handler)."""

    def __init__(self, introspect_url: str) -> None:
        super().__init__()
        self.introspect_url = introspect_url
        #: (mechanism, user, accepted) of each AUTH
        self.logins: list[tuple[str, str, bool]] = []

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        blob = await _initial(server, args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        fields = dict(p.split("=", 1) for p in blob.decode().split("\x01") if "=" in p)
        user = fields.get("user", "")
        return await self._check(server, "XOAUTH2", user, fields.get("auth", ""))

    async def auth_OAUTHBEARER(self, server: Any, args: list[str]) -> AuthResult:
        blob = await _initial(server, args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        head, _, rest = blob.decode().partition("\x01")
        user = next((p[2:] for p in head.split(",") if p.startswith("a=")), "")
        user = user.replace("=2C", ",").replace("=3D", "=")
        fields = dict(p.split("=", 1) for p in rest.split("\x01") if "=" in p)
        return await self._check(server, "OAUTHBEARER", user, fields.get("auth", ""))

    async def _check(self, server: Any, mechanism: str, user: str, auth: str) -> AuthResult:
        token = auth.removeprefix("Bearer ")
        owner = await asyncio.to_thread(self._introspect, token)
        accepted = bool(user) and owner == user
        self.logins.append((mechanism, user, accepted))
        if accepted:
            return AuthResult(success=True, auth_data=user)
        # The failure as a challenge first, which the client answers to end it.
        await server.challenge_auth(_INVALID)
        return AuthResult(success=False, handled=False)

    def _introspect(self, token: str) -> str:
        answer = httpx2.post(self.introspect_url, data={
            "token": token, "client_id": RESOURCE_CLIENT, "client_secret": RESOURCE_SECRET,
        }, timeout=10).json()
        return str(answer.get("username", "")) if answer.get("active") else ""


async def _initial(server: Any, args: list[str]) -> bytes | None:
    """The client's first message: inline (SASL-IR) or after an empty challenge."""
    if len(args) > 1:
        try:
            return base64.b64decode(args[1], validate=True)
        except ValueError:
            return None
    blob = await server.challenge_auth("")
    return None if blob is MISSING else bytes(blob)


class OAuthSmtpServer:
    """aiosmtpd in a thread on loopback that requires an OAuth2 login (no TLS: loopback
    only, so the test needs no certificate)."""

    def __init__(self, introspect_url: str) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.handler = OAuthHandler(introspect_url)
        self._controller = Controller(
            self.handler, hostname=self.host, port=self.port, decode_data=False,
            ready_timeout=10, auth_required=True, auth_require_tls=False,
        )

    def start(self) -> OAuthSmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
