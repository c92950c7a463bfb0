"""Staff mail folded into one summary while the relay's limit holds it back.

Under ``[smtp] max_per_minute`` the outbox goes most important first, so the
announcements of new tickets and the reminders to ``[staff] notify`` wait behind
every customer's mail. A hundred of them sent one by one later would spend the
relay's minute on mail a technician reads as one list anyway; while they are held
back, the ones waiting are folded into one summary mail, at most one a minute,
and each folded row says which summary carried it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from mailbot.config import Config
from mailbot.kinds import FOLDABLE_KINDS, EventKind, OutboxKind, OutboxStatus
from mailbot.outbound._limits import aware, budget, lock_for_limits
from mailbot.outbound.outgoing import Outgoing
from mailbot.outbound.render import Renderer
from mailbot.store import (
    Outbox,
    Setting,
    StoredAttachment,
    Ticket,
    pending_events,
    session_scope,
)

#: at most one summary in this time, across the workers of the store
EVERY = timedelta(minutes=1)
_LAST = "staff_summary_at"

_OUTBOX = Outbox.__table__  # type: ignore[attr-defined]
_TICKET = Ticket.__table__  # type: ignore[attr-defined]
_ATTACHMENT = StoredAttachment.__table__  # type: ignore[attr-defined]
#: the files of the ticket: a folded announcement did not carry them to anybody
_FILES = (
    sa_select(func.count())
    .where(_ATTACHMENT.c.ticket_id == _OUTBOX.c.ticket_id)
    .scalar_subquery()
    .label("files")
)
_FREE = or_(_OUTBOX.c.claimed_until.is_(None), _OUTBOX.c.claimed_until < bindparam("now"))
_DUE = and_(
    _OUTBOX.c.status == OutboxStatus.QUEUED, _OUTBOX.c.next_attempt_at <= bindparam("now"), _FREE
)
_COUNT_DUE = sa_select(func.count()).where(_DUE)
_FOLDABLE = (
    sa_select(
        _OUTBOX.c.id, _OUTBOX.c.kind, _OUTBOX.c.ticket_id, _TICKET.c.number, _TICKET.c.priority,
        _TICKET.c.subject, _TICKET.c.customer_name, _TICKET.c.customer_address,
        _TICKET.c.due_at, _FILES,
    )
    .join(_TICKET, _TICKET.c.id == _OUTBOX.c.ticket_id, isouter=True)
    .where(
        _DUE,
        _OUTBOX.c.kind.in_([str(kind) for kind in FOLDABLE_KINDS]),
        _OUTBOX.c.to_address == bindparam("notify"),
    )
    .order_by(_OUTBOX.c.id)
)
_COUNT_FOLDABLE = sa_select(func.count()).select_from(_FOLDABLE.subquery())


@dataclass(frozen=True)
class Entry:
    """One folded mail, as the summary lists it."""

    kind: OutboxKind
    number: int | None
    priority: str
    subject: str
    customer: str
    due_at: datetime | None
    #: files of an announcement's ticket, which the summary names but does not carry
    files: int = 0


class StaffSummary:
    """Folds the staff mail the limit holds back (see the module's text)."""

    def __init__(self, config: Config, engine: Engine, renderer: Renderer | None = None) -> None:
        self.config = config
        self.engine = engine
        self.renderer = renderer or Renderer()
        self.outgoing = Outgoing(config)

    def fold(self, now: datetime) -> int:
        """Fold the waiting staff mail into one summary if the limit holds it back
        and no summary went out in the last minute; the number of mails folded."""
        smtp, notify = self.config.smtp, (self.config.staff.notify or "").lower()
        if smtp is None or not smtp.max_per_minute or not notify:
            return 0
        # Every capped round asks; a plain read first, so that a round with nothing to
        # fold does not take the store's write turn.
        with self.engine.connect() as reader:
            waiting = reader.execute(_COUNT_FOLDABLE, {"now": now, "notify": notify}).scalar_one()
        if int(waiting) < 2:  # one alone goes out as it is
            return 0
        with session_scope(self.engine) as session:
            connection = session.connection()
            lock_for_limits(connection)
            if not self._due_for_summary(session, connection, now, smtp.max_per_minute):
                return 0
            rows = connection.execute(_FOLDABLE, {"now": now, "notify": notify}).all()
            if len(rows) < 2:  # one alone goes out as it is
                return 0
            entries = [_entry(row) for row in rows]
            queued = self._queue(session, entries, notify, now)
            note = f"folded into summary {queued}"
            ids = [row.id for row in rows]
            connection.execute(
                _OUTBOX.update()
                .where(_OUTBOX.c.id.in_(ids), _OUTBOX.c.status == OutboxStatus.QUEUED)
                .values(status=OutboxStatus.FOLDED, smtp_reply=note, claimed_by=None,
                        claimed_until=None)
            )
            events = pending_events(session)
            for row in rows:
                events.append(_event(row.id, row.ticket_id, now, note))
            _mark(session, now)
        return len(rows)

    def _due_for_summary(
        self, session: Session, connection: Connection, now: datetime, max_per_minute: int
    ) -> bool:
        last = session.get(Setting, _LAST)
        if last is not None and last.value and now - datetime.fromisoformat(last.value) < EVERY:
            return False
        waiting = int(connection.execute(_COUNT_DUE, {"now": now}).scalar_one())
        # Held back: more is due than the limit lets the routine ranks send now.
        return waiting > budget(connection, now, max_per_minute).routine

    def _queue(self, session: Session, entries: list[Entry], notify: str, now: datetime) -> str:
        lang = self.config.staff.language
        zone = self.config.sla.zone
        context = {
            "entries": entries,
            "zone": zone,
            "max_per_minute": self.config.smtp.max_per_minute if self.config.smtp else 0,
            "service_address": self.config.service.address,
        }
        out = self.outgoing.queue(
            session,
            kind=OutboxKind.SUMMARY,
            ticket=None,
            to=[notify],
            subject=self.renderer.subject("summary", lang, **context),
            body=self.renderer.render("summary", lang, title=f"{len(entries)}", **context),
            now=now,
            auto_reply=False,
        )
        return out.message_id


def _entry(row: object) -> Entry:
    values = row._mapping  # type: ignore[attr-defined]
    due = values["due_at"]
    return Entry(
        kind=OutboxKind(values["kind"]),
        number=values["number"],
        priority=values["priority"] or "",
        subject=values["subject"] or "",
        customer=values["customer_name"] or values["customer_address"] or "",
        due_at=aware(due) if due is not None else None,
        files=int(values["files"] or 0) if values["kind"] == OutboxKind.NOTIFY else 0,
    )


def _event(outbox_id: int, ticket_id: int | None, now: datetime, note: str) -> dict[str, object]:
    return {
        "ticket_id": ticket_id, "inbound_id": None, "at": now, "actor": "send",
        "kind": EventKind.STAFF_MAIL_FOLDED, "detail": f"outbox {outbox_id} {note}",
        "reasons": "[]",
    }


def _mark(session: Session, now: datetime) -> None:
    setting = session.get(Setting, _LAST) or Setting(key=_LAST)
    setting.value = now.isoformat()
    setting.updated_at = now
    session.add(setting)
