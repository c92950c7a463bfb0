"""The running service: wires the stages together for the CLI (once, ingest, run).

:class:`Runtime` is the one object the command line, the tests and the benchmark
hold. The drain itself (pool, chunks, sending thread) is in :mod:`.drain`, the
fetching side of ``run`` (IDLE per mailbox under a lease) in :mod:`.watch`, and the
read-only views in :mod:`.views`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mailbot.config import Config
from mailbot.errors import FetchError
from mailbot.inbound.imap import ClientFactory, connector
from mailbot.inbound.intake import store_raw
from mailbot.oauth.status import TokenView, token_views
from mailbot.oauth.tokens import TokenKeeper
from mailbot.service.drain import (
    PARALLEL_FROM,
    BackgroundFetch,
    Drainer,
    DrainSummary,
    SendCounts,
)
from mailbot.service.held import (
    InfoRow,
    SpamDetail,
    SpamRow,
    info_list,
    spam_detail,
    spam_list,
)
from mailbot.service.pool import ProcessPool
from mailbot.service.views import (
    Health,
    QuarantineRow,
    TicketDetail,
    TicketRow,
    health,
    quarantine_list,
    ticket_detail,
    work_list,
)
from mailbot.service.watch import start_watching, worker_name
from mailbot.store import (
    Customer,
    Inbound,
    StoredAttachment,
    background_checkpoints,
    blob_chunks,
    open_store,
    session_scope,
)

if TYPE_CHECKING:
    from mailbot.classify import Classifier
    from mailbot.process import Outcome, Processor

__all__ = ["DrainSummary", "Runtime"]

log = logging.getLogger(__name__)

#: how often the service looks for work when no mail wakes it: the outbox's retries,
#: deadlines, and mail another worker fetched
_TICK_SECONDS = 2.0


class Runtime:
    def __init__(
        self, config: Config, engine: Engine, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.config = config
        self.engine = engine
        #: the time source for arrival and processing; tests fix it
        self.clock = clock or (lambda: datetime.now(UTC))
        self._processor: Processor | None = None
        self._drainer = Drainer(config, engine, self.clock, lambda: self.processor)
        #: the OAuth2 token sets the mailboxes log in with, shared through the store
        self.tokens = TokenKeeper(config, engine)
        self.imap: ClientFactory = connector(self.tokens)

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

    # -- the forked pool (tests look at it) --------------------------------------------

    @property
    def _pool(self) -> ProcessPool | None:
        return self._drainer.pool

    @property
    def _pool_disabled(self) -> bool:
        return self._drainer.pool_disabled

    def _start_pool(self) -> ProcessPool | None:
        return self._drainer.start_pool()

    def close(self) -> None:
        """End the forked children (if any) and the store's connections."""
        self._drainer.close_pool()
        self.engine.dispose()

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
        failed: list[FetchError] = []
        for box in self.config.imap:
            # One mailbox that cannot log in (a broken token set) must not keep the
            # others from being fetched; its error is recorded and raised at the end.
            try:
                total += fetch_new(
                    box, self.engine, on_stored=on_stored, client_factory=self.imap
                ).stored
            except FetchError as exc:
                log.error("%s: %s", box.name, exc)
                failed.append(exc)
        if failed:
            raise failed[0] if len(failed) == 1 else FetchError("; ".join(map(str, failed)))
        return total

    def once(self, progress: bool = False) -> tuple[int, DrainSummary]:
        """Fetch everything new and, while the fetch goes on, process and send what is
        already stored; returns (fetched, summary). A fetch error is raised at the end,
        after what did arrive was handled."""
        # Fork before the fetch thread starts: a child must not inherit a lock that
        # thread happens to hold.
        self.prepare()
        fetch = BackgroundFetch(lambda on_stored: self.fetch_all(on_stored=on_stored))
        fetch.start()
        # One sending thread for the whole run: the processes are not kept waiting
        # while this thread sends what each fetched batch queued.
        with background_checkpoints(self.engine), self._drainer.sending_alongside() as sender:
            total = self._drain_while_fetching(fetch, progress, sender)
        fetched = fetch.result()
        return fetched, DrainSummary(total.processed, total.quarantined, sender.sent, sender.failed)

    def _drain_while_fetching(
        self, fetch: BackgroundFetch, progress: bool, sender: SendCounts
    ) -> DrainSummary:
        total = DrainSummary(0, 0, 0, 0)
        while True:
            last_round = fetch.finished.is_set()
            fetch.arrived.clear()  # what is stored from here on wakes the wait below
            # While the fetch thread works in this process, even a short backlog goes
            # to the forked processes, so the two do not share one interpreter.
            summary = self.drain(
                progress=progress,
                parallel_from=PARALLEL_FROM if last_round else 1,
                sender=sender,
            )
            total += summary
            if last_round:
                return total
            if not summary.processed:
                # The fetch sets it after each batch and when it ends; the timeout is
                # only a backstop.
                fetch.arrived.wait(1.0)

    def send_due(self) -> tuple[int, int]:
        return self._drainer.send_due()

    def drain(
        self,
        progress: bool = False,
        stop: threading.Event | None = None,
        parallel_from: int = PARALLEL_FROM,
        sender: SendCounts | None = None,
    ) -> DrainSummary:
        """Process everything pending and send what is due, in chunks.

        Chunks let the first acknowledgements of a long backlog leave early and let
        SIGTERM end the work between two messages. A backlog of ``parallel_from`` or
        more goes to the forked processes. With ``sender`` (a sending thread the caller
        runs) nothing is sent here; its counts stay with the caller.
        """
        return self._drainer.drain(progress, stop, parallel_from, sender)

    def retry(self, inbound_id: int) -> Outcome:
        return self.processor.retry(inbound_id)

    def release_spam(self, inbound_id: int) -> Outcome:
        """``mailbot spam release``: the held mail becomes a ticket and is answered
        (the caller sends)."""
        return self.processor.release(inbound_id, self.clock())

    # -- the service -------------------------------------------------------------------

    def serve(self) -> None:
        """Fetch (IDLE), process and send until SIGTERM or Ctrl-C.

        Several workers may serve the same mailboxes and store: per mailbox, the one
        holding the lease (see :mod:`mailbot.service.watch`) keeps the IDLE connection
        and fetches; every worker processes and sends, claiming rows so nothing is done
        twice.
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
        threads = start_watching(
            self.config.imap, self.engine, worker_name(), stop, wake, self.imap
        )
        try:
            with background_checkpoints(self.engine), self._drainer.keeping_sender():
                self._serve_until(stop, wake)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
            self._drainer.close_pool()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _serve_until(self, stop: threading.Event, wake: threading.Event) -> None:
        while not stop.is_set():
            wake.clear()
            try:
                self.drain(stop=stop)
            except Exception:  # the store may be briefly away; never die on it
                log.exception("cycle failed; trying again")
                stop.wait(5.0)
            if not self._drainer.more_due:  # else: go on sending after a look at new mail
                wake.wait(_TICK_SECONDS)

    # -- views -------------------------------------------------------------------------

    def work_list(self, include_solved: bool = False) -> list[TicketRow]:
        with Session(self.engine) as session:
            return work_list(session, include_solved)

    def ticket(self, number: int) -> TicketDetail | None:
        with Session(self.engine) as session:
            return ticket_detail(session, number)

    def spam(self, include_released: bool = False) -> list[SpamRow]:
        with Session(self.engine) as session:
            return spam_list(session, include_released)

    def spam_detail(self, inbound_id: int) -> SpamDetail | None:
        with Session(self.engine) as session:
            return spam_detail(session, inbound_id)

    def information(self) -> list[InfoRow]:
        with Session(self.engine) as session:
            return info_list(session)

    def quarantine(self) -> list[QuarantineRow]:
        with Session(self.engine) as session:
            return quarantine_list(session)

    def health(self) -> Health:
        with Session(self.engine) as session:
            return health(
                session,
                [b.name for b in self.config.imap],
                self.config.limits.fetch_stale_after,
                self.clock(),
                token_views(session, self.config),
            )

    def token_sets(self) -> list[TokenView]:
        with Session(self.engine) as session:
            return token_views(session, self.config)

    def inbound(self, inbound_id: int) -> Inbound | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(Inbound, inbound_id)

    def attachment(self, attachment_id: int) -> StoredAttachment | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(StoredAttachment, attachment_id)

    def attachment_content(self, row: StoredAttachment) -> Iterator[bytes]:
        """The stored file's content, a chunk at a time (checked against its hash at
        the end: :class:`~mailbot.store.BlobDamagedError`)."""
        with self.engine.connect() as connection:
            yield from blob_chunks(connection, row.sha256)

    def local(self, value: str | datetime | None) -> str:
        """A time from the store (ISO text or a datetime; naive means UTC) as local
        wall-clock text for tables."""
        if not value:
            return ""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(ZoneInfo(self.config.sla.timezone)).strftime("%a %d.%m. %H:%M")
