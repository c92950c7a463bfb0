"""The relay's limits and the order of sending: ranks, the per-minute cap with its
part kept for critical mail, connection slots shared by workers, and staff mail
folded into a summary while the cap holds it back."""

from __future__ import annotations

import email
import json
import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailbot.config import Config, ServiceConfig, SmtpConfig, StaffConfig
from mailbot.kinds import EventKind, OutboxKind, OutboxStatus, SendRank
from mailbot.outbound import _claims
from mailbot.outbound._claims import claim
from mailbot.outbound._limits import ConnectionSlots, reserved_for_critical
from mailbot.outbound.outgoing import send_rank
from mailbot.outbound.summary import StaffSummary
from mailbot.store import (
    Blob,
    Event,
    Message,
    Outbox,
    StoredAttachment,
    Ticket,
    new_row,
    open_store,
)
from tests.servers import SmtpServer

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=15)
NOTIFY = "technik@itservice.example"


def put(
    engine: Engine, kind: OutboxKind, rank: SendRank, count: int = 1, *,
    to: str = "kunde@mueller.example", ticket_id: int | None = None,
    sent_at: datetime | None = None,
) -> list[int]:
    ids = []
    with Session(engine) as db:
        for _ in range(count):
            n = db.exec(select(Outbox.id)).all()
            row = Outbox(
                kind=kind, rank=rank, message_id=f"<m{len(n)}.{kind}@itservice.example>",
                envelope_from="service@itservice.example", to_address=to,
                recipients=json.dumps([to]), raw=b"Subject: x\r\n\r\nx\r\n",
                next_attempt_at=T0, created_at=T0, ticket_id=ticket_id,
                status=OutboxStatus.SENT if sent_at else OutboxStatus.QUEUED, sent_at=sent_at,
            )
            db.add(row)
            db.commit()
            assert row.id is not None
            ids.append(row.id)
    return ids


def take(engine: Engine, now: datetime = T0, cap: int = 0, worker: str = "w:1:a") -> list[Outbox]:
    return claim(engine, worker=worker, now=now, limit=None, lease=LEASE, release_dead=False,
                 max_per_minute=cap)


# -- the order ------------------------------------------------------------------------


def test_ranks_follow_the_service_page() -> None:
    critical = new_row(Ticket, number=1, priority="critical")
    normal = new_row(Ticket, number=2, priority="normal")
    assert send_rank(OutboxKind.ONCALL, critical) == SendRank.CRITICAL
    assert send_rank(OutboxKind.ACK, critical) == SendRank.CRITICAL
    assert send_rank(OutboxKind.UPDATE, critical) == SendRank.CRITICAL
    assert send_rank(OutboxKind.RELAY, critical) == SendRank.RELAY
    assert send_rank(OutboxKind.ACK, normal) == SendRank.CUSTOMER
    assert send_rank(OutboxKind.ACK, None) == SendRank.CUSTOMER
    assert send_rank(OutboxKind.NOTIFY, critical) == SendRank.STAFF
    assert send_rank(OutboxKind.REMINDER, normal) == SendRank.STAFF
    assert send_rank(OutboxKind.SUMMARY, None) == SendRank.STAFF


def test_the_outbox_is_claimed_most_important_first(engine: Engine) -> None:
    staff = put(engine, OutboxKind.NOTIFY, SendRank.STAFF, 2, to=NOTIFY)
    acks = put(engine, OutboxKind.ACK, SendRank.CUSTOMER, 2)
    relay = put(engine, OutboxKind.RELAY, SendRank.RELAY)
    page = put(engine, OutboxKind.ONCALL, SendRank.CRITICAL, to="bereitschaft@itservice.example")
    assert [row.id for row in take(engine)] == page + relay + acks + staff


def sized(engine: Engine, sizes: list[int]) -> list[int]:
    """Acknowledgements whose raw bytes have these sizes, oldest first."""
    ids = []
    with Session(engine) as db:
        for index, size in enumerate(sizes):
            row = Outbox(
                kind=OutboxKind.ACK, rank=SendRank.CUSTOMER,
                message_id=f"<s{index}@itservice.example>",
                envelope_from="service@itservice.example", to_address="kunde@mueller.example",
                recipients='["kunde@mueller.example"]', raw=b"x" * size,
                next_attempt_at=T0 + timedelta(seconds=index), created_at=T0,
            )
            db.add(row)
            db.commit()
            assert row.id is not None
            ids.append(row.id)
    return ids


def rounds_of_bytes(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_claims, "ROUND_BYTES", 1000)
    ids = sized(engine, [600, 300, 200, 50, 5000])
    later = T0 + timedelta(minutes=1)
    # 600 + 300 fit; the 200 would pass the limit and waits, with all behind it.
    assert [row.id for row in take(engine, later)] == ids[:2]
    assert [row.id for row in take(engine, later, worker="w:1:b")] == ids[2:4]
    # A round's first mail goes whatever its size.
    [big] = take(engine, later, worker="w:1:c")
    assert big.id == ids[4] and len(big.raw) == 5000


