"""A real OAuth2 authorization server on loopback, for the sign-in tests.

The protocol is Authlib's server side (RFC 6749 grants, RFC 7636 PKCE, RFC 8628
device authorization, RFC 7662 introspection) on Flask, served by werkzeug in a
thread; what is written here is only the storage those classes ask for, kept in
memory, and the test's view of it. Tokens live ``lifetime`` seconds, so a refresh
happens inside a test; refresh tokens rotate and a used one is refused, as
Microsoft's do (``rotate=False`` keeps them, as Google's).

The "browser" of a person is played by :meth:`OAuthServer.approve` (the device code
entered at ``/device``) and by ``/authorize``, which signs in ``browser_user`` at once
and redirects back with a code.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint, DeviceCodeGrant
from flask import Flask, request
from markupsafe import escape
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.servers import free_port

#: the resource servers that may introspect tokens (Dovecot, the SMTP server)
RESOURCE_CLIENT = "mailservers"
RESOURCE_SECRET = "introspection-secret"
#: the standard clients of :meth:`OAuthServer.reset`
PUBLIC_CLIENT = "mailbot"
APP_CLIENT = "app"
APP_SECRET = "app-secret-for-tests"
USER = "bot@example.test"
APP_MAILBOX = "archive@example.test"
SCOPES = "mail offline_access openid email"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(frozen=True)
class Account:
    email: str

    def get_user_id(self) -> str:
        return self.email


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    secret: str = ""
    grant_types: tuple[str, ...] = ()
    scope: str = ""
    redirect_uris: tuple[str, ...] = ()
    #: app-only: the mailbox the app was granted (Exchange's Add-MailboxPermission)
    mailbox: str = ""
    introspects: bool = False

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0] if self.redirect_uris else ""

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(scope_to_list(self.scope))
        return " ".join(s for s in scope_to_list(scope or "") if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Loopback redirects match on any port (RFC 8252 7.3).
        base = redirect_uri.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        return any(base == uri.split("://", 1)[-1].split("/", 1)[0] for uri in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.secret) and secrets.compare_digest(self.secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none" if not self.secret else method != "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class Issued(TokenMixin):  # type: ignore[misc]
    client_id: str
    user: Account | None
    scope: str
    access_token: str
    refresh_token: str | None
    expires_in: int
    issued_at: float = field(default_factory=time.time)
    revoked: bool = False
    refresh_used: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> Account | None:
        return self.user

    def get_client(self) -> Client:
        raise NotImplementedError


@dataclass
class DeviceCredential:
    client_id: str
    scope: str
    device_code: str
    user_code: str
    expires_at: float
    interval: float
    last_poll: float = 0.0

    def get_client_id(self) -> str:
        return self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_user_code(self) -> str:
        return self.user_code

    def is_expired(self) -> bool:
        return time.time() > self.expires_at


class OAuthServer:
    """The server and what the tests look at and change."""

    def __init__(
        self, *, lifetime: int = 3600, rotate: bool = True, interval: float = 1.0, port: int = 0
    ) -> None:
        self.lifetime = lifetime
        self.rotate = rotate
        self.interval = interval
        self.browser_user = USER
        self.lock = threading.RLock()
        self.clients: dict[str, Client] = {}
        self.tokens: list[Issued] = []
        self.devices: dict[str, DeviceCredential] = {}
        self.approved: dict[str, Account] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        #: every token request by grant type, refused ones too
        self.requests: Counter[str] = Counter()
        #: (access token, username, active) of each introspection
        self.introspections: list[tuple[str, str, bool]] = []
        self._fail: list[int] = []
        self.reset(lifetime=lifetime)
        self.rotate = rotate
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._http = make_server(
            "127.0.0.1", self.port, self._app(), threaded=True, request_handler=_Quiet
        )
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def start(self) -> OAuthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._thread.join(5)

    # -- what tests do ---------------------------------------------------------------

    def reset(self, *, lifetime: int = 3600) -> None:
        """Forget every token, code and count; the standard clients again: ``mailbot``
        (public: device, browser, refresh), ``app`` (app-only, granted ``APP_MAILBOX``)."""
        with self.lock:
            self.lifetime, self.rotate = lifetime, True
            self.browser_user = USER
            for store in (self.clients, self.devices, self.approved, self.codes):
                store.clear()
            self.tokens.clear()
            self.requests.clear()
            self.introspections.clear()
            self._fail.clear()
            self.add_client(Client(RESOURCE_CLIENT, RESOURCE_SECRET, introspects=True))
            self.add_client(Client(
                PUBLIC_CLIENT, grant_types=(DEVICE_GRANT, "refresh_token", "authorization_code"),
                scope=SCOPES, redirect_uris=("http://127.0.0.1/", "http://localhost/"),
            ))
            self.add_client(Client(
                APP_CLIENT, APP_SECRET, grant_types=("client_credentials",), scope="mail",
                mailbox=APP_MAILBOX,
            ))

    def add_client(self, client: Client) -> Client:
        with self.lock:
            self.clients[client.client_id] = client
        return client

    def approve(self, user_code: str, email: str | None = None) -> None:
        """The technician entered the code and signed in."""
        with self.lock:
            self.approved[user_code] = Account(email or self.browser_user)

    def pending_user_codes(self) -> list[str]:
        with self.lock:
            return [d.user_code for d in self.devices.values() if d.user_code not in self.approved]

    def revoke(self, client_id: str) -> None:
        """The admin withdrew the app's consent: none of its tokens works any more."""
        with self.lock:
            for token in self.tokens:
                if token.client_id == client_id:
                    token.revoked = True

    def expire_access_tokens(self) -> None:
        """Every access token issued so far ends now (a server that ends them early, or
        whose clock runs ahead); refresh tokens stay good."""
        with self.lock:
            for token in self.tokens:
                token.issued_at = 0.0

    def fail_token_requests(self, count: int, status: int = 503) -> None:
        with self.lock:
            self._fail.extend([status] * count)

    def active_tokens(self, client_id: str) -> list[Issued]:
        with self.lock:
            return [t for t in self.tokens if t.client_id == client_id and not t.revoked
                    and not t.is_expired()]

    # -- Authlib's storage ---------------------------------------------------------------

    def _token(self, grant_type: str, client: Client, user: Account | None = None,
               scope: str | None = None, expires_in: int | None = None,
               include_refresh_token: bool = True) -> dict[str, Any]:
        scope = client.get_allowed_scope(scope or "")
        token: dict[str, Any] = {
            "token_type": "Bearer", "access_token": secrets.token_urlsafe(32),
            "expires_in": expires_in or self.lifetime, "scope": scope,
        }
        if include_refresh_token:
            token["refresh_token"] = secrets.token_urlsafe(40)
        if user is not None and "openid" in scope_to_list(scope):
            token["id_token"] = _id_token(self.url, client.client_id, user.email)
        return token

    def _save(self, token: dict[str, Any], req: Any) -> None:
        with self.lock:
            self.tokens.append(Issued(
                req.client.client_id, req.user, token.get("scope", ""), token["access_token"],
                token.get("refresh_token"), int(token["expires_in"]),
            ))

    def _app(self) -> Flask:
        app = Flask("oauth-test-server")
        server = AuthorizationServer(app, query_client=self.clients.get, save_token=self._save)
        server.register_token_generator("default", self._token)
        owner = self

        class Device(DeviceCodeGrant):  # type: ignore[misc]
            def query_device_credential(self, device_code: str) -> DeviceCredential | None:
                return owner.devices.get(device_code)

            def query_user_grant(self, user_code: str) -> tuple[Account, bool] | None:
                account = owner.approved.get(user_code)
                return (account, True) if account is not None else None

            def should_slow_down(self, credential: DeviceCredential) -> bool:
                # RFC 8628 3.5: polled faster than the interval it was given
                now, last = time.time(), credential.last_poll
                credential.last_poll = now
                return bool(last) and now - last < credential.interval * 0.8

            def create_token_response(self) -> Any:
                answer = super().create_token_response()
                owner.devices.pop(self.request.credential.device_code, None)  # used once
                return answer

        class DeviceStart(DeviceAuthorizationEndpoint):  # type: ignore[misc]
            INTERVAL = int(max(1, self.interval))

            def get_verification_uri(self) -> str:
                return f"{owner.url}/device"

            def save_device_credential(
                self, client_id: str, scope: str, data: dict[str, Any]
            ) -> None:
                owner.devices[data["device_code"]] = DeviceCredential(
                    client_id, scope, data["device_code"], data["user_code"],
                    time.time() + data["expires_in"], float(data["interval"]),
                )

        class Refresh(grants.RefreshTokenGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
                "client_secret_basic", "client_secret_post", "none"
            ]

            def issue_token(self, user: Account, token: Issued) -> dict[str, Any]:
                scope = self.request.payload.scope or token.get_scope()
                # Rotation decided per request: a test switches it on the running server.
                issued: dict[str, Any] = self.generate_token(
                    user=user, scope=scope, include_refresh_token=owner.rotate
                )
                return issued

            def authenticate_refresh_token(self, refresh_token: str) -> Issued | None:
                return next((t for t in owner.tokens if t.refresh_token == refresh_token
                             and not t.revoked and not t.refresh_used), None)

            def authenticate_user(self, token: Issued) -> Account | None:
                return token.user

            def revoke_old_credential(self, token: Issued) -> None:
                if owner.rotate:
                    token.refresh_used = True

        class AppOnly(grants.ClientCredentialsGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
                "client_secret_basic", "client_secret_post"
            ]

        class Code(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
                "client_secret_basic", "client_secret_post", "none"
            ]

            def save_authorization_code(self, code: str, req: Any) -> None:
                owner.codes[code] = {
                    "client_id": req.client.client_id, "redirect_uri": req.payload.redirect_uri,
                    "scope": req.payload.scope, "user": req.user,
                    "code_challenge": req.payload.data.get("code_challenge"),
                    "code_challenge_method": req.payload.data.get("code_challenge_method"),
                }

            def query_authorization_code(self, code: str, client: Client) -> Any:
                data = owner.codes.get(code)
                return _Code(code, data) if data and data["client_id"] == client.client_id else None

            def delete_authorization_code(self, code: Any) -> None:
                owner.codes.pop(code.code, None)

            def authenticate_user(self, code: _Code) -> Account:
                user: Account = code.data["user"]
                return user

        class Introspect(IntrospectionEndpoint):  # type: ignore[misc]
            CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

            def query_token(self, token: str, hint: str | None) -> Issued | None:
                return next((t for t in owner.tokens if t.access_token == token), None)

            def check_permission(self, token: Issued, client: Client, req: Any) -> bool:
                return client.introspects

            def create_introspection_payload(self, token: Issued | None) -> dict[str, Any]:
                payload: dict[str, Any] = super().create_introspection_payload(token)
                owner.introspections.append((
                    token.access_token if token else "", payload.get("username", ""),
                    bool(payload["active"]),
                ))
                return payload

            def introspect_token(self, token: Issued) -> dict[str, Any]:
                app_client = owner.clients[token.client_id]
                return {"active": True, "client_id": token.client_id, "scope": token.scope,
                        "username": token.user.email if token.user else app_client.mailbox,
                        "token_type": "Bearer", "exp": int(token.issued_at + token.expires_in)}

        server.register_grant(Device)
        server.register_grant(Refresh)
        server.register_grant(AppOnly)
        server.register_grant(Code, [CodeChallenge(required=True)])
        server.register_endpoint(DeviceStart)
        server.register_endpoint(Introspect)

        @app.post("/token")
        def token() -> Any:
            with owner.lock:
                owner.requests[request.form.get("grant_type", "")] += 1
                if owner._fail:
                    return {"error": "temporarily_unavailable"}, owner._fail.pop(0)
                return server.create_token_response()

        @app.post("/device_authorization")
        def device_authorization() -> Any:
            with owner.lock:
                return server.create_endpoint_response(DeviceStart.ENDPOINT_NAME)

        @app.post("/introspect")
        def introspect() -> Any:
            with owner.lock:
                return server.create_endpoint_response(Introspect.ENDPOINT_NAME)

        @app.get("/device")
        def device_page() -> Any:  # the page a person types the code into
            code = escape(request.args.get("user_code", ""))
            return (f'<form method="post"><input name="user_code" value="{code}">'
                    '<button>Sign in</button></form>')

        @app.post("/device")
        def device() -> Any:
            owner.approve(request.form["user_code"], request.form.get("user"))
            return "signed in; you may close this window\n"

        @app.get("/authorize")
        def authorize() -> Any:  # a browser that is signed in already and consents
            with owner.lock:
                user = Account(owner.browser_user)
                grant = server.get_consent_grant(end_user=user)
                return server.create_authorization_response(grant_user=user, grant=grant)

        return app


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return  # a request line per poll would bury the test's output


@dataclass
class _Code:
    code: str
    data: dict[str, Any]

    def get_redirect_uri(self) -> str:
        return str(self.data["redirect_uri"])

    def get_scope(self) -> str:
        return str(self.data["scope"])

    def is_expired(self) -> bool:
        return False

    def get_auth_time(self) -> int:
        return int(time.time())

    def get_nonce(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        # CodeChallenge reads code_challenge and code_challenge_method as attributes.
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(name) from None


def _id_token(issuer: str, audience: str, email: str) -> str:
    """An OpenID Connect ID token's shape (unsigned: the client only reads the name)."""
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "sub": email, "email": email,
              "preferred_username": email, "iat": now, "exp": now + 3600}
    return f"{part({'alg': 'none'})}.{part(claims)}."
