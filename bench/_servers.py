"""The benchmarks' SMTP server: aiosmtpd in a process of its own, as a relay would be
beside the bot, so that its work does not share the measured process's interpreter.

It keeps what it receives: each message is appended to ``messages`` in a spool folder
(one file: a file per message cost a millisecond of the server's CPU each on the
development machine's disk, more than the SMTP conversation), and one line of JSON
per message (envelope, Message-ID, offset and size, client connection and the moment
of acceptance) to ``index.jsonl`` there, which the bench reads. ``delay`` holds back every
reply (the greeting and each reply to a command, multi-line replies once) as a network
round trip would. Without a spool folder it only counts, as the lean setting's server did.

Times are ``time.monotonic()``: on Linux one clock for every process of the machine, so
the bench compares them with its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import re
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any, AnyStr

from tests.servers import free_port

#: the Message-ID header of a message's head (the bench matches mail by it)
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)
_HEAD_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True)
class Arrival:
    """One message the server accepted."""

    seq: int
    #: time.monotonic() when the server accepted it, before its reply went out
    at: float
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message_id: str
    #: where its bytes are in the spool's ``messages`` file
    offset: int
    size: int
    #: the client's address and port: one value per SMTP connection
    peer: str


@dataclass(frozen=True)
class Sessions:
    """The SMTP connections since the last reset."""

    total: int
    #: the most that were open at the same moment
    most_at_once: int


class _Keeper:
    """The aiosmtpd handler: counts, and with a spool folder keeps every message."""

    def __init__(self, count: Synchronized[int]) -> None:
        self.count = count
        self.delay = 0.0
        self._lock = threading.Lock()
        self._spool: Path | None = None
        self._index: Any = None
        self._messages: Any = None
        self._offset = 0
        self._seq = 0
        self.open_now = 0
        self.sessions = 0
        self.most_at_once = 0

    def reset(self, spool: Path | None, delay: float) -> Sessions:
        with self._lock:
            seen = Sessions(self.sessions, self.most_at_once)
            for kept in (self._index, self._messages):
                if kept is not None:
                    kept.close()
            self._spool, self._index, self._messages = spool, None, None
            self._seq = self._offset = 0
            if spool is not None:
                spool.mkdir(parents=True, exist_ok=True)
                self._index = (spool / "index.jsonl").open("a", encoding="utf-8")
                self._messages = (spool / "messages").open("ab")
            self.delay = delay
            self.sessions, self.most_at_once = 0, self.open_now
            self.count.value = 0
        return seen

    def seen(self) -> Sessions:
        with self._lock:
            return Sessions(self.sessions, self.most_at_once)

    def opened(self) -> None:
        with self._lock:
            self.open_now += 1
            self.sessions += 1
            self.most_at_once = max(self.most_at_once, self.open_now)

    def closed(self) -> None:
        with self._lock:
            self.open_now -= 1

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.monotonic()
        content = bytes(envelope.original_content or b"")
        with self._lock:
            if self._index is not None:
                self._seq += 1
                # Written as a relay would queue it: the bench reads only the index,
                # but a server that kept nothing would cost less than a real one.
                self._messages.write(content)
                self._messages.flush()
                head = _HEAD_END.split(content, 1)[0]
                found = _MESSAGE_ID.search(head)
                line = {
                    "seq": self._seq,
                    "at": at,
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": [str(r).lower() for r in envelope.rcpt_tos],
                    "message_id": found.group(1).decode("ascii", "replace") if found else "",
                    "offset": self._offset,
                    "size": len(content),
                    "peer": f"{session.peer[0]}:{session.peer[1]}",
                }
                self._offset += len(content)
                self._index.write(json.dumps(line) + "\n")
                self._index.flush()
            with self.count.get_lock():
                self.count.value += 1
        return "250 2.0.0 Ok: queued"


def _serve(port: int, count: Synchronized[int], control: Connection) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    keeper = _Keeper(count)

    class _Delayed(SMTP):
        """Every reply held back by ``keeper.delay``; the lines of a multi-line
        reply (EHLO) follow the first at once, as one packet would carry them."""

        _continued = False

        def connection_made(self, transport: Any) -> None:
            keeper.opened()
            super().connection_made(transport)

        def connection_lost(self, error: Exception | None) -> None:
            keeper.closed()
            super().connection_lost(error)

        async def push(self, status: AnyStr) -> None:
            line = status.encode() if isinstance(status, str) else status
            if not self._continued and keeper.delay > 0:
                await asyncio.sleep(keeper.delay)
            self._continued = line[3:4] == b"-"
            await super().push(status)

    class _Controller(Controller):
        def factory(self) -> Any:
            return _Delayed(self.handler, **self.SMTP_kwargs)

    controller = _Controller(keeper, hostname="127.0.0.1", port=port, decode_data=False)
    controller.start()
    control.send("ready")
    while True:
        try:
            command = control.recv()
        except EOFError:  # the bench is gone: nobody will read what is kept
            break
        if command[0] == "stop":
            break
        if command[0] == "reset":
            spool = Path(command[1]) if command[1] else None
            control.send(keeper.reset(spool, float(command[2])))
        elif command[0] == "sessions":
            control.send(keeper.seen())
    controller.stop()


class SmtpProcess:
    """The server process; the bench talks to it over a pipe."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("fork")
        self.port = free_port()
        self.count: Synchronized[int] = ctx.Value("i", 0)
        self._control, theirs = ctx.Pipe()
        # The child must not take the bench's signal handlers' work (Ctrl-C ends the
        # bench, whose finally stops the server).
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        self._proc = ctx.Process(target=_serve, args=(self.port, self.count, theirs))
        self._proc.start()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        if not self._control.poll(15) or self._control.recv() != "ready":
            raise RuntimeError("SMTP server did not start")
        self._spool: Path | None = None
        self._read = 0
        self._arrivals: list[Arrival] = []

    @property
    def pid(self) -> int:
        return self._proc.pid or 0

    @property
    def keeps(self) -> bool:
        """The server keeps what it receives (else it only counts)."""
        return self._spool is not None

    @property
    def received(self) -> int:
        return int(self.count.value)

    def reset(self, spool: Path | None = None, delay: float = 0.0) -> Sessions:
        """From now on: keep messages in ``spool`` (None: only count), hold each reply
        back ``delay`` seconds. Returns the connections seen since the last reset."""
        self._control.send(("reset", str(spool) if spool else "", delay))
        seen: Sessions = self._control.recv()
        self._spool, self._read, self._arrivals = spool, 0, []
        return seen

    def sessions(self) -> Sessions:
        """The connections since the last reset; nothing is reset."""
        self._control.send(("sessions",))
        seen: Sessions = self._control.recv()
        return seen

    def arrivals(self) -> list[Arrival]:
        """Every message kept since the last reset, in the order accepted."""
        if self._spool is None:
            return []
        index = self._spool / "index.jsonl"
        with index.open("rb") as f:
            f.seek(self._read)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line being written waits
        self._read += len(complete)
        for line in complete.splitlines():
            item = json.loads(line)
            item["rcpt_tos"] = tuple(item["rcpt_tos"])
            self._arrivals.append(Arrival(**item))
        return list(self._arrivals)

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # the server ended already
            self._control.send(("stop",))
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(10)
