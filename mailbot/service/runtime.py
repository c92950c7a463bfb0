"""The running service: wires the stages together for the CLI (once, ingest, run)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailbot.config import Config, ImapConfig
from mailbot.inbound.intake import store_raw
from mailbot.inbound.leader import LeaderLease
from mailbot.service.pool import PoolBroken, ProcessPool, processes_for
from mailbot.service.views import (
    Health,
    TicketRow,
    health,
    quarantine_list,
    ticket_detail,
    work_list,
)
from mailbot.store import (
    Customer,
    Inbound,
    background_checkpoints,
    open_store,
    session_scope,
)

if TYPE_CHECKING:
    from mailbot.classify import Classifier
    from mailbot.process import Outcome, Processor

log = logging.getLogger(__name__)

#: how often the service looks for work when no mail wakes it: the outbox's retries,
#: deadlines, and mail another worker fetched
_TICK_SECONDS = 2.0
#: mail processed between two sends while draining a backlog
_CHUNK = 50
#: a backlog at least this long is spread over forked processes
_PARALLEL_FROM = 60
#: seconds between two sending rounds while forked processes work through a backlog
_SEND_EVERY = 0.5
#: a round that found at least this many mails is followed by the next one at once;
#: after a smaller one the next waits _SEND_GATHER seconds, so that each round (its
#: claim takes the store's write turn) carries several mails, not one or two
_SEND_FULL_ROUND = 16
_SEND_GATHER = 0.03
#: mail handed to the forked processes per round
_BACKLOG = 2000
#: a fetching worker that died is replaced after this long
_LEASE_SECONDS = 30.0


@dataclass(frozen=True)
class DrainSummary:
    processed: int
    quarantined: int
    sent: int
    failed: int


@dataclass
class _SendCounts:
    sent: int = 0
    failed: int = 0

    def add(self, sent: int, failed: int) -> None:
        self.sent += sent
        self.failed += failed


class Runtime:
    def __init__(
        self, config: Config, engine: Engine, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.config = config
        self.engine = engine
        #: the time source for arrival and processing; tests fix it
        self.clock = clock or (lambda: datetime.now(UTC))
        self._processor: Processor | None = None
        self._pool: ProcessPool | None = None
        self._pool_disabled = False

    @classmethod
    def open(cls, config: Config, clock: Callable[[], datetime] | None = None) -> Runtime:
        engine = open_store(config.store_url)
        runtime = cls(config, engine, clock)
        runtime._sync_customers()
        return runtime

    @property
    def processor(self) -> Processor:
        from mailbot.process import Processor

        # Loading the classifier costs a second or two: only commands that process pay it.
        if self._processor is None:
            self._processor = Processor(self.config, self.engine)
        return self._processor

    def prepare(self) -> None:
        """Everything a drain needs before the first fetch: the classifier and the
        templates loaded, the backlog processes forked. ``once`` and ``run`` call it;
        calling it again costs nothing."""
        if self._start_pool() is None:
            self.processor.warm()

    def use_classifier(self, classifier: Classifier) -> None:
        """Share an already loaded classifier (tests, several runtimes in one process)."""
        from mailbot.judge import Judge
        from mailbot.process import Processor

        self._processor = Processor(self.config, self.engine, Judge(self.config, classifier))

    def _sync_customers(self) -> None:
        with session_scope(self.engine) as session:
            known = {c.domain: c for c in session.exec(select(Customer)).all()}
            for c in self.config.customers:
                row = known.get(c.domain) or Customer(domain=c.domain)
                row.name, row.contract = c.name, c.contract
                session.add(row)

    # -- intake and stages -------------------------------------------------------------

    def ingest(self, raws: list[bytes]) -> int:
        stored = 0
        for raw in raws:
            with session_scope(self.engine) as session:
                _, created = store_raw(session, raw, mailbox="ingest", received_at=self.clock())
                stored += created
        return stored

    def fetch_all(self, on_stored: Callable[[], None] | None = None) -> int:
        from mailbot.inbound.fetch import fetch_new

        total = 0
        for box in self.config.imap:
            total += fetch_new(box, self.engine, on_stored=on_stored).stored
        return total

    def once(self, progress: bool = False) -> tuple[int, DrainSummary]:
        """Fetch everything new and, while the fetch goes on, process and send what is
        already stored; returns (fetched, summary). A fetch error is raised at the end,
        after what did arrive was handled."""
        # Fork before the fetch thread starts: a child must not inherit a lock that
        # thread happens to hold.
        self.prepare()
        fetched: list[int] = []
        failure: list[BaseException] = []
        finished = threading.Event()
        #: set when the fetch has committed a batch: the loop below need not poll
        arrived = threading.Event()

        def fetch() -> None:
            try:
                fetched.append(self.fetch_all(on_stored=arrived.set))
            except BaseException as exc:  # re-raised in the caller's thread
                failure.append(exc)
            finally:
                finished.set()
                arrived.set()

        thread = threading.Thread(target=fetch, name="fetch", daemon=True)
        thread.start()
        total = DrainSummary(0, 0, 0, 0)
        # One sending thread for the whole run: the processes are not kept waiting
        # while this thread sends what each fetched batch queued.
        with background_checkpoints(self.engine), self._sending_alongside() as sender:
            while True:
                last_round = finished.is_set()
                arrived.clear()  # what is stored from here on wakes the wait below
                # While the fetch thread works in this process, even a short backlog
                # goes to the forked processes, so the two do not share one interpreter.
                summary = self.drain(
                    progress=progress,
                    parallel_from=_PARALLEL_FROM if last_round else 1,
                    sender=sender,
                )
                total = DrainSummary(
                    *(a + b for a, b in zip(astuple(total), astuple(summary), strict=True))
                )
                if last_round:
                    break
                if not summary.processed:
                    # The fetch sets it after each batch and when it ends; the timeout
                    # is only a backstop.
                    arrived.wait(1.0)
        thread.join()
        total = DrainSummary(total.processed, total.quarantined, sender.sent, sender.failed)
        if failure:
            raise failure[0]
        return (fetched[0] if fetched else 0), total

    def send_due(self) -> tuple[int, int]:
        from mailbot.outbound.send import send_due

        report = send_due(self.config, self.engine, now=self.clock())
        return report.sent, report.failed

    def drain(
        self,
        progress: bool = False,
        stop: threading.Event | None = None,
        parallel_from: int = _PARALLEL_FROM,
        sender: _SendCounts | None = None,
    ) -> DrainSummary:
        """Process everything pending and send what is due, in chunks.

        Chunks let the first acknowledgements of a long backlog leave early and let
        SIGTERM end the work between two messages. With ``sender`` (a sending thread
        the caller runs) nothing is sent here; its counts stay with the caller.
        """
        processed = quarantined = sent = failed = 0
        stopped = stop.is_set if stop is not None else None
        with self._progress(progress) as tick:
            while True:
                pool = self._pool_for_backlog(parallel_from)
                if pool is not None:
                    ids = self.processor.pending(limit=_BACKLOG)
                    self.processor.tell_staff_too_large(self.clock())
                    # A thread sends while the children judge, so handing out tasks
                    # never waits for an SMTP round trip.
                    with (
                        nullcontext(sender) if sender is not None else self._sending_alongside()
                    ) as sending:
                        try:
                            for outcomes in pool.run(self.engine, ids, stopped):
                                for outcome in outcomes:
                                    processed += outcome.status == "processed"
                                    quarantined += outcome.status == "quarantined"
                                    if tick is not None:
                                        tick(outcome)
                        except PoolBroken as exc:
                            # What the lost child held is still "new": this process
                            # carries on alone rather than fork beside running threads.
                            log.error("forked processing failed (%s); going on in one process", exc)
                            self._abandon_pool()
                    if sending is not sender:
                        sent, failed = sent + sending.sent, failed + sending.failed
                    if self._pool is None:
                        continue  # the rest of this backlog in one process
                    if len(ids) < _BACKLOG or (stop is not None and stop.is_set()):
                        break
                    continue
                report = self.processor.process_pending(
                    limit=_CHUNK, progress=tick, now=self.clock, stop=stopped
                )
                processed += report.processed
                quarantined += report.quarantined
                if sender is None:
                    chunk_sent, chunk_failed = self.send_due()
                    sent, failed = sent + chunk_sent, failed + chunk_failed
                if len(report.outcomes) < _CHUNK or (stop is not None and stop.is_set()):
                    break
        self._escalate()
        return DrainSummary(processed, quarantined, sent, failed)

    @contextmanager
    def _sending_alongside(self) -> Iterator[_SendCounts]:
        """Send what is due in a thread until the block ends, then once more for what
        the last tasks queued. A round that found many mails is followed by the next
        one at once (the processes queue more meanwhile), one that found a few after a
        moment, an empty one after half a second.
        The rounds share one SMTP connection (:class:`mailbot.send.Sender`)."""
        from mailbot.outbound.send import Sender

        sender = _SendCounts()
        done = threading.Event()
        last_error: list[Exception] = []

        def rounds(sending: Sender) -> None:
            pause = _SEND_EVERY
            while True:
                ending = done.wait(pause)
                pause = _SEND_EVERY
                try:
                    report = sending.send_due(now=self.clock())
                except Exception:
                    if ending:
                        raise  # the last round's failure reaches the caller
                    log.exception("sending failed; trying again")  # the store was away
                    continue
                sender.add(report.sent, report.failed)
                if ending:
                    return
                if report.claimed >= _SEND_FULL_ROUND:
                    pause = 0
                elif report.sent or report.failed:
                    pause = _SEND_GATHER

        def loop() -> None:
            try:
                with Sender(self.config, self.engine) as sending:
                    rounds(sending)
            except Exception as exc:
                last_error.append(exc)

        thread = threading.Thread(target=loop, name="send", daemon=True)
        thread.start()
        try:
            yield sender
        finally:
            done.set()
            thread.join()
        if last_error:
            raise last_error[0]

    def _pool_for_backlog(self, parallel_from: int) -> ProcessPool | None:
        """The forked pool, when there are cores to use and a backlog worth forking for."""
        if len(self.processor.pending(limit=parallel_from)) < parallel_from:
            return None
        return self._start_pool()

    def _abandon_pool(self) -> None:
        if self._pool is not None:
            self._pool.abandon()
        self._pool = None
        self._pool_disabled = True

    def _start_pool(self) -> ProcessPool | None:
        count = processes_for(self.config.limits.processes)
        if count < 2 or self._pool_disabled:
            return None
        if self._pool is None:
            self._pool = ProcessPool(self.processor, self.clock, count)
        return self._pool

    def close(self) -> None:
        """End the forked children (if any) and the store's connections."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self.engine.dispose()

    def _escalate(self) -> None:
        from mailbot.process import remind_overdue

        remind_overdue(self.config, self.engine, self.processor.renderer, now=self.clock())

    @contextmanager
    def _progress(self, show: bool) -> Iterator[Any]:
        pending = len(self.processor.pending()) if show else 0
        if not show or pending < 20:
            yield None
            return
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("processing", total=pending)

            def tick(_: Outcome) -> None:
                bar.advance(task)

            yield tick

    def retry(self, inbound_id: int) -> Outcome:
        return self.processor.retry(inbound_id)

    # -- the service -------------------------------------------------------------------

    def serve(self) -> None:
        """Fetch (IDLE), process and send until SIGTERM or Ctrl-C.

        Several workers may serve the same mailboxes and store: per mailbox, the one
        holding the lease (see :mod:`mailbot.leader`) keeps the IDLE connection and
        fetches; every worker processes and sends, claiming rows so nothing is done twice.
        """
        stop = threading.Event()
        wake = threading.Event()

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.warning("signal %s: stopping", signum)
            stop.set()
            wake.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        # Fork the backlog processes now, while this is the only thread: a fork taken
        # while the fetch threads hold locks would copy those locks held. The
        # classifier is loaded here too, before the first mail, not with it.
        self.prepare()
        worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        threads = [
            threading.Thread(
                target=self._follow,
                args=(box, worker, stop, wake),
                name=f"fetch-{box.name}",
                daemon=True,
            )
            for box in self.config.imap
        ]
        for thread in threads:
            thread.start()
        try:
            with background_checkpoints(self.engine):
                while not stop.is_set():
                    wake.clear()
                    try:
                        self.drain(stop=stop)
                    except Exception:  # the store may be briefly away; never die on it
                        log.exception("cycle failed; trying again")
                        stop.wait(5.0)
                    wake.wait(_TICK_SECONDS)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
            if self._pool is not None:
                self._pool.close()
                self._pool = None
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _follow(
        self, box: ImapConfig, worker: str, stop: threading.Event, wake: threading.Event
    ) -> None:
        """While this worker holds the mailbox's lease: IDLE, fetch, wake the processor."""
        from mailbot.inbound.fetch import watch

        lease = LeaderLease(self.engine, box.name, worker, ttl=_LEASE_SECONDS)
        while not stop.is_set():
            try:
                leader = lease.acquire()
            except Exception:
                log.exception("%s: lease check failed", box.name)
                leader = False
            if not leader:
                stop.wait(_LEASE_SECONDS / 3)
                continue
            log.info("%s: this worker fetches (%s)", box.name, worker)
            box_stop = threading.Event()
            renewer = threading.Thread(
                target=self._renew,
                args=(lease, stop, box_stop),
                daemon=True,
                name=f"lease-{box.name}",
            )
            renewer.start()
            for report in watch(box, self.engine, box_stop):
                if report.stored or report.too_large:
                    wake.set()
            box_stop.set()
            renewer.join(timeout=5)
        try:
            lease.release()
        except Exception:
            log.warning("%s: could not release the lease; it runs out by itself", box.name)

    @staticmethod
    def _renew(lease: LeaderLease, stop: threading.Event, box_stop: threading.Event) -> None:
        while not box_stop.is_set():
            if stop.wait(_LEASE_SECONDS / 6):
                box_stop.set()
                return
            try:
                still = lease.acquire()
            except Exception:
                # The store is away: nobody else can take the lease either; keep going.
                log.warning("lease renewal failed; retrying")
                continue
            if not still:
                log.warning("lease lost to another worker; stopping the fetch here")
                box_stop.set()

    # -- views -------------------------------------------------------------------------

    def work_list(self, include_solved: bool = False) -> list[TicketRow]:
        with Session(self.engine) as session:
            return work_list(session, include_solved)

    def ticket(self, number: int) -> dict[str, Any] | None:
        with Session(self.engine) as session:
            return ticket_detail(session, number)

    def quarantine(self) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            return quarantine_list(session)

    def health(self) -> Health:
        with Session(self.engine) as session:
            return health(
                session,
                [b.name for b in self.config.imap],
                self.config.limits.fetch_stale_after,
                self.clock(),
            )

    def inbound(self, inbound_id: int) -> Inbound | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(Inbound, inbound_id)

    def local(self, value: str | None) -> str:
        """An ISO time from the store as local wall-clock text for tables."""
        if not value:
            return ""
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(ZoneInfo(self.config.sla.timezone)).strftime("%a %d.%m. %H:%M")
