"""``mailbot auth login NAME``: a token set obtained by its configured flow and stored
(a new login mends a broken set)."""

from __future__ import annotations

import math
from collections.abc import Callable

from sqlalchemy.engine import Engine

from mailbot.config import Config, OAuthConfig
from mailbot.errors import MailbotError, TokenRefusedError
from mailbot.kinds import OAuthFlow
from mailbot.oauth.flows import Flows, Grant
from mailbot.oauth.loopback import RedirectCatcher
from mailbot.oauth.tokens import AccessToken, TokenKeeper

#: how long a browser login may take before mailbot gives up waiting
BROWSER_TIMEOUT = 900.0


def login(
    config: Config,
    engine: Engine,
    name: str,
    *,
    say: Callable[[str], None],
    pasted: Callable[[], str] | None = None,
    flows: Callable[[OAuthConfig], Flows] = Flows,
) -> AccessToken:
    """Obtain and store the tokens of ``[oauth.NAME]``; ``say`` shows the technician
    what to do, ``pasted`` reads a redirect URL typed in (authorization_code)."""
    cfg = config.oauth_named(name)
    if cfg is None:
        known = ", ".join(o.name for o in config.oauth) or "none"
        raise MailbotError(f"no [oauth.{name}] table in the configuration (known: {known})")
    flow = flows(cfg)
    if cfg.flow == OAuthFlow.DEVICE:
        grant = _device(flow, say)
    elif cfg.flow == OAuthFlow.AUTHORIZATION_CODE:
        grant = _browser(flow, cfg, say, pasted)
    else:
        say(f"Asking {cfg.token_url} for an app-only token ...")
        grant = flow.app_token()
    token = TokenKeeper(config, engine).save(cfg, grant, login=True)
    who = f" as {grant.account}" if grant.account else ""
    until = token.expires_at.isoformat(timespec="seconds") if token.expires_at else "unknown"
    say(f"Signed in{who}. Token set {name} stored; the access token is valid until {until}"
        + ("; a refresh token was issued." if grant.refresh_token else "."))
    return token


def _device(flow: Flows, say: Callable[[str], None]) -> Grant:
    code = flow.start_device()
    say(f"To sign in, open {code.verification_uri} in any browser and enter the code:")
    say(f"    {code.user_code}")
    if code.verification_uri_complete:
        say(f"(or open {code.verification_uri_complete})")
    minutes = math.ceil(code.expires_in / 60)
    say(f"Waiting for the sign-in; the code is valid for {minutes} minutes ...")
    return flow.wait_for_device(code)


def _browser(
    flow: Flows, cfg: OAuthConfig, say: Callable[[str], None], pasted: Callable[[], str] | None
) -> Grant:
    catcher = RedirectCatcher(cfg.redirect_host, cfg.redirect_port)
    try:
        request = flow.browser_login(catcher.redirect_uri)
        say("Open this address in a browser and sign in:")
        say(request.url)
        say(f"The browser comes back to {catcher.redirect_uri}. If it runs on another "
            "machine, paste the address it ends up on (even an error page) here:")
        answer = catcher.wait(BROWSER_TIMEOUT, pasted)
    finally:
        catcher.close()
    if answer is None:
        raise TokenRefusedError(cfg.name, "the browser did not come back in time")
    return flow.finish_browser_login(request, answer)
