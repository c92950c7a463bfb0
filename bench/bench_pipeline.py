"""Benchmark of the whole pipeline on real servers on loopback, in the configuration a
provider runs.

Starts Dovecot and an SMTP server (its own process, keeping every message it gets),
builds a store with months of history (default 5,000 mails), loads N mails (default
1,000) into the INBOX, and measures:

- start-up: ``Runtime.prepare`` (classifier and templates loaded, the processes
  forked), which a running service did when it started;
- drain: incoming mails per second from the start of the fetch until the SMTP server
  has accepted every mail the drain queued (acknowledgements to customers,
  announcements to ``[staff] notify``, pages to the on-call address), and the same
  with the start-up counted in, as ``mailbot once`` on a cold start would see it;
  what arrived is checked against the outbox and the incoming mail;
- CPU during the drain: of mailbot's processes, of Dovecot and of the SMTP server;
- idle latency: from a mail landing in the mailbox to its acknowledgement (and its
  announcement) being accepted, while ``mailbot run`` idles in IDLE (p50, p95, max);
- classifier rate: ``Classifier.classify`` alone on the same mails' new text;
- peak memory of the drain process, of its forked processes and of ``mailbot run``.

``--lean`` measures as the earlier figures did: no announcements, no customers, an
empty store, a server that only counts, the mail sets' own dates.

Usage:  python bench/bench_pipeline.py [--mails 1000] [--latency 25] [--history 5000]
                                       [--lean] [--json out.json]
Needs root (Dovecot) and the Debian package dovecot-imapd.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._history import History, build_apart, install  # noqa: E402
from bench._measure import (  # noqa: E402
    Drain,
    measure_drain,
    median,
    peak_rss_mb,
    percentile,
    wait_for_first_fetch,
)
from bench._servers import SmtpProcess  # noqa: E402
from bench._setting import (  # noqa: E402
    NOTIFY,
    ZONE,
    Servers,
    Setting,
    corpus,
    customer_senders,
    is_automated,
    sender,
    write_config,
)
from mailbot.config import load_config  # noqa: E402
from mailbot.service import Runtime  # noqa: E402
from tests.servers import Dovecot, destroy_dovecot, start_dovecot  # noqa: E402

if TYPE_CHECKING:
    from mailbot.classify import Classifier


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


def servers_of(dovecot: Dovecot, smtp: SmtpProcess) -> Servers:
    return Servers(smtp.port, dovecot.host, dovecot.port, dovecot.user, dovecot.password)


def _is_customer(raw: bytes) -> bool:
    robot = (b"monitoring@", b"List-Id", b"Auto-Submitted", b"Return-Path: <>", b"Precedence")
    return not any(mark in raw for mark in robot) and sender(raw) in customer_senders([raw])


@dataclass(frozen=True)
class Latencies:
    #: seconds from APPEND to the acknowledgement accepted (the first mail, lean)
    ack: list[float]
    #: seconds from APPEND to the announcement accepted (provider setting only)
    announcement: list[float]
    run_rss_mb: float


def _wait_for(smtp: SmtpProcess, since: float, to: str | None, timeout: float = 60) -> float:
    """When (monotonic) the first mail to ``to`` after ``since`` was accepted; with a
    server that only counts, when the count grew."""
    before = smtp.received
    while time.monotonic() - since < timeout:
        if to is None:
            if smtp.received > before:
                return time.monotonic()
        else:
            for arrival in reversed(smtp.arrivals()):
                if arrival.at < since:
                    break
                if to in arrival.rcpt_tos:
                    return arrival.at
        time.sleep(0.005)
    return since + timeout


def idle_latencies(
    work: Path,
    dovecot: Dovecot,
    smtp: SmtpProcess,
    mails: list[bytes],
    samples: int,
    setting: Setting,
    history: History | None,
) -> Latencies:
    """Seconds from a mail landing in the INBOX to its acknowledgement, while a separate
    `mailbot run` process waits in IDLE; and that process's peak RSS in MB."""
    dovecot.clean()
    lat_dir = work / "latency"
    install(history, lat_dir)
    smtp.reset(lat_dir / "spool" if setting.provider else None)
    lat_cfg = write_config(lat_dir, servers_of(dovecot, smtp), setting)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(lat_cfg), "run"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    acks: list[float] = []
    announcements: list[float] = []
    rss = 0.0
    try:
        wait_for_first_fetch(lat_dir / "mailbot.db")  # classifier loaded, IDLE entered
        customers = [m for m in mails if _is_customer(m)]
        for i in range(samples):
            raw = customers[i % len(customers)].replace(
                b"@bench.example>", f".lat{i}@bench.example>".encode(), 1
            )
            t_append = time.monotonic()
            dovecot.append(raw)
            if setting.provider:
                acks.append(_wait_for(smtp, t_append, sender(raw)) - t_append)
                announcements.append(_wait_for(smtp, t_append, NOTIFY) - t_append)
            else:
                acks.append(_wait_for(smtp, t_append, None) - t_append)
            time.sleep(0.3)
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return Latencies(acks, announcements, rss)


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def figures(
    setting: Setting,
    history: History | None,
    mails: list[bytes],
    drain: Drain,
    classify_rate: float,
    lat: Latencies,
) -> dict[str, object]:
    """The printed result, in the order of the README's table."""
    summary = drain.summary
    seconds = drain.drain_seconds
    delivery = drain.delivery
    return {
        "machine": f"{os.cpu_count()} cores, {os.uname().machine}",
        "setting": "provider" if setting.provider else "lean",
        "history_tickets": history.tickets if history else 0,
        "history_open_tickets": history.open_tickets if history else 0,
        "history_outbox_rows": history.outbox if history else 0,
        "history_store_mb": round(history.megabytes, 1) if history else 0,
        "history_build_seconds": round(history.seconds, 1) if history else 0,
        "mails": len(mails),
        "automated": sum(is_automated(raw) for raw in mails),
        "stored": drain.fetched,
        "processed": summary.processed,
        "quarantined": summary.quarantined,
        "send_failures": summary.failed,
        "outgoing_accepted": drain.accepted,
        "outgoing_by_kind": delivery.by_kind if delivery else None,
        "delivery_check": delivery.as_json() if delivery else None,
        "drain_seconds": round(seconds, 2),
        "drain_once_returned_seconds": round(drain.once_seconds, 2),
        "drain_mails_per_second": round(len(mails) / seconds, 1),
        "drain_outgoing_per_second": round(drain.accepted / seconds, 1),
        "startup_seconds": round(drain.prepare_seconds, 2),
        "drain_with_startup_mails_per_second": round(
            len(mails) / (seconds + drain.prepare_seconds), 1
        ),
        "drain_smtp_connections": drain.sessions,
        "drain_cpu_utilisation": round(drain.utilisation, 2),
        "drain_mailbot_cpu_seconds": round(drain.cpu_seconds, 2),
        "drain_forked_cpu_seconds": round(drain.children_cpu, 2),
        "drain_dovecot_cpu_seconds": round(drain.dovecot_cpu, 2),
        "drain_smtp_server_cpu_seconds": round(drain.smtp_cpu, 2),
        "idle_latency_p50_s": _rounded(median(lat.ack), 3),
        "idle_latency_p95_s": round(percentile(lat.ack, 0.95), 3) if lat.ack else None,
        "idle_latency_max_s": round(max(lat.ack), 3) if lat.ack else None,
        "idle_announcement_p50_s": _rounded(median(lat.announcement), 3),
        "idle_latency_samples": len(lat.ack),
        "classifier_mails_per_second": round(classify_rate, 1),
        "drain_peak_rss_mb": round(drain.rss_mb, 1),
        "drain_child_peak_rss_mb": round(drain.child_rss_mb, 1),
        "drain_peak_pss_total_mb": round(drain.pss_mb, 1),
        "run_peak_rss_mb": round(lat.run_rss_mb, 1),
    }


