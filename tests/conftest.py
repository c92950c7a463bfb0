"""Shared fixtures: a real Dovecot, a recording SMTP server, a fresh store, a runtime.

``dovecot`` is one instance per test session; ``mailbox`` hands it to a test with
INBOX emptied and other folders gone. ``smtp_server`` is per test (it starts in
milliseconds). Without Dovecot installed the IMAP tests are skipped, except under
CI (``CI`` set), where a missing server is a failure rather than a silent skip.

A test that starts a server is an integration test: it gets the ``integration``
marker from the fixture it uses (see ``SERVER_FIXTURES``), so that
``pytest -m "not integration"`` needs no server and runs in seconds.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from mailbot.classify import Classifier
from mailbot.config import ImapConfig, load_config
from mailbot.service.runtime import Runtime
from mailbot.store import open_store
from tests.helpers import (
    Clock,
    RuntimeFactory,
    server_config,
    shared_classifier,
    write_config,
)
from tests.oauthserver import (
    APP_MAILBOX,
    RESOURCE_CLIENT,
    RESOURCE_SECRET,
    OAuthServer,
)
from tests.servers import (
    DOVECOT_BIN,
    Dovecot,
    Introspection,
    SmtpServer,
    destroy_dovecot,
    start_dovecot,
)

pytest_plugins = ["tests.pgserver"]

#: Fixtures that start a server (or hand one over). pytest lists every fixture a test
#: needs, through other fixtures too, in ``item.fixturenames``.
SERVER_FIXTURES = frozenset(
    {"postgres", "postgres_url", "dovecot", "own_dovecot", "tls_dovecot", "mailbox",
     "smtp_server", "oauth_server", "oauth_dovecot", "oauth_mailbox", "oauth_smtp"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
) -> None:
    """A server asked for at run time (``request.getfixturevalue``) is invisible to the
    collection hook: fail such a test unless it carries the marker itself."""
    if fixturedef.argname not in SERVER_FIXTURES or fixturedef.scope != "function":
        return
    if request.node.get_closest_marker("integration") is None:
        pytest.fail(
            f"{request.node.nodeid} starts a server ({fixturedef.argname}) and must carry "
            "the integration marker (tests.helpers.STORE_BACKENDS marks a PostgreSQL case)",
            pytrace=False,
        )


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    reason = None
    if DOVECOT_BIN is None:
        reason = "dovecot is not installed (apt-get install dovecot-imapd)"
    elif os.geteuid() != 0:
        reason = "the Dovecot fixture must run as root (Dovecot drops to its own users)"
    if reason is not None:
        if _in_ci():
            pytest.fail(f"CI needs real IMAP tests: {reason}")
        pytest.skip(reason)
    server = start_dovecot()
    try:
        yield server
    finally:
        destroy_dovecot(server)


@pytest.fixture
def own_dovecot(dovecot: Dovecot) -> Iterator[Dovecot]:
    """A private instance, for tests that would disturb the shared one.

    Dovecot delays every later login from an IP that failed to log in; a test
    about a wrong password must not slow down the rest of the session.
    """
    server = start_dovecot()
    try:
        yield server
    finally:
        destroy_dovecot(server)


@pytest.fixture(scope="session")
def tls_dovecot(dovecot: Dovecot) -> Iterator[Dovecot]:
    """A second instance with a self-signed certificate (``.cert``) for 127.0.0.1:
    STARTTLS on ``.port``, implicit TLS on ``.tls_port``."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    server = start_dovecot(tls=True)
    try:
        yield server
    finally:
        destroy_dovecot(server)


@pytest.fixture(scope="session")
def _oauth_server() -> Iterator[OAuthServer]:
    server = OAuthServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def oauth_server(_oauth_server: OAuthServer) -> OAuthServer:
    """The test authorization server (tests/oauthserver.py), forgetting every token and
    count of the test before."""
    _oauth_server.reset()
    return _oauth_server


@pytest.fixture(scope="session")
def oauth_dovecot(dovecot: Dovecot, _oauth_server: OAuthServer) -> Iterator[Dovecot]:
    """A Dovecot whose XOAUTH2 and OAUTHBEARER logins the test authorization server
    vouches for (introspection); users ``bot@example.test`` and the app's mailbox."""
    server = start_dovecot(
        introspection=Introspection(
            f"{_oauth_server.url}/introspect", RESOURCE_CLIENT, RESOURCE_SECRET
        ),
        more_users=(APP_MAILBOX,),
    )
    try:
        yield server
    finally:
        destroy_dovecot(server)


