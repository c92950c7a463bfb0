"""Benchmark of the whole pipeline on real servers on loopback.

Starts Dovecot and a recording SMTP server, loads N mails (default 1,000) into the
INBOX, and measures:

- start-up: ``Runtime.prepare`` (classifier and templates loaded, the processes
  forked), which a running service did when it started;
- drain: mails per second from the start of the fetch until the SMTP server has
  accepted every acknowledgement (``Runtime.once`` after ``prepare``), and the same
  with the start-up counted in, as ``mailbot once`` on a cold start would see it;
- CPU during the drain: of mailbot's processes, of Dovecot and of the SMTP server;
- idle latency: from a mail landing in the mailbox to its acknowledgement being
  accepted, while ``mailbot run`` idles in IDLE (p50, p95, max over M mails);
- classifier rate: ``Classifier.classify`` alone on the same mails' new text;
- peak memory (max RSS) of the drain process and of the ``mailbot run`` process.

Usage:  python bench/bench_pipeline.py [--mails 1000] [--latency 25] [--json out.json]
Needs root (Dovecot) and the Debian package dovecot-imapd.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.parser import BytesParser
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailbot.config import load_config  # noqa: E402
from mailbot.service import DrainSummary, Runtime  # noqa: E402
from tests.servers import Dovecot, destroy_dovecot, free_port, start_dovecot  # noqa: E402

if TYPE_CHECKING:
    from mailbot.classify import Classifier


def corpus(n: int) -> list[bytes]:
    """N realistic mails: the labelled sets cycled, each with a fresh Message-ID."""
    sources = sorted((ROOT / "eval").glob("*/*.eml")) + sorted((ROOT / "examples").glob("*.eml"))
    mails: list[bytes] = []
    i = 0
    while len(mails) < n:
        raw = sources[i % len(sources)].read_bytes()
        head, _, body = (
            raw.partition(b"\n\n") if b"\r\n\r\n" not in raw else raw.partition(b"\r\n\r\n")
        )
        lines = [
            ln
            for ln in head.splitlines()
            if not ln.lower().startswith((b"message-id:", b"in-reply-to:", b"references:"))
        ]
        lines.append(f"Message-ID: <bench{i}.{os.getpid()}@bench.example>".encode())
        mails.append(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        i += 1
    return mails


def config_file(
    folder: Path, imap_host: str, imap_port: int, user: str, password: str, smtp_port: int
) -> Path:
    path = folder / "mailbot.toml"
    path.write_text(
        f"""
[service]
address = "service@itservice.example"

[imap]
host = "{imap_host}"
port = {imap_port}
security = "none"
username = "{user}"
password = "{password}"
poll_interval = 600
batch_size = 200

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"

[store]
url = "sqlite:///mailbot.db"

[limits]
acks_per_hour = 100000
acks_per_day = 100000
processes = 2
""",
        encoding="utf-8",
    )
    return path


class _Counting:
    """aiosmtpd handler that only counts: the bench needs arrivals, not contents."""

    def __init__(self, count: Synchronized[int]) -> None:
        self.count = count

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        with self.count.get_lock():
            self.count.value += 1
        return "250 OK"


def _serve_smtp(port: int, count: Synchronized[int], ready: EventType) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_Counting(count), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    signal.sigwait({signal.SIGTERM})
    controller.stop()


class SmtpProcess:
    """A real SMTP server in its own process, as it would be beside the bot: the
    server's work does not share the measured process's interpreter."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("fork")
        self.port = free_port()
        self.count: Synchronized[int] = ctx.Value("i", 0)
        ready = ctx.Event()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        self._proc = ctx.Process(target=_serve_smtp, args=(self.port, self.count, ready))
        self._proc.start()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        if not ready.wait(15):
            raise RuntimeError("SMTP server did not start")

    @property
    def received(self) -> int:
        return int(self.count.value)

    @property
    def pid(self) -> int:
        return self._proc.pid or 0

    def reset(self) -> None:
        self.count.value = 0

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.join(10)


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
        me = os.getpid()
        own = Path(f"/proc/{me}/cmdline").read_bytes()
        pids = [me]
        for task in Path(f"/proc/{me}/task").iterdir():
            for pid in (int(p) for p in (task / "children").read_text().split()):
                try:
                    same_program = Path(f"/proc/{pid}/cmdline").read_bytes() == own
                except OSError:
                    continue
                if same_program and pid not in self.exclude:
                    pids.append(pid)
        total_kb = 0
        for pid in pids:
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def is_automated(raw: bytes) -> bool:
    """What the corpus counts as robot mail (the bot must not acknowledge it)."""
    msg = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    return bool(
        msg["Auto-Submitted"]
        or msg["List-Id"]
        or msg["Precedence"]
        or "monitoring@" in str(msg["From"])
        or "mailer-daemon" in str(msg["From"]).lower()
    )


