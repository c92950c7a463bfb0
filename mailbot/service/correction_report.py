"""``mailbot evaluate --corrections``: how often technicians corrected the bot, per
label field and value, by week or month: the classifier's quality measured on the
mail it really gets.

The denominator is every ticket the bot judged in the period (the ticket table, by
the time it was judged), not only the labelled ones: "corrected 4 of 40" is a rate,
"4 of 6 labelled" only says how often a technician who looked disagreed. A ticket
counts in the period it was judged, whenever it was corrected, so the last period's
figures still grow while technicians work on its tickets. A ticket nobody labelled
counts as not corrected, which may be a silent agreement or nobody looking: the rate
is a floor under the error rate, not the error rate. Monitoring alarms are left out
(their priority is the alarm's state, not a judgement of text).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from mailbot.config import Config
from mailbot.kinds import Direction, LabelField, ReportPeriod
from mailbot.process.corrections import MAIL_LABELS, evidence_labels
from mailbot.store import Correction, Message, Ticket, open_store
from mailbot.triage import Priority, Urgency

__all__ = [
    "CorrectionReport",
    "FieldTally",
    "Tally",
    "correction_report",
    "evaluate_corrections",
    "period_of",
]

#: no deadline / some deadline: a report per date would have a column per day
_NO_DATE, _DATE = "none", "date"
#: the order values are shown in
_VALUES: dict[LabelField, tuple[str, ...]] = {
    LabelField.PRIORITY: tuple(Priority),
    LabelField.URGENCY: tuple(Urgency),
    LabelField.DEADLINE: (_NO_DATE, _DATE),
    LabelField.PLANNED_CHANGE: ("false", "true"),
}


def _bucket(name: LabelField, code: str) -> str:
    if name is LabelField.DEADLINE:
        return _DATE if code else _NO_DATE
    return code


@dataclass
class Tally:
    judged: int = 0
    #: a technician gave a label
    labelled: int = 0
    #: ... and the latest label differs from the bot's
    corrected: int = 0

    def add(self, labelled: bool, corrected: bool) -> None:
        self.judged += 1
        self.labelled += labelled
        self.corrected += corrected

    @property
    def rate(self) -> float:
        return self.corrected / self.judged if self.judged else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "judged": self.judged,
            "labelled": self.labelled,
            "corrected": self.corrected,
            "rate": round(self.rate, 4),
        }


@dataclass
class Counts:
    """The tickets of one field in one period, or over the whole report."""

    total: Tally = field(default_factory=Tally)
    #: by the bot's value
    values: dict[str, Tally] = field(default_factory=dict)
    #: (the bot's value, the technician's) -> labelled tickets
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, bot: str, staff: str | None, corrected: bool) -> None:
        self.total.add(staff is not None, corrected)
        self.values.setdefault(bot, Tally()).add(staff is not None, corrected)
        if staff is not None:
            self.confusion[(bot, staff)] += 1

    def as_json(self, name: LabelField) -> dict[str, Any]:
        values = _shown_values(name, self.values.keys() | {b for b, _ in self.confusion})
        return {
            **self.total.as_json(),
            "values": {v: self.values.get(v, Tally()).as_json() for v in values},
            "confusion": [
                {"bot": bot, "technician": staff, "tickets": n}
                for (bot, staff), n in sorted(self.confusion.items())
            ],
        }


@dataclass
class FieldTally:
    name: LabelField
    overall: Counts = field(default_factory=Counts)
    #: (period, its first day) -> counts, in time order when read by ``periods``
    by_period: dict[tuple[str, date], Counts] = field(default_factory=dict)

    def add(self, period: tuple[str, date], bot_code: str, staff_code: str | None) -> None:
        bot = _bucket(self.name, bot_code)
        staff = None if staff_code is None else _bucket(self.name, staff_code)
        # On the codes, not the buckets: a deadline moved to another day is corrected.
        corrected = staff_code is not None and staff_code != bot_code
        for counts in (self.overall, self.by_period.setdefault(period, Counts())):
            counts.add(bot, staff, corrected)

    def periods(self) -> list[tuple[str, date, Counts]]:
        return [(p, start, c) for (p, start), c in sorted(self.by_period.items(), key=_start)]

    def values(self) -> tuple[str, ...]:
        seen = set(self.overall.values) | {s for _, s in self.overall.confusion}
        return _shown_values(self.name, seen)


def _start(item: tuple[tuple[str, date], Counts]) -> date:
    return item[0][1]


def _shown_values(name: LabelField, seen: set[str]) -> tuple[str, ...]:
    known = _VALUES[name]
    return (*known, *sorted(seen - set(known)))


@dataclass
class CorrectionReport:
    since: date | None
    by: ReportPeriod
    zone: str
    fields: list[FieldTally]

    def as_json(self) -> dict[str, Any]:
        """``evaluate --corrections --json``."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "by": self.by.value,
            "zone": self.zone,
            "fields": [
                {
                    "field": f.name.value,
                    **f.overall.as_json(f.name),
                    "periods": [
                        {"period": p, "start": start.isoformat(), **c.as_json(f.name)}
                        for p, start, c in f.periods()
                    ],
                }
                for f in self.fields
            ],
        }

    def text(self) -> str:
        since = f"since {self.since.isoformat()}" if self.since else "at any time"
        lines = [
            f"Technicians' corrections of the bot: tickets judged {since} ({self.zone}), "
            f"by {self.by.value}",
            "judged: tickets the bot judged in the period; labelled: a technician set the field;",
            "corrected: the technician's last label is not the bot's "
            "(rate = corrected / judged; per value: corrected/judged)",
        ]
        for f in self.fields:
            lines.extend(["", *_field_lines(f)])
        return "\n".join(lines)


