"""Benchmark of the whole pipeline on real servers on loopback.

Starts Dovecot and a recording SMTP server, loads N mails (default 1,000) into the
INBOX, and measures:

- drain: mails per second from the start of the fetch until the SMTP server has
  accepted every acknowledgement (``Runtime.fetch_all`` + ``drain`` in this process);
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
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailbot.config import load_config  # noqa: E402
from mailbot.runtime import Runtime  # noqa: E402
from tests.servers import SmtpServer, destroy_dovecot, start_dovecot  # noqa: E402


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
""",
        encoding="utf-8",
    )
    return path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--latency", type=int, default=25)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    dovecot = start_dovecot()
    smtp = SmtpServer()
    smtp.start()
    work = Path(tempfile.mkdtemp(prefix="mailbot-bench-"))
    try:
        mails = corpus(args.mails)
        automated = 0
        for raw in mails:
            msg = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
            if (
                msg["Auto-Submitted"]
                or msg["List-Id"]
                or msg["Precedence"]
                or "monitoring@" in str(msg["From"])
                or "mailer-daemon" in str(msg["From"]).lower()
            ):
                automated += 1
        with dovecot.client() as client:
            for raw in mails:
                client.append("INBOX", raw)
        cfg_path = config_file(
            work, dovecot.host, dovecot.port, dovecot.user, dovecot.password, smtp.port
        )
        config = load_config(cfg_path)
        runtime = Runtime.open(config)
        _ = runtime.processor  # the classifier is loaded before the clock starts

        from mailbot.fetch import fetch_new

        box = config.imap[0]
        start = time.perf_counter()
        fetched = fetch_new(box, runtime.engine, initial_scan_all=True).stored
        fetch_done = time.perf_counter()
        processed = runtime.processor.process_pending()
        process_done = time.perf_counter()
        _, failed = runtime.send_due()
        drained = time.perf_counter()
        acks = sum(1 for r in smtp.received)
        drain_seconds = drained - start
        drain_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        # Classifier alone, on the same mails' new text.
        from mailbot.parse import parse_message
        from mailbot.quotes import new_text

        texts = []
        for raw in mails:
            parsed = parse_message(raw)
            texts.append((parsed.subject, new_text(parsed.text), parsed.date))
        clf = runtime.processor.judge.classifier
        t0 = time.perf_counter()
        for subject, body, date in texts:
            clf.classify(subject, body, date or __import__("datetime").datetime.now().astimezone())
        classify_rate = len(texts) / (time.perf_counter() - t0)
        runtime.engine.dispose()

        # Idle latency: a separate `mailbot run` process waiting in IDLE.
        latencies: list[float] = []
        run_rss_mb = 0.0
        if args.latency:
            dovecot.clean()
            smtp.handler.reset()
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
            try:
                time.sleep(8)  # classifier loaded, first fetch done, IDLE entered
                customers = [
                    m
                    for m in mails
                    if b"monitoring@" not in m
                    and b"List-Id" not in m
                    and b"Auto-Submitted" not in m
                    and b"Return-Path: <>" not in m
                    and b"Precedence" not in m
                ]
                for i in range(args.latency):
                    raw = customers[i % len(customers)].replace(
                        b"@bench.example>", f".lat{i}@bench.example>".encode(), 1
                    )
                    before = len(smtp.received)
                    t_append = time.perf_counter()
                    dovecot.append(raw)
                    while len(smtp.received) <= before and time.perf_counter() - t_append < 60:
                        time.sleep(0.005)
                    latencies.append(time.perf_counter() - t_append)
                    time.sleep(0.3)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
            run_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        result = {
            "machine": f"{os.cpu_count()} cores, {os.uname().machine}",
            "mails": len(mails),
            "automated": automated,
            "stored": fetched,
            "processed": processed.processed,
            "quarantined": processed.quarantined,
            "send_failures": failed,
            "acknowledgements": acks,
            "fetch_seconds": round(fetch_done - start, 2),
            "process_seconds": round(process_done - fetch_done, 2),
            "send_seconds": round(drained - process_done, 2),
            "drain_seconds": round(drain_seconds, 2),
            "drain_mails_per_second": round(len(mails) / drain_seconds, 1),
            "idle_latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
            "idle_latency_p95_s": round(percentile(latencies, 0.95), 3) if latencies else None,
            "idle_latency_max_s": round(max(latencies), 3) if latencies else None,
            "idle_latency_samples": len(latencies),
            "classifier_mails_per_second": round(classify_rate, 1),
            "drain_peak_rss_mb": round(drain_rss_mb, 1),
            "run_peak_rss_mb": round(run_rss_mb, 1),
        }
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
