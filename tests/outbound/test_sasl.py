"""SMTP AUTH with OAuth2 tokens (outbound/_sasl.py) against aiosmtpd, which asks the
test authorization server about every token: XOAUTH2 and OAUTHBEARER, a refused
token renewed once, a broken token set as the sender's permanent error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import pytest
from sqlmodel import Session, select

from mailbot.config import SmtpConfig
from mailbot.errors import PermanentSendError
from mailbot.kinds import AuthMethod, OutboxStatus, SaslMechanism
from mailbot.oauth.login import login as oauth_login
from mailbot.oauth.tokens import TokenKeeper
from mailbot.outbound import _sasl
from mailbot.store import Outbox, open_store
from tests.helpers import RuntimeFactory, make_mail, write_config
from tests.oauth.sets import oauth_toml, technician
from tests.oauthmail import OAuthSmtpServer
from tests.oauthserver import USER, OAuthServer

#: the test server takes logins without TLS (loopback only), which aiosmtpd warns about
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def oauth_smtp(oauth_server: OAuthServer) -> Iterator[OAuthSmtpServer]:
    server = OAuthSmtpServer(f"{oauth_server.url}/introspect").start()
    yield server
    server.stop()


def smtp_config(server: OAuthSmtpServer, mechanism: SaslMechanism) -> SmtpConfig:
    return SmtpConfig(
        host=server.host, port=server.port, security="none", username=USER, password="",
        timeout=10, auth=AuthMethod.OAUTH2, oauth="lab", mechanism=mechanism,
    )


def keeper(tmp_path: Path, oauth_server: OAuthServer) -> TokenKeeper:
    config = write_config(tmp_path, oauth_toml(oauth_server))
    engine = open_store(config.store_url)
    with technician(oauth_server):
        oauth_login(config, engine, "lab", say=lambda _line: None)
    return TokenKeeper(config, engine)


async def send(cfg: SmtpConfig, tokens: TokenKeeper) -> aiosmtplib.SMTPResponse:
    client = aiosmtplib.SMTP(hostname=cfg.host, port=cfg.port, start_tls=False, timeout=10)
    await client.connect()
    try:
        await _sasl.login(client, cfg, tokens)
        errors, reply = await client.sendmail(
            "service@itservice.example", ["kunde@praxis-weber.example"],
            b"Subject: Test\r\n\r\nHallo\r\n",
        )
        assert errors == {}
        return aiosmtplib.SMTPResponse(250, reply)
    finally:
        client.close()


@pytest.mark.parametrize("mechanism", list(SaslMechanism))
def test_mail_goes_out_after_an_oauth2_login(
    tmp_path: Path, oauth_server: OAuthServer, oauth_smtp: OAuthSmtpServer,
    mechanism: SaslMechanism,
) -> None:
    tokens = keeper(tmp_path, oauth_server)
    asyncio.run(send(smtp_config(oauth_smtp, mechanism), tokens))
    assert oauth_smtp.handler.logins == [(mechanism.upper(), USER, True)]
    assert [r.login for r in oauth_smtp.handler.received] == [USER]


@pytest.mark.parametrize("mechanism", list(SaslMechanism))
def test_a_refused_token_is_renewed_once(
    tmp_path: Path, oauth_server: OAuthServer, oauth_smtp: OAuthSmtpServer,
    mechanism: SaslMechanism,
) -> None:
    tokens = keeper(tmp_path, oauth_server)
    oauth_server.expire_access_tokens()
    asyncio.run(send(smtp_config(oauth_smtp, mechanism), tokens))
    # Refused, then the server's 535 after the error challenge, then in with a new one.
    assert [ok for _m, _u, ok in oauth_smtp.handler.logins] == [False, True]
    assert oauth_server.requests["refresh_token"] == 1
    assert len(oauth_smtp.handler.received) == 1


def test_a_broken_set_is_a_permanent_connection_error(
    tmp_path: Path, oauth_server: OAuthServer, oauth_smtp: OAuthSmtpServer
) -> None:
    tokens = keeper(tmp_path, oauth_server)
    oauth_server.revoke("mailbot")
    with pytest.raises(PermanentSendError, match="invalid_grant"):
        asyncio.run(send(smtp_config(oauth_smtp, SaslMechanism.XOAUTH2), tokens))
    assert oauth_smtp.handler.received == []


def test_the_oauthbearer_message_escapes_the_user() -> None:
    sent = _sasl.oauthbearer("a,b=c@example.test", "tok", "smtp.example", 587)
    assert sent == (b"n,a=a=2Cb=3Dc@example.test,\x01host=smtp.example\x01port=587\x01"
                    b"auth=Bearer tok\x01\x01")


def relay_toml(server: OAuthSmtpServer) -> str:
    return f"""
[smtp]
host = "{server.host}"
port = {server.port}
security = "none"
username = "{USER}"
auth = "oauth2"
oauth = "lab"
from_address = "IT-Service Test <service@itservice.example>"
timeout = 10
"""


def test_the_sender_logs_in_with_the_relays_token_set(
    runtime: RuntimeFactory, oauth_server: OAuthServer, oauth_smtp: OAuthSmtpServer
) -> None:
    rt = runtime(extra=oauth_toml(oauth_server) + relay_toml(oauth_smtp))
    with technician(oauth_server):
        oauth_login(rt.config, rt.engine, "lab", say=lambda _line: None)
    rt.ingest([make_mail("kunde@praxis-weber.example", "Drucker", "druckt nicht")])

    summary = rt.drain()

    assert summary.sent >= 1
    assert {r.login for r in oauth_smtp.handler.received} == {USER}
    assert oauth_smtp.handler.logins[0] == ("XOAUTH2", USER, True)


def test_a_broken_relay_set_tells_staff_through_the_maildir(
    runtime: RuntimeFactory, oauth_server: OAuthServer, oauth_smtp: OAuthSmtpServer
) -> None:
    rt = runtime(extra=oauth_toml(oauth_server) + relay_toml(oauth_smtp))
    with technician(oauth_server):
        oauth_login(rt.config, rt.engine, "lab", say=lambda _line: None)
    oauth_server.revoke("mailbot")
    oauth_server.expire_access_tokens()
    rt.ingest([make_mail("kunde@praxis-weber.example", "Drucker", "druckt nicht")])

    rt.drain()
    rt.drain()

    assert oauth_smtp.handler.received == []
    notices = list((rt.config.outbox_dir / "new").iterdir())
    assert len(notices) == 1  # once, though both rounds failed to log in
    text = notices[0].read_bytes()
    assert b"technik@itservice.example" in text and b"mailbot auth login lab" in text
    with Session(rt.engine) as db:
        queued = db.exec(select(Outbox).where(Outbox.status == OutboxStatus.QUEUED)).all()
    assert queued  # the acknowledgement waits for the next login