def test_a_round_takes_mail_up_to_its_bytes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rounds_of_bytes(engine, monkeypatch)


def test_a_round_takes_mail_up_to_its_bytes_on_postgresql(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = open_store(postgres_url)
    try:
        rounds_of_bytes(engine, monkeypatch)
    finally:
        engine.dispose()


# -- the cap --------------------------------------------------------------------------


def test_the_cap_keeps_part_of_the_minute_for_critical_mail(engine: Engine) -> None:
    assert (reserved_for_critical(60), reserved_for_critical(30), reserved_for_critical(3)) == (
        6, 3, 1,
    )
    put(engine, OutboxKind.ACK, SendRank.CUSTOMER, 30)
    first = take(engine, cap=20)
    assert len(first) == 20 - reserved_for_critical(20)
    assert {row.rank for row in first} == {SendRank.CUSTOMER}
    assert take(engine, cap=20, worker="w:1:b") == []  # routine mail: the minute is used up
    pages = put(engine, OutboxKind.ONCALL, SendRank.CRITICAL, 2)
    assert [row.id for row in take(engine, cap=20, worker="w:1:c")] == pages
    put(engine, OutboxKind.ONCALL, SendRank.CRITICAL)
    assert take(engine, cap=20, worker="w:1:d") == []  # nothing left at all


def test_mail_accepted_in_the_last_minute_counts_against_the_cap(engine: Engine) -> None:
    put(engine, OutboxKind.ACK, SendRank.CUSTOMER, 8, sent_at=T0 - timedelta(seconds=50))
    put(engine, OutboxKind.ACK, SendRank.CUSTOMER, 20)
    assert len(take(engine, cap=10)) == 0  # 8 + the 2 kept for critical mail
    # Ten seconds later the eight have left the window.
    assert len(take(engine, T0 + timedelta(seconds=11), cap=10, worker="w:1:b")) == 8


def test_no_cap_claims_everything_due(engine: Engine) -> None:
    put(engine, OutboxKind.ACK, SendRank.CUSTOMER, 40, sent_at=T0 - timedelta(seconds=5))
    put(engine, OutboxKind.ACK, SendRank.CUSTOMER, 40)
    assert len(take(engine)) == 40


def test_a_limited_claim_on_postgresql_takes_no_more_than_its_limit(postgres_url: str) -> None:
    engine = open_store(postgres_url)
    try:
        put(engine, OutboxKind.ACK, SendRank.CUSTOMER, 60)
        rows = claim(engine, worker="w:1:a", now=T0, limit=10, lease=LEASE, release_dead=False)
        assert len(rows) == 10
    finally:
        engine.dispose()


def test_two_workers_on_postgresql_stay_under_the_cap_together(postgres_url: str) -> None:
    engine = open_store(postgres_url)
    try:
        put(engine, OutboxKind.ACK, SendRank.CUSTOMER, 120)
        claimed: list[int] = []
        lock = threading.Lock()

        def worker(name: str) -> None:
            for i in range(20):
                rows = take(engine, cap=50, worker=f"{name}:{i}")
                with lock:
                    claimed.extend(row.id or 0 for row in rows)

        threads = [threading.Thread(target=worker, args=(f"h{n}:1",)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(claimed) == len(set(claimed)) == 50 - reserved_for_critical(50)
    finally:
        engine.dispose()


# -- connection slots -----------------------------------------------------------------


def test_connection_slots_are_shared_between_workers(engine: Engine) -> None:
    a = ConnectionSlots(engine, 3, holder="host-a:1")
    b = ConnectionSlots(engine, 3, holder="host-b:1")
    c = ConnectionSlots(engine, 3, holder="host-c:1")
    assert a.take(2, T0) == 2
    assert b.take(3, T0) == 1
    assert c.take(2, T0) == 0
    a.release()
    assert c.take(2, T0) == 2
    assert a.take(1, T0) == 0


def test_a_slot_whose_lease_ran_out_is_taken_over(engine: Engine) -> None:
    gone = ConnectionSlots(engine, 1, holder="host-a:1")
    assert gone.take(1, T0) == 1
    other = ConnectionSlots(engine, 1, holder="host-b:1")
    assert other.take(1, T0 + timedelta(seconds=30)) == 0
    assert other.take(1, T0 + timedelta(minutes=3)) == 1


def test_the_slots_of_a_dead_process_on_this_host_are_free_at_once(engine: Engine) -> None:
    import socket

    child = multiprocessing.get_context("fork").Process(target=lambda: None)
    child.start()
    child.join(10)
    assert child.pid is not None
    dead = ConnectionSlots(engine, 1, holder=f"{socket.gethostname()}:{child.pid}")
    assert dead.take(1, T0) == 1
    assert ConnectionSlots(engine, 1).take(1, T0 + timedelta(seconds=1)) == 1


# -- the summary ----------------------------------------------------------------------


def capped_config(tmp_path: Path, cap: int) -> Config:
    smtp = SmtpConfig(host="127.0.0.1", port=25, security="none", username="", password="",
                      max_per_minute=cap)
    return Config(
        path=None, store_url="sqlite://", outbox_dir=tmp_path / "outbox",
        service=ServiceConfig(address="service@itservice.example"), smtp=smtp,
        staff=StaffConfig(domains=("itservice.example",), notify=NOTIFY),
    )


def tickets(engine: Engine, count: int) -> list[int]:
    ids = []
    with Session(engine) as db:
        for n in range(count):
            ticket = Ticket(number=1001 + n, subject=f"Drucker {n}", priority="normal",
                            customer_name="Praxis Dr. Weber", due_at=T0 + timedelta(hours=8))
            db.add(ticket)
            db.commit()
            assert ticket.id is not None
            ids.append(ticket.id)
    return ids


def test_announcements_held_back_by_the_cap_go_out_as_one_summary(
    engine: Engine, tmp_path: Path
) -> None:
    numbers = tickets(engine, 5)
    put(engine, OutboxKind.ACK, SendRank.CUSTOMER, 30)
    notices = [put(engine, OutboxKind.NOTIFY, SendRank.STAFF, to=NOTIFY, ticket_id=t)[0]
               for t in numbers[:4]]
    notices += put(engine, OutboxKind.REMINDER, SendRank.STAFF, to=NOTIFY, ticket_id=numbers[4])
    summary = StaffSummary(capped_config(tmp_path, 10), engine)

    assert summary.fold(T0) == 5
    with Session(engine) as db:
        folded = db.exec(select(Outbox).where(col(Outbox.id).in_(notices))).all()
        [made] = db.exec(select(Outbox).where(Outbox.kind == OutboxKind.SUMMARY)).all()
        events = db.exec(select(Event).where(Event.kind == EventKind.STAFF_MAIL_FOLDED)).all()
    assert {row.status for row in folded} == {OutboxStatus.FOLDED}
    assert all(made.message_id in row.smtp_reply for row in folded)
    assert (made.rank, made.status, made.to_address) == (SendRank.STAFF, "queued", NOTIFY)
    text = made.raw.decode("utf-8", "replace")
    assert "5 Meldungen" in text
    for number in range(1001, 1006):
        assert f"[#{number}]" in text
    assert "Erinnerung" in text and "Praxis Dr. Weber" in text
    assert sorted(e.ticket_id or 0 for e in events) == sorted(numbers)
    # One a minute: what comes next waits for the next minute's summary.
    put(engine, OutboxKind.NOTIFY, SendRank.STAFF, 3, to=NOTIFY)
    assert summary.fold(T0 + timedelta(seconds=30)) == 0
    assert summary.fold(T0 + timedelta(seconds=61)) == 3


def with_files(engine: Engine, ticket_id: int, count: int) -> None:
    """``count`` stored files on the ticket, as a customer's mail leaves them."""
    with Session(engine) as db:
        message = Message(ticket_id=ticket_id, message_id="<files@mueller.example>")
        db.add(message)
        db.add(Blob(sha256="0" * 64, size=10))
        db.flush()
        assert message.id is not None
        for position in range(1, count + 1):
            db.add(StoredAttachment(ticket_id=ticket_id, message_row_id=message.id,
                                    position=position, name=f"f{position}.pdf", size=10,
                                    sha256="0" * 64))
        db.commit()


def test_a_summary_names_the_files_its_announcements_would_have_carried(
    engine: Engine, tmp_path: Path
) -> None:
    first, second = tickets(engine, 2)
    with_files(engine, first, 2)
    put(engine, OutboxKind.ACK, SendRank.CUSTOMER, 30)
    put(engine, OutboxKind.NOTIFY, SendRank.STAFF, to=NOTIFY, ticket_id=first)
    put(engine, OutboxKind.NOTIFY, SendRank.STAFF, to=NOTIFY, ticket_id=second)
    assert StaffSummary(capped_config(tmp_path, 10), engine).fold(T0) == 2
    with Session(engine) as db:
        [made] = db.exec(select(Outbox).where(Outbox.kind == OutboxKind.SUMMARY)).all()
    summary = email.message_from_bytes(made.raw, policy=policy.default)
    assert isinstance(summary, EmailMessage)
    body = summary.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "\r\n    2 Anhänge: mailbot ticket 1001\r\n" in text
    assert "mailbot ticket 1002" not in text


def test_announcements_are_not_folded_while_the_cap_lets_them_through(
    engine: Engine, tmp_path: Path
) -> None:
    put(engine, OutboxKind.ACK, SendRank.CUSTOMER, 3)
    put(engine, OutboxKind.NOTIFY, SendRank.STAFF, 3, to=NOTIFY)
    assert StaffSummary(capped_config(tmp_path, 60), engine).fold(T0) == 0
    # Without a cap nothing is ever folded.
    put(engine, OutboxKind.ACK, SendRank.CUSTOMER, 100)
    assert StaffSummary(capped_config(tmp_path, 0), engine).fold(T0) == 0


# -- through a real SMTP server -------------------------------------------------------


def server_config(tmp_path: Path, server: SmtpServer, **smtp: int) -> Config:
    relay = SmtpConfig(host=server.host, port=server.port, security="none", username="",
                       password="", timeout=5.0, **smtp)  # type: ignore[arg-type]
    return Config(path=None, store_url="sqlite://", outbox_dir=tmp_path / "outbox",
                  service=ServiceConfig(address="service@itservice.example"), smtp=relay)


def test_rounds_under_the_cap_never_exceed_it_and_a_page_goes_next(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    from mailbot.outbound.send import Sender

    cap = 12
    config = server_config(tmp_path, smtp_server, max_per_minute=cap)
    put(engine, OutboxKind.ACK, SendRank.CUSTOMER, 40)
    page: list[int] = []
    with Sender(config, engine) as sender:
        # Routine mail gets ten of the twelve a minute: forty take four minutes.
        for step in range(60):  # five minutes in rounds five seconds apart
            now = T0 + timedelta(seconds=5 * step)
            if step == 7:
                page = put(engine, OutboxKind.ONCALL, SendRank.CRITICAL,
                           to="bereitschaft@itservice.example")
            report = sender.send_due(now=now)
            if step == 7:
                assert page[0] in [o.outbox_id for o in report.outcomes]
    with Session(engine) as db:
        sent = sorted(r.sent_at for r in db.exec(select(Outbox)).all() if r.sent_at)
    assert len(sent) == len(smtp_server.received) == 41
    for i, start in enumerate(sent):
        in_window = [t for t in sent[i:] if t - start < timedelta(minutes=1)]
        assert len(in_window) <= cap


def test_a_sender_claims_nothing_while_other_workers_hold_every_connection(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    from mailbot.outbound.send import Sender

    config = server_config(tmp_path, smtp_server, connections=1)
    put(engine, OutboxKind.ACK, SendRank.CUSTOMER, 3)
    elsewhere = ConnectionSlots(engine, 1, holder="other-host:4711")
    assert elsewhere.take(1, T0) == 1
    with Sender(config, engine) as sender:
        assert sender.send_due(now=T0).claimed == 0
        assert smtp_server.received == []
        elsewhere.release()
        assert sender.send_due(now=T0 + timedelta(seconds=1)).sent == 3
    # Closed: its slot is free for the others again.
    assert ConnectionSlots(engine, 1, holder="other-host:4711").take(1, T0) == 1


def test_in_real_time_the_server_gets_no_more_than_the_cap_leaves(
    tmp_path: Path, engine: Engine, smtp_server: SmtpServer
) -> None:
    import time

    from mailbot.outbound.send import Sender

    cap = 10
    config = server_config(tmp_path, smtp_server, max_per_minute=cap)
    queued_at = datetime.now(UTC) - timedelta(seconds=1)

    def due_now(n: int, kind: OutboxKind, rank: SendRank) -> None:
        with Session(engine) as db:
            db.add(Outbox(kind=kind, rank=rank, message_id=f"<rt{n}@itservice.example>",
                          envelope_from="service@itservice.example",
                          to_address="kunde@mueller.example",
                          recipients='["kunde@mueller.example"]', raw=b"Subject: x\r\n\r\nx\r\n",
                          next_attempt_at=queued_at, created_at=queued_at))
            db.commit()

    for n in range(30):
        due_now(n, OutboxKind.ACK, SendRank.CUSTOMER)
    started = time.monotonic()
    with Sender(config, engine) as sender:
        while time.monotonic() - started < 3.0:  # rounds on the real clock
            sender.send_due()
            time.sleep(0.1)
        # Counted where the relay counts: what the server accepted within the minute.
        assert len(smtp_server.received) == cap - reserved_for_critical(cap)
        due_now(99, OutboxKind.ONCALL, SendRank.CRITICAL)  # the part kept for critical mail
        assert sender.send_due().sent == 1
    assert len(smtp_server.received) == cap - reserved_for_critical(cap) + 1
