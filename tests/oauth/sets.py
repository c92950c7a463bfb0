"""Configuration of token sets against the test authorization server, and a stand-in
for the technician who types the device code into a browser."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.oauthserver import APP_CLIENT, PUBLIC_CLIENT, SCOPES, OAuthServer
from tests.servers import Dovecot

APP_SECRET_ENV = "MAILBOT_TEST_APP_SECRET"


def oauth_toml(server: OAuthServer, name: str = "lab", *, app_only: bool = False) -> str:
    """``[oauth.NAME]`` for the test server: the public client's device flow, or with
    ``app_only`` the confidential app (its secret in ``APP_SECRET_ENV``)."""
    if app_only:
        return f"""
[oauth.{name}]
provider = "generic"
flow = "client_credentials"
client_id = "{APP_CLIENT}"
client_secret_env = "{APP_SECRET_ENV}"
token_url = "{server.url}/token"
scopes = ["mail"]
"""
    scopes = ", ".join(f'"{s}"' for s in SCOPES.split())
    return f"""
[oauth.{name}]
provider = "generic"
flow = "device"
client_id = "{PUBLIC_CLIENT}"
token_url = "{server.url}/token"
device_authorization_url = "{server.url}/device_authorization"
authorization_url = "{server.url}/authorize"
scopes = [{scopes}]
"""


def imap_toml(
    imap: Dovecot, user: str, oauth: str = "lab", *, table: str = "imap", name: str = "",
    mechanism: str = "xoauth2",
) -> str:
    """A mailbox on ``imap`` that logs in as ``user`` with the token set ``oauth``
    (``table``: "imap" or "[mailboxes]")."""
    head = "[[mailboxes]]" if table == "[mailboxes]" else "[imap]"
    return f"""
{head}
{f'name = "{name}"' if name else ""}
host = "{imap.host}"
port = {imap.port}
security = "none"
username = "{user}"
auth = "oauth2"
oauth = "{oauth}"
mechanism = "{mechanism}"
timeout = 10
poll_interval = 1
"""


@contextmanager
def technician(server: OAuthServer, *, timeout: float = 20.0) -> Iterator[list[str]]:
    """While the block runs, every device code that shows up is entered and approved,
    as a technician at a browser would; the list collects the codes."""
    approved: list[str] = []
    done = threading.Event()

    def work() -> None:
        deadline = time.monotonic() + timeout
        while not done.is_set() and time.monotonic() < deadline:
            for code in server.pending_user_codes():
                server.approve(code)
                approved.append(code)
            time.sleep(0.05)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        yield approved
    finally:
        done.set()
        thread.join(5)
