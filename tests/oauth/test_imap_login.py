"""IMAP with OAuth2 against Dovecot, whose oauth2 passdb asks the test authorization
server about every token (introspection): device login, XOAUTH2 and OAUTHBEARER,
refresh before expiry, a refused token renewed, app-only access, a revoked client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailbot.config import Config
from mailbot.errors import FetchError
from mailbot.inbound.fetch import fetch_new
from mailbot.inbound.imap import connector
from mailbot.kinds import OutboxKind
from mailbot.oauth.login import login
from mailbot.oauth.tokens import TokenKeeper
from mailbot.store import OAuthToken, Outbox, open_store
from tests.helpers import make_mail, write_config
from tests.oauth.sets import APP_SECRET_ENV, imap_toml, oauth_toml, technician
from tests.oauthserver import APP_MAILBOX, APP_SECRET, DEVICE_GRANT, USER, OAuthServer
from tests.servers import Dovecot


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'mailbot.db'}")
    yield engine
    engine.dispose()


def signed_in(config: Config, engine: Engine, server: OAuthServer, name: str = "lab") -> list[str]:
    said: list[str] = []
    with technician(server):
        login(config, engine, name, say=said.append)
    return said


def row(engine: Engine, name: str = "lab") -> OAuthToken:
    with Session(engine) as db:
        found = db.get(OAuthToken, name)
        assert found is not None
        return found


@pytest.mark.parametrize("mechanism", ["xoauth2", "oauthbearer"])
def test_device_login_then_fetch(
    tmp_path: Path, store: Engine, oauth_server: OAuthServer, oauth_mailbox: Dovecot,
    mechanism: str,
) -> None:
    config = write_config(
        tmp_path, oauth_toml(oauth_server) + imap_toml(oauth_mailbox, USER, mechanism=mechanism)
    )
    said = signed_in(config, store, oauth_server)
    assert any(f"{oauth_server.url}/device" in line for line in said)
    assert said[-1].startswith(f"Signed in as {USER}. Token set lab stored")
    stored = row(store)
    assert stored.account == USER and stored.refresh_token and not stored.broken
    oauth_mailbox.append(make_mail("kunde@praxis-weber.example", "Drucker", "geht nicht"))

    report = fetch_new(config.imap[0], store, client_factory=connector(TokenKeeper(config, store)))

    assert report.stored == 1
    # Dovecot asked the server about the token it was given, and was told who it is.
    assert (stored.access_token, USER, True) in oauth_server.introspections
    assert oauth_server.requests[DEVICE_GRANT] >= 1


def test_renewed_before_expiry_and_the_rotated_refresh_token_kept(
    tmp_path: Path, store: Engine, oauth_server: OAuthServer, oauth_mailbox: Dovecot
) -> None:
    oauth_server.lifetime = 2
    config = write_config(tmp_path, oauth_toml(oauth_server) + imap_toml(oauth_mailbox, USER))
    signed_in(config, store, oauth_server)
    factory = connector(TokenKeeper(config, store))
    first = row(store)
    seen = []
    for _round in range(3):
        time.sleep(2.1)  # the access token has run out
        fetch_new(config.imap[0], store, client_factory=factory)
        seen.append(row(store))
    assert oauth_server.requests["refresh_token"] == 3
    # Each refresh rotated the refresh token and the next one used the new one: the
    # server refuses a used refresh token, so a stale one would have broken the set.
    tokens = [first.refresh_token] + [r.refresh_token for r in seen]
    assert len(set(tokens)) == 4
    assert not seen[-1].broken and seen[-1].refreshed_at is not None


def test_a_refused_token_is_renewed_and_tried_once_more(
    tmp_path: Path, store: Engine, oauth_server: OAuthServer, oauth_mailbox: Dovecot
) -> None:
    config = write_config(tmp_path, oauth_toml(oauth_server) + imap_toml(oauth_mailbox, USER))
    signed_in(config, store, oauth_server)
    before = row(store).access_token
    oauth_server.expire_access_tokens()  # ended early: mailbot still thinks it good

    fetch_new(config.imap[0], store, client_factory=connector(TokenKeeper(config, store)))

    assert oauth_server.requests["refresh_token"] == 1
    assert (before, "", False) in oauth_server.introspections
    assert row(store).access_token != before


def test_app_only_mailbox_needs_no_login(
    tmp_path: Path, store: Engine, oauth_server: OAuthServer, oauth_mailbox: Dovecot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(APP_SECRET_ENV, APP_SECRET)
    config = write_config(tmp_path, oauth_toml(oauth_server, "app", app_only=True)
                          + imap_toml(oauth_mailbox, APP_MAILBOX, "app"))
    oauth_mailbox.append(make_mail("kunde@praxis-weber.example", "Archiv", "bitte"),
                         user=APP_MAILBOX)
    factory = connector(TokenKeeper(config, store))

    assert fetch_new(config.imap[0], store, client_factory=factory).stored == 1
    assert fetch_new(config.imap[0], store, client_factory=factory).stored == 0
    assert oauth_server.requests["client_credentials"] == 1  # the token was reused
    assert row(store, "app").refresh_token == ""


def test_a_revoked_client_breaks_the_set_and_staff_hear_once(
    tmp_path: Path, store: Engine, oauth_server: OAuthServer, oauth_mailbox: Dovecot
) -> None:
    config = write_config(tmp_path, oauth_toml(oauth_server) + imap_toml(oauth_mailbox, USER))
    signed_in(config, store, oauth_server)
    oauth_server.revoke("mailbot")
    factory = connector(TokenKeeper(config, store))

    for _attempt in range(3):
        with pytest.raises(FetchError, match=r"invalid_grant.*run: mailbot auth login lab"):
            fetch_new(config.imap[0], store, client_factory=factory)

    # The first attempt asked once (the refused token, then the refused refresh); the
    # others did not ask the provider again.
    assert oauth_server.requests["refresh_token"] == 1
    stored = row(store)
    assert stored.broken and stored.notified_at is not None
    assert "invalid_grant" in stored.last_error
    with Session(store) as db:
        told = db.exec(select(Outbox).where(Outbox.kind == OutboxKind.OAUTH_BROKEN)).all()
    assert len(told) == 1
    assert told[0].to_address == "technik@itservice.example"
    assert b"mailbot auth login lab" in told[0].raw
    # A new login mends it.
    signed_in(config, store, oauth_server)
    assert not row(store).broken
