"""Building realistic test mail and reading what mailbot queued."""

from __future__ import annotations

import email
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from mailbot.classify import Classifier
from mailbot.config import Config, load_config
from mailbot.service.runtime import Runtime
from mailbot.store import Event, Outbox, Ticket
from tests.servers import Dovecot, SmtpServer

BERLIN = ZoneInfo("Europe/Berlin")
#: Parameters of a test or fixture that runs on both stores: PostgreSQL is a server,
#: so its case is an integration test.
STORE_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]

#: "now" of the runtime tests: a Tuesday morning, five minutes after the test mail's Date
NOW = datetime(2026, 11, 24, 9, 35, tzinfo=BERLIN)

CONFIG = """
[service]
name = "IT-Service Test"
address = "service@itservice.example"

[store]
url = "sqlite:///mailbot.db"

[staff]
domains = ["itservice.example"]
notify = "technik@itservice.example"
authserv_id = "mx.itservice.example"

[monitoring]
senders = ["monitoring@itservice.example"]

[[customers]]
domain = "mueller-steuerberatung.example"
name = "Müller Steuerberatung"
contract = true

[[customers]]
domain = "praxis-weber.example"
name = "Praxis Weber"
contract = true
"""


@lru_cache(maxsize=1)
def shared_classifier() -> Classifier:
    """The spaCy pipelines take a second or two to load: once per test session."""
    return Classifier.load()


class Clock:
    """A clock a test moves by hand: ``clock.now = ...``; the runtime calls it."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RuntimeFactory(Protocol):
    """The ``runtime`` fixture (tests/conftest.py): opens a runtime on the test
    configuration with the session's classifier; what differs is an argument."""

    def __call__(
        self,
        *,
        extra: str = "",
        store: str = "sqlite",
        smtp: SmtpServer | None = None,
        smtp_timeout: float | None = None,
        imap: Dovecot | None = None,
        processes: int | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Runtime: ...


def write_config(folder: Path, extra: str = "", store: str = "") -> Config:
    """The test configuration; ``store`` replaces the SQLite ``[store]`` table."""
    path = folder / "mailbot.toml"
    text = CONFIG.replace('[store]\nurl = "sqlite:///mailbot.db"\n', store) if store else CONFIG
    path.write_text(text + extra, encoding="utf-8")
    return load_config(path)


def make_mail(
    sender: str,
    subject: str,
    body: str,
    *,
    when: datetime | None = None,
    headers: dict[str, str] | None = None,
    msgid: str | None = None,
    to: str = "service@itservice.example",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when or datetime(2026, 11, 24, 9, 30, tzinfo=BERLIN))
    msg["Message-ID"] = msgid or make_msgid(domain=sender.rpartition("@")[2].strip(">"))
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


@dataclass(frozen=True)
class Sent:
    kind: str
    to: list[str]
    message: EmailMessage
    message_id: str

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None
        return str(part.get_content())


def outbox(session: Session, kind: str | None = None) -> list[Sent]:
    query = select(Outbox).order_by(col(Outbox.id))
    if kind:
        query = query.where(Outbox.kind == kind)
    rows = session.exec(query).all()
    return [
        Sent(
            r.kind,
            json.loads(r.recipients),
            email.message_from_bytes(r.raw, policy=policy.default),  # type: ignore[arg-type]
            r.message_id,
        )
        for r in rows
    ]


def tickets(session: Session) -> list[Ticket]:
    return list(session.exec(select(Ticket).order_by(col(Ticket.number))).all())


def events(session: Session, kind: str) -> list[Event]:
    return list(session.exec(select(Event).where(Event.kind == kind)).all())


def first(items: list[Any]) -> Any:
    assert items, "expected at least one"
    return items[0]


def server_config(
    folder: Path,
    imap: Dovecot,
    smtp: SmtpServer,
    *,
    imap_extra: str = "",
    store_url: str = "sqlite:///mailbot.db",
    extra: str = "",
    password_env: str | None = None,
) -> Path:
    """A configuration file for the real test servers: [service], [imap], [smtp], [store],
    then ``extra`` (staff, monitoring, customers, ...) as each test needs."""
    password = (f'password_env = "{password_env}"' if password_env
                else f'password = "{imap.password}"')
    path = folder / "mailbot.toml"
    path.write_text(
        f"""
[service]
name = "IT-Service Test"
address = "service@itservice.example"

[imap]
host = "{imap.host}"
port = {imap.port}
security = "none"
username = "{imap.user}"
{password}
timeout = 10
{imap_extra}

[smtp]
host = "{smtp.host}"
port = {smtp.port}
security = "none"
from_address = "IT-Service Test <service@itservice.example>"
timeout = 10

[store]
url = "{store_url}"
{extra}
""",
        encoding="utf-8",
    )
    return path
