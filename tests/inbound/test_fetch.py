"""fetch against a real Dovecot: exactly once, flag after commit, IDLE, reconnect."""

from __future__ import annotations

import dataclasses
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from mailbot.config import ImapConfig
from mailbot.errors import FetchError, FetchTimeoutError
from mailbot.inbound.fetch import FIRST_BATCH, FetchReport, fetch_new
from mailbot.inbound.idle import Backoff, IdleWatcher, WakeReason, watch
from mailbot.inbound.imap import ImapClientSession
from mailbot.store import Inbound, MailboxState
from tests.servers import Dovecot

pytestmark = pytest.mark.integration


def mail(n: int, body: str = "Hallo, der Drucker geht nicht.") -> bytes:
    return (
        f"From: Kunde {n} <kunde{n}@mueller.example>\r\n"
        f"To: service@itservice.example\r\n"
        f"Subject: Anfrage {n}\r\n"
        f"Message-ID: <anfrage-{n}@mueller.example>\r\n"
        f"Date: Mon, 24 Nov 2025 09:00:00 +0100\r\n"
        f"\r\n{body}\r\n"
    ).encode()


def rows(engine: Engine) -> list[Inbound]:
    with Session(engine) as db:
        return list(db.exec(select(Inbound).order_by(Inbound.id)))  # type: ignore[arg-type]


def state(engine: Engine, name: str = "test") -> MailboxState | None:
    with Session(engine) as db:
        return db.get(MailboxState, name)


def seen(box: Dovecot, folder: str = "INBOX") -> dict[int, bool]:
    return {uid: "\\Seen" in fl for uid, fl in box.flags(folder).items()}


def test_new_mail_is_stored_once_then_flagged_seen(
    mailbox: Dovecot, imap_config: ImapConfig, engine: Engine
) -> None:
    raws = [mail(i) for i in range(3)]
    uids = [mailbox.append(r) for r in raws]

    report = fetch_new(imap_config, engine)

    assert (report.fetched, report.stored, report.duplicates) == (3, 3, 0)
    stored = rows(engine)
    assert [r.raw for r in stored] == raws
    assert [r.uid for r in stored] == uids
    assert {r.mailbox for r in stored} == {"test"}
    assert all(r.status == "new" for r in stored)
    assert seen(mailbox) == dict.fromkeys(uids, True)
    st = state(engine)
    assert st is not None and st.last_uid == uids[-1] and st.last_fetch_ok_at is not None

    again = fetch_new(imap_config, engine)
    assert (again.fetched, again.stored) == (0, 0)
    assert len(rows(engine)) == 3


def test_batches_store_everything(
    mailbox: Dovecot, imap_config: ImapConfig, engine: Engine
) -> None:
    for i in range(5):
        mailbox.append(mail(i))
    stored_at_call: list[int] = []
    report = fetch_new(
        dataclasses.replace(imap_config, batch_size=2),
        engine,
        on_stored=lambda: stored_at_call.append(len(rows(engine))),
    )
    assert report.stored == 5
    assert all(seen(mailbox).values())
    # Told after each committed batch, so processing can start on it.
    assert stored_at_call == [2, 4, 5]


def test_a_backlog_comes_in_growing_batches_so_processing_starts_early(
    mailbox: Dovecot, imap_config: ImapConfig, engine: Engine
) -> None:
    for i in range(100):
        mailbox.append(mail(i))
    stored_at_call: list[int] = []
    report = fetch_new(
        dataclasses.replace(imap_config, batch_size=40),
        engine,
        on_stored=lambda: stored_at_call.append(len(rows(engine))),
    )
    assert report.stored == 100
    assert stored_at_call == [FIRST_BATCH, FIRST_BATCH + 40, 100]


