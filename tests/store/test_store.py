"""The store on SQLite and on a real PostgreSQL server: migrations, intake, races."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, func, select

from mailbot.inbound.intake import store_raw
from mailbot.store import (
    Event,
    Inbound,
    Prepared,
    Setting,
    Ticket,
    Writer,
    background_checkpoints,
    insert_row,
    make_engine,
    migrate,
    new_row,
    open_store,
    session_scope,
    write_scope,
)
from tests.helpers import STORE_BACKENDS, make_mail


@pytest.fixture(params=STORE_BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/store.db"
    else:
        url = request.getfixturevalue("postgres_url")
    eng = open_store(url)
    yield eng
    eng.dispose()


def test_migrations_create_every_table_of_the_models(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables
    # Starting again is a no-op, not an error.
    open_store(engine.url.render_as_string(hide_password=False)).dispose()


def test_migrated_columns_match_the_models(engine: Engine) -> None:
    inspector = inspect(engine)
    for name, table in SQLModel.metadata.tables.items():
        columns = {c["name"] for c in inspector.get_columns(name)}
        assert columns == {c.name for c in table.columns}, name


def test_intake_dedups_by_uid_and_by_content(engine: Engine) -> None:
    raw = make_mail("a@praxis-weber.example", "Drucker", "geht nicht")
    with session_scope(engine) as s:
        assert store_raw(s, raw, mailbox="INBOX", uidvalidity=7, uid=1)[1]
        assert not store_raw(s, raw, mailbox="INBOX", uidvalidity=7, uid=1)[1]
        # Same message after a UIDVALIDITY change: recognised by Message-ID and content.
        assert not store_raw(s, raw, mailbox="INBOX", uidvalidity=8, uid=1)[1]
        other = make_mail("a@praxis-weber.example", "Drucker", "geht wieder")
        assert store_raw(s, other, mailbox="INBOX", uidvalidity=8, uid=2)[1]
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Inbound)).one() == 2


def test_uids_above_signed_32_bit_fit(engine: Engine) -> None:
    raw = make_mail("a@praxis-weber.example", "x", "y")
    with session_scope(engine) as s:
        inbound_id, _ = store_raw(
            s, raw, mailbox="INBOX", uidvalidity=4_294_967_295, uid=4_294_967_290
        )
    with Session(engine) as s:
        stored = s.get(Inbound, inbound_id)
        assert stored is not None and stored.uid == 4_294_967_290


def test_concurrent_intake_of_the_same_mail_stores_it_once(engine: Engine) -> None:
    raw = make_mail("a@praxis-weber.example", "Server", "weg")
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        with session_scope(engine) as s:
            results.append(store_raw(s, raw, mailbox="INBOX", uidvalidity=1, uid=5)[1])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]


def test_background_checkpoints_copy_the_wal_into_the_database(tmp_path: Path) -> None:
    """Writers leave their pages in the WAL (the self-checkpoint mark is far off); the
    checkpoint thread copies them into the database file while the block runs."""
    database = tmp_path / "wal.db"
    engine = open_store(f"sqlite:///{database}")
    try:
        for n in range(40):
            with session_scope(engine) as session:
                mail = make_mail("kunde@mueller.example", f"Mail {n}", "x" * 3000)
                store_raw(session, mail, mailbox="m")
        before = database.stat().st_size
        assert Path(f"{database}-wal").stat().st_size > 100_000  # still in the WAL
        with background_checkpoints(engine, every=0.05):
            deadline = time.monotonic() + 10
            while database.stat().st_size <= before and time.monotonic() < deadline:
                time.sleep(0.05)
        assert database.stat().st_size > before + 100_000
        with Session(engine) as session:
            assert session.exec(select(func.count()).select_from(Inbound)).one() == 40
    finally:
        engine.dispose()


_T = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _statements_of_one_mail(engine: Engine, mail: bytes) -> list[object]:
    """What a new mail's transaction and its send write, through the prepared statements."""
    from mailbot.outbound import _claims, outgoing
    from mailbot.process import runner as process
    from mailbot.process import turn
    from mailbot.process.tickets import next_number, record

    seen: list[object] = []
    with session_scope(engine) as session:
        inbound_id, _ = store_raw(session, mail, mailbox="m", received_at=_T)
        connection = session.connection()
        seen.append(process._READ.first(connection, {"inbound_id": inbound_id}))
        seen.append(process._CLAIM.first(connection, {"inbound_id": inbound_id}))
        ticket = Ticket(
            number=next_number(session), subject="Drucker – Störung", contract=True,
            deadline=date(2026, 3, 4), planned_change=True, arrived_at=_T,
            due_at=_T + timedelta(hours=4), created_at=_T, updated_at=_T,
        )
        seen.append(insert_row(session, ticket))
        message = dict(
            ticket_id=ticket.id, inbound_id=inbound_id, outbox_id=None, direction="in",
            author_kind="customer", message_id="<a@b>", in_reply_to="", references="",
            thread_index="", sender="kunde@mueller.example", recipients="service@x",
            subject="Drucker", text="Grüße\n", evidence="{}", created_at=_T,
        )
        seen.append(turn._INSERT_MESSAGE.insert(connection, message))
        seen.append(
            outgoing._INSERT_OUTBOX.insert(
                connection,
                dict(
                    ticket_id=ticket.id, kind="ack", message_id="<ack@x>", envelope_from="s@x",
                    to_address="kunde@mueller.example", recipients='["kunde@mueller.example"]',
                    raw=b"Subject: x\r\n\r\n\xc3\xa4\r\n", status="queued", rank=2, attempts=0,
                    next_attempt_at=_T, last_error="", smtp_reply="", created_at=_T,
                    sent_at=None, claimed_by="w", claimed_until=_T + timedelta(minutes=15),
                ),
            )
        )
        day, hour = _T - timedelta(days=1), _T - timedelta(hours=1)
        params = {"address": "kunde@mueller.example", "day": day, "hour": hour}
        seen.append(outgoing._REPLY_HISTORY.first(connection, params))
        record(session, kind="ticket_opened", actor="process", ticket=ticket, at=_T,
               reasons=["Kunde: Müller"])
        record(session, kind="classified", actor="classify", ticket=ticket, at=_T)
        done = {"inbound_id": inbound_id, "done_at": _T, "disposition": "info"}
        seen.append(process._DONE.execute(connection, done))
    with write_scope(engine) as connection:
        # The claim ran out: the next round claims the row again, and reads it back.
        later = _T + timedelta(minutes=20)
        claim = {"now": later, "worker": "w", "until": later + timedelta(minutes=15)}
        seen.append(_claims._CLAIM_SOME.execute(connection, claim | {"limit": 5, "max_rank": 3}))
        seen.append(_claims._CLAIM_ALL.execute(connection, claim))
        seen.append(_claims._CLAIMED.all(connection, {"worker": "w"}))
        sent = {"row_id": 1, "worker": "w", "reply": "250 ok", "at": _T + timedelta(seconds=1)}
        seen.append(_claims._SENT.execute(connection, sent))
        seen.append(_claims._SENT.execute(connection, sent))  # the claim is gone: 0 rows
    return seen