@dataclass(frozen=True)
class Drain:
    """The figures of one ``Runtime.once`` over the whole INBOX."""

    fetched: int
    summary: DrainSummary
    acknowledgements: int
    prepare_seconds: float
    drain_seconds: float
    utilisation: float
    cpu_seconds: float
    children_cpu: float
    dovecot_cpu: float
    smtp_cpu: float
    pss_mb: float
    rss_mb: float
    child_rss_mb: float


def measure_drain(runtime: Runtime, smtp: SmtpProcess, dovecot: Dovecot) -> Drain:
    """Start-up, then the drain; the runtime is closed at the end."""
    # Start-up is timed apart from the drain: a running service (`mailbot run`)
    # did it once when it started, before any storm; `mailbot once` pays it per run.
    t_prepare = time.perf_counter()
    runtime.prepare()  # classifier and templates loaded, processes forked
    prepare_seconds = time.perf_counter() - t_prepare

    memory = PssSampler(exclude={smtp.pid})
    cpu_before = os.times()
    servers_before = server_cpu_seconds(dovecot.process_group, smtp.pid)
    busy_before = cpu_busy()
    start = time.perf_counter()
    # What `mailbot once` does: the fetch runs in a thread while forked processes
    # judge and store what has arrived and this process sends what they queued.
    fetched, summary = runtime.once()
    drained = time.perf_counter()
    busy_after = cpu_busy()
    servers_after = server_cpu_seconds(dovecot.process_group, smtp.pid)
    utilisation = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
    runtime.close()  # the forked processes end here and their CPU time is counted
    cpu_after = os.times()
    parent_cpu = sum(a - b for a, b in zip(cpu_after[:2], cpu_before[:2], strict=True))
    children_cpu = sum(a - b for a, b in zip(cpu_after[2:4], cpu_before[2:4], strict=True))
    pss_mb = memory.stop()
    return Drain(
        fetched=fetched,
        summary=summary,
        acknowledgements=smtp.received,
        prepare_seconds=prepare_seconds,
        drain_seconds=drained - start,
        utilisation=utilisation,
        cpu_seconds=parent_cpu + children_cpu,
        children_cpu=children_cpu,
        dovecot_cpu=servers_after[0] - servers_before[0],
        smtp_cpu=servers_after[1] - servers_before[1],
        pss_mb=pss_mb,
        rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        child_rss_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    )


def classifier_rate(classifier: Classifier, mails: list[bytes]) -> float:
    """Mails per second of the classifier alone, on the same mails' new text."""
    from mailbot.mail.parse import parse_message
    from mailbot.mail.quotes import new_text

    texts = []
    for raw in mails:
        parsed = parse_message(raw)
        texts.append((parsed.subject, new_text(parsed.text), parsed.date))
    rates = []
    for _ in range(3):  # one pass is a second of work: the median of three is steadier
        t0 = time.perf_counter()
        for subject, body, date in texts:
            classifier.classify(subject, body, date or datetime.now().astimezone())
        rates.append(len(texts) / (time.perf_counter() - t0))
    return statistics.median(rates)


def _is_customer(raw: bytes) -> bool:
    robot = (b"monitoring@", b"List-Id", b"Auto-Submitted", b"Return-Path: <>", b"Precedence")
    return not any(mark in raw for mark in robot)


