"""Send: claim due ``outbox`` rows and deliver them over SMTP (or into a Maildir).

A :class:`Sender` sends round after round (each round: whatever is due) and keeps
its SMTP connection and the thread that writes outcomes between rounds;
:func:`send_due` is one round.
Each row is claimed first (``claimed_by``/``claimed_until``, one UPDATE) so two
workers never send the same mail; a crashed worker's claim runs out after the
lease. The raw bytes go out exactly as queued: the Message-ID inside was fixed
when the mail was queued, so a resend after a crash is recognisably the same mail.

Outcome per row, written right after its SMTP transaction:

* 2xx: ``sent`` with the reply.
* 4xx, lost connection, timeout: retried with exponential backoff (1 min, 2, 4, ...
  capped at 6 h); after 5 days since queuing the row is ``failed``.
* 5xx: ``failed`` with the reply, never retried.
"""

from __future__ import annotations

import concurrent.futures
import logging
import mailbox
import os
import smtplib
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, bindparam, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.dml import Update
from sqlmodel import Session, col, select

from mailbot.config import Config, SmtpConfig
from mailbot.errors import PermanentSendError, TransientSendError
from mailbot.outbound import smtp as _smtp
from mailbot.outbound.smtp import Verdict
from mailbot.store import (
    Outbox,
    Prepared,
    Setting,
    Writer,
    new_row,
    session_scope,
    write_scope,
)

log = logging.getLogger(__name__)

LAST_SEND_OK = "last_send_ok_at"


@dataclass(frozen=True)
class RetryPolicy:
    first: timedelta = timedelta(minutes=1)
    maximum: timedelta = timedelta(hours=6)
    give_up_after: timedelta = timedelta(days=5)
    #: how long a claim holds; a worker that dies mid-batch releases its rows after this
    lease: timedelta = timedelta(minutes=15)

    def delay(self, attempts: int) -> timedelta:
        """Wait before the next try, after ``attempts`` failed ones (1 -> first)."""
        if attempts >= 32:  # 2**31 minutes is far beyond any sane cap
            return self.maximum
        delay: timedelta = self.first * (2 ** max(attempts - 1, 0))
        return min(delay, self.maximum)


@dataclass(frozen=True)
class Outcome:
    outbox_id: int
    verdict: Verdict
    reply: str


@dataclass
class SendReport:
    claimed: int = 0
    sent: int = 0
    #: transient failures, queued again for later
    deferred: int = 0
    #: permanent failures and rows given up after the retry window
    failed: int = 0
    outcomes: list[Outcome] = field(default_factory=list)


def send_due(
    config: Config,
    engine: Engine,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    policy: RetryPolicy = RetryPolicy(),
) -> SendReport:
    """Send what is due at ``now`` (the clock for this run; tests move it forward), in
    one round over a connection of its own."""
    with Sender(config, engine, policy) as sender:
        return sender.send_due(now=now, limit=limit)


#: a connection unused for this long is asked (NOOP) before it is used again
_CHECK_AFTER_IDLE = 1.0
#: seconds between two looks for claims left by a dead worker of this host
_DEAD_CLAIMS_EVERY = 60.0
#: seconds between two writes of the last good send while rounds follow each other
_NOTE_LAST_OK_EVERY = 5.0