def _dump(database: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every stored value with SQLite's own type of it, straight from the file."""
    with closing(sqlite3.connect(database)) as raw:
        tables = [r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        dump = {}
        for table in tables:
            columns = [r[1] for r in raw.execute(f"PRAGMA table_info({table})")]
            typed = ", ".join(f'"{c}", typeof("{c}")' for c in columns)
            dump[table] = raw.execute(f"SELECT {typed} FROM {table} ORDER BY rowid").fetchall()
        return dump


def test_prepared_statements_store_what_sqlalchemy_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the hot path's statements skip SQLAlchemy's execution; the file must
    hold the same values, of the same SQLite types, as through SQLAlchemy."""
    mail = make_mail("kunde@mueller.example", "Drucker", "Hallo")
    fast_engine = open_store(f"sqlite:///{tmp_path / 'fast.db'}")
    fast = _statements_of_one_mail(fast_engine, mail)
    fast_engine.dispose()
    used = []
    original = Prepared._form

    def through_sqlalchemy(self: Prepared, connection: Connection, keys: frozenset[str]) -> None:
        used.append(original(self, connection, keys) is not None)
        return None

    monkeypatch.setattr(Prepared, "_form", through_sqlalchemy)
    core_engine = open_store(f"sqlite:///{tmp_path / 'core.db'}")
    core = _statements_of_one_mail(core_engine, mail)
    core_engine.dispose()

    assert used and all(used), "a statement of the hot path fell back to SQLAlchemy"
    assert fast == core
    assert fast[-2:] == [1, 0]
    assert _dump(tmp_path / "fast.db") == _dump(tmp_path / "core.db")


def test_prepared_statements_raise_what_sqlalchemy_raises(tmp_path: Path) -> None:
    """Callers tell a lost race (IntegrityError) from a locked or missing store
    (OperationalError) by SQLAlchemy's exception classes; the SQLite path keeps them."""
    from mailbot.outbound.outgoing import _INSERT_OUTBOX

    engine = open_store(f"sqlite:///{tmp_path / 'errors.db'}")
    row = dict(
        ticket_id=None, kind="ack", message_id="<same@x>", envelope_from="s@x",
        to_address="k@x", recipients='["k@x"]', raw=b"x", status="queued", rank=2, attempts=0,
        next_attempt_at=_T, last_error="", smtp_reply="", created_at=_T, sent_at=None,
        claimed_by=None, claimed_until=None,
    )
    try:
        with pytest.raises(IntegrityError) as caught, write_scope(engine) as connection:
            _INSERT_OUTBOX.insert(connection, row)
            assert _INSERT_OUTBOX._forms[frozenset(row)] is not None  # the SQLite path
            _INSERT_OUTBOX.insert(connection, row)
        assert isinstance(caught.value.orig, sqlite3.IntegrityError)
    finally:
        engine.dispose()


def test_a_locked_store_at_begin_raises_sqlalchemys_operational_error(tmp_path: Path) -> None:
    """BEGIN goes to the driver's connection directly; a store locked by another
    program must still surface as OperationalError, which leaves the mail "new" for a
    later try, not as an error that would quarantine it."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    database = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{database}")
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA busy_timeout=50"))
    migrate(engine)
    other = sqlite3.connect(database, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        with pytest.raises(OperationalError) as caught, session_scope(engine):
            pass
        assert "locked" in str(caught.value.orig)
        other.execute("ROLLBACK")
        with session_scope(engine) as session:  # and the next transaction goes through
            session.add(Ticket(number=7))
    finally:
        other.close()
        engine.dispose()


def test_the_announced_oversized_mail_are_found_by_their_partial_index(tmp_path: Path) -> None:
    """Every drain asks which oversized mails were announced; without the partial
    index (a bound parameter instead of the literal defeats it) that reads every event."""
    from mailbot.process.staff import TOO_LARGE_TOLD

    engine = open_store(f"sqlite:///{tmp_path / 'plan.db'}")
    try:
        query = select(Event.inbound_id).where(TOO_LARGE_TOLD)
        sql = str(query.compile(dialect=engine.dialect))
        with engine.connect() as connection:
            plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).fetchall()
        assert any("ix_event_too_large" in str(step) for step in plan), plan
    finally:
        engine.dispose()


def test_new_row_is_the_row_the_constructor_builds(engine: Engine) -> None:
    moment = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    values: dict[str, object] = {
        "number": 41,
        "subject": "Server steht",
        "customer_address": "info@kanzlei.example",
        "deadline": date(2026, 11, 25),
        "arrived_at": moment,
        "created_at": moment,
        "updated_at": moment,
    }
    built, constructed = new_row(Ticket, **values), Ticket(**values)
    assert built.model_dump() == constructed.model_dump()
    assert built.model_fields_set == constructed.model_fields_set == set(values)
    # Defaults made by a factory are made per row, as the constructor makes them.
    assert new_row(Ticket, number=1).created_at.tzinfo is not None

    with session_scope(engine) as session:
        new_id = insert_row(session, built)
        # A later change reaches the object (it is an ordinary instance) ...
        built.number = 42
        assert built.number == 42
        # ... and one added to a session is saved like any other new object.
        session.add(new_row(Ticket, **(values | {"number": 43})))
    with Session(engine) as session:
        stored = session.get(Ticket, new_id)
        assert stored is not None
        times = ("arrived_at", "created_at", "updated_at")
        read, expected = stored.model_dump(), constructed.model_dump()
        # SQLite hands datetimes back without their zone (everything stored is UTC).
        assert {k: read[k].replace(tzinfo=UTC) for k in times} == {k: expected[k] for k in times}
        assert {k: v for k, v in read.items() if k not in (*times, "id")} == {
            k: v for k, v in expected.items() if k not in (*times, "id")
        }
        added = session.exec(select(Ticket.subject).where(Ticket.number == 43)).one()
        assert added == "Server steht"


def test_new_row_refuses_what_the_model_does_not_have() -> None:
    with pytest.raises(TypeError, match="'colour'"):
        new_row(Ticket, number=1, colour="red")
    with pytest.raises(TypeError, match="'number'"):
        new_row(Ticket, subject="no number")


def test_a_writer_keeps_its_connection_and_drops_it_after_a_failure(engine: Engine) -> None:
    writer = Writer(engine)
    settings = Setting.__table__  # type: ignore[attr-defined]

    def add(connection: Connection, key: str, value: str) -> None:
        connection.execute(
            settings.insert().values(key=key, value=value, updated_at=datetime.now(UTC))
        )

    try:
        with writer.scope() as connection:
            first = connection
            add(connection, "a", "1")
        with writer.scope() as connection:
            assert connection is first
            add(connection, "b", "2")
        with pytest.raises(IntegrityError), writer.scope() as connection:
            add(connection, "c", "3")
            add(connection, "a", "again")
        with writer.scope() as connection:
            assert connection is not first and first.closed
            add(connection, "d", "4")
    finally:
        writer.close()
    with Session(engine) as session:
        stored = {s.key: s.value for s in session.exec(select(Setting)).all()}
    # Committed scope by scope; the failed one left nothing behind.
    assert stored == {"a": "1", "b": "2", "d": "4"}
