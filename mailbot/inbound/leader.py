"""Leader election through the store: one worker holds each mailbox's IDLE connection.

Several ``mailbot run`` processes may share one mailbox and one PostgreSQL store.
Processing and sending are safe to share (row claims with SKIP LOCKED, unique
constraints as the last guard), but one IDLE connection per mailbox is enough: the
worker holding a lease row in ``setting`` fetches; the others take over when the
lease runs out because its holder died.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from mailbot.store import Setting, session_scope


@dataclass(frozen=True)
class Lease:
    holder: str
    expires: datetime


class LeaderLease:
    def __init__(self, engine: Engine, name: str, worker: str, ttl: float = 30.0) -> None:
        self.engine = engine
        self.key = f"leader:{name}"
        self.worker = worker
        self.ttl = timedelta(seconds=ttl)

    def acquire(self, now: datetime | None = None) -> bool:
        """Take or renew the lease; True while this worker is the leader."""
        now = now or datetime.now(UTC)
        with session_scope(self.engine) as session:
            row = session.exec(
                select(Setting).where(Setting.key == self.key).with_for_update()
            ).first()
            current = _decode(row.value) if row is not None else None
            if current is not None and current.holder != self.worker and current.expires > now:
                return False
            value = json.dumps({"holder": self.worker, "expires": (now + self.ttl).isoformat()})
            if row is None:
                session.add(Setting(key=self.key, value=value, updated_at=now))
            else:
                row.value = value
                row.updated_at = now
        return True

    def release(self) -> None:
        with session_scope(self.engine) as session:
            row = session.exec(
                select(Setting).where(Setting.key == self.key).with_for_update()
            ).first()
            if row is not None:
                current = _decode(row.value)
                if current is not None and current.holder == self.worker:
                    session.delete(row)

    def holder(self) -> Lease | None:
        with session_scope(self.engine) as session:
            row = session.get(Setting, self.key)
            return _decode(row.value) if row is not None else None


def _decode(value: str) -> Lease | None:
    try:
        data = json.loads(value)
        return Lease(str(data["holder"]), datetime.fromisoformat(data["expires"]))
    except (ValueError, KeyError, TypeError):
        return None
