"""Send: claim due ``outbox`` rows and deliver them over SMTP (or into a Maildir).

A :class:`Sender` sends round after round (each round: whatever is due) and keeps
its SMTP connections, its event loop and the thread that writes outcomes between
rounds; :func:`send_due` is one round.
Each row is claimed first (``claimed_by``/``claimed_until``, one UPDATE) so two
workers never send the same mail; a crashed worker's claim runs out after the
lease. The raw bytes go out exactly as queued: the Message-ID inside was fixed
when the mail was queued, so a resend after a crash is recognisably the same mail.

A round's rows go out over up to ``[smtp] connections`` connections at once
(``mailbot.outbound._connections``). Outcome per row, written right after its SMTP
transaction:

* 2xx: ``sent`` with the reply (recipients the server refused are named in it).
* 4xx, lost connection, timeout: retried with exponential backoff (1 min, 2, 4, ...
  capped at 6 h); after 5 days since queuing the row is ``failed``. A 4xx that asks
  to slow down (421, 4.7.x, "too many", a rate or limit) also pauses the whole
  sender before its next mail.
* 5xx: ``failed`` with the reply, never retried.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import mailbox
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailbot.config import Config, SmtpConfig
from mailbot.kinds import AuthMethod
from mailbot.outbound._claims import (
    Outcome,
    Recorder,
    RetryPolicy,
    SendReport,
    claim,
    new_worker,
)
from mailbot.outbound._connections import Kept, Round, Throttle, hang_up_all
from mailbot.outbound._limits import ConnectionSlots, aware
from mailbot.outbound.smtp import Result, Verdict
from mailbot.outbound.summary import StaffSummary
from mailbot.store import Outbox, Setting, Writer, session_scope

if TYPE_CHECKING:
    from mailbot.oauth.tokens import TokenKeeper

__all__ = [
    "LAST_SEND_OK",
    "Outcome",
    "RetryPolicy",
    "SendReport",
    "Sender",
    "claim",
    "send_due",
]

log = logging.getLogger(__name__)

LAST_SEND_OK = "last_send_ok_at"
_DEFAULT_POLICY = RetryPolicy()

_T = TypeVar("_T")


def send_due(
    config: Config,
    engine: Engine,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    policy: RetryPolicy = _DEFAULT_POLICY,
) -> SendReport:
    """Send what is due at ``now`` (the clock for this run; tests move it forward), in
    one round over connections of its own."""
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
    the SMTP connections, the event loop they live on (an ``asyncio.Runner`` in the
    calling thread) and the thread that writes outcomes.

    A drain sends in many small rounds (whatever the processes queued since the last
    one); opening a connection, greeting and quitting for each round
    cost more than the mail of a typical round. A connection idle for a second or
    more is checked with NOOP before it is used again; one idle for longer than
    ``keep_idle`` is closed by the next round that finds nothing to send. One round
    runs at a time; a round opens no more connections than it has mails.
    """

    def __init__(
        self,
        config: Config,
        engine: Engine,
        policy: RetryPolicy = _DEFAULT_POLICY,
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
        self._runner: asyncio.Runner | None = None
        #: connections open between rounds, on ``_runner``'s loop
        self._kept: list[Kept] = []
        #: the pause that slow-down replies asked for; it outlasts a round
        self._throttle = Throttle()
        self._claims_checked_at: float | None = None
        self._last_ok: datetime | None = None
        self._last_ok_written_at: float | None = None
        self._summary: StaffSummary | None = None
        #: this worker's share of the relay's connections, for the whole store
        self._slots = (
            ConnectionSlots(engine, config.smtp.connections) if config.smtp is not None else None
        )
        #: the relay's OAuth2 token set, shared through the store with every worker
        self._tokens = _token_keeper(config, engine)

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send_due(self, *, now: datetime | None = None, limit: int | None = None) -> SendReport:
        with self._lock:
            clock = aware(now) if now is not None else datetime.now(UTC)
            if self._slots is not None and not self._slots.take(self._slots.total, clock):
                # Other workers of the store hold every connection the relay allows:
                # they send what is due, this round claims nothing.
                return SendReport()
            worker = new_worker()
            report = SendReport()
            while True:
                # A claim gives back what passes its bytes (_claims.ROUND_BYTES): the
                # round goes on with the next part once the last one went out.
                given_back: list[int] = []
                left = None if limit is None else limit - report.claimed
                rows, not_before = self._claim(worker, clock, left, given_back)
                sent_before = report.sent
                self._round(rows, not_before, worker=worker, now=clock, into=report)
                if not given_back or report.sent == sent_before or left == len(rows):
                    return report

    def close(self) -> None:
        """QUIT the connections, end the event loop and the writer thread, and write
        the time of the last good send if it is not written yet."""
        with self._lock:
            try:
                if self._runner is not None:
                    try:
                        kept, self._kept = self._kept, []
                        self._run(hang_up_all(kept))
                    finally:
                        _outside_any_loop(self._runner.close)
                        self._runner = None
            finally:
                if self._writer is not None:
                    self._writer.shutdown()
                    self._writer = None
                if self._slots is not None:
                    self._slots.release()
                self._store.close()
                self._note_last_ok(force=True)

    def _connection_allowance(self) -> int:
        """How many SMTP connections a round may use: the slots this worker holds of
        the ``[smtp] connections`` all workers of the store share (at least one)."""
        return self._slots.held if self._slots is not None else 1

    def _claim(
        self, worker: str, now: datetime, limit: int | None, given_back: list[int] | None = None
    ) -> tuple[list[Outbox], Mapping[int, float]]:
        """The round's rows in the order claimed, and for some of them the
        ``time.monotonic()`` before which they must not be sent (none here)."""
        checked = self._claims_checked_at
        release_dead = checked is None or time.monotonic() - checked >= _DEAD_CLAIMS_EVERY
        if release_dead:
            self._claims_checked_at = time.monotonic()
        capped = self.config.smtp.max_per_minute if self.config.smtp is not None else 0
        if capped:
            self._staff_summary().fold(now)
        rows = claim(
            self.engine, worker=worker, now=now, limit=limit, lease=self.policy.lease,
            release_dead=release_dead, writer=self._store, max_per_minute=capped,
            given_back=given_back,
        )
        return rows, {}

    def _round(
        self,
        rows: Sequence[Outbox],
        not_before: Mapping[int, float],
        *,
        worker: str,
        now: datetime,
        into: SendReport | None = None,
    ) -> SendReport:
        """Send ``rows`` (claimed by ``worker`` at ``now``), each not before its time in
        ``not_before`` (outbox id to ``time.monotonic()``), and write their outcomes,
        counted in ``into`` (a new report otherwise)."""
        report = into if into is not None else SendReport()
        report.claimed += len(rows)
        if not rows:
            self._hang_up_idle()
            return report
        recorder = Recorder(self._store, worker, now, self.policy, report)
        if self.config.smtp is None:
            box = _maildir(self.config)
            for row in rows:
                recorder.record(row, _to_maildir(box, row, self.config))
        else:
            if self._writer is None:
                self._writer = concurrent.futures.ThreadPoolExecutor(
                    1, thread_name_prefix="send-record"
                )
            self._run(self._over_smtp(self.config.smtp, rows, not_before, recorder))
        if report.sent:
            self._last_ok = now
            self._note_last_ok()
        return report

    def _staff_summary(self) -> StaffSummary:
        if self._summary is None:
            self._summary = StaffSummary(self.config, self.engine)
        return self._summary

    async def _over_smtp(
        self,
        cfg: SmtpConfig,
        rows: Sequence[Outbox],
        not_before: Mapping[int, float],
        recorder: Recorder,
    ) -> None:
        assert self._writer is not None
        allowance = max(1, self._connection_allowance())
        kept, self._kept = self._kept, []
        # Fewer connections allowed than are open (the allowance is shared): the
        # longest idle go.
        kept.sort(key=lambda k: k.used_at, reverse=True)
        await hang_up_all(kept[allowance:])
        sending = Round(
            cfg, rows, not_before, recorder, self._writer, self._throttle,
            check_after_idle=_CHECK_AFTER_IDLE, tokens=self._tokens,
        )
        self._kept = await sending.run(kept[:allowance], min(allowance, len(rows)))

    def _hang_up_idle(self) -> None:
        """QUIT the connections unused for longer than ``keep_idle``."""
        now = time.monotonic()
        idle = [k for k in self._kept if now - k.used_at > self.keep_idle]
        if idle:
            self._kept = [k for k in self._kept if k not in idle]
            self._run(hang_up_all(idle))
            if not self._kept and self._slots is not None:
                self._slots.release()  # nothing open: the slots are for other workers

    def _run(self, work: Coroutine[Any, Any, _T]) -> _T:
        """``work`` on the sender's event loop, made on first use."""
        if self._runner is None:
            self._runner = asyncio.Runner()
        runner = self._runner
        return _outside_any_loop(lambda: runner.run(work))

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


def _outside_any_loop(call: Callable[[], _T]) -> _T:
    """``call()``, in a helper thread when the caller is a coroutine (an application
    with a loop of its own): loops do not nest. The sender's loop is bound to no thread
    while it stands still, so its connections carry over from one thread to the next."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    with concurrent.futures.ThreadPoolExecutor(1) as helper:
        return helper.submit(call).result()


def _maildir(config: Config) -> mailbox.Maildir:
    # Maildir(create=True) makes the folder and tmp/new/cur, but not its parents.
    config.outbox_dir.parent.mkdir(parents=True, exist_ok=True)
    return mailbox.Maildir(config.outbox_dir, factory=None, create=True)


def _to_maildir(box: mailbox.Maildir, row: Outbox, config: Config) -> Result:
    try:
        key = box.add(row.raw)  # written to tmp/, then renamed into new/
    except OSError as exc:
        return Verdict.TRANSIENT, f"maildir {config.outbox_dir}: {exc}"
    return Verdict.SENT, f"maildir: new/{key}"


def _set_last_ok(db: Session, now: datetime) -> None:
    setting = db.get(Setting, LAST_SEND_OK) or Setting(key=LAST_SEND_OK)
    setting.value = now.isoformat()
    setting.updated_at = now
    db.add(setting)


def _token_keeper(config: Config, engine: Engine) -> TokenKeeper | None:
    if config.smtp is None or config.smtp.auth != AuthMethod.OAUTH2:
        return None
    from mailbot.oauth.tokens import TokenKeeper

    return TokenKeeper(config, engine)