class Sender:
    """Sends due mail round after round, keeping what a round needs between rounds:
    the SMTP connection and the thread that writes outcomes.

    A drain sends in many small rounds (whatever the processes queued since the last
    one); opening a connection, greeting and quitting for each round
    cost more than the mail of a typical round. A connection idle for a second or
    more is checked with NOOP before it is used again; one idle for longer than
    ``keep_idle`` is closed by the next round that finds nothing to send. One round
    runs at a time.
    """

    def __init__(
        self,
        config: Config,
        engine: Engine,
        policy: RetryPolicy = RetryPolicy(),
        *,
        keep_idle: float = 10.0,
    ) -> None:
        self.config = config
        self.engine = engine
        self.policy = policy
        self.keep_idle = keep_idle
        self._lock = threading.Lock()
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None
        #: the connection the claims and outcomes are written on
        self._store = Writer(engine)
        self._client: smtplib.SMTP | None = None
        self._used_at = 0.0
        self._claims_checked_at: float | None = None
        self._last_ok: datetime | None = None
        self._last_ok_written_at: float | None = None

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send_due(self, *, now: datetime | None = None, limit: int | None = None) -> SendReport:
        with self._lock:
            return self._round(now, limit)

    def close(self) -> None:
        """QUIT the connection, end the writer thread, and write the time
        of the last good send if it is not written yet."""
        with self._lock:
            try:
                self._hang_up()
            finally:
                if self._writer is not None:
                    self._writer.shutdown()
                    self._writer = None
                self._store.close()
                self._note_last_ok(force=True)

    def _round(self, now: datetime | None, limit: int | None) -> SendReport:
        clock = _aware(now) if now is not None else datetime.now(UTC)
        worker = f"{_worker_prefix()}{os.getpid()}:{uuid.uuid4().hex[:8]}"
        checked = self._claims_checked_at
        release_dead = checked is None or time.monotonic() - checked >= _DEAD_CLAIMS_EVERY
        if release_dead:
            self._claims_checked_at = time.monotonic()
        rows = claim(
            self.engine, worker=worker, now=clock, limit=limit, lease=self.policy.lease,
            release_dead=release_dead, writer=self._store,
        )
        report = SendReport(claimed=len(rows))
        if not rows:
            if self._client is not None and time.monotonic() - self._used_at > self.keep_idle:
                self._hang_up()
            return report
        recorder = _Recorder(self._store, worker, clock, self.policy, report)
        if self.config.smtp is None:
            box = _maildir(self.config)
            for row in rows:
                recorder.record(row, _to_maildir(box, row, self.config))
        else:
            if self._writer is None:
                self._writer = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix="send-record"
                )
            client = self._reusable()
            try:
                self._client = _over_smtp(
                    self.config.smtp, rows, recorder, self._writer, client
                )
            finally:
                self._used_at = time.monotonic()
        if report.sent:
            self._last_ok = clock
            self._note_last_ok()
        return report

    def _reusable(self) -> smtplib.SMTP | None:
        """The connection of an earlier round, if it still answers."""
        client, self._client = self._client, None
        if client is None:
            return None
        if _smtp.is_open(client) and time.monotonic() - self._used_at < _CHECK_AFTER_IDLE:
            return client
        return client if _smtp.still_answers(client) else None

    def _hang_up(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _smtp.hang_up(client)

    def _note_last_ok(self, *, force: bool = False) -> None:
        """The time of the last good send, for ``mailbot health``: written at most every
        few seconds while rounds follow each other, and when the sender closes."""
        if self._last_ok is None:
            return
        written = self._last_ok_written_at
        if not force and written is not None and time.monotonic() - written < _NOTE_LAST_OK_EVERY:
            return
        with session_scope(self.engine) as db:
            _set_last_ok(db, self._last_ok)
        self._last_ok, self._last_ok_written_at = None, time.monotonic()


def claim(
    engine: Engine,
    *,
    worker: str,
    now: datetime,
    limit: int | None,
    lease: timedelta,
    release_dead: bool = True,
    writer: Writer | None = None,
) -> list[Outbox]:
    """Take up to ``limit`` due rows for ``worker``; rows claimed by others are skipped.
    With ``release_dead``, claims of dead workers of this host are released first.
    ``writer``: the connection to write on (a new one otherwise)."""
    if release_dead:
        _release_dead_local_claims(engine, now)
    with writer.scope() if writer is not None else write_scope(engine) as connection:
        # One UPDATE as the first statement: on SQLite it takes the write lock at once
        # (waiting out busy_timeout) instead of failing to upgrade a read snapshot.
        # The outer conditions are re-checked on PostgreSQL after a row lock wait.
        params: dict[str, object] = {"now": now, "worker": worker, "until": now + lease}
        if limit is None:
            _CLAIM_ALL.execute(connection, params)
        else:
            _CLAIM_SOME.execute(connection, params | {"limit": limit})
        found = _CLAIMED.all(connection, {"worker": worker})
    return [new_row(Outbox, **dict(zip(_OUTBOX_COLUMNS, row, strict=True))) for row in found]


def _worker_prefix() -> str:
    return f"{socket.gethostname()}:"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except OSError:
        return True  # cannot tell: let the lease decide
    return True


def _release_dead_local_claims(engine: Engine, now: datetime) -> None:
    """Free rows still claimed by a worker on this host whose process is gone.

    A worker killed with SIGKILL (OOM killer, kill -9, power cut of a container)
    cannot release its claims; without this its batch would wait out the whole
    lease (15 min) after every restart. Only claims of this host are judged, by
    pid: another machine's workers are left to their lease. A reused pid merely
    keeps a dead claim until the lease runs out, as before.
    """
    prefix = _worker_prefix()
    # A read first, outside the write turn: dead claims are rare, the check is not.
    with Session(engine) as db:
        rows = db.exec(
            select(Outbox.id, Outbox.claimed_by).where(
                Outbox.status == "queued",
                col(Outbox.claimed_until) >= now,
                col(Outbox.claimed_by).startswith(prefix),
            )
        ).all()
    dead: dict[str, list[int]] = {}
    for row_id, worker in rows:
        if row_id is None or worker is None:
            continue
        pid_text = worker[len(prefix):].split(":", 1)[0]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and not _pid_alive(
            int(pid_text)
        ):
            dead.setdefault(worker, []).append(row_id)
    if not dead:
        return
    with session_scope(engine) as db:
        for worker, ids in dead.items():
            log.warning("releasing %d outbox rows claimed by dead worker %s", len(ids), worker)
            db.execute(
                update(Outbox)
                .where(col(Outbox.id).in_(ids), col(Outbox.claimed_by) == worker)
                .values(claimed_by=None, claimed_until=None)
                .execution_options(synchronize_session=False)
            )


def _over_smtp(
    cfg: SmtpConfig,
    rows: Sequence[Outbox],
    recorder: _Recorder,
    writer: concurrent.futures.Executor,
    client: smtplib.SMTP | None = None,
) -> smtplib.SMTP | None:
    """Send ``rows`` over one connection (``client``, or a new one), writing each
    outcome in ``writer``'s thread; the connection is returned open for the next
    round, or None when there is none worth keeping.

    A mail's outcome is written while the next mail's envelope (MAIL, RCPT) goes to
    the server; that mail's DATA waits until the write is done. Waiting for the
    store's write turn thus overlaps two SMTP round trips, and a worker killed at
    any moment has at most one accepted mail whose outcome is not on record.
    """
    writing: concurrent.futures.Future[None] | None = None

    def settle() -> None:
        nonlocal writing
        if writing is not None:
            pending, writing = writing, None
            pending.result()

    try:
        for index, row in enumerate(rows):
            if client is None:
                try:
                    client = _smtp.connect(cfg)
                except (TransientSendError, PermanentSendError) as exc:
                    # Nobody to talk to (even a 5xx greeting or a refused login is
                    # about the server or our config, not the mail): all wait for a
                    # later round.
                    log.error("SMTP unavailable: %s", exc)
                    settle()
                    for rest in rows[index:]:
                        recorder.record(rest, ("transient", str(exc)))
                    return None
            result = _smtp.send_one(client, row, before_data=settle)
            settle()  # when the envelope failed, DATA was never reached
            writing = writer.submit(recorder.record, row, result)
            if result[0] == "transient" and (
                not _smtp.is_open(client) or result[1].startswith("421")
            ):
                client.close()
                client = None  # the server hung up: reconnect for the next one
        settle()
    except BaseException:
        if writing is not None:
            # Leaving on an error: the outcome already handed over is still written.
            concurrent.futures.wait([writing])
        if client is not None:
            client.close()  # in an unknown state: not used again
        raise
    return client if client is not None and _smtp.is_open(client) else None


def _maildir(config: Config) -> mailbox.Maildir:
    # Maildir(create=True) makes the folder and tmp/new/cur, but not its parents.
    config.outbox_dir.parent.mkdir(parents=True, exist_ok=True)
    return mailbox.Maildir(config.outbox_dir, factory=None, create=True)


def _to_maildir(box: mailbox.Maildir, row: Outbox, config: Config) -> tuple[Verdict, str]:
    try:
        key = box.add(row.raw)  # written to tmp/, then renamed into new/
    except OSError as exc:
        return "transient", f"maildir {config.outbox_dir}: {exc}"
    return "sent", f"maildir: new/{key}"


_OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
_OUTBOX_COLUMNS = tuple(c.name for c in _OUTBOX.columns)
_DUE_ORDER = (_OUTBOX.c.next_attempt_at, _OUTBOX.c.id)


def _claim_update(limited: bool) -> Prepared:
    """The claim of due rows as one prebuilt UPDATE: built per round through the ORM
    it cost ~2 ms, inside the write turn the processes wait for."""
    free = or_(_OUTBOX.c.claimed_until.is_(None), _OUTBOX.c.claimed_until < bindparam("now"))
    due = (
        sa_select(_OUTBOX.c.id)
        .where(_OUTBOX.c.status == "queued", _OUTBOX.c.next_attempt_at <= bindparam("now"), free)
        .order_by(*_DUE_ORDER)
    )
    if limited:
        due = due.limit(bindparam("limit", type_=Integer))
    # PostgreSQL; SQLite serialises writers anyway
    due = due.with_for_update(skip_locked=True)
    return Prepared(
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_(due.scalar_subquery()), _OUTBOX.c.status == "queued", free)
        .values(claimed_by=bindparam("worker"), claimed_until=bindparam("until"))
    )


