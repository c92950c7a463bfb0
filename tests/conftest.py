"""Shared fixtures: a real Dovecot, a recording SMTP server, a fresh store.

``dovecot`` is one instance per test session; ``mailbox`` hands it to a test with
INBOX emptied and other folders gone. ``smtp_server`` is per test (it starts in
milliseconds). Without Dovecot installed the IMAP tests are skipped, except under
CI (``CI`` set), where a missing server is a failure rather than a silent skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from mailbot.classify import Classifier
from mailbot.config import ImapConfig
from mailbot.store import open_store
from tests.helpers import shared_classifier
from tests.servers import DOVECOT_BIN, Dovecot, SmtpServer, destroy_dovecot, start_dovecot

pytest_plugins = ["tests.pgserver"]


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
