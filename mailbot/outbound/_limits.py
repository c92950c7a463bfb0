"""The relay's limits, shared by every worker of one store.

A relay caps the mails it takes per minute (Exchange Online: 30) and the
connections it allows (Exchange Online: 3 per mailbox). Two ``mailbot run`` on one
PostgreSQL store must stay under those caps together, so both are kept in the
store, not in a process:

* the mails of the last minute are the outbox rows accepted in it (``sent_at``)
  plus those claimed and not yet done; a round claims no more than the cap leaves.
  A part of the minute is kept for critical mail (pages, critical acknowledgements):
  routine mail never uses it, so a page finds room at once even while hundreds of
  acknowledgements wait behind the cap.
* connections are leases in ``setting`` rows (``smtp_connection:<slot>``), taken
  for a while and renewed while used; a worker that died frees its slots when the
  lease runs out (or at once, on its own host, when its pid is gone).

On PostgreSQL both are decided under one advisory lock; SQLite's write turn
serialises them anyway.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, bindparam, func, or_, text
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection, Engine

from mailbot.kinds import OutboxStatus
from mailbot.store import Outbox, Prepared, Setting, write_scope

#: the relay counts per minute
WINDOW = timedelta(minutes=1)
#: an arbitrary constant that names this lock among the store's advisory locks
_ADVISORY_KEY = 0x6D61696C
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")

_OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
_IN_LAST_MINUTE = Prepared(
    sa_select(func.count()).where(
        or_(
            _OUTBOX.c.sent_at >= bindparam("since"),
            and_(
                _OUTBOX.c.status == OutboxStatus.QUEUED,
                _OUTBOX.c.claimed_until >= bindparam("now"),
            ),
        )
    )
)


def reserved_for_critical(max_per_minute: int) -> int:
    """The part of the minute only critical mail may use: a tenth, at least two
    (a page and its acknowledgement), at most half."""
    return min(max(2, max_per_minute // 10), max_per_minute // 2)


@dataclass(frozen=True)
class Budget:
    """How many rows a round may claim now."""

    #: critical rows (pages, critical acknowledgements)
    critical: int
    #: rows of every rank, the critical ones claimed first included
    routine: int


def lock_for_limits(connection: Connection) -> None:
    """Serialise the limits' decisions between workers (PostgreSQL; a no-op on
    SQLite, whose write turn holds every other writer off already)."""
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK, {"key": _ADVISORY_KEY})


def budget(connection: Connection, now: datetime, max_per_minute: int) -> Budget:
    """What the cap leaves of the last minute, inside the claim's transaction."""
    row = _IN_LAST_MINUTE.first(connection, {"since": now - WINDOW, "now": now})
    used = int(row[0]) if row is not None else 0
    left = max(max_per_minute - used, 0)
    return Budget(critical=left, routine=max(left - reserved_for_critical(max_per_minute), 0))


#: how long a connection slot is held without renewal
LEASE = timedelta(minutes=2)
_SLOT = "smtp_connection:"


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class ConnectionSlots:
    """This worker's share of the relay's connections, out of ``total`` for the store.

    A slot is renewed when half its lease is gone; between renewals taking the
    slots costs no store access, so the many small rounds of a drain pay nothing.
    """

    def __init__(self, engine: Engine, total: int, holder: str | None = None) -> None:
        self.engine = engine
        self.total = total
        #: who holds a slot: host and pid (tests name several holders in one process)
        self.holder = holder or _holder()
        self._held: set[int] = set()
        self._renewed_at = 0.0

    @property
    def held(self) -> int:
        return len(self._held)

    def take(self, want: int, now: datetime) -> int:
        """Hold up to ``want`` slots (fewer when other workers hold the rest); the
        number held."""
        want = min(want, self.total)
        fresh = time.monotonic() - self._renewed_at < LEASE.total_seconds() / 2
        if len(self._held) >= want and fresh:
            return len(self._held)
        with write_scope(self.engine) as connection:
            lock_for_limits(connection)
            self._held = _claim_slots(connection, self.holder, self.total, want, now)
        self._renewed_at = time.monotonic()
        return len(self._held)

    def release(self) -> None:
        if not self._held:
            return
        with write_scope(self.engine) as connection:
            connection.execute(
                Setting.__table__.update()  # type: ignore[attr-defined]
                .where(
                    Setting.__table__.c.key.in_(  # type: ignore[attr-defined]
                        [f"{_SLOT}{slot}" for slot in self._held]
                    ),
                    Setting.__table__.c.value == self.holder,  # type: ignore[attr-defined]
                )
                .values(value="")
            )
        self._held = set()


def _claim_slots(
    connection: Connection, holder: str, total: int, want: int, now: datetime
) -> set[int]:
    table = Setting.__table__  # type: ignore[attr-defined]
    rows = connection.execute(
        sa_select(table.c.key, table.c.value, table.c.updated_at).where(
            table.c.key.like(f"{_SLOT}%")
        )
    ).all()
    known = {key: (value, aware(at)) for key, value, at in rows}
    mine: set[int] = set()
    for slot in range(total):
        key = f"{_SLOT}{slot}"
        value, at = known.get(key, ("", now - LEASE))
        ours = value == holder
        free = not value or at + LEASE < now or _dead_here(value)
        if not (ours or (free and len(mine) < want)):
            continue
        if ours and len(mine) >= want:
            continue  # more than wanted: left for others (cleared below)
        mine.add(slot)
        if key in known:
            connection.execute(
                table.update().where(table.c.key == key).values(value=holder, updated_at=now)
            )
        else:
            connection.execute(table.insert().values(key=key, value=holder, updated_at=now))
    surplus = [
        key for key, (value, _) in known.items()
        if value == holder and int(key[len(_SLOT):]) not in mine
    ]
    if surplus:
        connection.execute(table.update().where(table.c.key.in_(surplus)).values(value=""))
    return mine


def _dead_here(holder: str) -> bool:
    """A holder on this host whose process is gone."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    return not pid_alive(int(pid))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process, or cannot tell: let the lease decide
    return True


def aware(moment: datetime) -> datetime:
    """``moment`` with its zone: SQLite hands back naive datetimes; everything stored
    is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
