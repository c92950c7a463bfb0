"""Benchmark of the send stage alone: client CPU and rate for queued outbox rows.

Queues N acknowledgements in a fresh SQLite store, starts an SMTP server (aiosmtpd)
in a process of its own, and times one ``send_due`` over all of them:
``time.process_time`` of this process (every thread: the SMTP client and the thread
that writes the outcomes) and the wall-clock time. With ``--delay`` the server holds
every reply back by that many milliseconds, as a relay across a network would.

Usage:  python bench/bench_send.py [--mails 2000] [--connections 1,2,4] [--runs 3]
        [--delay 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import AnyStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from mailbot.config import Config, ServiceConfig, SmtpConfig  # noqa: E402
from mailbot.kinds import OutboxKind  # noqa: E402
from mailbot.outbound.send import send_due  # noqa: E402
from mailbot.store import Outbox, open_store  # noqa: E402
from tests.servers import free_port  # noqa: E402

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _acknowledgement(n: int) -> bytes:
    """About the size of a real acknowledgement (1.9 KB of German text, 8 bit)."""
    body = (
        "Guten Tag,\r\n\r\nvielen Dank für Ihre Nachricht. Wir haben dafür das Ticket "
        f"#{1000 + n} angelegt.\r\n\r\nPriorität: normal\r\n"
        + "Wir melden uns spätestens am Mittwoch, 25. November 2026, 19:00 Uhr.\r\n" * 20
    )
    head = (
        "From: IT-Service <service@itservice.example>\r\n"
        f"To: kunde{n}@mueller.example\r\n"
        f"Subject: [#{1000 + n}] Ihre Anfrage ist eingegangen\r\n"
        f"Message-ID: <bench-ack-{n}@itservice.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return (head + body).encode()


class _Counting:
    """Counts accepted mails and the most sessions that were open at once."""

    def __init__(self, count: Synchronized[int]) -> None:
        self.count = count
        #: sessions open now (the server's loop thread alone changes it)
        self.open = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        with self.count.get_lock():
            self.count.value += 1
        return "250 2.0.0 OK"


def _serve(
    port: int, delay: float, count: Synchronized[int], peak: Synchronized[int], ready: EventType
) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    handler = _Counting(count)

    class Delayed(SMTP):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            handler.open += 1
            peak.value = max(peak.value, handler.open)
            super().connection_made(transport)

        def connection_lost(self, error: Exception | None) -> None:
            handler.open -= 1
            super().connection_lost(error)

        async def push(self, status: AnyStr) -> None:
            if delay:
                await asyncio.sleep(delay)
            await super().push(status)

    class Serving(Controller):
        def factory(self) -> SMTP:
            return Delayed(self.handler, **self.SMTP_kwargs)

    controller = Serving(handler, hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    signal.sigwait({signal.SIGTERM})
    controller.stop()


class Server:
    """The SMTP server in its own process: its CPU is not the client's."""

    def __init__(self, delay: float) -> None:
        ctx = multiprocessing.get_context("fork")
        self.port = free_port()
        self.count: Synchronized[int] = ctx.Value("i", 0)
        self.peak: Synchronized[int] = ctx.Value("i", 0)
        ready = ctx.Event()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        self._proc = ctx.Process(
            target=_serve, args=(self.port, delay, self.count, self.peak, ready)
        )
        self._proc.start()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        if not ready.wait(15):
            raise RuntimeError("SMTP server did not start")

    def reset(self) -> None:
        self.count.value = 0
        self.peak.value = 0

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.join(10)


@dataclass(frozen=True)
class Run:
    connections: int
    mails: int
    sent: int
    cpu_ms_per_mail: float
    wall_seconds: float
    mails_per_second: float
    peak_sessions: int


def one_run(server: Server, mails: int, connections: int, folder: Path) -> Run:
    engine = open_store(f"sqlite:///{folder / 'mailbot.db'}")
    rows = [
        {
            "kind": OutboxKind.ACK, "message_id": f"<bench-ack-{n}@itservice.example>",
            "envelope_from": "bounces@itservice.example",
            "to_address": f"kunde{n}@mueller.example",
            "recipients": json.dumps([f"kunde{n}@mueller.example"]),
            "raw": _acknowledgement(n), "next_attempt_at": T0, "created_at": T0,
        }
        for n in range(mails)
    ]
    with engine.begin() as connection:
        connection.execute(insert(Outbox), rows)
    smtp = SmtpConfig(
        host="127.0.0.1", port=server.port, security="none", username="", password="",
        timeout=30.0, connections=connections,
    )
    config = Config(
        path=None, store_url="sqlite://", outbox_dir=folder / "outbox",
        service=ServiceConfig(address="service@itservice.example"), smtp=smtp,
    )
    server.reset()
    cpu, wall = time.process_time(), time.perf_counter()
    report = send_due(config, engine, now=T0)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    engine.dispose()
    if server.count.value != mails or report.sent != mails:
        raise RuntimeError(f"sent {report.sent}, server got {server.count.value} of {mails}")
    return Run(
        connections, mails, report.sent, round(cpu / mails * 1000, 3), round(wall, 3),
        round(mails / wall, 1), int(server.peak.value),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--connections", default="1,2,4", help="comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="rounds over every setting")
    parser.add_argument("--delay", type=float, default=0.0, help="ms before each reply")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = [int(c) for c in args.connections.split(",")]
    server = Server(args.delay / 1000)
    runs: list[Run] = []
    try:
        for _ in range(args.runs):
            # Interleaved: the machine's speed drifts, each setting sees the same drift.
            for connections in settings:
                with tempfile.TemporaryDirectory(prefix="mailbot-bench-send-") as folder:
                    runs.append(one_run(server, args.mails, connections, Path(folder)))
                print(json.dumps(asdict(runs[-1])), flush=True)
    finally:
        server.stop()
    summary = {
        str(c): {
            "cpu_ms_per_mail": statistics.median(r.cpu_ms_per_mail for r in mine),
            "mails_per_second": statistics.median(r.mails_per_second for r in mine),
            "peak_sessions": max(r.peak_sessions for r in mine),
        }
        for c in settings
        if (mine := [r for r in runs if r.connections == c])
    }
    print(f"{'connections':>11} {'CPU ms/mail':>12} {'mails/s':>9} {'peak sessions':>14}")
    for c, figures in summary.items():
        print(
            f"{c:>11} {figures['cpu_ms_per_mail']:>12.3f} {figures['mails_per_second']:>9.1f}"
            f" {figures['peak_sessions']:>14}"
        )
    if args.json:
        args.json.write_text(json.dumps({"delay_ms": args.delay, "runs": [asdict(r) for r in runs],
                                         "median": summary}, indent=2))


if __name__ == "__main__":
    main()
