"""One sending round over several SMTP connections on the sender's event loop.

A round's rows wait in one queue in the order they were claimed; each connection
takes the next row when it is free, so with one connection the server receives them
in that order, and with several the order in which they are begun. Per connection a
mail's outcome is written (in the writer thread) while the next mail's envelope goes
out, and that mail's DATA waits until the write is done: a worker killed at any
moment has at most one accepted mail per connection whose outcome is not on record.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiosmtplib

from mailbot.config import SmtpConfig
from mailbot.errors import PermanentSendError, TransientSendError
from mailbot.outbound import smtp as _smtp
from mailbot.outbound._claims import Recorder
from mailbot.outbound.smtp import Attempt, Verdict
from mailbot.store import Outbox

if TYPE_CHECKING:
    from mailbot.oauth.tokens import TokenSource

log = logging.getLogger(__name__)


@dataclass
class Kept:
    """A connection left open between rounds, and when it last carried a mail."""

    client: aiosmtplib.SMTP
    used_at: float


class Throttle:
    """The whole sender's pause after a reply that asked it to slow down.

    The first such reply holds the next mail back for a second; each further one
    doubles the pause (up to a minute), until a mail goes through. Replies to mails
    that were already on their way when a pause was set are the same message from the
    server, said on several connections: they neither lengthen the pause nor end it.
    """

    FIRST = 1.0
    LONGEST = 60.0

    def __init__(self) -> None:
        #: time.monotonic() before which no mail is begun
        self.resume_at = 0.0
        self._step = 0.0
        self._set_at = float("-inf")

    def slowed(self, started: float) -> float:
        """A slow-down reply to a mail begun at ``started``; the pause it sets (0 when
        the mail was begun before the present pause was set)."""
        if started < self._set_at:
            return 0.0
        self._step = self.FIRST if not self._step else min(self._step * 2, self.LONGEST)
        self._set_at = time.monotonic()
        self.resume_at = self._set_at + self._step
        return self._step

    def eased(self, started: float) -> None:
        """A mail begun at ``started`` went through."""
        if started >= self._set_at:
            self._step = 0.0


async def hang_up_all(kept: Sequence[Kept]) -> None:
    """QUIT on each connection, all at once."""
    if kept:
        await asyncio.gather(*(_smtp.hang_up(k.client) for k in kept))


class Round:
    """Sends ``rows`` over up to N connections, writing each outcome in ``writer``'s
    thread with ``recorder``.

    A connection that cannot be made leaves its rows to the others; when none can be
    made, the rows left are recorded as transient failures with the reason. A
    connection that was lost, or that the server closed with 421, is replaced for its
    next row.
    """

    def __init__(
        self,
        cfg: SmtpConfig,
        rows: Sequence[Outbox],
        not_before: Mapping[int, float],
        recorder: Recorder,
        writer: concurrent.futures.Executor,
        throttle: Throttle,
        *,
        check_after_idle: float,
        tokens: TokenSource | None = None,
    ) -> None:
        self.cfg = cfg
        #: the OAuth2 access tokens of ``[smtp] auth = "oauth2"``
        self.tokens = tokens
        self.queue: deque[Outbox] = deque(rows)
        self.not_before = not_before
        self.recorder = recorder
        self.writer = writer
        self.throttle = throttle
        self.check_after_idle = check_after_idle
        #: every outcome handed to the writer: all are written before the round ends
        self.writes: list[concurrent.futures.Future[None]] = []
        #: rows already tried again at once after losing their connection
        self.retried: set[int] = set()
        #: why the last connection could not be made
        self.unavailable = ""

    async def run(self, kept: Sequence[Kept], count: int) -> list[Kept]:
        """Send every row over ``count`` connections, the kept ones first; returns the
        connections still open (those not needed this round among them)."""
        # The loop stood still since the last round: let it see what the server did
        # to the kept connections meanwhile (closed them, for one).
        await asyncio.sleep(0)
        used, spare = list(kept[:count]), list(kept[count:])
        starts: list[Kept | None] = [*used, *[None] * (count - len(used))]
        tasks = [asyncio.ensure_future(self._carry(start)) for start in starts]
        try:
            try:
                open_ones = await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                for k in spare:
                    _smtp.discard(k.client)
                raise
        finally:
            # Leaving on an error too: the outcomes already handed over are written.
            concurrent.futures.wait(self.writes)
        if self.queue:
            # No connection could be made (even a 5xx greeting or a refused login is
            # about the server or our config, not the mail): all wait for a later round.
            for row in self.queue:
                self.recorder.record(row, (Verdict.TRANSIENT, self.unavailable))
            self.queue.clear()
        for write in self.writes:
            write.result()  # a failed write is raised here, not lost
        return [k for k in open_ones if k is not None] + spare

    async def _carry(self, start: Kept | None) -> Kept | None:
        """One connection's share of the round: the next row while there is one."""
        client = await self._ready(start) if start is not None else None
        #: this connection's last outcome, while the writer thread writes it
        writing: concurrent.futures.Future[None] | None = None

        async def settle() -> None:
            nonlocal writing
            if writing is not None:
                pending, writing = writing, None
                if not pending.done():
                    await asyncio.wrap_future(pending)
                pending.result()

        try:
            while self.queue:
                if client is None:
                    # Not even a new connection during a pause: "421 too many
                    # connections" is one of the replies that set it.
                    await self._wait_for(self.throttle.resume_at)
                    client = await self._connect()
                    if client is None:
                        break  # the rows stay for the other connections
                    continue  # others may have taken the rest meanwhile
                row = self.queue.popleft()
                assert row.id is not None
                if not await self._hold(client, row.id):
                    self.queue.appendleft(row)
                    client = None
                    continue
                started = time.monotonic()
                attempt = await _smtp.send_one(client, row, settle)
                if attempt.before_data and row.id not in self.retried:
                    # The server cannot have taken it: again at once, on a new connection.
                    self.retried.add(row.id)
                    self.queue.appendleft(row)
                    _smtp.discard(client)
                    client = None
                    continue
                await settle()  # when the envelope failed, DATA was never reached
                writing = self.writer.submit(self.recorder.record, row, attempt.result)
                self.writes.append(writing)
                self._judge(attempt, started)
                if attempt.hung_up:
                    _smtp.discard(client)
                    client = None  # reconnect for the next one
            await settle()
        except BaseException:
            if client is not None:
                _smtp.discard(client)  # in an unknown state: not used again
            raise
        if client is None or not _smtp.is_open(client):
            return None
        return Kept(client, time.monotonic())

    async def _ready(self, kept: Kept) -> aiosmtplib.SMTP | None:
        """A connection of an earlier round, if it still answers."""
        client = kept.client
        idle = time.monotonic() - kept.used_at
        if _smtp.is_open(client) and idle < self.check_after_idle:
            return client
        return client if await _smtp.still_answers(client) else None

    async def _connect(self) -> aiosmtplib.SMTP | None:
        try:
            return await _smtp.connect(self.cfg, self.tokens)
        except (TransientSendError, PermanentSendError) as exc:
            log.error("SMTP unavailable: %s", exc)
            self.unavailable = str(exc)
            return None

    async def _hold(self, client: aiosmtplib.SMTP, row_id: int) -> bool:
        """Wait until the row may go: after the sender's pause and the row's own
        not-before time. A connection that waited long is asked (NOOP) first; False
        when it is gone."""
        waited = 0.0
        while True:
            # Again after each sleep: another connection may have set a longer pause.
            wait = await self._wait_for(
                max(self.throttle.resume_at, self.not_before.get(row_id, 0.0))
            )
            if not wait:
                break
            waited += wait
        if waited < self.check_after_idle:
            return True
        return await _smtp.still_answers(client)

    @staticmethod
    async def _wait_for(moment: float) -> float:
        """Sleep until ``moment`` (time.monotonic()); the seconds slept."""
        wait = moment - time.monotonic()
        if wait <= 0:
            return 0.0
        await asyncio.sleep(wait)
        return wait

    def _judge(self, attempt: Attempt, started: float) -> None:
        if attempt.verdict == Verdict.SENT:
            self.throttle.eased(started)
        elif attempt.verdict == Verdict.TRANSIENT and _smtp.asks_to_slow_down(attempt.reply):
            pause = self.throttle.slowed(started)
            report = self.recorder.report
            report.slow_downs += 1
            report.paused += pause
            if pause:
                log.warning("SMTP server asks to slow down (%s): pausing %.0f s",
                            attempt.reply, pause)