def _rows(result: dict[str, object], prefix: str = "") -> list[tuple[str, str]]:
    """The table's lines: nested results under dotted names, lists on one line."""
    rows: list[tuple[str, str]] = []
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(_rows(value, name + "."))
        elif isinstance(value, list):
            rows.append((name, ", ".join(str(v) for v in value)))
        else:
            rows.append((name, str(value)))
    return rows


def show(result: dict[str, object], path: Path | None) -> None:
    """JSON on stdout, a table on stderr, and the JSON in ``path`` if given."""
    print(json.dumps(result, indent=1))
    rows = _rows(result)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}", file=sys.stderr)
    if path:
        path.write_text(json.dumps(result, indent=1), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--latency", type=int, default=25)
    parser.add_argument("--history", type=int, default=5000, help="mails of history in the store")
    parser.add_argument("--lean", action="store_true", help="the earlier figures' setting")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    setting = Setting(provider=not args.lean)

    smtp = SmtpProcess()  # forked before anything heavy is loaded
    dovecot = start_dovecot()
    work = Path(tempfile.mkdtemp(prefix="mailbot-bench-"))
    try:
        history = None
        if setting.provider and args.history:
            history = build_apart(work, args.history)
        mails = corpus(args.mails, date=datetime.now(ZONE) if setting.provider else None)
        with dovecot.client() as client:
            for raw in mails:
                client.append("INBOX", raw)
        run_dir = work / "drain"
        install(history, run_dir)
        smtp.reset(run_dir / "spool" if setting.provider else None)
        cfg_path = write_config(run_dir, servers_of(dovecot, smtp), setting)
        runtime = Runtime.open(load_config(cfg_path))
        customers = customer_senders(mails) if setting.provider else set()
        drain = measure_drain(runtime, smtp, dovecot, customers)
        classify_rate = classifier_rate(runtime.processor.judge.classifier, mails)
        lat = Latencies([], [], 0.0)
        if args.latency:
            lat = idle_latencies(work, dovecot, smtp, mails, args.latency, setting, history)
        show(figures(setting, history, mails, drain, classify_rate, lat), args.json)
        if drain.delivery is not None and not drain.delivery.ok:
            sys.exit("delivery check failed: " + "; ".join(drain.delivery.problems))
    finally:
        smtp.stop()
        destroy_dovecot(dovecot)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
