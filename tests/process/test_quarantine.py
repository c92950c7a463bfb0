"""Why a mail is in quarantine is a kind, not a wording; technicians hear of mail too
large to read once, also of mail quarantined before the kind existed."""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert
from sqlmodel import Session, col, select

from mailbot.inbound.intake import store_raw
from mailbot.judge import Judgement
from mailbot.mail.parse import ParsedMail
from mailbot.service.runtime import Runtime
from mailbot.store import (
    Event,
    EventKind,
    Inbound,
    InboundStatus,
    Outbox,
    OutboxKind,
    QuarantineReason,
    make_engine,
    session_scope,
)
from mailbot.store.migrate import _alembic_config
from tests.helpers import BERLIN, make_mail, shared_classifier, write_config

NOW = datetime(2026, 11, 24, 9, 35, tzinfo=BERLIN)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]


def store_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'quarantine.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def open_desk(tmp_path: Path, url: str) -> Runtime:
    config = write_config(tmp_path, store=f'\n[store]\nurl = "{url}"\n')
    runtime = Runtime.open(config, clock=lambda: NOW)
    runtime.use_classifier(shared_classifier())
    return runtime


@pytest.fixture(params=BACKENDS)
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    runtime = open_desk(tmp_path, store_url(request.param, request, tmp_path))
    yield runtime
    runtime.engine.dispose()