def idle_latencies(
    work: Path, dovecot: Dovecot, smtp: SmtpProcess, mails: list[bytes], samples: int
) -> tuple[list[float], float]:
    """Seconds from a mail landing in the INBOX to its acknowledgement, while a separate
    `mailbot run` process waits in IDLE; and that process's peak RSS in MB."""
    dovecot.clean()
    smtp.reset()
    lat_dir = work / "latency"
    lat_dir.mkdir()
    lat_cfg = config_file(
        lat_dir, dovecot.host, dovecot.port, dovecot.user, dovecot.password, smtp.port
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(lat_cfg), "run"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latencies: list[float] = []
    try:
        time.sleep(8)  # classifier loaded, first fetch done, IDLE entered
        customers = [m for m in mails if _is_customer(m)]
        for i in range(samples):
            raw = customers[i % len(customers)].replace(
                b"@bench.example>", f".lat{i}@bench.example>".encode(), 1
            )
            before = smtp.received
            t_append = time.perf_counter()
            dovecot.append(raw)
            while smtp.received <= before and time.perf_counter() - t_append < 60:
                time.sleep(0.005)
            latencies.append(time.perf_counter() - t_append)
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return latencies, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def figures(
    mails: list[bytes],
    automated: int,
    drain: Drain,
    classify_rate: float,
    latencies: list[float],
    run_rss_mb: float,
) -> dict[str, object]:
    """The printed result, in the order of the README's table."""
    summary = drain.summary
    seconds = drain.drain_seconds
    return {
        "machine": f"{os.cpu_count()} cores, {os.uname().machine}",
        "mails": len(mails),
        "automated": automated,
        "stored": drain.fetched,
        "processed": summary.processed,
        "quarantined": summary.quarantined,
        "send_failures": summary.failed,
        "acknowledgements": drain.acknowledgements,
        "drain_seconds": round(seconds, 2),
        "drain_mails_per_second": round(len(mails) / seconds, 1),
        "startup_seconds": round(drain.prepare_seconds, 2),
        "drain_with_startup_mails_per_second": round(
            len(mails) / (seconds + drain.prepare_seconds), 1
        ),
        "drain_cpu_utilisation": round(drain.utilisation, 2),
        "drain_mailbot_cpu_seconds": round(drain.cpu_seconds, 2),
        "drain_forked_cpu_seconds": round(drain.children_cpu, 2),
        "drain_dovecot_cpu_seconds": round(drain.dovecot_cpu, 2),
        "drain_smtp_server_cpu_seconds": round(drain.smtp_cpu, 2),
        "idle_latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "idle_latency_p95_s": round(percentile(latencies, 0.95), 3) if latencies else None,
        "idle_latency_max_s": round(max(latencies), 3) if latencies else None,
        "idle_latency_samples": len(latencies),
        "classifier_mails_per_second": round(classify_rate, 1),
        "drain_peak_rss_mb": round(drain.rss_mb, 1),
        "drain_child_peak_rss_mb": round(drain.child_rss_mb, 1),
        "drain_peak_pss_total_mb": round(drain.pss_mb, 1),
        "run_peak_rss_mb": round(run_rss_mb, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--latency", type=int, default=25)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    smtp = SmtpProcess()  # forked before anything heavy is loaded
    dovecot = start_dovecot()
    work = Path(tempfile.mkdtemp(prefix="mailbot-bench-"))
    try:
        mails = corpus(args.mails)
        automated = sum(is_automated(raw) for raw in mails)
        with dovecot.client() as client:
            for raw in mails:
                client.append("INBOX", raw)
        cfg_path = config_file(
            work, dovecot.host, dovecot.port, dovecot.user, dovecot.password, smtp.port
        )
        runtime = Runtime.open(load_config(cfg_path))
        drain = measure_drain(runtime, smtp, dovecot)
        classify_rate = classifier_rate(runtime.processor.judge.classifier, mails)
        latencies: list[float] = []
        run_rss_mb = 0.0
        if args.latency:
            latencies, run_rss_mb = idle_latencies(work, dovecot, smtp, mails, args.latency)
        result = figures(mails, automated, drain, classify_rate, latencies, run_rss_mb)
        print(json.dumps(result, indent=1))
        width = max(len(k) for k in result)
        for key, value in result.items():
            print(f"{key:<{width}}  {value}", file=sys.stderr)
        if args.json:
            args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    finally:
        smtp.stop()
        destroy_dovecot(dovecot)


if __name__ == "__main__":
    main()