@pytest.fixture
def oauth_mailbox(oauth_dovecot: Dovecot, oauth_server: OAuthServer) -> Dovecot:
    """The OAuth2 Dovecot, running, both users' mailboxes empty."""
    if not oauth_dovecot.running:
        oauth_dovecot.start()
    oauth_dovecot.clean()
    oauth_dovecot.clean(APP_MAILBOX)
    return oauth_dovecot


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Dovecot:
    """The session's Dovecot, running, with an empty INBOX and no other folders."""
    if not dovecot.running:
        dovecot.start()
    dovecot.clean()
    return dovecot


@pytest.fixture
def imap_config(mailbox: Dovecot) -> ImapConfig:
    return ImapConfig(
        name="test",
        host=mailbox.host,
        port=mailbox.port,
        security="none",
        username=mailbox.user,
        password=mailbox.password,
        timeout=10.0,
        poll_interval=1.0,
        idle_timeout=30.0,
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = open_store(f"sqlite:///{tmp_path / 'mailbot.db'}")
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def clf() -> Classifier:
    """The classifier, loaded once for the whole test session."""
    return shared_classifier()


@pytest.fixture
def clock() -> Clock:
    """The runtime tests' clock, at ``tests.helpers.NOW`` until a test moves it."""
    return Clock()


@pytest.fixture
def runtime(
    request: pytest.FixtureRequest, tmp_path: Path, clock: Clock
) -> Iterator[RuntimeFactory]:
    """Opens runtimes on the test configuration with the session's classifier, and
    closes them after the test. What differs between tests is an argument:

    ``extra``: TOML appended to the configuration (staff, customers, [sla], ...);
    ``store``: "sqlite" (a file in ``tmp_path``) or "postgresql" (a fresh database;
    the test must be marked integration: ``tests.helpers.STORE_BACKENDS``);
    ``smtp``: a recording SMTP server to send to (``smtp_timeout``: its timeout);
    ``imap``: a Dovecot to fetch from; then the configuration is
    ``server_config``'s (with ``extra`` as its staff and customers) and needs ``smtp``;
    ``processes``: the ``[limits] processes`` setting; ``clock``: default the
    ``clock`` fixture.
    """
    opened: list[Runtime] = []
    default_clock = clock

    def open_runtime(
        *,
        extra: str = "",
        store: str = "sqlite",
        smtp: SmtpServer | None = None,
        smtp_timeout: float | None = None,
        imap: Dovecot | None = None,
        processes: int | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Runtime:
        # A second runtime in one test gets a folder (and a SQLite file) of its own.
        folder = tmp_path / f"runtime{len(opened)}" if opened else tmp_path
        folder.mkdir(exist_ok=True)
        url = request.getfixturevalue("postgres_url") if store == "postgresql" else None
        if processes is not None:
            extra += f"\n[limits]\nprocesses = {processes}\n"
        if imap is not None:
            assert smtp is not None, "a runtime on Dovecot sends to the test SMTP server"
            path = server_config(folder, imap, smtp, extra=extra,
                                 store_url=url or "sqlite:///mailbot.db")
            config = load_config(path)
        else:
            if smtp is not None:
                extra = _smtp_table(smtp, smtp_timeout) + extra
            config = write_config(folder, extra, store=f'\n[store]\nurl = "{url}"\n' if url else "")
        rt = Runtime.open(config, clock=clock or default_clock)
        rt.use_classifier(shared_classifier())
        opened.append(rt)
        return rt

    yield open_runtime
    for rt in reversed(opened):
        rt.close()


def _smtp_table(smtp: SmtpServer, timeout: float | None) -> str:
    lines = [
        "", "[smtp]", f'host = "{smtp.host}"', f"port = {smtp.port}", 'security = "none"',
        'from_address = "IT-Service <service@itservice.example>"',
    ]
    if timeout is not None:
        lines.append(f"timeout = {timeout:g}")
    return "\n".join(lines) + "\n"