def many_parts(count: int) -> bytes:
    head = (b"From: y@praxis-weber.example\r\nSubject: wide\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n')
    part = b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    return head + part * count + b"--b--\r\n"


def reasons(rt: Runtime) -> dict[str, str | None]:
    """Subject (or first bytes) of each quarantined mail -> its kind."""
    with Session(rt.engine) as s:
        rows = s.exec(select(Inbound).where(Inbound.status == InboundStatus.QUARANTINED)).all()
        return {r.raw.split(b"Subject: ")[1].split(b"\n")[0].decode().strip(): r.quarantine_reason
                for r in rows}


def notices(rt: Runtime) -> list[Outbox]:
    with Session(rt.engine) as s:
        query = select(Outbox).where(Outbox.kind == OutboxKind.NOTIFY).order_by(col(Outbox.id))
        return list(s.exec(query).all())


def text_of(out: Outbox) -> str:
    message = email.message_from_bytes(out.raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def test_each_quarantine_path_records_its_kind(
    desk: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk.processor.limits = replace(desk.processor.limits, max_bytes=5_000, max_parts=3)
    judge = desk.processor.judge.judge

    def failing(
        mail: ParsedMail, arrival: datetime | None = None, *, clock_from: datetime | None = None
    ) -> Judgement:
        if mail.subject == "Boom":
            raise RuntimeError("the classifier broke")
        return judge(mail, arrival, clock_from=clock_from)

    monkeypatch.setattr(desk.processor.judge, "judge", failing)
    desk.ingest([
        make_mail("a@praxis-weber.example", "Riesig", "x" * 10_000),
        many_parts(10),
        make_mail("b@praxis-weber.example", "Boom", "Der Drucker druckt nicht."),
        make_mail("c@praxis-weber.example", "Maus", "Die Maus am Empfang ist kaputt."),
    ])
    report = desk.processor.process_pending(now=desk.clock)
    assert (report.processed, report.quarantined) == (1, 3)
    assert reasons(desk) == {
        "Riesig": QuarantineReason.TOO_LARGE,
        "wide": QuarantineReason.UNPARSABLE,
        "Boom": QuarantineReason.FAILED,
    }


def test_a_mail_too_large_is_told_to_the_technicians_once(desk: Runtime) -> None:
    # A mail the parser refuses for its MIME tree is nothing to tell them about.
    desk.processor.limits = replace(desk.processor.limits, max_bytes=5_000, max_parts=3)
    desk.ingest([make_mail("a@praxis-weber.example", "Riesig", "x" * 10_000), many_parts(10)])
    for _ in range(3):  # the first run quarantines them, the second tells, the third not again
        desk.processor.process_pending(now=desk.clock)
    [notice] = notices(desk)
    assert json.loads(notice.recipients) == ["technik@itservice.example"]
    with Session(desk.engine) as s:
        told = s.exec(select(Event).where(Event.kind == EventKind.TOO_LARGE_NOTIFIED)).all()
        [row] = s.exec(select(Inbound).where(
            Inbound.quarantine_reason == QuarantineReason.TOO_LARGE)).all()
    assert [e.inbound_id for e in told] == [row.id]


def test_a_placeholder_for_mail_too_large_to_fetch_is_told_once(desk: Runtime) -> None:
    # What fetch stores for mail over the size limit: the headers and the kind.
    head = make_mail("a@praxis-weber.example", "Scan mit 40 MB", "")
    with session_scope(desk.engine) as s:
        store_raw(s, head, mailbox="INBOX", uidvalidity=1, uid=7,
                  status=InboundStatus.QUARANTINED, quarantine_reason=QuarantineReason.TOO_LARGE,
                  error="message too large: 41943040 bytes > limit 26214400")
    desk.processor.process_pending(now=desk.clock)
    desk.processor.process_pending(now=desk.clock)
    [notice] = notices(desk)
    assert "Scan mit 40 MB" in text_of(notice)


def test_a_retried_mail_that_is_processed_has_no_kind_any_more(desk: Runtime) -> None:
    desk.processor.limits = replace(desk.processor.limits, max_bytes=5_000)
    desk.ingest([make_mail("a@praxis-weber.example", "Drucker", "Der Drucker " * 500)])
    desk.processor.process_pending(now=desk.clock)
    assert reasons(desk) == {"Drucker": QuarantineReason.TOO_LARGE}
    inbound_id = _only_id(desk)
    desk.processor.limits = replace(desk.processor.limits, max_bytes=50_000)
    assert desk.processor.retry(inbound_id).status == "processed"
    with Session(desk.engine) as s:
        row = s.get(Inbound, inbound_id)
        assert row is not None
        assert (row.status, row.error, row.quarantine_reason) == ("processed", "", None)


def _only_id(rt: Runtime) -> int:
    with Session(rt.engine) as s:
        [row] = s.exec(select(Inbound)).all()
        assert row.id is not None
        return row.id


@pytest.mark.parametrize("backend", BACKENDS)
def test_mail_quarantined_before_the_kind_existed_keeps_its_meaning(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    url = store_url(backend, request, tmp_path)
    old = make_engine(url)
    with old.begin() as connection:
        command.upgrade(_alembic_config(connection), "0003")
    errors = {
        "Riesig": "message too large: 41943040 bytes > limit 26214400",
        "Tief": "too many nested multiparts: 1000 boundaries",
        "Kaputt": "unparseable message: HeaderParseError: bad header",
        "Boom": "RuntimeError: the classifier broke\nrunner.py:12 process_one",
        "Rennen": "store conflict persisted",
        "Gut": "",
    }
    inbound = Inbound.__table__  # type: ignore[attr-defined]
    with old.begin() as connection:
        for n, (subject, error) in enumerate(errors.items()):
            connection.execute(insert(inbound).values(
                mailbox="INBOX", uidvalidity=1, uid=n, message_id=f"<{n}@x>",
                content_hash=str(n), dedup_key=str(n), size=100, received_at=NOW,
                raw=make_mail("a@praxis-weber.example", subject, "x"), attempts=1, error=error,
                status=InboundStatus.PROCESSED if subject == "Gut" else InboundStatus.QUARANTINED,
            ))
    old.dispose()
    desk = open_desk(tmp_path, url)  # migrates to the newest revision
    try:
        assert reasons(desk) == {
            "Riesig": QuarantineReason.TOO_LARGE,
            "Tief": QuarantineReason.UNPARSABLE,
            "Kaputt": QuarantineReason.UNPARSABLE,
            "Boom": QuarantineReason.FAILED,
            "Rennen": QuarantineReason.CONFLICT,
        }
        for _ in range(2):
            desk.processor.tell_staff_too_large(NOW)
        [notice] = notices(desk)
        assert "Riesig" in text_of(notice)
    finally:
        desk.engine.dispose()
