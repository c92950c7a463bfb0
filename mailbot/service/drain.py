"""The backlog drain: process what is pending, in chunks or on forked processes, and
send what it queued while it runs.

:class:`Drainer` owns the forked pool (started when there are cores and a backlog
worth forking for, given up for good when a child broke) and the sending thread.
:class:`BackgroundFetch` runs a whole fetch in a thread so that ``once`` can drain
what is already stored while the rest arrives.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from mailbot.config import Config
from mailbot.kinds import OutcomeStatus
from mailbot.service.pool import PoolBroken, ProcessPool, processes_for

if TYPE_CHECKING:
    from mailbot.outbound.send import Sender, SendReport
    from mailbot.process import Outcome, Processor

log = logging.getLogger(__name__)

#: mail processed between two sends while draining a backlog
CHUNK = 50
#: a backlog at least this long is spread over forked processes
PARALLEL_FROM = 60
#: mail handed to the forked processes per round
BACKLOG = 2000
#: seconds between two sending rounds while forked processes work through a backlog
_SEND_EVERY = 0.5
#: a round that found at least this many mails is followed by the next one at once;
#: after a smaller one the next waits _SEND_GATHER seconds, so that each round (its
#: claim takes the store's write turn) carries several mails, not one or two
_SEND_FULL_ROUND = 16
_SEND_GATHER = 0.03
#: the most mails one round claims per connection
ROUND_PER_CONNECTION = 25
#: how long a round should take: a round is not interrupted, and a page queued
#: meanwhile waits for its end (through a relay 30 ms away a round of 600 took over a
#: minute, 50 still 4 s); rounds are sized by the time a mail took in the last ones
ROUND_SECONDS = 0.3
#: how long one send between two looks at new mail may take in ``mailbot run``
SEND_SLICE = 0.5

#: called with each mail's outcome as it is done (the progress bar)
Tick = Callable[["Outcome"], None]


@dataclass(frozen=True)
class DrainSummary:
    processed: int
    quarantined: int
    sent: int
    failed: int

    def __add__(self, other: DrainSummary) -> DrainSummary:
        return DrainSummary(
            self.processed + other.processed,
            self.quarantined + other.quarantined,
            self.sent + other.sent,
            self.failed + other.failed,
        )


@dataclass
class SendCounts:
    """What a sending thread sent so far; its owner reads it after the thread ended."""

    sent: int = 0
    failed: int = 0

    def add(self, sent: int, failed: int) -> None:
        self.sent += sent
        self.failed += failed


@dataclass
class _Tally:
    processed: int = 0
    quarantined: int = 0
    sent: int = 0
    failed: int = 0

    def count(self, outcome: Outcome) -> None:
        self.processed += outcome.status == OutcomeStatus.PROCESSED
        self.quarantined += outcome.status == OutcomeStatus.QUARANTINED

    def summary(self) -> DrainSummary:
        return DrainSummary(self.processed, self.quarantined, self.sent, self.failed)


class Drainer:
    def __init__(
        self,
        config: Config,
        engine: Engine,
        clock: Callable[[], datetime],
        processor: Callable[[], Processor],
    ) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        #: the runtime's processor, looked up each time: a test may swap the classifier
        self._processor = processor
        self.pool: ProcessPool | None = None
        #: set when a child broke: from then on this process works alone
        self.pool_disabled = False
        #: the service's sender, kept from round to round (see :meth:`keeping_sender`)
        self._kept: Sender | None = None
        #: the last send stopped with mail still due (its slice of time was over)
        self.more_due = False
        #: seconds a mail took in the last rounds (0: none sent yet)
        self._per_mail = 0.0

    # -- the forked pool ---------------------------------------------------------------

    def start_pool(self) -> ProcessPool | None:
        count = processes_for(self.config.limits.processes)
        if count < 2 or self.pool_disabled:
            return None
        if self.pool is None:
            self.pool = ProcessPool(self._processor(), self.clock, count)
        return self.pool

    def pool_for_backlog(self, parallel_from: int) -> ProcessPool | None:
        """The forked pool, when there are cores to use and a backlog worth forking for."""
        if len(self._processor().pending(limit=parallel_from)) < parallel_from:
            return None
        return self.start_pool()

    def abandon_pool(self) -> None:
        if self.pool is not None:
            self.pool.abandon()
        self.pool = None
        self.pool_disabled = True

    def close_pool(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    # -- draining ----------------------------------------------------------------------

    def drain(
        self,
        progress: bool = False,
        stop: threading.Event | None = None,
        parallel_from: int = PARALLEL_FROM,
        sender: SendCounts | None = None,
    ) -> DrainSummary:
        """Process everything pending and send what is due, in chunks (see
        :meth:`mailbot.service.runtime.Runtime.drain`); then remind of what is overdue
        and list the day's spam."""
        tally = _Tally()
        with self._progress(progress) as tick:
            more = True
            while more:
                pool = self.pool_for_backlog(parallel_from)
                if pool is not None:
                    more = self._forked_round(pool, tally, tick, stop, sender)
                else:
                    more = self._chunk(tally, tick, stop, sender)
        self._escalate()
        return tally.summary()

    @contextmanager
    def _progress(self, show: bool) -> Iterator[Tick | None]:
        """A progress bar on the terminal for a backlog worth watching."""
        pending = len(self._processor().pending()) if show else 0
        if not show or pending < 20:
            yield None
            return
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("processing", total=pending)

            def tick(_: Outcome) -> None:
                bar.advance(task)

            yield tick

    def _forked_round(
        self,
        pool: ProcessPool,
        tally: _Tally,
        tick: Tick | None,
        stop: threading.Event | None,
        sender: SendCounts | None,
    ) -> bool:
        """Up to BACKLOG mails on the forked processes; True when more may wait."""
        processor = self._processor()
        ids = processor.pending(limit=BACKLOG)
        processor.tell_staff_too_large(self.clock())
        # A thread sends while the children judge, so handing out tasks never waits
        # for an SMTP round trip.
        sending: AbstractContextManager[SendCounts] = (
            nullcontext(sender) if sender is not None else self.sending_alongside()
        )
        with sending as counts:
            try:
                for outcomes in pool.run(self.engine, ids, stop.is_set if stop else None):
                    self._count(outcomes, tally, tick)
            except PoolBroken as exc:
                # What the lost child held is still "new": this process carries on
                # alone rather than fork beside running threads.
                log.error("forked processing failed (%s); going on in one process", exc)
                self.abandon_pool()
        if counts is not sender:
            tally.sent, tally.failed = tally.sent + counts.sent, tally.failed + counts.failed
        if self.pool is None:
            return True  # the rest of this backlog in one process
        return len(ids) >= BACKLOG and not (stop is not None and stop.is_set())

    @staticmethod
    def _count(outcomes: list[Outcome], tally: _Tally, tick: Tick | None) -> None:
        for outcome in outcomes:
            tally.count(outcome)
            if tick is not None:
                tick(outcome)

    def _chunk(
        self,
        tally: _Tally,
        tick: Tick | None,
        stop: threading.Event | None,
        sender: SendCounts | None,
    ) -> bool:
        """CHUNK mails in this process, then a send; True when more may wait."""
        report = self._processor().process_pending(
            limit=CHUNK, progress=tick, now=self.clock, stop=stop.is_set if stop else None
        )
        tally.processed += report.processed
        tally.quarantined += report.quarantined
        if sender is None:
            sent, failed = self.send_due()
            tally.sent, tally.failed = tally.sent + sent, tally.failed + failed
        return len(report.outcomes) >= CHUNK and not (stop is not None and stop.is_set())

    def _escalate(self) -> None:
        """The reminders of what is overdue, and the day's spam notice once it is due."""
        from mailbot.process.escalate import remind_overdue
        from mailbot.process.spam import notice_spam

        renderer = self._processor().renderer
        remind_overdue(self.config, self.engine, renderer, now=self.clock())
        notice_spam(self.config, self.engine, renderer, self.clock())

    # -- sending -----------------------------------------------------------------------

    def send_due(self) -> tuple[int, int]:
        from mailbot.outbound.send import send_due

        if self._kept is None:
            report = send_due(self.config, self.engine, now=self.clock())
            return report.sent, report.failed
        # The service's sender: rounds of a bounded size for a slice of time, so that
        # new mail (a page) is looked at again soon; what is left is said in more_due.
        sent = failed = 0
        started = time.monotonic()
        while True:
            limit = self.round_size()
            report = self._timed(self._kept, limit)
            sent, failed = sent + report.sent, failed + report.failed
            self.more_due = report.claimed >= limit
            if not self.more_due or time.monotonic() - started >= SEND_SLICE:
                return sent, failed

    def round_size(self) -> int:
        """Mails for the next round: what the connections together send in
        ROUND_SECONDS at the pace of the last rounds, at least one per connection."""
        smtp = self.config.smtp
        connections = smtp.connections if smtp is not None else 1
        most = ROUND_PER_CONNECTION * connections
        if self._per_mail <= 0:
            # The pace is not known yet: a short first round measures it (a first
            # round of 50 through a relay 30 ms away held a page back for 3 s).
            return 2 * connections
        return max(connections, min(most, int(ROUND_SECONDS / self._per_mail)))

    def _timed(self, sender: Sender, limit: int) -> SendReport:
        """One round, its time per mail kept (smoothed) for the next round's size."""
        started = time.monotonic()
        report = sender.send_due(now=self.clock(), limit=limit)
        if report.sent:
            took = (time.monotonic() - started) / report.sent
            self._per_mail = took if self._per_mail <= 0 else 0.7 * self._per_mail + 0.3 * took
        return report

    @contextmanager
    def keeping_sender(self) -> Iterator[None]:
        """While the block runs, every send goes through one sender: its SMTP
        connections (a TLS handshake across the internet costs more than a mail) and
        its share of the relay's connections stay from round to round."""
        from mailbot.outbound.send import Sender

        with Sender(self.config, self.engine) as sender:
            self._kept = sender
            try:
                yield
            finally:
                self._kept = None

    @contextmanager
    def sending_alongside(self) -> Iterator[SendCounts]:
        """Send what is due in a thread until the block ends, then once more for what
        the last tasks queued. The rounds share the SMTP connections
        (:class:`mailbot.outbound.send.Sender`); a failure of the last round is raised
        here."""
        from mailbot.outbound.send import Sender

        counts = SendCounts()
        done = threading.Event()
        last_error: list[Exception] = []

        def loop() -> None:
            try:
                with Sender(self.config, self.engine) as sending:
                    self._send_rounds(sending, counts, done)
            except Exception as exc:
                last_error.append(exc)

        thread = threading.Thread(target=loop, name="send", daemon=True)
        thread.start()
        try:
            yield counts
        finally:
            done.set()
            thread.join()
        if last_error:
            raise last_error[0]

    def _send_rounds(self, sending: Sender, counts: SendCounts, done: threading.Event) -> None:
        """A round that found many mails is followed by the next one at once (the
        processes queue more meanwhile), one that found a few after a moment, an empty
        one after half a second. Rounds are of a bounded size (a page queued meanwhile
        goes in the next); once the block ends they go on until nothing due is left."""
        pause = _SEND_EVERY
        while True:
            ending = done.wait(pause)
            pause = _SEND_EVERY
            try:
                limit = self.round_size()
                report = self._timed(sending, limit)
            except Exception:
                if ending:
                    raise  # the last round's failure reaches the caller
                log.exception("sending failed; trying again")  # the store was away
                continue
            counts.add(report.sent, report.failed)
            if ending and report.claimed < limit:
                return  # the last round: until nothing that is due is left
            if report.claimed >= _SEND_FULL_ROUND:
                pause = 0
            elif report.sent or report.failed:
                pause = _SEND_GATHER


class BackgroundFetch:
    """One whole fetch in a thread. ``arrived`` is set when a batch was stored and when
    the fetch ends, so a drain waiting for mail need not poll; ``finished`` when it
    ended. :meth:`result` waits for it and raises what it raised."""

    def __init__(self, fetch: Callable[[Callable[[], None]], int]) -> None:
        self._fetch = fetch
        self.finished = threading.Event()
        self.arrived = threading.Event()
        self._fetched: list[int] = []
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="fetch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            self._fetched.append(self._fetch(self.arrived.set))
        except BaseException as exc:  # re-raised in the caller's thread
            self._failure.append(exc)
        finally:
            self.finished.set()
            self.arrived.set()

    def result(self) -> int:
        """The number fetched, after the thread ended; a fetch error is raised here."""
        self._thread.join()
        if self._failure:
            raise self._failure[0]
        return self._fetched[0] if self._fetched else 0