_CLAIM_SOME = _claim_update(limited=True)
_CLAIM_ALL = _claim_update(limited=False)
_CLAIMED = Prepared(
    sa_select(_OUTBOX)
    .where(_OUTBOX.c.claimed_by == bindparam("worker"), _OUTBOX.c.status == "queued")
    .order_by(*_DUE_ORDER)
)


def _outcome_update(**values: object) -> Update:
    """A prebuilt UPDATE for one kind of outcome; a row is only touched while this
    worker still holds its claim."""
    return (
        update(_OUTBOX)
        .where(_OUTBOX.c.id == bindparam("row_id"), _OUTBOX.c.claimed_by == bindparam("worker"))
        .values(claimed_by=None, claimed_until=None, **values)
    )


_SENT = Prepared(
    _outcome_update(
        status="sent", smtp_reply=bindparam("reply"), sent_at=bindparam("at"), last_error=""
    )
)
_DEFERRED = Prepared(
    _outcome_update(
        attempts=bindparam("attempts"),
        last_error=bindparam("error"),
        next_attempt_at=bindparam("retry_at"),
    )
)
_FAILED = Prepared(
    _outcome_update(status="failed", attempts=bindparam("attempts"), last_error=bindparam("error"))
)


class _Recorder:
    """Writes each outcome in its own transaction, right after the send: a worker
    killed after the server accepted a mail sends at most that one again."""

    def __init__(
        self, store: Writer, worker: str, now: datetime, policy: RetryPolicy, report: SendReport
    ) -> None:
        self.store = store
        self.worker = worker
        self.now = now
        self.policy = policy
        self.report = report

    def record(self, row: Outbox, result: tuple[Verdict, str]) -> None:
        verdict, reply = result
        assert row.id is not None
        params: dict[str, object] = {"row_id": row.id, "worker": self.worker}
        statement: Prepared
        if verdict == "sent":
            statement = _SENT
            params |= {"reply": reply[:2000], "at": self.now}
            self.report.sent += 1
        else:
            attempts = row.attempts + 1
            error = reply[:2000]
            expired = self.now - _aware(row.created_at) >= self.policy.give_up_after
            params["attempts"] = attempts
            if verdict == "permanent" or expired:
                if verdict == "transient":
                    error = f"gave up after {self.policy.give_up_after}: {reply}"[:2000]
                statement = _FAILED
                self.report.failed += 1
                log.warning("outbox %s failed: %s", row.id, error)
            else:
                statement = _DEFERRED
                params["retry_at"] = self.now + self.policy.delay(attempts)
                self.report.deferred += 1
                log.info("outbox %s deferred to %s: %s", row.id, params["retry_at"], reply)
            params["error"] = error
        # A prebuilt statement on a plain connection: building a statement per row,
        # or an ORM session per transaction, cost more than running it.
        with self.store.scope() as connection:
            statement.execute(connection, params)
        self.report.outcomes.append(Outcome(row.id, verdict, reply))


def _set_last_ok(db: Session, now: datetime) -> None:
    setting = db.get(Setting, LAST_SEND_OK) or Setting(key=LAST_SEND_OK)
    setting.value = now.isoformat()
    setting.updated_at = now
    db.add(setting)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
