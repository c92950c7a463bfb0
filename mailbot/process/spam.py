"""Spam: held, listed once a day to the technicians, released by one of them.

A mail our receiving server judged spam, or whose sender it found forged, is stored
(the raw bytes stay in ``inbound``, as for every mail) and marked held; it gets no
ticket and no acknowledgement: an answer to a forged sender is backscatter, which
puts the provider's domain on blocklists. Once a day, at ``[spam] notice_at``, the
spam held since the last notice goes to ``[staff] notify`` with its IDs. A verified
technician's reply to that notice with ``#kein-spam ID`` (or ``mailbot spam release
ID``) releases a mail: it is processed again as a customer's mail, its reaction time
counting from the release, and acknowledged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from mailbot.config import Config
from mailbot.errors import ParseError
from mailbot.mail import headers as hdr
from mailbot.mail.auth import staff_authenticated
from mailbot.mail.commands import CommandName, scan
from mailbot.mail.parse import ParsedMail, parse_message
from mailbot.outbound.outgoing import Outgoing
from mailbot.outbound.render import Renderer
from mailbot.process.tickets import record
from mailbot.store import (
    Event,
    EventKind,
    Inbound,
    InboundDisposition,
    InboundStatus,
    Outbox,
    OutboxKind,
    Setting,
    Ticket,
    session_scope,
)

if TYPE_CHECKING:
    from mailbot.process.turn import Outcome, Turn

#: the Setting that holds when the last spam notice was made
NOTICE_MARK = "spam_notice"


def hold(turn: Turn) -> Outcome:
    """Spam: kept, recorded with the header that decided, never answered."""
    verdict = turn.j.spam
    turn.record(
        kind=EventKind.SPAM,
        actor=verdict.source.value if verdict.source else "spam",
        detail=verdict.reason,
        reasons=[verdict.header],
    )
    return turn.processed(detail=f"spam: {verdict.reason}", disposition=InboundDisposition.SPAM)


def note_ignored(turn: Turn, config: Config, ticket: Ticket) -> None:
    """Verdict headers not read (written below our MX's Received, or no ``[spam] mx``
    to tell) are recorded on the ticket, so nobody wonders why a flag did nothing."""
    ignored = turn.j.spam.ignored
    if not ignored:
        return
    if config.spam.mx:
        why = "not read: below our server's Received line, they came with the mail"
    else:
        why = "not read: [spam] mx is not set, so our server's copy cannot be told apart"
    turn.record(
        kind=EventKind.SPAM_HEADERS_IGNORED,
        actor="process",
        ticket=ticket,
        detail=why,
        reasons=ignored,
    )


# -- releasing -----------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    inbound_id: int
    done: bool
    #: why not, when not
    reason: str = ""


def release(
    session: Session, inbound_id: int, *, actor: str, now: datetime, evidence: list[str]
) -> Release:
    """Mark held mail released and new again: the next processing takes it as a
    customer's mail. Anything but held spam is refused with the reason."""
    row = session.exec(
        select(Inbound).where(Inbound.id == inbound_id).with_for_update()
    ).first()
    if row is None:
        return Release(inbound_id, False, "no such mail")
    if row.disposition != InboundDisposition.SPAM or row.status != InboundStatus.PROCESSED:
        state = row.disposition or row.status
        return Release(inbound_id, False, f"not held as spam ({state})")
    row.status = InboundStatus.NEW.value
    row.disposition = InboundDisposition.RELEASED.value
    row.released_at = now
    session.add(row)
    record(
        session,
        kind=EventKind.SPAM_RELEASED,
        actor=actor,
        inbound_id=inbound_id,
        detail="no spam: processed again as a customer's mail",
        reasons=evidence,
    )
    return Release(inbound_id, True)


def answered_notice(session: Session, mail: ParsedMail) -> Outbox | None:
    """The spam notice ``mail`` replies to, if it replies to one."""
    ids = [i for i in (mail.in_reply_to, *mail.references) if i]
    if not ids:
        return None
    return session.exec(
        select(Outbox).where(
            col(Outbox.message_id).in_(ids), Outbox.kind == OutboxKind.SPAM_NOTICE
        )
    ).first()


def spam_command(turn: Turn, config: Config, notice: Outbox) -> Outcome:
    """A technician's reply to the spam notice: each ``#kein-spam`` ID is released,
    if our server vouches for the technician (a forged reply must not let spam out)."""
    session, sender, inbound_id = turn.session, turn.mail.from_addr, turn.row.id
    commands = scan(turn.j.body)
    wanted = [c for c in commands.commands if c.name == CommandName.NOT_SPAM]
    verdict = staff_authenticated(turn.mail, config)
    if not verdict.authenticated:
        record(
            session,
            kind=EventKind.STAFF_UNVERIFIED,
            actor="auth",
            inbound_id=inbound_id,
            detail=f"nothing released: {verdict.reason}",
            reasons=[c.line for c in wanted],
        )
        return turn.processed(detail="unverified reply to the spam notice")
    record(session, kind=EventKind.STAFF_VERIFIED, actor="auth", inbound_id=inbound_id,
           detail=verdict.reason)
    released: list[int] = []
    refused = list(commands.unknown)
    for command in wanted:
        for held_id in command.ids:
            evidence = [command.line, f"reply to the spam notice {notice.message_id}"]
            done = release(session, held_id, actor=sender, now=turn.now, evidence=evidence)
            if done.done:
                released.append(held_id)
            else:
                refused.append(f"{command.line}: {held_id} {done.reason}")
    if refused:
        record(session, kind=EventKind.COMMANDS_UNKNOWN, actor=sender, inbound_id=inbound_id,
               detail="not understood or not released", reasons=refused)
    detail = f"released {', '.join(map(str, released))}" if released else "nothing released"
    return turn.processed(detail=detail, released=tuple(released))


