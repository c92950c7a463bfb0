"""The files of a mail: kept in the store with the mail, chosen for the mail we send on.

Every stored mail's files are kept (content by hash, :mod:`mailbot.store.blobs`).
What goes along with an announcement or a relay is chosen here: programs and scripts
never (a receiving server or Outlook would block the whole mail, and a customer must
never get one from us), the rest in the mail's order while they fit into
``[limits] forward_attachments_mb`` together; whatever stays behind is named, with
the command that writes it out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from mailbot.kinds import AttachmentFate
from mailbot.mail.parse import Attachment, ParsedMail
from mailbot.outbound.mime import Enclosure
from mailbot.store import StoredAttachment, keep_blob, prepared_insert

_INSERT = prepared_insert(StoredAttachment)
#: what a suggested output file name may contain: nothing a shell would read
_UNSAFE_FOR_SHELL = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Kept:
    """A file of the mail being processed, as stored (``id``: its attachment row)."""

    id: int
    file: Attachment
    size: int
    sha256: str
    #: why it is a program or script; "" when it is none
    risk: str


@dataclass(frozen=True)
class Listed:
    """A file as a mail we send names it, and what became of it there."""

    id: int
    name: str
    content_type: str
    size: int
    fate: AttachmentFate
    risk: str

    @property
    def attached(self) -> bool:
        return self.fate == AttachmentFate.ATTACHED

    @property
    def program(self) -> bool:
        return self.fate == AttachmentFate.PROGRAM

    @property
    def save_as(self) -> str:
        """A file name for ``mailbot attachment ID -o ...`` that is safe to paste into
        a shell as it is: the sender chose the original."""
        cleaned = _UNSAFE_FOR_SHELL.sub("_", self.name).lstrip("-.")
        return cleaned or f"attachment-{self.id}"


def keep_files(
    session: Session,
    *,
    ticket_id: int,
    message_row_id: int,
    inbound_id: int,
    mail: ParsedMail,
    now: datetime,
) -> tuple[Kept, ...]:
    """Store the files of ``mail`` (its message row is ``message_row_id``)."""
    connection = session.connection()
    kept: list[Kept] = []
    for position, file in enumerate(mail.attachments, 1):
        digest = file.digest
        keep_blob(connection, digest.sha256, digest.size, file.chunks(), now)
        risk = file.risk
        row_id = _INSERT.insert(
            connection,
            dict(
                ticket_id=ticket_id,
                message_row_id=message_row_id,
                inbound_id=inbound_id,
                position=position,
                name=file.name,
                content_type=file.content_type,
                size=digest.size,
                sha256=digest.sha256,
                inline=file.inline,
                risk=risk,
                created_at=now,
            ),
        )
        kept.append(Kept(row_id, file, digest.size, digest.sha256, risk))
    return tuple(kept)


def choose(kept: Sequence[Kept], budget: int) -> tuple[list[Enclosure], list[Listed]]:
    """What goes along (at most ``budget`` bytes together, no program), and every
    file as the mail names it."""
    left = budget
    enclosures: list[Enclosure] = []
    listed: list[Listed] = []
    for k in kept:
        if k.risk:
            fate = AttachmentFate.PROGRAM
        elif budget and k.size <= left:
            fate = AttachmentFate.ATTACHED
            left -= k.size
            enclosures.append(Enclosure(k.file.name, k.file.content_type, k.file.chunks))
        else:
            fate = AttachmentFate.TOO_LARGE
        listed.append(Listed(k.id, k.file.name, k.file.content_type, k.size, fate, k.risk))
    return enclosures, listed


def describe(item: Listed) -> str:
    """One line of evidence for an event: the file and what became of it."""
    why = f" ({item.risk})" if item.risk else ""
    return f"{item.name} ({item.content_type}, {item.size} bytes): {item.fate.value}{why}"
