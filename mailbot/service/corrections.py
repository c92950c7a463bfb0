"""Technicians' corrections read back from the store: as labelled examples for review
(``mailbot corrections export``) and for training (``mailbot train
--with-corrections``). The counts of ``mailbot evaluate --corrections`` are in
:mod:`.correction_report`.

A ticket labelled more than once counts with its latest label: the technician's last
word on what the bot should have judged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mailbot.classify import MODEL_FIELDS, LabelledExample, LabelledMail, example_line
from mailbot.config import Config
from mailbot.kinds import LabelField
from mailbot.store import Correction, Ticket, open_store

__all__ = [
    "FoldedCorrections",
    "corrections_to_fold",
    "example_id",
    "export_examples",
    "export_from_store",
    "labelled_examples",
    "training_corrections",
]


def example_id(number: int, field: LabelField) -> str:
    """A correction's id as an example: its ticket and field, so that the same
    correction exported twice, or reviewed into ``models/train``, keeps one id."""
    return f"correction-{number}-{field.value}"


def labelled_examples(
    session: Session,
    fields: Iterable[LabelField] = tuple(LabelField),
    since: datetime | None = None,
) -> list[LabelledExample]:
    """The latest label of each ticket and field among ``fields``, by ticket number and
    then field; ``since``: only labels given from then on."""
    wanted = [f.value for f in fields]
    rows = session.exec(
        select(Correction, Ticket.number)
        .join(Ticket, col(Ticket.id) == col(Correction.ticket_id))
        .where(col(Correction.field).in_(wanted))
        .order_by(col(Correction.id))
    ).all()
    latest: dict[tuple[int, str], tuple[Correction, int]] = {}
    for correction, number in rows:
        latest[(number, correction.field)] = (correction, number)
    order = {f.value: i for i, f in enumerate(LabelField)}
    examples: list[LabelledExample] = []
    for (_, name), (c, number) in sorted(latest.items(), key=lambda k: (k[0][0], order[k[0][1]])):
        if since is not None and c.at < since:
            continue
        field = LabelField(name)
        examples.append(
            LabelledExample(
                id=example_id(number, field),
                language=c.language,
                subject=c.subject,
                body=c.text,
                field=field,
                label=c.staff_value,
                bot=c.bot_value,
            )
        )
    return examples


def export_examples(examples: Sequence[LabelledExample], out: TextIO) -> int:
    """The examples as JSON lines, in the shape of ``models/train/*.jsonl``; returns
    how many were written."""
    for example in examples:
        out.write(example_line(example) + "\n")
    return len(examples)


@dataclass(frozen=True)
class FoldedCorrections:
    """What ``train --with-corrections`` takes from the store."""

    #: the planned-change labels, as training mails
    mails: tuple[LabelledMail, ...]
    #: corrections of fields no trained model decides, by field: for export and review
    rules_only: dict[LabelField, int]


def training_corrections(engine: Engine) -> FoldedCorrections:
    """The corrections a trained model can learn from, and how many others there are."""
    with Session(engine) as session:
        examples = labelled_examples(session)
    mails = tuple(e.training_mail() for e in examples if e.field in MODEL_FIELDS)
    others: dict[LabelField, int] = {}
    for e in examples:
        if e.field not in MODEL_FIELDS:
            others[e.field] = others.get(e.field, 0) + 1
    return FoldedCorrections(mails, others)


def corrections_to_fold(config: Config) -> tuple[tuple[LabelledMail, ...], list[str]]:
    """``train --with-corrections``: the training mails from the store's corrections,
    and lines for the operator on what was taken in and what was not."""
    engine = open_store(config.store_url)
    try:
        folded = training_corrections(engine)
    finally:
        engine.dispose()
    notes = [f"technicians' corrections taken in: {len(folded.mails)} planned-change labels"]
    for name, count in sorted(folded.rules_only.items()):
        notes.append(
            f"{count} {name.value} labels not taken in: rules alone decide {name.value}; "
            f"review them: mailbot corrections export --field {name.value}"
        )
    return folded.mails, notes


def export_from_store(
    config: Config,
    fields: Sequence[LabelField],
    since: date | None,
    path: Path | None,
    out: TextIO,
) -> int:
    """``corrections export``: the labels given from the day ``since`` on (in the
    service's zone), to ``path``, else to ``out``; how many were written."""
    start = datetime.combine(since, time(), ZoneInfo(config.sla.timezone)) if since else None
    engine = open_store(config.store_url)
    try:
        with Session(engine) as session:
            examples = labelled_examples(session, fields, start)
    finally:
        engine.dispose()
    if path is None:
        return export_examples(examples, out)
    with path.open("w", encoding="utf-8") as handle:
        return export_examples(examples, handle)
