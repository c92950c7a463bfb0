"""The tables of the durable store.

SQLite (WAL) is the embedded default; PostgreSQL works through the same code.
The schema is owned by the Alembic migrations in ``mailbot/migrations``; the
tables here must stay in step with them (a test compares the two).
"""


from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from mailbot.kinds import (
    AuthorKind,
    Direction,
    EventKind,
    InboundStatus,
    OutboxStatus,
    SendRank,
    TicketStatus,
)

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Customer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    domain: str = Field(index=True, unique=True)
    name: str = ""
    contract: bool = False


class Ticket(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    number: int = Field(index=True, unique=True)
    subject: str = ""
    customer_address: str = Field(default="", index=True)
    customer_domain: str = Field(default="", index=True)
    customer_name: str = ""
    contract: bool = False
    status: str = Field(default=TicketStatus.OPEN, index=True)
    priority: str = "low"
    urgency: str = "none"
    deadline: date | None = None
    planned_change: bool = False
    category: str = ""
    language: str = "de"
    arrived_at: datetime = Field(default_factory=utcnow)
    due_at: datetime | None = None
    #: the host/service key of a monitoring alarm ticket
    alarm_key: str | None = Field(default=None, index=True)
    assignee: str | None = None
    linked_ticket_id: int | None = Field(default=None, foreign_key="ticket.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


#: characters of a stored Thread-Index that name its conversation (the header block's
#: first 21 bytes; mail.threadindex.ROOT_PREFIX), and the expression the threading
#: query compares and migration 0005 indexes: written out, not bound, so that both
#: databases match the query to the index
THREAD_ROOT_CHARS = 28
THREAD_ROOT = f"substr(thread_index, 1, {THREAD_ROOT_CHARS})"


class Message(SQLModel, table=True):
    __table_args__ = (Index("ix_message_thread_root", text(THREAD_ROOT)),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    inbound_id: int | None = Field(default=None, foreign_key="inbound.id")
    outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    direction: str = Direction.IN
    author_kind: str = AuthorKind.CUSTOMER
    message_id: str = Field(default="", index=True)
    in_reply_to: str = ""
    references: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    #: the mail's whole Outlook Thread-Index, base64 as mail.threadindex writes it
    #: (rows stored before it was kept whole hold the header block only); "" for none
    thread_index: str = ""
    sender: str = ""
    recipients: str = ""
    subject: str = ""
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    #: JSON of the classification and its evidence
    evidence: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)


#: the one query by an event's kind (see migration 0003)
_TOO_LARGE = f"kind = '{EventKind.TOO_LARGE_NOTIFIED.value}'"


class Event(SQLModel, table=True):
    __table_args__ = (
        Index(
            "ix_event_too_large",
            "inbound_id",
            sqlite_where=text(_TOO_LARGE),
            postgresql_where=text(_TOO_LARGE),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    inbound_id: int | None = Field(default=None, foreign_key="inbound.id")
    at: datetime = Field(default_factory=utcnow)
    #: who or what decided: "process", "classify", "sla", "threads", a staff address, ...
    actor: str = ""
    #: an EventKind
    kind: str = ""
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    #: JSON list of the evidence that made the decision
    reasons: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))


class Inbound(SQLModel, table=True):
    """Every message as it arrived, raw, before anything else touches it."""

    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_inbound_mailbox_uid"),
        Index("ix_inbound_status_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = ""
    # UIDs and UIDVALIDITY are unsigned 32-bit: too big for a signed INTEGER on PostgreSQL.
    uidvalidity: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    uid: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    message_id: str = Field(default="", index=True)
    content_hash: str = ""
    #: sha256 over Message-ID and content hash: the same mail fetched twice
    dedup_key: str = Field(unique=True)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int = 0
    received_at: datetime = Field(default_factory=utcnow)
    status: str = InboundStatus.NEW
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    #: a QuarantineReason while the mail is quarantined (migration 0004); ``error``
    #: says the same for people
    quarantine_reason: str | None = None
    attempts: int = 0
    processed_at: datetime | None = None
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    #: an InboundDisposition for mail that is no work (spam, information), else None
    #: (migration 0009)
    disposition: str | None = Field(default=None, index=True)
    #: when a technician released it from spam: its reaction time counts from here
    released_at: datetime | None = None


class Outbox(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    #: an OutboxKind
    kind: str = ""
    message_id: str = Field(unique=True)
    envelope_from: str = ""
    #: the main recipient, lower-cased: what the per-recipient caps count
    to_address: str = Field(default="", index=True)
    #: JSON list of envelope recipients
    recipients: str = "[]"
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default=OutboxStatus.QUEUED, index=True)
    #: a SendRank: the order of sending, fixed when the mail is queued
    rank: int = Field(default=SendRank.CUSTOMER, sa_column_kwargs={"server_default": "2"})
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    last_error: str = ""
    smtp_reply: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    #: when the relay accepted it: the relay's limit counts these over the last minute
    sent_at: datetime | None = Field(default=None, index=True)
    claimed_by: str | None = None
    claimed_until: datetime | None = None


class Blob(SQLModel, table=True):
    """The content of a file, once for every mail that carries it (named by its SHA-256:
    the logo in every signature is stored once). Its bytes are :class:`BlobChunk` rows."""

    sha256: str = Field(primary_key=True)
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    created_at: datetime = Field(default_factory=utcnow)


class BlobChunk(SQLModel, table=True):
    """One piece of a blob (store.blobs.CHUNK bytes, the last one shorter): a file is
    written and read a piece at a time, never held whole."""

    __tablename__ = "blob_chunk"

    sha256: str = Field(foreign_key="blob.sha256", primary_key=True)
    seq: int = Field(primary_key=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class StoredAttachment(SQLModel, table=True):
    """A file of one stored mail: its name and type as that mail gave them (sanitised),
    its content by hash."""

    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    #: the ticket's message row of the mail that carried it
    message_row_id: int = Field(foreign_key="message.id")
    inbound_id: int | None = Field(default=None, foreign_key="inbound.id")
    #: 1 for the mail's first file
    position: int = 1
    name: str = ""
    content_type: str = ""
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    sha256: str = Field(foreign_key="blob.sha256", index=True)
    #: shown inside the mail's text (a pasted screenshot, a logo) rather than as a file
    inline: bool = False
    #: why it is a program or script ("" when it is none): never relayed to customers
    risk: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class MailboxState(SQLModel, table=True):
    mailbox: str = Field(primary_key=True)
    uidvalidity: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_uid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    last_fetch_ok_at: datetime | None = None
    last_error: str = ""
    last_error_at: datetime | None = None


class Setting(SQLModel, table=True):
    """Small key/value facts the service keeps between runs (last send, leader lease)."""

    key: str = Field(primary_key=True)
    value: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


class Correction(SQLModel, table=True):
    """A technician's label for one of the bot's judgements of a ticket, kept with the
    text the bot judged (migration 0007): a labelled example for training, and with
    the tickets judged, the measure of how often the bot was corrected.

    Rows are only added: a second label for the same ticket and field is a new row,
    and the latest one is the technician's verdict. Adding never races with another
    worker over a key, and the rows keep who said what when.
    """

    __table_args__ = (Index("ix_correction_ticket_field", "ticket_id", "field"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    #: a LabelField
    field: str = ""
    #: what the classifier said when the ticket opened; each label as a code: a
    #: priority or urgency value, a deadline as an ISO date ("" for none),
    #: "true"/"false" for a planned change
    bot_value: str = ""
    #: the ticket's value when the technician labelled it (a customer's follow-up or
    #: an earlier label may have changed it since the bot's judgement)
    before_value: str = ""
    #: the technician's label
    staff_value: str = ""
    #: a CorrectionSource
    source: str = ""
    #: who labelled it: the technician's address
    actor: str = ""
    #: the technician's mail (None for a label given elsewhere)
    inbound_id: int | None = Field(default=None, foreign_key="inbound.id")
    #: the judged mail, as the ticket's first incoming message stored it
    message_id: int | None = Field(default=None, foreign_key="message.id")
    language: str = ""
    subject: str = ""
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    at: datetime = Field(default_factory=utcnow, index=True)


class OAuthToken(SQLModel, table=True):
    """One OAuth2 token set per ``[oauth.NAME]``, shared by every worker of the store
    (migration 0008). The tokens are never part of a repr, a log line or a view."""

    __tablename__ = "oauth_token"

    name: str = Field(primary_key=True)
    #: the OAuthFlow it was obtained with
    flow: str = ""
    #: who signed in, as the provider's ID token names them ("" when it gave none)
    account: str = ""
    #: granted scopes, space-separated
    scopes: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    access_token: str = Field(
        default="", repr=False, sa_column=Column(Text, nullable=False, default="")
    )
    refresh_token: str = Field(
        default="", repr=False, sa_column=Column(Text, nullable=False, default="")
    )
    expires_at: datetime | None = None
    #: the last login (``mailbot auth login``)
    obtained_at: datetime | None = None
    #: the last refresh (or new app-only token)
    refreshed_at: datetime | None = None
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    failed_at: datetime | None = None
    #: the provider refused a refresh for good; cleared by the next login
    broken: bool = False
    #: when staff were told that it broke (once per breakage)
    notified_at: datetime | None = None
