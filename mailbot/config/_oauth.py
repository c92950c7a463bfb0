"""``[oauth.NAME]`` tables, and the sign-in keys of ``[imap]``, ``[smtp]`` and
``[[mailboxes]]`` (``auth``, ``oauth``, ``mechanism``).

The known providers bring their endpoints and scopes, so a Microsoft 365 table needs
little more than the app's client ID; a flow a provider cannot do for mail is a
configuration error here, not a riddle at the first login.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mailbot.config._model import OAuthConfig
from mailbot.config._table import REQUIRED, Table
from mailbot.kinds import AuthMethod, OAuthFlow, OAuthProvider, SaslMechanism

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")

#: Microsoft's identity platform (v2.0 endpoints) for a tenant
_MICROSOFT = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/"
#: a delegated token for one person's (or a shared) mailbox: IMAP and SMTP AUTH on
#: Exchange Online, a refresh token (offline_access), and the account's name in an ID
#: token (openid, email) for ``mailbot auth status``
_MICROSOFT_USER = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
    "openid",
    "email",
)
#: app-only: whatever Exchange Online permissions the admin granted the app
_MICROSOFT_APP = ("https://outlook.office365.com/.default",)
#: the tenant words that name no one tenant; app-only needs a real one
_MICROSOFT_MULTI = frozenset({"common", "organizations", "consumers"})
_GOOGLE_MAIL = ("https://mail.google.com/", "openid", "email")


@dataclass(frozen=True)
class _Provider:
    token_url: str = ""
    device_authorization_url: str = ""
    authorization_url: str = ""
    scopes: dict[OAuthFlow, tuple[str, ...]] = field(default_factory=dict)
    default_flow: OAuthFlow = OAuthFlow.DEVICE
    #: flows the provider does not offer for mail, and why
    refused: dict[OAuthFlow, str] = field(default_factory=dict)
    authorize_params: tuple[tuple[str, str], ...] = ()
    redirect_host: str = "127.0.0.1"


_PROVIDERS: dict[OAuthProvider, _Provider] = {
    OAuthProvider.MICROSOFT: _Provider(
        token_url=_MICROSOFT + "token",
        device_authorization_url=_MICROSOFT + "devicecode",
        authorization_url=_MICROSOFT + "authorize",
        scopes={
            OAuthFlow.DEVICE: _MICROSOFT_USER,
            OAuthFlow.AUTHORIZATION_CODE: _MICROSOFT_USER,
            OAuthFlow.CLIENT_CREDENTIALS: _MICROSOFT_APP,
        },
        # Entra ID takes "http://localhost" as the loopback redirect of a public client.
        redirect_host="localhost",
    ),
    OAuthProvider.GOOGLE: _Provider(
        token_url="https://oauth2.googleapis.com/token",
        device_authorization_url="https://oauth2.googleapis.com/device/code",
        authorization_url="https://accounts.google.com/o/oauth2/v2/auth",
        scopes={OAuthFlow.AUTHORIZATION_CODE: _GOOGLE_MAIL},
        default_flow=OAuthFlow.AUTHORIZATION_CODE,
        refused={
            OAuthFlow.DEVICE: "Google does not grant the mail scope to the device flow; "
            'use flow = "authorization_code"',
            OAuthFlow.CLIENT_CREDENTIALS: "Google has no client_credentials grant for "
            'Gmail; use flow = "authorization_code"',
        },
        # Without both, Google hands out a refresh token only at the first consent.
        authorize_params=(("access_type", "offline"), ("prompt", "consent")),
    ),
    OAuthProvider.GENERIC: _Provider(),
}

_URL_KEYS = {
    OAuthFlow.DEVICE: "device_authorization_url",
    OAuthFlow.AUTHORIZATION_CODE: "authorization_url",
}


def read_oauth(root: Table) -> tuple[OAuthConfig, ...]:
    """Every ``[oauth.NAME]`` table (none when there is no ``[oauth]``)."""
    section = root.optional_table("oauth")
    if section is None:
        return ()
    found = []
    for name in list(section.data):
        if not _NAME.match(name):
            raise section.error(name, "a token set's name is letters, digits, '.', '_', '-'")
        found.append(_read_one(section.table(name), name))
    section.done()
    return tuple(found)


def _read_one(t: Table, name: str) -> OAuthConfig:
    provider = OAuthProvider(t.choice("provider", tuple(OAuthProvider), REQUIRED))
    known = _PROVIDERS[provider]
    flow = OAuthFlow(t.choice("flow", tuple(OAuthFlow), known.default_flow))
    if flow in known.refused:
        raise t.error("flow", known.refused[flow])
    tenant: str = t.get_text("tenant") or ""
    if tenant and provider != OAuthProvider.MICROSOFT:
        raise t.error("tenant", 'only for provider = "microsoft"')
    if provider == OAuthProvider.MICROSOFT and not tenant:
        tenant = "organizations"  # any work or school account
    if flow == OAuthFlow.CLIENT_CREDENTIALS and tenant.lower() in _MICROSOFT_MULTI:
        raise t.error("tenant", "app-only access needs the tenant's own name or ID")
    urls = {
        key: _url(t, key, getattr(known, key).format(tenant=tenant))
        for key in ("token_url", "device_authorization_url", "authorization_url")
    }
    if not urls["token_url"]:
        raise t.error("token_url", "missing")
    needed = _URL_KEYS.get(flow)
    if needed and not urls[needed]:
        raise t.error(needed, f'missing (flow = "{flow}")')
    secret = t.secret("client_secret")
    if flow == OAuthFlow.CLIENT_CREDENTIALS and not secret:
        raise t.error("client_secret_env", "app-only access needs the client secret")
    scopes = t.str_list("scopes", None)
    port = t.get_int("redirect_port", 0, minimum=0)
    if port > 65535:
        raise t.error("redirect_port", "must be at most 65535")
    cfg = OAuthConfig(
        name=name,
        provider=provider,
        flow=flow,
        client_id=t.get_text("client_id", REQUIRED),
        client_secret=secret,
        tenant=tenant,
        scopes=tuple(scopes) if scopes is not None else known.scopes.get(flow, ()),
        token_url=urls["token_url"],
        device_authorization_url=urls["device_authorization_url"],
        authorization_url=urls["authorization_url"],
        authorize_params=known.authorize_params,
        redirect_port=port,
        redirect_host=known.redirect_host,
        timeout=t.get_float("timeout", OAuthConfig.timeout),
    )
    t.done()
    return cfg


def _url(t: Table, key: str, default: str) -> str:
    """An endpoint: HTTPS, or plain HTTP on loopback only (a test server, a local proxy);
    tokens never travel in clear text over a network."""
    url: str = t.get_str(key, default)
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return url
    raise t.error(key, "must be an https:// URL (http:// only on loopback)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SignIn:
    """How one server is logged in to: ``auth``, ``oauth``, ``mechanism``, and the
    password when there is one."""

    auth: AuthMethod
    oauth: str
    mechanism: SaslMechanism
    password: str = field(default="", repr=False)


def read_sign_in(t: Table, oauth_names: frozenset[str]) -> SignIn:
    """The sign-in keys of ``t``: a password (inline or ``password_env``), or with
    ``auth = "oauth2"`` the name of a configured ``[oauth.NAME]``."""
    auth = AuthMethod(t.choice("auth", tuple(AuthMethod), AuthMethod.PASSWORD))
    oauth: str = t.get_str("oauth", "")
    mechanism = SaslMechanism(t.choice("mechanism", tuple(SaslMechanism), SaslMechanism.XOAUTH2))
    if auth == AuthMethod.PASSWORD:
        if oauth:
            raise t.error("oauth", 'only with auth = "oauth2"')
        return SignIn(auth, "", mechanism, t.secret("password"))
    if not oauth:
        raise t.error("oauth", 'missing: auth = "oauth2" names an [oauth.NAME] table')
    if oauth not in oauth_names:
        raise t.error("oauth", f"there is no [oauth.{oauth}] table")
    for key in ("password", "password_env"):
        if key in t:
            raise t.error(key, 'not used with auth = "oauth2" (the token set logs in)')
    return SignIn(auth, oauth, mechanism)
