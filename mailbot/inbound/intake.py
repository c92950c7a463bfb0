"""Intake: raw bytes become a durable ``inbound`` row, exactly once.

Both IMAP fetch and ``mailbot ingest`` come through here. Nothing is parsed beyond
the Message-ID header, so even mail that nothing else can read is kept.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import nullcontext
from datetime import datetime

from sqlalchemy import and_, bindparam, or_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailbot.mail.headers import HEADER_END
from mailbot.store import (
    Inbound,
    InboundStatus,
    Prepared,
    QuarantineReason,
    prepared_insert,
    utcnow,
)

_MSGID_LINE = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
#: enough for any sane header block; hostile mail with megabytes of headers is cut here
_HEADER_SCAN_LIMIT = 256 * 1024


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def header_message_id(raw: bytes) -> str:
    """The Message-ID as written, or "" (no full parse: this must never fail)."""
    head = raw[:_HEADER_SCAN_LIMIT]
    end = HEADER_END.search(head)
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
    status: InboundStatus = InboundStatus.NEW,
    error: str = "",
    quarantine_reason: QuarantineReason | None = None,
) -> tuple[int, bool]:
    """Insert the message unless it is already stored; returns (inbound id, created).

    Duplicates are recognised by (mailbox, UIDVALIDITY, UID) and by Message-ID
    plus content hash, so a re-scan after a UIDVALIDITY change adds nothing. The row
    is written with a Core INSERT: building an ORM object per mail cost more than
    the INSERT itself.
    """
    chash = content_hash(raw)
    msgid = header_message_id(raw)
    key = dedup_key(msgid, chash)
    where = {"key": key, "mailbox": mailbox, "uidvalidity": uidvalidity, "uid": uid}
    connection = session.connection()
    found = _KNOWN.first(connection, where)
    if found is not None:
        return int(found[0]), False
    values = {
        "mailbox": mailbox,
        "uidvalidity": uidvalidity,
        "uid": uid,
        "message_id": msgid,
        "content_hash": chash,
        "dedup_key": key,
        "raw": raw,
        "size": len(raw),
        "received_at": received_at or utcnow(),
        "status": status,
        "error": error,
        "quarantine_reason": quarantine_reason,
        "attempts": 0,
        "processed_at": None,
        "claimed_by": None,
        "claimed_until": None,
    }
    # A concurrent worker may insert the same mail between our check and insert;
    # the unique constraints decide, and the loser takes the winner's row. PostgreSQL
    # aborts the whole transaction on a failed statement unless a savepoint holds it;
    # SQLite fails the statement only (and serialises writers anyway).
    guard = session.begin_nested() if connection.dialect.name != "sqlite" else nullcontext()
    try:
        with guard:
            # Through the session: that is where a pending SAVEPOINT is emitted.
            new_id = _INSERT.insert(session.connection(), values)
    except IntegrityError:
        winner = _KNOWN.first(connection, where)
        if winner is None:
            raise
        return int(winner[0]), False
    return new_id, True


_INBOUND = Inbound.__table__  # type: ignore[attr-defined]
_INSERT = prepared_insert(Inbound)
#: the stored twin of a mail: same Message-ID and content, or the same UID
_KNOWN = Prepared(
    sa_select(_INBOUND.c.id)
    .where(
        or_(
            _INBOUND.c.dedup_key == bindparam("key"),
            and_(
                _INBOUND.c.mailbox == bindparam("mailbox"),
                _INBOUND.c.uidvalidity == bindparam("uidvalidity"),
                _INBOUND.c.uid == bindparam("uid"),
            ),
        )
    )
    .limit(1)
)
