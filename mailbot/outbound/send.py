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
import smtplib
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from mailbot.config import Config, SmtpConfig
from mailbot.errors import PermanentSendError, TransientSendError
from mailbot.outbound import smtp as _smtp
from mailbot.outbound._claims import (
    Outcome,
    Recorder,
    RetryPolicy,
    SendReport,
    claim,
    new_worker,
)
from mailbot.outbound._limits import aware
from mailbot.outbound.smtp import Result, Verdict
from mailbot.outbound.summary import StaffSummary
from mailbot.store import Outbox, Setting, Writer, session_scope

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


def send_due(
    config: Config,
    engine: Engine,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    policy: RetryPolicy = _DEFAULT_POLICY,
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
        self._client: smtplib.SMTP | None = None
        self._used_at = 0.0
        self._claims_checked_at: float | None = None
        self._last_ok: datetime | None = None
        self._last_ok_written_at: float | None = None
        self._summary: StaffSummary | None = None

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
        clock = aware(now) if now is not None else datetime.now(UTC)
        worker = new_worker()
        checked = self._claims_checked_at
        release_dead = checked is None or time.monotonic() - checked >= _DEAD_CLAIMS_EVERY
        if release_dead:
            self._claims_checked_at = time.monotonic()
        capped = self.config.smtp.max_per_minute if self.config.smtp is not None else 0
        if capped:
            self._staff_summary().fold(clock)
        report = SendReport()
        recorder = Recorder(self._store, worker, clock, self.policy, report)
        while True:
            # A claim gives back what passes its bytes (_claims.ROUND_BYTES): the round
            # goes on with the next part while the last one went out.
            given_back: list[int] = []
            left = None if limit is None else limit - report.claimed
            rows = claim(
                self.engine, worker=worker, now=clock, limit=left, lease=self.policy.lease,
                release_dead=release_dead, writer=self._store, max_per_minute=capped,
                given_back=given_back,
            )
            release_dead = False
            report.claimed += len(rows)
            sent_before = report.sent
            if rows:
                self._send_rows(rows, recorder)
            if not given_back or report.sent == sent_before or left == len(rows):
                break
        if not report.claimed:
            if self._client is not None and time.monotonic() - self._used_at > self.keep_idle:
                self._hang_up()
            return report
        if report.sent:
            self._last_ok = clock
            self._note_last_ok()
        return report

    def _send_rows(self, rows: list[Outbox], recorder: Recorder) -> None:
        if self.config.smtp is None:
            box = _maildir(self.config)
            for row in rows:
                recorder.record(row, _to_maildir(box, row, self.config))
            return
        if self._writer is None:
            self._writer = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="send-record"
            )
        client = self._reusable()
        try:
            self._client = _over_smtp(self.config.smtp, rows, recorder, self._writer, client)
        finally:
            self._used_at = time.monotonic()

    def _staff_summary(self) -> StaffSummary:
        if self._summary is None:
            self._summary = StaffSummary(self.config, self.engine)
        return self._summary

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


def _over_smtp(
    cfg: SmtpConfig,
    rows: Sequence[Outbox],
    recorder: Recorder,
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
                        recorder.record(rest, (Verdict.TRANSIENT, str(exc)))
                    return None
            result = _smtp.send_one(client, row, before_data=settle)
            settle()  # when the envelope failed, DATA was never reached
            writing = writer.submit(recorder.record, row, result)
            if result[0] == Verdict.TRANSIENT and (
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
