"""``[oauth.NAME]`` and the sign-in keys: defaults per provider and flow, and one line
naming the key for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.config import load_config
from mailbot.errors import ConfigError
from mailbot.kinds import AuthMethod, OAuthFlow, OAuthProvider, SaslMechanism

M365 = """
[oauth.m365]
provider = "microsoft"
tenant = "itservice.onmicrosoft.com"
client_id = "0b1c-app"

[imap]
host = "outlook.office365.com"
username = "service@itservice.example"
auth = "oauth2"
oauth = "m365"

[smtp]
host = "smtp.office365.com"
username = "service@itservice.example"
auth = "oauth2"
oauth = "m365"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_microsoft_defaults_for_a_device_login(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, M365))
    app = cfg.oauth_named("m365")
    assert app is not None
    assert (app.provider, app.flow) == (OAuthProvider.MICROSOFT, OAuthFlow.DEVICE)
    base = "https://login.microsoftonline.com/itservice.onmicrosoft.com/oauth2/v2.0/"
    assert app.token_url == base + "token"
    assert app.device_authorization_url == base + "devicecode"
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in app.scopes
    assert "offline_access" in app.scopes
    assert cfg.imap[0].auth == AuthMethod.OAUTH2 and cfg.imap[0].oauth == "m365"
    assert cfg.imap[0].mechanism == SaslMechanism.XOAUTH2 and cfg.imap[0].password == ""
    assert cfg.smtp is not None and cfg.smtp.oauth == "m365"


def test_app_only_needs_a_secret_and_a_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_SECRET", "very-secret")
    text = M365.replace('client_id = "0b1c-app"', 'client_id = "0b1c-app"\n'
                        'flow = "client_credentials"\nclient_secret_env = "APP_SECRET"')
    app = load_config(write(tmp_path, text)).oauth_named("m365")
    assert app is not None
    assert app.scopes == ("https://outlook.office365.com/.default",)
    assert app.client_secret == "very-secret"
    assert "very-secret" not in repr(app)


def test_google_signs_in_through_the_browser(tmp_path: Path) -> None:
    text = '[oauth.g]\nprovider = "google"\nclient_id = "id.apps"\n'
    app = load_config(write(tmp_path, text)).oauth_named("g")
    assert app is not None
    assert app.flow == OAuthFlow.AUTHORIZATION_CODE
    assert app.scopes[0] == "https://mail.google.com/"
    assert ("access_type", "offline") in app.authorize_params


def test_generic_takes_its_endpoints_and_scopes(tmp_path: Path) -> None:
    text = """
[oauth.lab]
provider = "generic"
client_id = "mailbot"
token_url = "http://127.0.0.1:9000/token"
device_authorization_url = "http://127.0.0.1:9000/device_authorization"
scopes = ["mail", "offline"]
"""
    app = load_config(write(tmp_path, text)).oauth_named("lab")
    assert app is not None
    assert app.scopes == ("mail", "offline")
    assert app.device_authorization_url.endswith("/device_authorization")


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (M365.replace('oauth = "m365"', 'oauth = "other"', 1), "imap.oauth", "no [oauth.other]"),
        (M365.replace('auth = "oauth2"\noauth = "m365"', 'auth = "oauth2"', 1),
         "imap.oauth", "missing"),
        (M365.replace('auth = "oauth2"', 'auth = "oauth2"\npassword = "x"', 1),
         "imap.password", "not used"),
        (M365.replace('auth = "oauth2"', 'auth = "kerberos"', 1), "imap.auth", "one of"),
        (M365.replace('auth = "oauth2"\n', "", 1), "imap.oauth", 'only with auth = "oauth2"'),
        (M365.replace('provider = "microsoft"', 'provider = "yahoo"'), "oauth.m365.provider",
         "one of"),
        (M365.replace('client_id = "0b1c-app"', ""), "oauth.m365.client_id", "missing"),
        (M365.replace('client_id = "0b1c-app"', 'client_id = "x"\nflow = "client_credentials"'),
         "oauth.m365.client_secret_env", "secret"),
        (M365.replace('tenant = "itservice.onmicrosoft.com"', 'tenant = "common"')
         .replace('client_id = "0b1c-app"', 'client_id = "x"\nflow = "client_credentials"'),
         "oauth.m365.tenant", "tenant"),
        ('[oauth.g]\nprovider = "google"\nclient_id = "x"\nflow = "device"\n',
         "oauth.g.flow", "Google does not grant the mail scope"),
        ('[oauth.g]\nprovider = "generic"\nclient_id = "x"\n', "oauth.g.token_url", "missing"),
        ('[oauth.g]\nprovider = "generic"\nclient_id = "x"\ntoken_url = "https://t"\n',
         "oauth.g.device_authorization_url", "missing"),
        ('[oauth.g]\nprovider = "generic"\nclient_id = "x"\n'
         'token_url = "http://auth.example.net/token"\n', "oauth.g.token_url", "https://"),
        ('[oauth.g]\nprovider = "generic"\nclient_id = "x"\ntoken_url = "https://t"\n'
         'device_authorization_url = "https://d"\ncolour = "blue"\n', "oauth.g.colour",
         "unknown key"),
        ('[oauth."m 365"]\nprovider = "generic"\n', "oauth.m 365", "name"),
        (M365.replace('[smtp]\nhost = "smtp.office365.com"\nusername = "service@itservice.example"',
                      '[smtp]\nhost = "smtp.office365.com"'), "smtp.username", "missing"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert caught.value.key == key, str(caught.value)
    assert words in caught.value.problem
