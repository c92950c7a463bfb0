"""send over TLS: STARTTLS with a login, implicit TLS, and what must not pass
(an untrusted certificate, a wrong password), against a real SMTP server."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from mailbot.config import SmtpConfig
from mailbot.errors import PermanentSendError, SendTimeoutError, TransientSendError
from mailbot.outbound import smtp
from mailbot.outbound.send import send_due
from tests.outbound.test_send import T0, make_config, outbox, queue, raw_mail
from tests.servers import SmtpServer, make_cert

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("smtp-cert")
    make_cert(folder / "cert.pem", folder / "key.pem")
    return folder / "cert.pem", folder / "key.pem"


def _server(cert: tuple[Path, Path], tls: str, **logins: str) -> Iterator[SmtpServer]:
    server = SmtpServer(tls=tls, cert=cert[0], key=cert[1], logins=logins)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def starttls_server(cert: tuple[Path, Path]) -> Iterator[SmtpServer]:
    yield from _server(cert, "starttls", bot="geheim")


@pytest.fixture
def tls_server(cert: tuple[Path, Path]) -> Iterator[SmtpServer]:
    yield from _server(cert, "ssl")


def _smtp(server: SmtpServer, security: str, **changes: object) -> SmtpConfig:
    values: dict[str, object] = {
        "host": server.host, "port": server.port, "security": security,
        "username": "", "password": "", "timeout": 5.0,
    }
    return SmtpConfig(**(values | changes))  # type: ignore[arg-type]


def _login(server: SmtpServer, cert: tuple[Path, Path], password: str) -> SmtpConfig:
    return _smtp(server, "starttls", username="bot", password=password, ca_file=str(cert[0]))


def test_starttls_and_login_before_the_mail(
    tmp_path: Path, engine: Engine, cert: tuple[Path, Path], starttls_server: SmtpServer
) -> None:
    row_id = queue(engine, 1)
    smtp = _login(starttls_server, cert, "geheim")
    assert send_due(make_config(tmp_path, smtp), engine, now=T0).sent == 1

    [got] = starttls_server.received
    assert got.tls and got.login == "bot"
    assert got.content == raw_mail(1)
    assert outbox(engine, row_id).status == "sent"


def test_implicit_tls(
    tmp_path: Path, engine: Engine, cert: tuple[Path, Path], tls_server: SmtpServer
) -> None:
    smtp = _smtp(tls_server, "ssl", ca_file=str(cert[0]))
    queue(engine, 1)
    queue(engine, 2)

    assert send_due(make_config(tmp_path, smtp), engine, now=T0).sent == 2

    assert [r.tls for r in tls_server.received] == [True, True]
    assert [r.content for r in tls_server.received] == [raw_mail(1), raw_mail(2)]


def test_an_untrusted_certificate_stops_the_mail(
    tmp_path: Path, engine: Engine, starttls_server: SmtpServer, tls_server: SmtpServer
) -> None:
    # No ca_file: the self-signed certificate is not in the system's bundle.
    for server, security in ((starttls_server, "starttls"), (tls_server, "ssl")):
        row_id = queue(engine, 1 if security == "ssl" else 2)
        report = send_due(make_config(tmp_path, _smtp(server, security)), engine, now=T0)
        assert report.deferred == 1 and server.received == []
        row = outbox(engine, row_id)
        assert row.status == "queued" and "CERTIFICATE_VERIFY_FAILED" in row.last_error


def test_verify_false_accepts_a_self_signed_certificate(
    tmp_path: Path, engine: Engine, tls_server: SmtpServer
) -> None:
    queue(engine, 1)
    smtp = _smtp(tls_server, "ssl", verify=False)
    assert send_due(make_config(tmp_path, smtp), engine, now=T0).sent == 1
    assert tls_server.received[0].tls


def test_a_refused_login_keeps_the_mail_queued(
    tmp_path: Path, engine: Engine, cert: tuple[Path, Path], starttls_server: SmtpServer
) -> None:
    row_id = queue(engine, 1)
    smtp = _login(starttls_server, cert, "falsch")
    report = send_due(make_config(tmp_path, smtp), engine, now=T0)

    assert report.deferred == 1 and starttls_server.received == []
    row = outbox(engine, row_id)
    # Our config is wrong, not the mail: it waits for a later round.
    assert row.status == "queued" and row.last_error.startswith("SMTP login as bot: 535")


def test_several_connections_each_start_tls_and_log_in(
    tmp_path: Path, engine: Engine, cert: tuple[Path, Path], starttls_server: SmtpServer
) -> None:
    for n in range(6):
        queue(engine, n)
    config = _login(starttls_server, cert, "geheim")
    config = SmtpConfig(**{**config.__dict__, "connections": 3})
    assert send_due(make_config(tmp_path, config), engine, now=T0).sent == 6

    got = starttls_server.received
    assert len({r.peer for r in got}) == 3
    assert all(r.tls and r.login == "bot" for r in got)
    assert sorted(r.content for r in got) == sorted(raw_mail(n) for n in range(6))


def test_connection_failures_are_our_errors(
    cert: tuple[Path, Path], starttls_server: SmtpServer, tls_server: SmtpServer
) -> None:
    with pytest.raises(PermanentSendError, match=r"^SMTP login as bot: 535"):
        asyncio.run(smtp.connect(_login(starttls_server, cert, "falsch")))
    for server, security in ((starttls_server, "starttls"), (tls_server, "ssl")):
        with pytest.raises(TransientSendError, match="CERTIFICATE_VERIFY_FAILED") as caught:
            asyncio.run(smtp.connect(_smtp(server, security)))
        assert not isinstance(caught.value, (PermanentSendError, SendTimeoutError))
    # TLS from the first byte to a server that speaks plain text: refused, not plain.
    with pytest.raises(TransientSendError, match="WRONG_VERSION_NUMBER"):
        asyncio.run(smtp.connect(_smtp(starttls_server, "ssl", verify=False)))


def test_a_tls_handshake_without_an_answer_is_a_send_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        cfg = SmtpConfig(host="127.0.0.1", port=silent.getsockname()[1], security="ssl",
                         username="", password="", timeout=0.5, verify=False)
        with pytest.raises(SendTimeoutError, match="timed out") as caught:
            asyncio.run(smtp.connect(cfg))
    assert isinstance(caught.value, TimeoutError)
