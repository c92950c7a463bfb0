"""The send stage's writes: claiming due ``outbox`` rows and recording each outcome.

Every statement here is built once, with bind parameters: built per round or per
row through the ORM they cost more than running them, inside the write turn that
the processes wait for.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Integer, and_, bindparam, func, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.dml import Update
from sqlmodel import Session, col, select

from mailbot.kinds import SendRank
from mailbot.outbound._limits import aware, budget, lock_for_limits, pid_alive
from mailbot.outbound.smtp import Result, Verdict
from mailbot.store import (
    Outbox,
    OutboxStatus,
    Prepared,
    Writer,
    new_row,
    session_scope,
    write_scope,
)

log = logging.getLogger(__name__)


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
    #: replies that asked the sender to slow down (421, 4.7.x, "too many", a rate or
    #: limit); each such mail is among ``deferred``
    slow_downs: int = 0
    #: seconds the sender held back its next mail after those replies, added up
    paused: float = 0.0


def new_worker() -> str:
    """A name for one round's claims: host, pid and a random part, so that the dead
    claims of this host can be told by their pid (:func:`_release_dead_local_claims`)."""
    return f"{_worker_prefix()}{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(
    engine: Engine,
    *,
    worker: str,
    now: datetime,
    limit: int | None,
    lease: timedelta,
    release_dead: bool = True,
    writer: Writer | None = None,
    max_per_minute: int = 0,
    given_back: list[int] | None = None,
) -> list[Outbox]:
    """Take up to ``limit`` due rows for ``worker``, most important first
    (:class:`SendRank`); rows claimed by others are skipped. ``max_per_minute``: the
    relay's cap, shared with every worker of the store (:mod:`._limits`).
    With ``release_dead``, claims of dead workers of this host are released first.
    ``writer``: the connection to write on (a new one otherwise). Rows past
    :data:`ROUND_BYTES` are given back at once; their ids go to ``given_back``."""
    if release_dead:
        _release_dead_local_claims(engine, now)
    with writer.scope() if writer is not None else write_scope(engine) as connection:
        # One UPDATE as the first statement: on SQLite it takes the write lock at once
        # (waiting out busy_timeout) instead of failing to upgrade a read snapshot.
        # The outer conditions are re-checked on PostgreSQL after a row lock wait.
        params: dict[str, object] = {"now": now, "worker": worker, "until": now + lease}
        if max_per_minute:
            _claim_within(connection, params, now, limit, max_per_minute)
        elif limit is None:
            _claim_all(connection).execute(connection, params)
        else:
            some = _claim_some(connection)
            some.execute(connection, params | {"limit": limit, "max_rank": SendRank.STAFF})
        back = _keep_within_bytes(connection, worker)
        if given_back is not None:
            given_back.extend(back)
        found = _CLAIMED.all(connection, {"worker": worker})
    return [new_row(Outbox, **dict(zip(_OUTBOX_COLUMNS, row, strict=True))) for row in found]


#: the raw bytes one round takes at most (its first row whatever its size): a round
#: holds every row it claimed until it ends, and an announcement with its files runs
#: to 14 MB
ROUND_BYTES = 32 * 1024 * 1024


def _keep_within_bytes(connection: Connection, worker: str) -> list[int]:
    """Give back the claims past :data:`ROUND_BYTES`, in the order of sending, and
    name them: a later claim takes them. The sizes are read without the mail's bytes."""
    total, extra = 0, []
    for index, (row_id, size) in enumerate(_CLAIMED_SIZES.all(connection, {"worker": worker})):
        total += int(size or 0)
        if index and total > ROUND_BYTES:
            extra.append({"row_id": row_id, "worker": worker})
    _UNCLAIM.many(connection, extra)
    return [int(item["row_id"]) for item in extra]


def _claim_within(
    connection: Connection,
    params: dict[str, object],
    now: datetime,
    limit: int | None,
    max_per_minute: int,
) -> None:
    """The claim under the relay's cap: critical rows first, from the whole minute
    left; the rest from what remains after the part kept for critical mail."""
    lock_for_limits(connection)
    left = budget(connection, now, max_per_minute)
    wanted = limit if limit is not None else max_per_minute
    critical = min(wanted, left.critical)
    if critical:
        critical = _claim_some(connection).execute(
            connection, params | {"limit": critical, "max_rank": SendRank.CRITICAL}
        )
    rest = min(wanted - critical, left.routine - critical)
    if rest > 0:
        some = _claim_some(connection)
        some.execute(connection, params | {"limit": rest, "max_rank": SendRank.STAFF})


