"""``mailbot auth login`` with flow = "authorization_code" (PKCE): the browser comes
back to the loopback listener, or its address is pasted by hand."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest

from mailbot.oauth.login import login
from mailbot.store import open_store
from tests.helpers import write_config
from tests.oauth.sets import oauth_toml
from tests.oauthserver import USER, OAuthServer


def run_login(
    tmp_path: Path, server: OAuthServer, pasted: Callable[[], str] | None
) -> tuple[list[str], threading.Thread, list[BaseException]]:
    config = write_config(
        tmp_path, oauth_toml(server).replace('flow = "device"', 'flow = "authorization_code"')
    )
    engine = open_store(config.store_url)
    said: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            login(config, engine, "lab", say=said.append, pasted=pasted)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return said, thread, errors


def wait_for_url(said: list[str], server: OAuthServer) -> str:
    for _ in range(200):
        found = [line for line in said if line.startswith(f"{server.url}/authorize?")]
        if found:
            return found[0]
        threading.Event().wait(0.05)
    pytest.fail(f"no authorization URL in {said}")


def test_the_browser_comes_back_to_the_loopback_port(
    tmp_path: Path, oauth_server: OAuthServer
) -> None:
    said, thread, errors = run_login(tmp_path, oauth_server, None)
    url = wait_for_url(said, oauth_server)
    assert "code_challenge_method=S256" in url and "code_challenge=" in url

    page = httpx2.get(url, follow_redirects=True, timeout=10)  # the signed-in browser

    thread.join(20)
    assert errors == []
    assert page.status_code == 200 and "can be closed" in page.text
    assert said[-1].startswith(f"Signed in as {USER}.")
    assert oauth_server.requests["authorization_code"] == 1


def test_the_address_the_browser_ended_on_can_be_pasted(
    tmp_path: Path, oauth_server: OAuthServer
) -> None:
    lines: queue.Queue[str] = queue.Queue()
    said, thread, errors = run_login(tmp_path, oauth_server, lines.get)
    url = wait_for_url(said, oauth_server)
    # The browser runs elsewhere: it cannot reach mailbot's port, its address bar shows
    # the redirect, which the technician pastes.
    redirect = httpx2.get(url, follow_redirects=False, timeout=10).headers["location"]
    lines.put("something else\n")
    lines.put(redirect + "\n")

    thread.join(20)
    assert errors == []
    assert said[-1].startswith(f"Signed in as {USER}.")


def test_a_forged_redirect_is_refused(tmp_path: Path, oauth_server: OAuthServer) -> None:
    lines: queue.Queue[str] = queue.Queue()
    said, thread, errors = run_login(tmp_path, oauth_server, lines.get)
    url = wait_for_url(said, oauth_server)
    redirect = httpx2.get(url, follow_redirects=False, timeout=10).headers["location"]
    lines.put(redirect.replace("state=", "state=x") + "\n")  # not the state we sent

    thread.join(20)
    assert len(errors) == 1 and "state" in str(errors[0]).lower()
    assert oauth_server.requests["authorization_code"] == 0
