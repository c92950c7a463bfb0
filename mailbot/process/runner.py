"""process: one inbound message -> ticket, message, events and queued mail, in one transaction.

The loop: pending rows are read, claimed in their write transaction and handed to
:func:`mailbot.process.dispose.dispose`. A message that fails anywhere in here is
quarantined with its reason; its raw bytes stay in ``inbound`` and the next message
goes on (Mailman's "shunt" queue).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import bindparam, case, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from mailbot.config import Config
from mailbot.errors import MessageTooLargeError, ParseError
from mailbot.judge import Judge, Judgement
from mailbot.kinds import OutcomeStatus
from mailbot.mail.parse import ParseLimits, parse_message
from mailbot.outbound.outgoing import Outgoing
from mailbot.outbound.render import Renderer
from mailbot.process.acknowledge import Acknowledger
from mailbot.process.dispose import Crew, Draft, dispose, draft, looks_new
from mailbot.process.staff import StaffDesk
from mailbot.process.tickets import DraftNumbers, record
from mailbot.process.turn import Arrival, Outcome, Turn
from mailbot.store import (
    EventKind,
    Inbound,
    InboundStatus,
    Prepared,
    QuarantineReason,
    session_scope,
)

log = logging.getLogger(__name__)

_INBOUND = Inbound.__table__  # type: ignore[attr-defined]
_READ_COLUMNS = (
    _INBOUND.c.raw,
    _INBOUND.c.received_at,
    _INBOUND.c.status,
    _INBOUND.c.mailbox,
    _INBOUND.c.message_id,
    _INBOUND.c.released_at,
)
_READ = Prepared(sa_select(*_READ_COLUMNS).where(_INBOUND.c.id == bindparam("inbound_id")))
#: rows read ahead in one query by ``process_each``
_READ_AHEAD = 8
#: a larger row is read when its turn comes, so the rows held ahead stay small even
#: when a backlog is all mail near the size limit
_READ_AHEAD_BYTES = 1024 * 1024
_READ_SOME = sa_select(
    _INBOUND.c.id,
    case((func.length(_INBOUND.c.raw) <= _READ_AHEAD_BYTES, _INBOUND.c.raw), else_=None),
    *_READ_COLUMNS[1:],
).where(
    _INBOUND.c.id.in_(bindparam("ids", expanding=True)),
    _INBOUND.c.status == InboundStatus.NEW.value,
)
_CLAIM = Prepared(
    sa_select(_INBOUND.c.id)
    .where(_INBOUND.c.id == bindparam("inbound_id"), _INBOUND.c.status == InboundStatus.NEW.value)
    .with_for_update(skip_locked=True)
)
_DONE = Prepared(
    update(_INBOUND)
    .where(_INBOUND.c.id == bindparam("inbound_id"))
    .values(
        status=InboundStatus.PROCESSED.value,
        processed_at=bindparam("done_at"),
        attempts=_INBOUND.c.attempts + 1,
        error="",
        quarantine_reason=None,
        # A released mail keeps "released" unless it turns out to be information.
        disposition=func.coalesce(
            bindparam("disposition", type_=_INBOUND.c.disposition.type), _INBOUND.c.disposition
        ),
    )
)

#: how often a transaction that lost a unique-constraint race is tried again
_RACE_RETRIES = 4


@dataclass
class ProcessReport:
    processed: int = 0
    quarantined: int = 0
    outcomes: list[Outcome] = field(default_factory=list)


class Processor:
    def __init__(
        self,
        config: Config,
        engine: Engine,
        judge: Judge | None = None,
        renderer: Renderer | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.judge = judge or Judge(config)
        self.renderer = renderer or Renderer()
        self.outgoing = Outgoing(config)
        calendar = self.judge.calendar
        self.desk = StaffDesk(config, self.outgoing, self.renderer, calendar)
        acknowledger = Acknowledger(config, self.outgoing, self.renderer, calendar)
        self.crew = Crew(config, calendar, self.desk, acknowledger)
        self.numbers = DraftNumbers()
        self.limits = ParseLimits(
            max_bytes=config.limits.max_message_bytes,
            max_parts=config.limits.max_mime_parts,
            max_depth=config.limits.max_mime_depth,
            zone=self.judge.calendar.zone,
        )

    def warm(self) -> None:
        """Load everything loaded lazily, so forked children inherit it instead of
        each loading its own copy."""
        self.judge.classifier.warm()
        self.renderer.warm()

    # -- driving ---------------------------------------------------------------------

    def pending(self, limit: int | None = None) -> list[int]:
        with Session(self.engine) as session:
            query = (
                select(Inbound.id)
                .where(Inbound.status == InboundStatus.NEW)
                .order_by(col(Inbound.id))
            )
            if limit:
                query = query.limit(limit)
            return [i for i in session.exec(query).all() if i is not None]

    def process_pending(
        self,
        *,
        limit: int | None = None,
        progress: Callable[[Outcome], None] | None = None,
        now: Callable[[], datetime] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> ProcessReport:
        """Process pending mail, oldest first; ``stop`` is asked between messages."""
        report = ProcessReport()
        self.tell_staff_too_large(now() if now else datetime.now(UTC))
        for outcome in self.process_each(self.pending(limit), now=now, stop=stop):
            report.outcomes.append(outcome)
            if outcome.status == OutcomeStatus.PROCESSED:
                report.processed += 1
            elif outcome.status == OutcomeStatus.QUARANTINED:
                report.quarantined += 1
            if progress is not None:
                progress(outcome)
        return report

    def process_each(
        self,
        ids: Sequence[int],
        *,
        now: Callable[[], datetime] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[Outcome]:
        """``process_one`` for each id in turn, ``stop`` asked before each.

        The stored rows are read a few at a time, one query each, instead of a read
        transaction per mail (a row over 1 MiB is left to ``process_one``). A row taken
        by another worker after that read is still skipped: the claim in the write
        transaction checks its status again.
        """
        for start in range(0, len(ids), _READ_AHEAD):
            chunk = ids[start : start + _READ_AHEAD]
            if stop is not None and stop():
                return
            with self.engine.connect() as reader, reader.begin():
                arrivals = {
                    row[0]: Arrival(row[0], row[1], row[2], row[4], row[5], row[6])
                    for row in reader.execute(_READ_SOME, {"ids": list(chunk)})
                    if row[1] is not None
                }
            for inbound_id in chunk:
                if stop is not None and stop():
                    return
                moment = now() if now is not None else None
                outcome = self.process_one(inbound_id, moment, arrival=arrivals.get(inbound_id))
                yield outcome
                # Mail a technician released from spam is a customer's mail now: it is
                # answered with this round, not with the next fetch.
                for released in outcome.released:
                    yield self.process_one(released, moment)

    def process_one(
        self, inbound_id: int, now: datetime | None = None, *, arrival: Arrival | None = None
    ) -> Outcome:
        """Process one inbound row exactly once, or quarantine it with the reason.
        ``arrival``: the row as already read (it is read here otherwise).

        Store trouble (locked, unreachable) is not the message's fault: it propagates,
        the row stays "new" and is tried again. A unique-constraint race with another
        worker (two tickets numbered alike) is retried a few times before anything else.
        """
        now = now or datetime.now(UTC)
        for attempt in range(_RACE_RETRIES):
            try:
                return self._process_once(inbound_id, now, arrival)
            except IntegrityError:
                if attempt == _RACE_RETRIES - 1:
                    return self._quarantine(
                        inbound_id, "store conflict persisted", QuarantineReason.CONFLICT
                    )
            except OperationalError:
                raise
            except Exception as exc:
                return self._quarantine(inbound_id, describe(exc), quarantine_reason(exc))
        raise AssertionError("unreachable")

    def _process_once(self, inbound_id: int, now: datetime, row: Arrival | None) -> Outcome:
        # Parsing, judging and drafting read nothing but the raw bytes (and the next
        # ticket number): done before the write transaction, so a second worker's
        # judging overlaps this one's writing.
        if row is None:
            row = self._read(inbound_id)
            if row is None:
                return Outcome(inbound_id, OutcomeStatus.SKIPPED)
        mail = parse_message(row.raw, self.limits)
        judgement = self.judge.judge(mail, arrival=row.received_at, clock_from=row.released_at)
        prepared = self._draft(row, judgement, now)
        with session_scope(self.engine) as session:
            connection = session.connection()
            # SKIP LOCKED: a second worker passes over a row the first is working on
            # (PostgreSQL); SQLite serialises writers, and the status check does the rest.
            if _CLAIM.first(connection, {"inbound_id": inbound_id}) is None:
                return Outcome(inbound_id, OutcomeStatus.SKIPPED)
            outcome = dispose(Turn(session, row, judgement, now), self.crew, prepared)
            _DONE.execute(
                connection,
                {"inbound_id": inbound_id, "done_at": now, "disposition": outcome.disposition},
            )
        return outcome

    def _read(self, inbound_id: int) -> Arrival | None:
        """The row, if it is still new."""
        with self.engine.connect() as reader, reader.begin():
            found = _READ.first(reader, {"inbound_id": inbound_id})
        if found is None:
            return None
        raw, received_at, status, mailbox, message_id, released_at = found
        if status != InboundStatus.NEW:
            return None
        return Arrival(inbound_id, raw, received_at, mailbox, message_id, released_at)

    def _draft(self, row: Arrival, judgement: Judgement, now: datetime) -> Draft | None:
        """The new ticket a mail that looks like a new conversation will open, its
        acknowledgement rendered with the number reserved for it."""
        if not looks_new(judgement, released=row.released_at is not None):
            return None
        with self.engine.connect() as reader, reader.begin():
            number = self.numbers.reserve(reader)
        return draft(self.crew, row, judgement, now, number)

    def tell_staff_too_large(self, now: datetime) -> None:
        """Fetch records mail over the size limit as a quarantined placeholder; a
        technician must hear of it once, or the mail waits on the server unseen."""
        if not self.config.staff.notify:
            return
        with session_scope(self.engine) as session:
            self.desk.tell_too_large(session, self.limits, now)

    def _quarantine(self, inbound_id: int, reason: str, kind: QuarantineReason) -> Outcome:
        log.warning("inbound %s quarantined: %s", inbound_id, reason.splitlines()[0])
        # A failure of this transaction (database gone) propagates: the mail stays
        # "new" and is tried again once the store is back.
        with session_scope(self.engine) as session:
            row = session.get(Inbound, inbound_id)
            if row is None:
                return Outcome(inbound_id, OutcomeStatus.SKIPPED)
            row.status = InboundStatus.QUARANTINED.value
            row.error = reason
            row.quarantine_reason = kind.value
            row.attempts += 1
            record(
                session,
                kind=EventKind.QUARANTINED,
                actor="process",
                detail=reason,
                inbound_id=inbound_id,
            )
        return Outcome(inbound_id, OutcomeStatus.QUARANTINED, detail=reason.splitlines()[0])

    def release(self, inbound_id: int, now: datetime, actor: str = "cli") -> Outcome:
        """A mail held as spam is no spam: processed at once as a customer's mail
        (ticket, acknowledgement, announcement); anything else is refused."""
        from mailbot.process.spam import release

        with session_scope(self.engine) as session:
            done = release(
                session, inbound_id, actor=actor, now=now, evidence=["mailbot spam release"]
            )
        if not done.done:
            return Outcome(inbound_id, OutcomeStatus.SKIPPED, detail=done.reason)
        return self.process_one(inbound_id, now)

    def retry(self, inbound_id: int) -> Outcome:
        with session_scope(self.engine) as session:
            row = session.get(Inbound, inbound_id)
            if row is None or row.status != InboundStatus.QUARANTINED:
                return Outcome(inbound_id, OutcomeStatus.SKIPPED, detail="not in quarantine")
            row.status = InboundStatus.NEW.value
            record(session, kind=EventKind.RETRY, actor="cli", inbound_id=inbound_id)
        return self.process_one(inbound_id)


def quarantine_reason(exc: BaseException) -> QuarantineReason:
    """The kind of a failure that put a mail in quarantine."""
    if isinstance(exc, MessageTooLargeError):
        return QuarantineReason.TOO_LARGE
    if isinstance(exc, ParseError):
        return QuarantineReason.UNPARSABLE
    return QuarantineReason.FAILED


def describe(exc: BaseException) -> str:
    """The quarantine reason: one readable first line, then where it happened."""
    if isinstance(exc, ParseError):
        return str(exc)
    tb = traceback.extract_tb(exc.__traceback__)[-3:]
    where = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in tb)
    return f"{type(exc).__name__}: {exc}\n{where}"
