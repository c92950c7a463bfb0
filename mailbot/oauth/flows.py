"""The OAuth2 protocol, spoken through Authlib's client (over httpx2).

One :class:`Flows` per ``[oauth.NAME]``: the device authorization grant (RFC 8628),
the authorization code grant with PKCE (RFC 7636), client credentials, and the
refresh. Authlib builds and parses the token requests, authenticates the client,
makes the PKCE challenge and checks ``state``; RFC 8628's first request (the device
code) is the one Authlib's client has no call for, so it is a plain POST through the
same client and its client authentication. Every failure leaves as
:class:`TokenRefusedError` (for good) or :class:`TokenUnavailableError` (try again);
no token is ever part of an error's text.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc6749.errors import OAuth2Error

from mailbot.config import OAuthConfig
from mailbot.errors import TokenRefusedError, TokenUnavailableError

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: error codes of RFC 6749 5.2 and RFC 8628 3.5 that say "not now" rather than "no"
_TRANSIENT = frozenset({"temporarily_unavailable", "server_error"})
#: RFC 8628 3.5: each slow_down adds this many seconds to the polling interval
_SLOW_DOWN_STEP = 5.0


@dataclass(frozen=True)
class Grant:
    """What a token endpoint handed out."""

    access_token: str = field(repr=False)
    #: "" when the provider gave none (client credentials; Google on a refresh)
    refresh_token: str = field(repr=False)
    expires_at: datetime | None
    scopes: tuple[str, ...]
    #: who signed in, from the ID token if there was one
    account: str = ""


@dataclass(frozen=True)
class DeviceCode:
    """RFC 8628 3.2: what the technician needs, and what the polling needs."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: float
    interval: float
    #: the provider's own instructions (Microsoft sends them), else ""
    message: str = ""


@dataclass(frozen=True)
class BrowserLogin:
    """An authorization request sent to the browser, and what checks its answer."""

    url: str
    state: str = field(repr=False)
    verifier: str = field(repr=False)
    redirect_uri: str


