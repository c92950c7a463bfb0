"""Engine and sessions: SQLite pragmas and write turns, sessions, checkpoints."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    event,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlmodel import Session, create_engine

from mailbot.store.fast import prepared_insert
from mailbot.store.tables import Event

log = logging.getLogger(__name__)


_AUTOCHECKPOINT_PAGES = 10_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE instead of pysqlite's own BEGIN.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # WAL lets the CLI read while the service writes; busy_timeout rides out short locks.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    # A checkpoint copies the WAL back into the database inside some writer's commit,
    # while that writer holds the turn: at the default (1,000 pages, ~30 mails) it
    # was a fifth of the time a mail took. The service checkpoints in a thread of its
    # own (:func:`background_checkpoints`); this larger mark is the backstop for
    # processes that run without one.
    cur.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_PAGES}")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # A writing transaction takes the write lock at its start: two processes (the
    # service and an MTA-pipe ingest) then queue up on busy_timeout instead of failing
    # on a stale snapshot. Readers (the CLI's views) stay deferred and never block.
    statement = "BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE_OPTION) else "BEGIN"
    # Straight on the driver's connection: through SQLAlchemy's execution machinery
    # the statement cost five times what SQLite needs for it, in every transaction.
    dbapi = conn.dialect.loaded_dbapi
    try:
        conn.connection.driver_connection.execute(statement)
    except dbapi.Error as exc:
        # Raised as SQLAlchemy raises it ("database is locked" is an OperationalError
        # that callers tell apart from a broken message).
        raise DBAPIError.instance(statement, None, exc, dbapi.Error) from exc


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


_EVENTS_KEY = "mailbot.pending_events"
_WRITE_OPTION = "mailbot_write"


def pending_events(session: Session) -> list[dict[str, Any]]:
    """Event rows waiting for this transaction's commit (see :func:`session_scope`)."""
    events: list[dict[str, Any]] = session.info.setdefault(_EVENTS_KEY, [])
    return events


class _WriteTurns:
    """Per database file: a lock between this process's threads and a POSIX record lock
    (``lockf``) on ``<database>.lock`` between processes.

    A record lock belongs to the process and is not inherited by a forked child, so a
    fork taken while some thread writes cannot leave the turn held by a child (an
    ``flock`` would be: the child's copy of the descriptor keeps it). A process that
    dies loses its record locks at once.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._files: dict[str, tuple[int, threading.Lock]] = {}
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # A thread of the parent may have held a lock at the fork; the child's copies
        # of those locks would stay taken for ever.
        self._guard = threading.Lock()
        self._files = {path: (fd, threading.Lock()) for path, (fd, _) in self._files.items()}

    def _file(self, path: str) -> tuple[int, threading.Lock] | None:
        with self._guard:
            found = self._files.get(path)
            if found is None:
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                except OSError:  # a URI, a read-only folder: SQLite's own locking holds
                    return None
                found = self._files[path] = (fd, threading.Lock())
            return found

    @contextmanager
    def held(self, path: str) -> Iterator[None]:
        found = self._file(path)
        if found is None:
            yield
            return
        fd, local = found
        with local:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN)


_TURNS = _WriteTurns()


@contextmanager
def _write_turn(engine: Engine) -> Iterator[None]:
    """On SQLite, wait for the write lock in the kernel, not in SQLite's busy handler.

    SQLite's busy handler sleeps in growing steps (up to 100 ms) while another
    connection writes; with several processes writing a few milliseconds each, most of
    the time went into those sleeps. An exclusive lock on a file beside the database
    hands the turn over the moment the holder commits, rolls back or dies.
    """
    database = _sqlite_file(engine)
    if database is None:
        yield
        return
    with _TURNS.held(database + ".lock"):
        yield


_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_GUARD = threading.Lock()


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[None]:
    """While the block runs, no other worker of this store (process, thread, machine)
    is inside an ``exclusive`` block of the same ``name``; the others wait.

    For work that talks to the outside world while it holds the turn (an OAuth2
    refresh: a token server that rotates refresh tokens must see one request, not one
    per worker), so the store's write turn is not held meanwhile. PostgreSQL: an
    advisory lock on a connection of its own, gone with the connection if the worker
    dies. SQLite: a record lock on ``<database>.<name>.lock``, gone with the process.
    """
    if engine.dialect.name == "postgresql":
        # The advisory lock space is shared with migrate()'s constant; a checksum of a
        # prefixed name keeps apart from it.
        key = zlib.crc32(f"mailbot:{name}".encode())
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.commit()
        return
    database = _sqlite_file(engine)
    if database is not None:
        with _TURNS.held(f"{database}.{name}.lock"):
            yield
        return
    with _MEMORY_GUARD:
        lock = _MEMORY_LOCKS.setdefault(name, threading.Lock())
    with lock:
        yield


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error.

    Audit events collected with :func:`pending_events` go in with one INSERT just
    before the commit, so they share the fate of the changes they explain.
    """
    with _write_turn(engine), Session(engine, expire_on_commit=False) as session:
        try:
            session.connection(execution_options={_WRITE_OPTION: True})
            yield session
            events = session.info.pop(_EVENTS_KEY, None)
            if events:
                # Core executemany: the ORM's bulk path costs a millisecond a mail.
                prepared_insert(Event).many(session.connection(), events)
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def write_scope(engine: Engine) -> Iterator[Connection]:
    """One short writing transaction on a plain connection, without an ORM session:
    for a single prebuilt statement (a send's outcome) the session's bookkeeping
    cost more than the statement. The connection is its own; :class:`Writer` keeps
    one for a series of such transactions."""
    writer = Writer(engine)
    try:
        with writer.scope() as connection:
            yield connection
    finally:
        writer.close()


class Writer:
    """One connection kept for a series of short writing transactions: a sender's
    claims and the outcome of each mail it sent, ~900 of them in a 1,000-mail drain.
    Taking a connection from the pool and giving it back for each cost about as much
    as the transaction itself. A transaction that fails drops the connection, so a
    broken one is not used again; the next scope opens a fresh one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        # The sender claims from its own thread and records outcomes from another,
        # one after the other; the lock keeps a mistake from interleaving them.
        self._lock = threading.Lock()

    @contextmanager
    def scope(self) -> Iterator[Connection]:
        """One writing transaction on the kept connection, in the store's write turn:
        committed on success, rolled back (and the connection dropped) on any error."""
        with self._lock, _write_turn(self.engine):
            if self._connection is None:
                connection = self.engine.connect()
                self._connection = connection.execution_options(**{_WRITE_OPTION: True})
            try:
                with self._connection.begin():
                    yield self._connection
            except BaseException:
                self._drop()
                raise

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                connection.close()


def _sqlite_file(engine: Engine) -> str | None:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    return database if database and database != ":memory:" else None


@contextmanager
def background_checkpoints(engine: Engine, every: float = 1.0) -> Iterator[None]:
    """While the block runs, copy the SQLite WAL back into the database every ``every``
    seconds from a thread of its own, outside the write turn.

    A passive checkpoint waits for nobody and blocks nobody: writers go on appending
    to the WAL meanwhile. Checkpointing often keeps the WAL short; a page that many
    mails change (an index's) is copied once per checkpoint, not once per mail.
    Nothing for PostgreSQL or an in-memory database.
    """
    if _sqlite_file(engine) is None:
        yield
        return
    done = threading.Event()

    def loop() -> None:
        while not done.wait(every):
            try:
                with engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception:  # a busy or briefly missing database: the next round retries
                log.debug("checkpoint failed", exc_info=True)

    thread = threading.Thread(target=loop, name="checkpoint", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
