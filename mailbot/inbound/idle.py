"""Waiting for new mail: IDLE on a connection of its own (polling where the server has
none), reconnecting with backoff, and :func:`watch`, which fetches after every wake-up.

A session that logged in with an OAuth2 access token logs in again before the token
is due for renewal, with a renewed one: Exchange Online ends a session whose token
expired, and a session that ends so is a lost IDLE.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.engine import Engine

from mailbot.config import ImapConfig
from mailbot.errors import FetchError
from mailbot.inbound.fetch import FetchReport, fetch_new
from mailbot.inbound.imap import ClientFactory, ImapSession, connect

log = logging.getLogger(__name__)

WakeReason = Literal["new_mail", "timeout", "reconnected", "stopped"]


@dataclass
class Backoff:
    """Exponential delay between reconnects: initial, doubled, capped."""

    initial: float = 1.0
    maximum: float = 60.0
    _next: float = 0.0

    def next(self) -> float:
        delay = self._next or self.initial
        self._next = min(delay * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = 0.0


class IdleWatcher:
    """Blocks in :meth:`wait` until new mail may be there, for ``mailbot run``.

    One dedicated connection sits in IDLE; ``fetch_new`` uses its own. ``wait``
    returns ``"new_mail"`` within about ``check_interval`` of the server's EXISTS,
    ``"timeout"`` when IDLE was due for renewal or the poll interval passed (fetch
    anyway: a safety net), ``"reconnected"`` after a lost connection came back (mail
    may have arrived meanwhile), and ``"stopped"`` as soon as ``stop`` is set.
    Connection failures are logged and retried with capped exponential backoff;
    ``wait`` itself does not raise them.
    """

    def __init__(
        self,
        config: ImapConfig,
        stop: threading.Event | None = None,
        *,
        client_factory: ClientFactory = connect,
        check_interval: float = 1.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self.stop = stop if stop is not None else threading.Event()
        self._factory = client_factory
        self._check = max(0.05, check_interval)
        self._backoff = backoff if backoff is not None else Backoff()
        self._session: ImapSession | None = None
        self._idle: bool | None = None  # unknown until the first connect
        self._lost = False
        self.last_error: str = ""

    def __enter__(self) -> IdleWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def uses_idle(self) -> bool | None:
        return self._idle

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(FetchError):
                session.close()

    def wait(self) -> WakeReason:
        if self.stop.is_set():
            return "stopped"
        if self._idle is False:
            return "stopped" if self.stop.wait(self.config.poll_interval) else "timeout"
        if self._session is None:
            if not self._connect():
                return "stopped"
            if self._lost:
                self._lost = False
                return "reconnected"
            if not self._idle:
                return self.wait()
        try:
            return self._idle_once()
        except FetchError as exc:
            log.warning("%s: IMAP connection lost: %s", self.config.name, exc)
            self._drop(exc)
            if not self._connect():
                return "stopped"
            self._lost = False
            return "reconnected"

    def _idle_once(self) -> WakeReason:
        session = self._session
        assert session is not None
        # Mail that came while we were out of IDLE is reported on the next command.
        if session.noop():
            return "new_mail"
        session.idle_start()
        deadline = time.monotonic() + min(self.config.idle_timeout, 1740.0)
        relogin = _relogin_in(session)
        if relogin is not None and relogin < deadline - time.monotonic():
            deadline = time.monotonic() + relogin
        else:
            relogin = None
        while True:
            if self.stop.is_set():
                session.idle_stop()
                return "stopped"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                news = session.idle_stop()
                if relogin is not None:
                    # The access token runs out soon, and Exchange Online ends a session
                    # whose token expired: log in again with a renewed one first.
                    log.info("%s: logging in again before the access token expires",
                             self.config.name)
                    self.close()
                return "new_mail" if news else "timeout"
            if session.idle_wait(min(self._check, remaining)):
                session.idle_stop()
                return "new_mail"

    def _connect(self) -> bool:
        """Connect (retrying with backoff) and select the folder; False when stopped."""
        while not self.stop.is_set():
            try:
                session = self._factory(self.config)
                try:
                    idle = session.has_capability("IDLE")
                    session.select(self.config.folder)
                except FetchError:
                    session.abort()
                    raise
            except FetchError as exc:
                self._drop(exc)
                delay = self._backoff.next()
                log.warning("%s: reconnecting in %.0f s: %s", self.config.name, delay, exc)
                if self.stop.wait(delay):
                    return False
                continue
            self._backoff.reset()
            self._idle = idle
            if idle:
                self._session = session
            else:
                log.info("%s: server has no IDLE, polling every %.0f s",
                         self.config.name, self.config.poll_interval)
                session.close()
            return True
        return False

    def _drop(self, exc: Exception) -> None:
        self.last_error = str(exc)
        self._lost = True
        session, self._session = self._session, None
        if session is not None:
            session.abort()


def _relogin_in(session: ImapSession) -> float | None:
    """Seconds until the session's access token should be renewed (at least one, so a
    token near its end does not make a loop of logins); None without one."""
    renew = session.credentials_expire()
    if renew is None:
        return None
    return max(1.0, (renew - datetime.now(UTC)).total_seconds())


def watch(
    config: ImapConfig,
    engine: Engine,
    stop: threading.Event,
    *,
    client_factory: ClientFactory = connect,
) -> Iterable[FetchReport]:
    """Fetch now and after every wake-up until ``stop``; fetch errors are logged, not raised."""
    with IdleWatcher(config, stop, client_factory=client_factory) as watcher:
        backoff = Backoff()
        while not stop.is_set():
            try:
                yield fetch_new(config, engine, client_factory=client_factory)
                backoff.reset()
            except FetchError as exc:
                delay = backoff.next()
                log.warning("%s: fetch failed, next try in %.0f s: %s", config.name, delay, exc)
                if stop.wait(delay):
                    return
                continue
            if watcher.wait() == "stopped":
                return