class Flows:
    """The grants of one token set. ``sleep`` waits between device-flow polls (tests
    pass a shorter clock)."""

    def __init__(self, cfg: OAuthConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.cfg = cfg
        self._sleep = sleep

    def _client(self, **options: Any) -> OAuth2Client:
        cfg = self.cfg
        # The secret in the body: the form every provider here takes (Entra ID's
        # documentation shows only that one).
        method = "client_secret_post" if cfg.client_secret else "none"
        return OAuth2Client(
            client_id=cfg.client_id,
            client_secret=cfg.client_secret or None,
            token_endpoint_auth_method=method,
            timeout=cfg.timeout,
            **options,
        )

    @property
    def _scope(self) -> str:
        return " ".join(self.cfg.scopes)

    # -- the device authorization grant (RFC 8628) -------------------------------------

    def start_device(self) -> DeviceCode:
        with self._asking("device authorization"), self._client() as client:
            response = client.post(
                self.cfg.device_authorization_url,
                data={"scope": self._scope} if self._scope else {},
                auth=client.client_auth(client.token_endpoint_auth_method),
            )
            data = _json(response)
        if "error" in data or "device_code" not in data:
            raise self._refusal("device authorization", data)
        # Google names it verification_url (the draft's word).
        uri = str(data.get("verification_uri") or data.get("verification_url") or "")
        return DeviceCode(
            device_code=str(data["device_code"]),
            user_code=str(data.get("user_code", "")),
            verification_uri=uri,
            verification_uri_complete=str(data.get("verification_uri_complete") or ""),
            expires_in=float(data.get("expires_in") or 900),
            interval=float(data.get("interval") or 5),
            message=str(data.get("message") or ""),
        )

    def wait_for_device(self, code: DeviceCode) -> Grant:
        """Poll until the technician has entered the code (or refused, or it expired)."""
        deadline = time.monotonic() + code.expires_in
        interval = code.interval
        with self._client() as client:
            while True:
                self._sleep(interval)
                if time.monotonic() > deadline:
                    raise TokenRefusedError(self.cfg.name, "the code expired before it was used")
                asked = _now()
                try:
                    with self._asking("device login"):
                        token = client.fetch_token(
                            self.cfg.token_url, grant_type=DEVICE_GRANT,
                            device_code=code.device_code,
                        )
                except _Pending as pending:
                    if pending.slow_down:
                        interval += _SLOW_DOWN_STEP
                    continue
                return self._grant(token, asked)

    # -- the authorization code grant with PKCE -----------------------------------------

    def browser_login(self, redirect_uri: str) -> BrowserLogin:
        verifier = generate_token(64)
        with self._client(redirect_uri=redirect_uri, code_challenge_method="S256") as client:
            url, state = client.create_authorization_url(
                self.cfg.authorization_url, code_verifier=verifier, scope=self._scope,
                **dict(self.cfg.authorize_params),
            )
        return BrowserLogin(str(url), str(state), verifier, redirect_uri)

    def finish_browser_login(self, login: BrowserLogin, redirected: str) -> Grant:
        """Trade the code in the URL the browser came back to for tokens."""
        params = parse_qs(urlsplit(redirected.strip()).query)
        if "error" in params:
            raise self._refusal("browser login", {k: v[0] for k, v in params.items()})
        if "code" not in params:
            raise TokenRefusedError(self.cfg.name, "the pasted URL carries no code")
        asked = _now()
        with self._asking("browser login"), self._client(
            redirect_uri=login.redirect_uri, code_challenge_method="S256"
        ) as client:
            token = client.fetch_token(
                self.cfg.token_url, authorization_response=redirected.strip(),
                state=login.state, code_verifier=login.verifier,
            )
        return self._grant(token, asked)

    # -- app-only, and the refresh ------------------------------------------------------

    def app_token(self) -> Grant:
        asked = _now()
        with self._asking("app-only token"), self._client() as client:
            token = client.fetch_token(
                self.cfg.token_url, grant_type="client_credentials", scope=self._scope
            )
        return self._grant(token, asked)

    def refresh(self, refresh_token: str) -> Grant:
        """A new access token; the refresh token comes back rotated or, when the
        provider sends none (Google), is the one given."""
        asked = _now()
        # The scopes again: Entra ID wants them on every refresh, others take them as
        # "the same as before" (RFC 6749 6).
        with self._asking("refresh"), self._client() as client:
            token = client.refresh_token(
                self.cfg.token_url, refresh_token=refresh_token, scope=self._scope
            )
        return self._grant(token, asked, keep_refresh=refresh_token)

    # -- answers ------------------------------------------------------------------------

    def _grant(self, token: Mapping[str, Any], asked: datetime, keep_refresh: str = "") -> Grant:
        access = str(token.get("access_token") or "")
        if not access:
            raise TokenRefusedError(self.cfg.name, "the token endpoint sent no access token")
        expires_in = token.get("expires_in")
        # Counted from before the request: the token is never thought younger than it is.
        expires_at = asked + timedelta(seconds=float(expires_in)) if expires_in else None
        scope = token.get("scope")
        scopes = tuple(str(scope).split()) if scope else self.cfg.scopes
        return Grant(
            access_token=access,
            refresh_token=str(token.get("refresh_token") or keep_refresh),
            expires_at=expires_at,
            scopes=scopes,
            account=_account(token.get("id_token")),
        )

    def _refusal(
        self, what: str, data: Mapping[str, Any]
    ) -> TokenRefusedError | TokenUnavailableError:
        error = str(data.get("error") or "no error code")
        described = data.get("error_description")
        text = f"{what}: {error}" + (f" ({_first_line(str(described))})" if described else "")
        if error in _TRANSIENT:
            return TokenUnavailableError(self.cfg.name, text)
        return TokenRefusedError(self.cfg.name, text)

    @contextmanager
    def _asking(self, what: str) -> Iterator[None]:
        """Authlib's and httpx's errors as ours; RFC 8628's "keep polling" as _Pending."""
        try:
            yield
        except OAuthError as exc:
            if exc.error in ("authorization_pending", "slow_down"):
                raise _Pending(exc.error == "slow_down") from None
            raise self._refusal(
                what, {"error": exc.error, "error_description": exc.description}
            ) from None
        except OAuth2Error as exc:  # e.g. the state of the redirect is not ours
            raise self._refusal(
                what, {"error": exc.error, "error_description": exc.description}
            ) from None
        except httpx2.HTTPStatusError as exc:
            status = exc.response.status_code
            text = f"{what}: HTTP {status} from {exc.request.url.host}"
            if status >= 500 or status == 429:
                raise TokenUnavailableError(self.cfg.name, text) from None
            raise TokenRefusedError(self.cfg.name, text) from None
        except (httpx2.HTTPError, OSError, ValueError) as exc:
            text = f"{what}: {type(exc).__name__}: {_first_line(str(exc))}"
            raise TokenUnavailableError(self.cfg.name, text) from None


class _Pending(Exception):
    """The device login is not done yet (RFC 8628 3.5)."""

    def __init__(self, slow_down: bool) -> None:
        super().__init__("authorization pending")
        self.slow_down = slow_down


def _now() -> datetime:
    return datetime.now(UTC)


def _json(response: httpx2.Response) -> dict[str, Any]:
    if response.status_code >= 500:
        response.raise_for_status()
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError(f"HTTP {response.status_code}: not a JSON object")
    return data


def _account(id_token: Any) -> str:
    """The account an OpenID Connect ID token names, for ``mailbot auth status`` only.

    Read, not verified: nothing is decided on it, and it came straight from the token
    endpoint over TLS (OpenID Connect Core 3.1.3.7 allows that in place of the
    signature for the code flow)."""
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return ""
    body = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        return ""
    if not isinstance(claims, dict):
        return ""
    for key in ("preferred_username", "email", "upn", "sub"):
        if isinstance(claims.get(key), str) and claims[key]:
            return str(claims[key])
    return ""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else ""