def _field_lines(f: FieldTally) -> list[str]:
    t = f.overall.total
    lines = [
        f"{f.name.value}: {t.judged} judged, {t.labelled} labelled, {t.corrected} corrected "
        f"({t.rate:.1%})"
    ]
    values = f.values()
    lines.append(
        f"  {'period':<10} {'judged':>7} {'labelled':>9} {'corrected':>10} {'rate':>7}  "
        + " ".join(f"{v:>10}" for v in values)
    )
    for period, _, c in [*f.periods(), ("all", date.min, f.overall)]:
        cells = " ".join(
            f"{c.values.get(v, Tally()).corrected}/{c.values.get(v, Tally()).judged}".rjust(10)
            for v in values
        )
        lines.append(
            f"  {period:<10} {c.total.judged:>7} {c.total.labelled:>9} "
            f"{c.total.corrected:>10} {c.total.rate:>7.1%}  {cells}"
        )
    lines.append("  confusion of the labelled tickets (rows bot, columns technician): "
                 + " ".join(values))
    for bot in values:
        row = " ".join(f"{f.overall.confusion.get((bot, s), 0):>4}" for s in values)
        lines.append(f"  {bot:<10} {row}")
    return lines


def period_of(moment: datetime, by: ReportPeriod, zone: ZoneInfo) -> tuple[str, date]:
    """The week (ISO, "2026-W48") or month ("2026-11") of ``moment`` in ``zone``, and
    its first day."""
    if moment.tzinfo is None:  # a store's time without its zone is UTC
        moment = moment.replace(tzinfo=UTC)
    day = moment.astimezone(zone).date()
    if by is ReportPeriod.MONTH:
        return f"{day.year}-{day.month:02d}", day.replace(day=1)
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}", day - timedelta(days=day.weekday())


def correction_report(
    session: Session,
    *,
    zone: ZoneInfo,
    since: date | None = None,
    by: ReportPeriod = ReportPeriod.WEEK,
) -> CorrectionReport:
    """Counts per field, value and period of the tickets judged from ``since`` (a day
    in ``zone``) on. The fields are those technicians can label by mail and any other
    that was labelled: a field nobody can correct yet would read as always right."""
    start = datetime.combine(since, time(), zone) if since else None
    opening = (
        select(Message.ticket_id, func.min(Message.id).label("first_id"))
        .where(Message.direction == Direction.IN.value)
        .group_by(col(Message.ticket_id))
        .subquery()
    )
    judged = (
        select(Ticket.id, Ticket.created_at, Message.evidence)
        .join(opening, opening.c.ticket_id == Ticket.id)
        .join(Message, col(Message.id) == opening.c.first_id)
        .where(col(Ticket.alarm_key).is_(None))
    )
    labels = select(Correction.ticket_id, Correction.field, Correction.staff_value).join(
        Ticket, col(Ticket.id) == col(Correction.ticket_id)
    )
    if start is not None:
        judged = judged.where(col(Ticket.created_at) >= start)
        labels = labels.where(col(Ticket.created_at) >= start)
    latest: dict[tuple[int, str], str] = {}
    for ticket_id, name, staff in session.exec(labels.order_by(col(Correction.id))).all():
        latest[(ticket_id, name)] = staff
    shown = MAIL_LABELS | {LabelField(name) for _, name in latest}
    tallies = [FieldTally(f) for f in LabelField if f in shown]
    for judged_id, created_at, evidence in session.exec(judged).all():
        bot = evidence_labels(evidence)
        period = period_of(created_at, by, zone)
        for tally in tallies:
            if tally.name in bot:
                tally.add(period, bot[tally.name], latest.get((judged_id or 0, tally.name.value)))
    return CorrectionReport(since, by, str(zone), tallies)


def evaluate_corrections(
    config: Config, since: date | None, by: ReportPeriod
) -> tuple[str, dict[str, Any]]:
    """``evaluate --corrections``: the report as text and as its JSON."""
    engine = open_store(config.store_url)
    try:
        with Session(engine) as session:
            report = correction_report(
                session, zone=ZoneInfo(config.sla.timezone), since=since, by=by
            )
    finally:
        engine.dispose()
    return report.text(), report.as_json()
