"""A store as months of use leave it, built once per bench run and copied for each
measurement.

The history is made by mailbot itself, not written around it: the labelled mails,
each with its own Message-ID and a Date spread over the past ``days`` (office hours,
every day), go through ``Runtime.ingest`` and ``Runtime.drain`` one day at a time,
with the runtime's clock on that day. So tickets, messages, events, acknowledgements,
announcements and reminders are the rows the code writes, with their indexes. Nothing
is sent while the history is made: every queued mail is then marked sent (as the relay
would have accepted it), and every ticket older than three days is marked solved by a
technician, an event each, as the order of work would have it. A last drain at the
real time queues the reminders still due, marked sent too, so that a benchmark's own
drain finds no old work.

The result is checkpointed into one SQLite file; a run copies it (tens of MB, a
fraction of a second) instead of building it again.
"""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

from sqlalchemy import func, insert, update
from sqlmodel import col, select

from bench._setting import NOTIFY, ZONE, Servers, Setting, corpus, write_config
from mailbot.config import load_config
from mailbot.service import Runtime
from mailbot.service.drain import SendCounts
from mailbot.store import (
    OPEN_STATES,
    Event,
    EventKind,
    Message,
    Outbox,
    OutboxStatus,
    Ticket,
    TicketStatus,
    session_scope,
)

#: tickets younger than this are left as the bot left them (open, waiting)
_STILL_OPEN = timedelta(days=3)
#: the office hours over which a day's mail is spread (local time)
_FIRST_MAIL, _LAST_MAIL = 7.5, 18.0


@dataclass(frozen=True)
class History:
    path: Path
    mails: int
    tickets: int
    open_tickets: int
    messages: int
    outbox: int
    megabytes: float
    seconds: float


class _Clock:
    """The runtime's clock while the history is made: set by the builder."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def _moments(mails: int, days: int) -> list[datetime]:
    """When each mail of the history arrived: ``days`` days back to yesterday, spread
    over each day's office hours (every day of the week: mail comes at weekends too)."""
    today = datetime.now(ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
    per_day = [0] * days
    for k in range(mails):
        per_day[k * days // mails] += 1
    moments: list[datetime] = []
    for d, count in enumerate(per_day):
        first = today - timedelta(days=days - d) + timedelta(hours=_FIRST_MAIL)
        span = timedelta(hours=_LAST_MAIL - _FIRST_MAIL) / max(count, 1)
        moments.extend(first + span * k for k in range(count))
    return moments


def build(folder: Path, mails: int, days: int = 150) -> History:
    """Make the history in ``folder`` and return its file (``folder/history.db``)."""
    t0 = time.perf_counter()
    work = folder / "history"
    config = load_config(write_config(work, Servers(), Setting(provider=True)))
    clock = _Clock()
    runtime = Runtime.open(config, clock=clock)
    moments = _moments(mails, days)
    sources = corpus(mails, tag="history", date=moments)
    k = 0
    while k < mails:
        day = moments[k].date()
        while k < mails and moments[k].date() == day:
            clock.now = moments[k].astimezone(UTC)
            runtime.ingest([sources[k]])
            k += 1
        clock.now += timedelta(minutes=5)
        # Processed and queued; nothing is sent (the counter is nobody's thread).
        runtime.drain(sender=SendCounts())
        _mark_sent(runtime, clock.now)
        # Solved day by day: the reminders' look at open tickets stays as short as
        # a provider's order of work is.
        _solve_older(runtime, clock.now - _STILL_OPEN)
    clock.now = datetime.now(UTC)
    runtime.drain(sender=SendCounts())  # the reminders due by now
    _mark_sent(runtime, clock.now)
    counts = _counts(runtime)
    runtime.close()
    db = work / "mailbot.db"
    path = folder / "history.db"
    _checkpoint(db)
    shutil.copyfile(db, path)
    return History(
        path=path,
        mails=mails,
        tickets=counts[0],
        open_tickets=counts[1],
        messages=counts[2],
        outbox=counts[3],
        megabytes=path.stat().st_size / 1e6,
        seconds=time.perf_counter() - t0,
    )


def _mark_sent(runtime: Runtime, at: datetime) -> None:
    """Every queued mail as the relay accepted it."""
    with session_scope(runtime.engine) as session:
        session.execute(
            update(Outbox)
            .where(col(Outbox.status) == OutboxStatus.QUEUED)
            .values(
                status=OutboxStatus.SENT,
                sent_at=at,
                smtp_reply="250 2.0.0 Ok: queued",
                claimed_by=None,
                claimed_until=None,
            )
        )


def _solve_older(runtime: Runtime, cutoff: datetime) -> None:
    """Tickets older than ``cutoff`` solved by a technician, each with its event."""
    with session_scope(runtime.engine) as session:
        rows = session.exec(
            select(Ticket.id, Ticket.status, Ticket.arrived_at).where(
                col(Ticket.status).in_(OPEN_STATES), col(Ticket.arrived_at) < cutoff
            )
        ).all()
        if not rows:
            return
        events = [
            {
                "ticket_id": ticket_id,
                "inbound_id": None,
                "at": _aware(arrived) + timedelta(days=1),
                "actor": NOTIFY,
                "kind": EventKind.STATUS_CHANGED,
                "detail": f"{status} -> {TicketStatus.SOLVED}",
                "reasons": "[]",
            }
            for ticket_id, status, arrived in rows
        ]
        session.execute(insert(Event), events)
        session.execute(
            update(Ticket)
            .where(col(Ticket.id).in_([r[0] for r in rows]))
            .values(status=TicketStatus.SOLVED)
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _counts(runtime: Runtime) -> tuple[int, int, int, int]:
    with session_scope(runtime.engine) as session:
        tickets = session.exec(select(func.count()).select_from(Ticket)).one()
        still_open = session.exec(
            select(func.count()).select_from(Ticket).where(col(Ticket.status).in_(OPEN_STATES))
        ).one()
        messages = session.exec(select(func.count()).select_from(Message)).one()
        outbox = session.exec(select(func.count()).select_from(Outbox)).one()
    return int(tickets), int(still_open), int(messages), int(outbox)


def _checkpoint(db: Path) -> None:
    """Everything of the WAL into the database file, so the one file is the store."""
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def install(history: History | None, folder: Path) -> Path:
    """A run's store in ``folder``: a copy of the history, or nothing (an empty store
    is made by the run). Returns the database path."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "mailbot.db"
    for stale in (db, folder / "mailbot.db-wal", folder / "mailbot.db-shm"):
        stale.unlink(missing_ok=True)
    if history is not None:
        shutil.copyfile(history.path, db)
    return db


def _build_into(connection: Connection, folder: Path, mails: int, days: int) -> None:
    connection.send(build(folder, mails, days))


def build_apart(folder: Path, mails: int, days: int = 150) -> History:
    """:func:`build` in a process of its own: the classifier it loads and the memory
    it peaks at stay out of the measured process."""
    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=_build_into, args=(theirs, folder, mails, days))
    child.start()
    history: History = ours.recv()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"building the history failed (exit {child.exitcode})")
    return history