# -- what is held ----------------------------------------------------------------------


@dataclass(frozen=True)
class HeldMail:
    """One mail held as spam (or released), as the spam list and the notice show it."""

    id: int
    received_at: datetime
    sender: str
    subject: str
    #: the verdict in words and the header that decided
    reason: str
    header: str
    disposition: str


def held_mail(
    session: Session,
    *,
    since: datetime | None = None,
    dispositions: tuple[InboundDisposition, ...] = (InboundDisposition.SPAM,),
) -> list[HeldMail]:
    """Mail held as spam (by default), oldest first; ``since``: processed after then."""
    query = select(Inbound).where(col(Inbound.disposition).in_(dispositions))
    if since is not None:
        query = query.where(col(Inbound.processed_at) > since)
    rows = session.exec(query.order_by(col(Inbound.id))).all()
    ids = [r.id for r in rows if r.id is not None]
    verdicts: dict[int | None, Event] = {}
    if ids:
        for event in session.exec(
            select(Event)
            .where(col(Event.inbound_id).in_(ids), Event.kind == EventKind.SPAM)
            .order_by(col(Event.id))
        ).all():
            verdicts[event.inbound_id] = event  # the latest verdict of each
    found = []
    for row in rows:
        assert row.id is not None
        sender, subject = sender_and_subject(row.raw)
        verdict = verdicts.get(row.id)
        evidence = json.loads(verdict.reasons or "[]") if verdict is not None else []
        header = str(evidence[0]) if evidence else ""
        found.append(
            HeldMail(
                id=row.id,
                received_at=row.received_at,
                sender=sender,
                subject=subject,
                reason=verdict.detail if verdict is not None else "",
                header=header,
                disposition=row.disposition or "",
            )
        )
    return found


def sender_and_subject(raw: bytes) -> tuple[str, str]:
    """The sender and subject of a stored mail, read from its header block alone."""
    end = hdr.HEADER_END.search(raw[: 1 << 20])
    head = raw[: end.end()] if end else raw[: 1 << 16]
    try:
        mail = parse_message(head)
    except ParseError:
        return "?", ""
    return mail.from_addr or "?", hdr.clean(mail.subject, 200)


# -- the daily notice ------------------------------------------------------------------


def notice_spam(
    config: Config, engine: Engine, renderer: Renderer, now: datetime
) -> int:
    """Once a day, from ``[spam] notice_at`` on: the spam held since the last notice to
    ``[staff] notify``. The number of mails listed (0: none, or not due yet).

    A mark in the store makes it once a day across restarts and workers: the mark is
    locked while it is read, and the second of two workers that both found none fails
    to insert it and sends nothing.
    """
    notify = config.staff.notify
    if not notify:
        return 0
    zone = ZoneInfo(config.sla.timezone)
    local = now.astimezone(zone)
    if local.time() < config.spam.notice_at:
        return 0
    # Asked after every drain: a plain read first, so that a day already noticed
    # costs no write turn.
    with Session(engine) as reader:
        if _noticed_on(reader.get(Setting, NOTICE_MARK), zone) >= local.date():
            return 0
    try:
        with session_scope(engine) as session:
            mark = session.exec(
                select(Setting).where(Setting.key == NOTICE_MARK).with_for_update()
            ).first()
            if _noticed_on(mark, zone) >= local.date():
                return 0
            last = datetime.fromisoformat(mark.value) if mark is not None and mark.value else None
            held = held_mail(session, since=last or now - timedelta(days=1))
            mark = mark or Setting(key=NOTICE_MARK)
            mark.value, mark.updated_at = now.isoformat(), now
            session.add(mark)
            if held:
                _queue_notice(session, config, renderer, held, now, zone)
            return len(held)
    except IntegrityError:
        return 0  # another worker made today's notice at the same moment


def _noticed_on(mark: Setting | None, zone: ZoneInfo) -> date:
    """The local day of the last notice; long ago when there was none."""
    if mark is None or not mark.value:
        return date.min
    return datetime.fromisoformat(mark.value).astimezone(zone).date()


def _queue_notice(
    session: Session,
    config: Config,
    renderer: Renderer,
    held: list[HeldMail],
    now: datetime,
    zone: ZoneInfo,
) -> None:
    assert config.staff.notify is not None
    lang = config.staff.language
    context = {"entries": held, "zone": zone, "service_address": config.service.address}
    out = Outgoing(config).queue(
        session,
        kind=OutboxKind.SPAM_NOTICE,
        ticket=None,
        to=[config.staff.notify],
        subject=renderer.subject("spam_notice", lang, **context),
        body=renderer.render("spam_notice", lang, title="Spam", **context),
        now=now,
        auto_reply=False,
    )
    record(
        session,
        kind=EventKind.SPAM_NOTICE_QUEUED,
        actor="process",
        detail=f"{out.message_id} to {config.staff.notify}",
        reasons=[str(h.id) for h in held],
    )