def _failing_commit_engine(engine: Engine) -> Engine:
    """The same database, but every commit that wrote an inbound row fails."""
    broken = create_engine(engine.url)

    # pysqlite's own transaction handling lets RELEASE SAVEPOINT (intake uses
    # begin_nested) commit for real; SQLAlchemy's documented recipe: we say BEGIN.
    @event.listens_for(broken, "connect")
    def _no_implicit(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None

    # The newest inbound id when the transaction began, per connection. Asked of the
    # database itself: the hot path's statements bypass SQLAlchemy's cursor events.
    newest: dict[int, int] = {}

    def _newest_inbound(conn):  # type: ignore[no-untyped-def]
        found = conn.connection.dbapi_connection.execute("SELECT max(id) FROM inbound")
        return found.fetchone()[0] or 0

    @event.listens_for(broken, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN")
        newest[id(conn)] = _newest_inbound(conn)

    @event.listens_for(broken, "commit")
    def _fail(conn):  # type: ignore[no-untyped-def]
        if _newest_inbound(conn) > newest.pop(id(conn), 0):
            # A COMMIT that fails loses the transaction, as SQLite's would.
            conn.connection.dbapi_connection.rollback()
            raise OperationalError(
                "COMMIT", {}, sqlite3.OperationalError("disk I/O error (simulated at COMMIT)")
            )

    return broken


def test_failed_commit_leaves_mail_unseen(
    mailbox: Dovecot, imap_config: ImapConfig, engine: Engine
) -> None:
    uids = [mailbox.append(mail(i)) for i in range(2)]
    broken = _failing_commit_engine(engine)

    with pytest.raises(FetchError, match="simulated at COMMIT"):
        fetch_new(imap_config, broken)

    assert seen(mailbox) == dict.fromkeys(uids, False)
    assert rows(engine) == []
    st = state(engine)
    assert st is not None and "simulated" in st.last_error
    # Once the store works again nothing was lost.
    assert fetch_new(imap_config, engine).stored == 2
    assert seen(mailbox) == dict.fromkeys(uids, True)


def test_read_only_store_leaves_mail_unseen(
    mailbox: Dovecot, imap_config: ImapConfig, engine: Engine, tmp_path: Path
) -> None:
    uid = mailbox.append(mail(1))
    engine.dispose()
    read_only = create_engine(f"sqlite:///file:{tmp_path / 'mailbot.db'}?mode=ro&uri=true")

    with pytest.raises(FetchError):
        fetch_new(imap_config, read_only)

    assert seen(mailbox) == {uid: False}
    assert rows(engine) == []


def test_mail_read_by_a_person_is_not_lost(
    mailbox: Dovecot, imap_config: ImapConfig, engine: Engine
) -> None:
    fetch_new(imap_config, engine)  # first contact with the empty folder
    mailbox.append(mail(1), flags=["\\Seen"])
    assert fetch_new(imap_config, engine).stored == 1


def test_mail_marked_unread_again_is_not_downloaded_twice(
    mailbox: Dovecot, imap_config: ImapConfig, engine: Engine
) -> None:
    uid = mailbox.append(mail(1))
    fetch_new(imap_config, engine)
    with mailbox.client() as c:
        c.select_folder("INBOX")
        c.remove_flags([uid], [b"\\Seen"])

    report = fetch_new(imap_config, engine)

    assert (report.fetched, report.stored, report.duplicates) == (0, 0, 1)
    assert seen(mailbox) == {uid: True}


def test_first_contact_skips_old_read_mail_unless_asked(
    mailbox: Dovecot, imap_config: ImapConfig, engine: Engine
) -> None:
    mailbox.append(mail(1), flags=["\\Seen"])
    mailbox.append(mail(2))
    report = fetch_new(imap_config, engine)
    assert [r.message_id for r in rows(engine)] == ["<anfrage-2@mueller.example>"]
    assert report.stored == 1

    mailbox.append(mail(3), flags=["\\Seen"])
    assert fetch_new(imap_config, engine).stored == 1  # above the starting point


def test_first_contact_can_take_everything(
    mailbox: Dovecot, imap_config: ImapConfig, engine: Engine
) -> None:
    mailbox.append(mail(1), flags=["\\Seen"])
    mailbox.append(mail(2))
    assert fetch_new(imap_config, engine, initial_scan_all=True).stored == 2


def test_processed_folder_receives_the_mail(
    mailbox: Dovecot, imap_config: ImapConfig, engine: Engine
) -> None:
    raws = [mail(i) for i in range(3)]
    for r in raws:
        mailbox.append(r)
    config = dataclasses.replace(imap_config, processed_folder="Erledigt")

    report = fetch_new(config, engine)

    assert report.stored == 3 and report.done_on_server == 3
    assert mailbox.uids("INBOX") == []
    assert len(mailbox.uids("Erledigt")) == 3
    assert fetch_new(config, engine).fetched == 0


class _NoMove(ImapClientSession):
    """Real Dovecot session that hides MOVE, to exercise COPY + delete + EXPUNGE."""

    def has_capability(self, name: str) -> bool:
        return name.upper() != "MOVE" and super().has_capability(name)


def test_processed_folder_without_move_capability(
    mailbox: Dovecot, imap_config: ImapConfig, engine: Engine
) -> None:
    keep = mailbox.append(mail(99))
    with mailbox.client() as c:  # someone else's deleted mail must survive our EXPUNGE
        c.select_folder("INBOX")
        c.add_flags([keep], [b"\\Deleted"])
    mailbox.append(mail(1))
    config = dataclasses.replace(imap_config, processed_folder="Erledigt")

    fetch_new(config, engine, client_factory=_NoMove.connect, initial_scan_all=True)

    assert len(mailbox.uids("Erledigt")) == 2
    assert mailbox.uids("INBOX") == []  # UIDPLUS: only our UIDs were expunged ...
    # ... which includes 99: it was ours to take (scan all) and is stored.
    assert len(rows(engine)) == 2


class _Spy(ImapClientSession):
    downloaded: list[int]

    def bodies(self, uids: Sequence[int]) -> dict[int, bytes]:
        type(self).downloaded.extend(uids)
        return super().bodies(uids)


def test_too_large_mail_is_recorded_not_downloaded(
    mailbox: Dovecot, imap_config: ImapConfig, engine: Engine
) -> None:
    big_body = "x" * 20_000 + " GEHEIMER-INHALT"
    big = mailbox.append(mail(1, body=big_body))
    small = mailbox.append(mail(2))
    config = dataclasses.replace(imap_config, max_message_bytes=5_000)
    _Spy.downloaded = []

    report = fetch_new(config, engine, client_factory=_Spy.connect)

    assert _Spy.downloaded == [small]
    assert (report.stored, report.too_large) == (2, 1)
    placeholder = next(r for r in rows(engine) if r.uid == big)
    assert placeholder.status == "quarantined"
    assert placeholder.error.startswith("message too large: ")
    assert "> limit 5000" in placeholder.error
    assert b"Subject: Anfrage 1\r\n" in placeholder.raw
    assert placeholder.message_id == "<anfrage-1@mueller.example>"
    assert b"GEHEIMER-INHALT" not in placeholder.raw
    assert len(placeholder.raw) < 1_000
    assert seen(mailbox) == {big: True, small: True}


def test_uidvalidity_change_rescans_without_duplicates(
    mailbox: Dovecot, imap_config: ImapConfig, engine: Engine
) -> None:
    mailbox.append(mail(1))
    mailbox.append(mail(2, body="y" * 9_000))
    config = dataclasses.replace(imap_config, max_message_bytes=5_000)
    first = fetch_new(config, engine)
    assert first.stored == 2
    old = mailbox.uidvalidity()

    mailbox.set_uidvalidity(old + 1000)
    report = fetch_new(config, engine)

    assert report.uidvalidity_changed and report.uidvalidity == old + 1000
    assert (report.stored, report.duplicates) == (0, 2)
    st = state(engine)
    assert st is not None and st.uidvalidity == old + 1000
    mailbox.append(mail(3))
    after = fetch_new(config, engine)
    assert (after.stored, after.uidvalidity_changed) == (1, False)
    assert len(rows(engine)) == 3


def test_wrong_password_is_a_fetch_error_and_recorded(
    own_dovecot: Dovecot, imap_config: ImapConfig, engine: Engine
) -> None:
    config = dataclasses.replace(imap_config, port=own_dovecot.port, password="falsch")
    with pytest.raises(FetchError, match="login"):
        fetch_new(config, engine)
    st = state(engine)
    assert st is not None and st.last_error and st.last_fetch_ok_at is None


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def test_silent_server_times_out(
    silent_server: int, imap_config: ImapConfig, engine: Engine
) -> None:
    config = dataclasses.replace(imap_config, port=silent_server, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(FetchTimeoutError):
        fetch_new(config, engine)
    assert time.monotonic() - started < 5


def test_tls_is_verified(mailbox: Dovecot, imap_config: ImapConfig, engine: Engine) -> None:
    # Dovecot here speaks plain IMAP: a TLS client must refuse rather than go on.
    for security in ("ssl", "starttls"):
        with pytest.raises(FetchError):
            fetch_new(dataclasses.replace(imap_config, security=security), engine)


# -- IDLE --------------------------------------------------------------------------------


Woken = list[tuple[WakeReason, float]]


def _wait_in_thread(watcher: IdleWatcher) -> tuple[threading.Thread, Woken]:
    out: Woken = []

    def run() -> None:
        out.append((watcher.wait(), time.monotonic()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_idle_wakes_up_soon_after_delivery(mailbox: Dovecot, imap_config: ImapConfig) -> None:
    with IdleWatcher(imap_config) as watcher:
        thread, out = _wait_in_thread(watcher)
        time.sleep(1.0)  # let it enter IDLE
        assert out == []
        delivered = time.monotonic()
        mailbox.append(mail(1))
        thread.join(10)
        assert watcher.uses_idle is True
        assert out and out[0][0] == "new_mail"
        assert out[0][1] - delivered < 5.0


def test_idle_stops_promptly(mailbox: Dovecot, imap_config: ImapConfig) -> None:
    with IdleWatcher(imap_config) as watcher:
        thread, out = _wait_in_thread(watcher)
        time.sleep(0.5)
        asked = time.monotonic()
        watcher.stop.set()
        thread.join(5)
        assert out and out[0][0] == "stopped"
        assert out[0][1] - asked < 2.5


def test_idle_renewal_returns_timeout(mailbox: Dovecot, imap_config: ImapConfig) -> None:
    config = dataclasses.replace(imap_config, idle_timeout=1.5)
    with IdleWatcher(config, check_interval=0.5) as watcher:
        started = time.monotonic()
        assert watcher.wait() == "timeout"
        assert 1.4 < time.monotonic() - started < 5


def test_idle_reconnects_after_server_restart(mailbox: Dovecot, imap_config: ImapConfig) -> None:
    with IdleWatcher(imap_config, backoff=Backoff(initial=0.2, maximum=1.0)) as watcher:
        thread, out = _wait_in_thread(watcher)
        time.sleep(0.5)
        mailbox.restart(down_for=1.5)
        thread.join(20)
        assert out and out[0][0] == "reconnected"
        assert watcher.last_error

        thread, out = _wait_in_thread(watcher)
        time.sleep(0.5)
        mailbox.append(mail(1))
        thread.join(10)
        assert out and out[0][0] == "new_mail"


class _NoIdle(ImapClientSession):
    def has_capability(self, name: str) -> bool:
        return name.upper() != "IDLE" and super().has_capability(name)


def test_without_idle_it_polls(mailbox: Dovecot, imap_config: ImapConfig) -> None:
    config = dataclasses.replace(imap_config, poll_interval=0.5)
    with IdleWatcher(config, client_factory=_NoIdle.connect) as watcher:
        started = time.monotonic()
        assert watcher.wait() == "timeout"
        assert watcher.uses_idle is False
        assert 0.4 < time.monotonic() - started < 3


def test_watch_fetches_on_wake_up_until_stopped(
    mailbox: Dovecot, imap_config: ImapConfig, engine: Engine
) -> None:
    stop = threading.Event()
    reports: list[FetchReport] = []

    def run() -> None:
        for report in watch(imap_config, engine, stop):
            reports.append(report)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(1.0)  # first fetch done, waiting in IDLE
    mailbox.append(mail(1))
    deadline = time.monotonic() + 10
    while not any(r.stored for r in reports) and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert [r.stored for r in reports if r.stored] == [1]
    assert seen(mailbox) == {mailbox.uids()[0]: True}


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_certificate_is_checked(
    tls_dovecot: Dovecot, imap_config: ImapConfig, engine: Engine, security: str
) -> None:
    port = tls_dovecot.tls_port if security == "ssl" else tls_dovecot.port
    config = dataclasses.replace(imap_config, security=security, port=port)
    tls_dovecot.append(mail(1))

    with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
        fetch_new(config, engine)  # self-signed: refused by default
    assert fetch_new(dataclasses.replace(config, ca_file=str(tls_dovecot.cert)), engine).stored == 1
    tls_dovecot.append(mail(2))
    assert fetch_new(dataclasses.replace(config, verify=False), engine).stored == 1
    tls_dovecot.clean()
