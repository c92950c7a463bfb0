"""Time of ``evaluate --corrections`` and of the export on a large store (one JSON line).

A fresh SQLite store (a temporary folder) gets N tickets over 26 weeks, each with an
opening message whose evidence is the bot's judgement, and a label by a technician
on one ticket in twenty (a third of them agreeing with the bot); the rows are written
with bulk INSERTs, not through the pipeline, which only the report's reading needs.
The figures are the median of three timed passes.

Run: .venv/bin/python bench/bench_corrections.py [N]   (default 50,000)
"""

from __future__ import annotations

import io
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert
from sqlmodel import Session

from mailbot.kinds import CorrectionSource, Direction, LabelField, ReportPeriod
from mailbot.service.correction_report import correction_report
from mailbot.service.corrections import export_examples, labelled_examples
from mailbot.store import Correction, Message, Ticket, open_store

PRIORITIES = ("critical", "normal", "low")
START = datetime(2026, 6, 1, 8, tzinfo=UTC)
TEXT = "Der Drucker im zweiten Stock zieht das Papier schief ein. " * 6


def fill(url: str, n: int) -> int:
    """N judged tickets, one in twenty labelled; the number of labels."""
    rng = random.Random(0)
    engine = open_store(url)
    tickets, messages, labels = [], [], []
    for i in range(1, n + 1):
        at = START + timedelta(seconds=int(i * 26 * 7 * 86400 / n))
        bot = rng.choice(PRIORITIES)
        tickets.append({"id": i, "number": 1000 + i, "subject": f"Ticket {i}", "priority": bot,
                        "created_at": at, "updated_at": at, "arrived_at": at})
        evidence = {"priority": bot, "urgency": "none", "deadline": None,
                    "planned_change": False, "language": "de", "reasons": ["…"] * 3}
        messages.append({"id": i, "ticket_id": i, "direction": Direction.IN.value,
                         "subject": f"Ticket {i}", "text": TEXT, "created_at": at,
                         "evidence": json.dumps(evidence)})
        if i % 20 == 0:
            staff = bot if i % 60 == 0 else rng.choice([p for p in PRIORITIES if p != bot])
            labels.append({"ticket_id": i, "field": LabelField.PRIORITY.value,
                           "bot_value": bot, "before_value": bot, "staff_value": staff,
                           "source": CorrectionSource.COMMAND.value, "actor": "t@x.example",
                           "message_id": i, "language": "de", "subject": f"Ticket {i}",
                           "text": TEXT, "at": at + timedelta(hours=2)})
    with engine.begin() as connection:
        connection.execute(insert(Ticket), tickets)
        connection.execute(insert(Message), messages)
        connection.execute(insert(Correction), labels)
    engine.dispose()
    return len(labels)


def timed(run: Callable[[], object]) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    zone = ZoneInfo("Europe/Berlin")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        labelled = fill(url, n)
        engine = open_store(url)
        with Session(engine) as session:
            weekly = timed(lambda: correction_report(session, zone=zone))
            monthly = timed(
                lambda: correction_report(session, zone=zone, by=ReportPeriod.MONTH).text()
            )
            export = timed(lambda: export_examples(labelled_examples(session), io.StringIO()))
            report = correction_report(session, zone=zone).as_json()["fields"][0]
        engine.dispose()
    print(json.dumps({
        "tickets": n,
        "labelled": labelled,
        "corrected": report["corrected"],
        "weeks": len(report["periods"]),
        "report_weekly_s": round(weekly, 3),
        "report_monthly_text_s": round(monthly, 3),
        "export_s": round(export, 3),
    }))


if __name__ == "__main__":
    main()
