"""Timing one drain (``Runtime.once`` over the whole INBOX) with what it cost: CPU of
mailbot, Dovecot and the SMTP server, memory, and which mail reached the server."""

from __future__ import annotations

import os
import resource
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from bench._delivery import Delivery, check, mark, queued_since
from bench._servers import SmtpProcess
from mailbot.service import DrainSummary, Runtime
from mailbot.store import MailboxState, make_engine
from tests.servers import Dovecot


def forked_children(exclude: set[int]) -> list[int]:
    """This process's children that run the same program (the forked processes of the
    pool), but not those in ``exclude``."""
    me = os.getpid()
    own = Path(f"/proc/{me}/cmdline").read_bytes()
    found: list[int] = []
    for task in Path(f"/proc/{me}/task").iterdir():
        for pid in (int(p) for p in (task / "children").read_text().split()):
            try:
                same_program = Path(f"/proc/{pid}/cmdline").read_bytes() == own
            except OSError:
                continue
            if same_program and pid not in exclude:
                found.append(pid)
    return found


def peak_rss_mb(pid: int) -> float:
    """The most memory (RSS) ``pid`` held so far, while it still runs: the figure of
    one process, where ``getrusage`` of the children takes the largest of all
    children ever waited for (the history's builder among them)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class PssSampler:
    """Proportional memory (PSS) of this process and the children it forked to process
    mail, sampled: forked children share the parent's pages, and PSS counts a shared
    page once overall. Dovecot (another program) and the SMTP server are left out."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude = exclude
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak_mb = max(self.peak_mb, self.sample())

    def sample(self) -> float:
        total_kb = 0
        for pid in [os.getpid(), *forked_children(self.exclude)]:
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total_kb += int(line.split()[1])
            except OSError:
                continue
        return total_kb / 1024

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak_mb, self.sample())


def cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def server_cpu_seconds(dovecot_group: int, smtp_pid: int) -> tuple[float, float]:
    """CPU seconds so far of Dovecot (every process in its master's process group,
    including the imap processes already reaped) and of the SMTP server process."""
    ticks = [0, 0]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ")".
        fields = text[text.rindex(")") + 2 :].split()
        used = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
        if int(fields[2]) == dovecot_group:  # pgrp
            ticks[0] += used
        elif int(stat.parent.name) == smtp_pid:
            ticks[1] += used
    hz = os.sysconf("SC_CLK_TCK")
    return ticks[0] / hz, ticks[1] / hz


def wait_for_first_fetch(db: Path, timeout: float = 60) -> None:
    """Until the `mailbot run` on the store ``db`` did its first fetch: it then waits in
    IDLE (a second later, once the fetch's commit is through)."""
    engine = make_engine(f"sqlite:///{db}")
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                with Session(engine) as session:
                    fetched = session.exec(
                        select(MailboxState.mailbox).where(
                            col(MailboxState.last_fetch_ok_at).is_not(None)
                        )
                    ).first()
            except OperationalError:  # an empty store: its tables are not made yet
                fetched = None
            if fetched is not None:
                time.sleep(1.0)
                return
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise RuntimeError(f"mailbot run did not fetch within {timeout:.0f} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class Drain:
    """The figures of one ``Runtime.once`` over the whole INBOX."""

    fetched: int
    summary: DrainSummary
    #: mail the SMTP server accepted during the drain
    accepted: int
    prepare_seconds: float
    #: from the start of the fetch to the last queued mail accepted by the server
    #: (to ``once`` returning when the server only counts)
    drain_seconds: float
    #: from the start of the fetch to ``once`` returning
    once_seconds: float
    utilisation: float
    cpu_seconds: float
    children_cpu: float
    dovecot_cpu: float
    smtp_cpu: float
    pss_mb: float
    rss_mb: float
    child_rss_mb: float
    #: what reached the server, checked against the outbox; None when it only counts
    delivery: Delivery | None
    #: SMTP connections the server saw, and the most at once
    sessions: int
    sessions_at_once: int


def measure_drain(
    runtime: Runtime, smtp: SmtpProcess, dovecot: Dovecot, customers: set[str]
) -> Drain:
    """Start-up, then the drain; the runtime is closed at the end. ``customers``: the
    senders who must be acknowledged (checked when the server keeps what it gets)."""
    # Start-up is timed apart from the drain: a running service (`mailbot run`)
    # did it once when it started, before any storm; `mailbot once` pays it per run.
    t_prepare = time.perf_counter()
    runtime.prepare()  # classifier and templates loaded, processes forked
    prepare_seconds = time.perf_counter() - t_prepare

    before = mark(runtime.engine)
    memory = PssSampler(exclude={smtp.pid})
    cpu_before = os.times()
    servers_before = server_cpu_seconds(dovecot.process_group, smtp.pid)
    busy_before = cpu_busy()
    start = time.monotonic()
    # What `mailbot once` does: the fetch runs in a thread while forked processes
    # judge and store what has arrived and this process sends what they queued.
    fetched, summary = runtime.once()
    returned = time.monotonic()
    busy_after = cpu_busy()
    servers_after = server_cpu_seconds(dovecot.process_group, smtp.pid)
    utilisation = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
    delivery = None
    if smtp.keeps:
        queued, tickets = queued_since(runtime.engine, before)
        delivery = check(queued, tickets, smtp.arrivals(), customers)
    child_rss_mb = max((peak_rss_mb(p) for p in forked_children({smtp.pid})), default=0.0)
    runtime.close()  # the forked processes end here and their CPU time is counted
    cpu_after = os.times()
    parent_cpu = sum(a - b for a, b in zip(cpu_after[:2], cpu_before[:2], strict=True))
    children_cpu = sum(a - b for a, b in zip(cpu_after[2:4], cpu_before[2:4], strict=True))
    pss_mb = memory.stop()
    sessions = smtp.sessions()
    end = delivery.last_at if delivery is not None and delivery.last_at else returned
    return Drain(
        fetched=fetched,
        summary=summary,
        accepted=smtp.received,
        prepare_seconds=prepare_seconds,
        drain_seconds=end - start,
        once_seconds=returned - start,
        utilisation=utilisation,
        cpu_seconds=parent_cpu + children_cpu,
        children_cpu=children_cpu,
        dovecot_cpu=servers_after[0] - servers_before[0],
        smtp_cpu=servers_after[1] - servers_before[1],
        pss_mb=pss_mb,
        rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        child_rss_mb=child_rss_mb,
        delivery=delivery,
        sessions=sessions.total,
        sessions_at_once=sessions.most_at_once,
    )
