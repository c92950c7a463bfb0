"""Intake: raw bytes become a durable ``inbound`` row, exactly once.

Both IMAP fetch and ``mailbot ingest`` come through here. Nothing is parsed beyond
the Message-ID header, so even mail that nothing else can read is kept.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from mailbot.store import Inbound

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MSGID_LINE = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
#: enough for any sane header block; hostile mail with megabytes of headers is cut here
_HEADER_SCAN_LIMIT = 256 * 1024


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def header_message_id(raw: bytes) -> str:
    """The Message-ID as written, or "" (no full parse: this must never fail)."""
    head = raw[:_HEADER_SCAN_LIMIT]
    end = _HEADER_END.search(head)
    if end:
        head = head[: end.start()]
    match = _MSGID_LINE.search(head)
    if not match:
        return ""
    value = re.sub(rb"\s+", b"", match.group(1)).decode("ascii", "replace")
    return value[:998]


def dedup_key(message_id: str, chash: str) -> str:
    return hashlib.sha256(f"{message_id.strip().lower()}\0{chash}".encode()).hexdigest()


def store_raw(
    session: Session,
    raw: bytes,
    *,
    mailbox: str = "ingest",
    uidvalidity: int | None = None,
    uid: int | None = None,
    received_at: datetime | None = None,
) -> tuple[Inbound, bool]:
    """Insert the message unless it is already stored; returns (row, created).

    Duplicates are recognised by (mailbox, UIDVALIDITY, UID) and by Message-ID
    plus content hash, so a re-scan after a UIDVALIDITY change adds nothing.
    """
    chash = content_hash(raw)
    msgid = header_message_id(raw)
    key = dedup_key(msgid, chash)
    existing = session.exec(select(Inbound).where(Inbound.dedup_key == key)).first()
    if existing is not None:
        return existing, False
    if uid is not None:
        same_uid = session.exec(
            select(Inbound).where(
                Inbound.mailbox == mailbox,
                Inbound.uidvalidity == uidvalidity,
                Inbound.uid == uid,
            )
        ).first()
        if same_uid is not None:
            return same_uid, False
    row = Inbound(
        mailbox=mailbox,
        uidvalidity=uidvalidity,
        uid=uid,
        message_id=msgid,
        content_hash=chash,
        dedup_key=key,
        raw=raw,
        size=len(raw),
    )
    if received_at is not None:
        row.received_at = received_at
    # A concurrent worker may insert the same mail between our check and insert;
    # the unique constraints decide, and the loser takes the winner's row.
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        winner = session.exec(select(Inbound).where(Inbound.dedup_key == key)).first()
        if winner is None and uid is not None:
            winner = session.exec(
                select(Inbound).where(
                    Inbound.mailbox == mailbox,
                    Inbound.uidvalidity == uidvalidity,
                    Inbound.uid == uid,
                )
            ).first()
        if winner is None:
            raise
        return winner, False
    return row, True