def _worker_prefix() -> str:
    return f"{socket.gethostname()}:"


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
                Outbox.status == OutboxStatus.QUEUED,
                col(Outbox.claimed_until) >= now,
                col(Outbox.claimed_by).startswith(prefix),
            )
        ).all()
    dead: dict[str, list[int]] = {}
    for row_id, worker in rows:
        if row_id is None or worker is None:
            continue
        pid_text = worker[len(prefix):].split(":", 1)[0]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and not pid_alive(
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


_OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
_OUTBOX_COLUMNS = tuple(c.name for c in _OUTBOX.columns)
#: most important first; within a rank, the longest waiting
_DUE_ORDER = (_OUTBOX.c.rank, _OUTBOX.c.next_attempt_at, _OUTBOX.c.id)


def _claim_update(limited: bool, *, locking: bool = False) -> Prepared:
    """The claim of due rows as one prebuilt UPDATE: built per round through the ORM
    it cost ~2 ms, inside the write turn the processes wait for. ``locking``: the
    PostgreSQL form, which skips rows other workers hold locked."""
    free = or_(_OUTBOX.c.claimed_until.is_(None), _OUTBOX.c.claimed_until < bindparam("now"))
    due = (
        sa_select(_OUTBOX.c.id)
        .where(
            _OUTBOX.c.status == OutboxStatus.QUEUED,
            _OUTBOX.c.next_attempt_at <= bindparam("now"),
            free,
        )
        .order_by(*_DUE_ORDER)
    )
    if limited:
        due = due.where(_OUTBOX.c.rank <= bindparam("max_rank", type_=Integer))
        due = due.limit(bindparam("limit", type_=Integer))
    chosen = due.scalar_subquery()
    if locking:
        # A CTE, not a subquery in IN: PostgreSQL may run such a subquery again for
        # each row it updates, and with SKIP LOCKED each run finds rows the last
        # did not, so the LIMIT held for none (a claim of 10 took all 60 due rows).
        # SQLite serialises writers anyway, and reports no row count for WITH.
        locked = due.with_for_update(skip_locked=True).cte("due")
        chosen = sa_select(locked.c.id).scalar_subquery()
    return Prepared(
        update(_OUTBOX)
        .where(
            _OUTBOX.c.id.in_(chosen),
            _OUTBOX.c.status == OutboxStatus.QUEUED,
            free,
        )
        .values(claimed_by=bindparam("worker"), claimed_until=bindparam("until"))
    )


_CLAIM_SOME = _claim_update(limited=True)
_CLAIM_ALL = _claim_update(limited=False)
_CLAIM_SOME_LOCKING = _claim_update(limited=True, locking=True)
_CLAIM_ALL_LOCKING = _claim_update(limited=False, locking=True)


def _claim_some(connection: Connection) -> Prepared:
    return _CLAIM_SOME_LOCKING if connection.dialect.name == "postgresql" else _CLAIM_SOME


def _claim_all(connection: Connection) -> Prepared:
    return _CLAIM_ALL_LOCKING if connection.dialect.name == "postgresql" else _CLAIM_ALL
_MINE = and_(
    _OUTBOX.c.claimed_by == bindparam("worker"), _OUTBOX.c.status == OutboxStatus.QUEUED
)
_CLAIMED = Prepared(sa_select(_OUTBOX).where(_MINE).order_by(*_DUE_ORDER))
_CLAIMED_SIZES = Prepared(
    sa_select(_OUTBOX.c.id, func.length(_OUTBOX.c.raw)).where(_MINE).order_by(*_DUE_ORDER)
)
_UNCLAIM = Prepared(
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"), _OUTBOX.c.claimed_by == bindparam("worker"))
    .values(claimed_by=None, claimed_until=None)
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
        status=OutboxStatus.SENT,
        smtp_reply=bindparam("reply"),
        sent_at=bindparam("at"),
        last_error="",
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
    _outcome_update(
        status=OutboxStatus.FAILED, attempts=bindparam("attempts"), last_error=bindparam("error")
    )
)


class Recorder:
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
        self._started = time.monotonic()

    def _accepted_at(self) -> datetime:
        """The round's clock moved on by the time the round took: when the relay
        accepted the mail, which the relay's per-minute cap counts."""
        return self.now + timedelta(seconds=time.monotonic() - self._started)

    def record(self, row: Outbox, result: Result) -> None:
        verdict, reply = result
        assert row.id is not None
        params: dict[str, object] = {"row_id": row.id, "worker": self.worker}
        statement: Prepared
        if verdict == Verdict.SENT:
            statement = _SENT
            params |= {"reply": reply[:2000], "at": self._accepted_at()}
            self.report.sent += 1
        else:
            attempts = row.attempts + 1
            error = reply[:2000]
            expired = self.now - aware(row.created_at) >= self.policy.give_up_after
            params["attempts"] = attempts
            if verdict == Verdict.PERMANENT or expired:
                if verdict == Verdict.TRANSIENT:
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
