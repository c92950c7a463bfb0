"""The durable store: tables, engine and sessions.

SQLite (WAL) is the embedded default; PostgreSQL works through the same code.
The schema is owned by the Alembic migrations in ``mailbot/migrations``; the
tables here must stay in step with them (a test compares the two).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
    event,
    insert,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import class_mapper
from sqlmodel import Field, Session, SQLModel, create_engine

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Customer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    domain: str = Field(index=True, unique=True)
    name: str = ""
    contract: bool = False


class Ticket(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    number: int = Field(index=True, unique=True)
    subject: str = ""
    customer_address: str = Field(default="", index=True)
    customer_domain: str = Field(default="", index=True)
    customer_name: str = ""
    contract: bool = False
    #: open | waiting | solved
    status: str = Field(default="open", index=True)
    priority: str = "low"
    urgency: str = "none"
    deadline: date | None = None
    planned_change: bool = False
    category: str = ""
    language: str = "de"
    arrived_at: datetime = Field(default_factory=utcnow)
    due_at: datetime | None = None
    #: the host/service key of a monitoring alarm ticket
    alarm_key: str | None = Field(default=None, index=True)
    assignee: str | None = None
    linked_ticket_id: int | None = Field(default=None, foreign_key="ticket.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Message(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    inbound_id: int | None = Field(default=None, foreign_key="inbound.id")
    outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    #: in | out
    direction: str = "in"
    #: customer | staff | monitoring | bot
    author_kind: str = "customer"
    message_id: str = Field(default="", index=True)
    in_reply_to: str = ""
    references: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    thread_index: str = ""
    sender: str = ""
    recipients: str = ""
    subject: str = ""
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    #: JSON of the classification and its evidence
    evidence: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)


#: the one query by an event's kind (see migration 0003)
TOO_LARGE_NOTIFIED = "too_large_notified"


class Event(SQLModel, table=True):
    __table_args__ = (
        Index(
            "ix_event_too_large",
            "inbound_id",
            sqlite_where=text(f"kind = '{TOO_LARGE_NOTIFIED}'"),
            postgresql_where=text(f"kind = '{TOO_LARGE_NOTIFIED}'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    inbound_id: int | None = Field(default=None, foreign_key="inbound.id")
    at: datetime = Field(default_factory=utcnow)
    #: who or what decided: "process", "classify", "sla", "threads", a staff address, ...
    actor: str = ""
    #: short machine name of the decision ("automated", "ticket_opened", "priority_changed", ...)
    kind: str = ""
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    #: JSON list of the evidence that made the decision
    reasons: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))


class Inbound(SQLModel, table=True):
    """Every message as it arrived, raw, before anything else touches it."""

    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_inbound_mailbox_uid"),
        Index("ix_inbound_status_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = ""
    # UIDs and UIDVALIDITY are unsigned 32-bit: too big for a signed INTEGER on PostgreSQL.
    uidvalidity: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    uid: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    message_id: str = Field(default="", index=True)
    content_hash: str = ""
    #: sha256 over Message-ID and content hash: the same mail fetched twice
    dedup_key: str = Field(unique=True)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int = 0
    received_at: datetime = Field(default_factory=utcnow)
    #: new | processed | quarantined
    status: str = "new"
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    attempts: int = 0
    processed_at: datetime | None = None
    claimed_by: str | None = None
    claimed_until: datetime | None = None


class Outbox(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    #: ack | notify | relay | oncall | reminder | ...
    kind: str = ""
    message_id: str = Field(unique=True)
    envelope_from: str = ""
    #: the main recipient, lower-cased: what the per-recipient caps count
    to_address: str = Field(default="", index=True)
    #: JSON list of envelope recipients
    recipients: str = "[]"
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    #: queued | sent | failed
    status: str = Field(default="queued", index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    last_error: str = ""
    smtp_reply: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    claimed_by: str | None = None
    claimed_until: datetime | None = None


class MailboxState(SQLModel, table=True):
    mailbox: str = Field(primary_key=True)
    uidvalidity: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_uid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    last_fetch_ok_at: datetime | None = None
    last_error: str = ""
    last_error_at: datetime | None = None


class Setting(SQLModel, table=True):
    """Small key/value facts the service keeps between runs (last send, leader lease)."""

    key: str = Field(primary_key=True)
    value: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


#: WAL pages after which a committing writer checkpoints itself (4 KB each: 40 MB)
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


@dataclass(frozen=True)
class _Form:
    """A statement as SQLite gets it: the SQL text, and per ``?`` where its value comes
    from (a parameter's name, or the literal written into the statement) and how
    SQLAlchemy would convert it."""

    sql: str
    slots: tuple[tuple[str, bool, Any, Callable[[Any], Any] | None], ...]
    #: per result column of a SELECT, SQLAlchemy's conversion of what SQLite returns
    columns: tuple[Callable[[Any], Any] | None, ...] = ()

    def row(self, found: tuple[Any, ...]) -> tuple[Any, ...]:
        if not any(self.columns):
            return tuple(found)
        return tuple(
            value if process is None or value is None else process(value)
            for value, process in zip(found, self.columns, strict=True)
        )

    def args(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for name, given, literal, process in self.slots:
            value = params[name] if given else literal
            values.append(value if process is None or value is None else process(value))
        return tuple(values)


class Prepared:
    """A Core statement that, on SQLite, runs straight on the DB-API connection.

    For the few statements of a mail's write transaction, SQLAlchemy's execution
    path (execution context, result object) cost three times what SQLite itself took,
    and the write turn is held meanwhile. The statement is compiled by SQLAlchemy
    once per set of parameter names, and each value goes through the conversion
    SQLAlchemy's type would apply, so the stored values are the same either way.
    Anything this cannot reproduce exactly (column defaults computed at execution,
    expanding IN lists) runs through SQLAlchemy, as does every other database.
    SQLAlchemy's cursor events do not fire for the SQLite path; its errors are
    raised as SQLAlchemy's exceptions.
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._forms: dict[frozenset[str], _Form | None] = {}

    def _form(self, connection: Connection, keys: frozenset[str]) -> _Form | None:
        if connection.dialect.name != "sqlite" or not connection.in_transaction():
            return None
        try:
            return self._forms[keys]
        except KeyError:
            pass
        form = self._compile(connection.dialect, keys)
        self._forms[keys] = form
        return form

    def _compile(self, dialect: Any, keys: frozenset[str]) -> _Form | None:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=sorted(keys))
        if (
            not compiled.positional
            or compiled.insert_prefetch
            or compiled.update_prefetch
            or compiled.literal_execute_params
            or compiled.post_compile_params
        ):
            return None
        columns = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in getattr(self.statement, "selected_columns", ())
        )
        slots = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            if bind.expanding or bind.callable is not None:
                return None
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            slots.append((name, name in keys, bind.value, process))
        return _Form(compiled.string, tuple(slots), columns)

    @staticmethod
    def _run(connection: Connection, form: _Form, call: Callable[[Any], Any]) -> Any:
        """``call`` with the DB-API connection; its errors raised as SQLAlchemy raises
        them (IntegrityError, OperationalError, ...), which is what callers handle."""
        dbapi = connection.dialect.loaded_dbapi
        try:
            return call(connection.connection.driver_connection)
        except dbapi.Error as exc:
            raise DBAPIError.instance(form.sql, None, exc, dbapi.Error) from exc

    def insert(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """Run an INSERT; the new row's id."""
        form = self._form(connection, frozenset(params))
        if form is None:
            key = connection.execute(self.statement, dict(params)).inserted_primary_key
            assert key is not None
            return int(key[0])
        args = form.args(params)
        return int(self._run(connection, form, lambda db: db.execute(form.sql, args).lastrowid))

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """Run an UPDATE or DELETE; the number of rows it matched."""
        form = self._form(connection, frozenset(params))
        if form is None:
            return int(connection.execute(self.statement, dict(params)).rowcount)
        args = form.args(params)
        return int(self._run(connection, form, lambda db: db.execute(form.sql, args).rowcount))

    def first(self, connection: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run a SELECT; its first row, or None."""
        form = self._form(connection, frozenset(params))
        if form is None:
            row = connection.execute(self.statement, dict(params)).first()
            return None if row is None else tuple(row)
        args = form.args(params)
        found = self._run(connection, form, lambda db: db.execute(form.sql, args).fetchone())
        return None if found is None else form.row(found)

    def all(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run a SELECT; all its rows."""
        form = self._form(connection, frozenset(params))
        if form is None:
            return [tuple(row) for row in connection.execute(self.statement, dict(params))]
        args = form.args(params)
        found = self._run(connection, form, lambda db: db.execute(form.sql, args).fetchall())
        return [form.row(row) for row in found]

    def many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run an INSERT or UPDATE once per row (all rows with the same keys)."""
        if not rows:
            return
        form = self._form(connection, frozenset(rows[0]))
        if form is None:
            connection.execute(self.statement, [dict(r) for r in rows])
            return
        args = [form.args(r) for r in rows]
        self._run(connection, form, lambda db: db.executemany(form.sql, args))


def prepared_insert(table: Any) -> Prepared:
    """The one prepared INSERT of a table (a model class or its ``__table__``)."""
    return _insert_for(getattr(table, "__table__", table))


@cache
def _insert_for(table: Any) -> Prepared:
    return Prepared(insert(table))


_Row = TypeVar("_Row", bound=SQLModel)


def new_row(model: type[_Row], /, **values: Any) -> _Row:
    """A new row object, filled the way the ORM fills a row it loads: the values go
    straight into the instance. ``Model(**values)`` sets each column through an
    attribute event, which for a ticket's 22 columns cost ~4 % of a mail's time.
    Missing columns take their defaults; an unknown or missing required one raises
    TypeError as the constructor would. Meant for :func:`insert_row`."""
    unknown = values.keys() - model.model_fields.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no column {sorted(unknown)[0]!r}")
    filled: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name in values:
            filled[name] = values[name]
        elif field.is_required():
            raise TypeError(f"{model.__name__} needs a value for {name!r}")
        else:
            filled[name] = field.get_default(call_default_factory=True)
    row: _Row = class_mapper(model).class_manager.new_instance()
    row.__dict__.update(filled)
    object.__setattr__(row, "__pydantic_fields_set__", set(values))
    return row


def insert_row(session: Session, row: SQLModel) -> int:
    """INSERT a new row without the ORM's unit of work (a millisecond a mail on the
    hot path); the object gets its id and stays outside the session, so later changes
    to it are not saved."""
    table = row.__table__  # type: ignore[attr-defined]
    values = {c.name: getattr(row, c.name) for c in table.columns if c.name != "id"}
    new_id = prepared_insert(table).insert(session.connection(), values)
    row.id = new_id
    return new_id


_MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to call on every start."""
    from alembic import command

    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two workers starting at once must not both create the tables.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7305747)")
        command.upgrade(_alembic_config(connection), "head")


def open_store(url: str) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine
