"""The durable store: tables, engine and sessions, fast statements, migrations.

SQLite (WAL) is the embedded default; PostgreSQL works through the same code.
The schema is owned by the Alembic migrations in ``migrations/``; the tables in
``tables`` must stay in step with them (a test compares the two).
"""

from mailbot.kinds import (
    AUTO_REPLY_KINDS,
    OPEN_STATES,
    AuthorKind,
    Direction,
    EventKind,
    InboundDisposition,
    InboundStatus,
    OutboxKind,
    OutboxStatus,
    QuarantineReason,
    TicketStatus,
)
from mailbot.store.blobs import BlobDamagedError, blob_chunks, keep_blob
from mailbot.store.engine import (
    Writer,
    background_checkpoints,
    exclusive,
    make_engine,
    pending_events,
    session_scope,
    write_scope,
)
from mailbot.store.fast import Prepared, insert_row, new_row, prepared_insert
from mailbot.store.migrate import migrate, open_store
from mailbot.store.tables import (
    Blob,
    BlobChunk,
    Correction,
    Customer,
    Event,
    Inbound,
    MailboxState,
    Message,
    OAuthToken,
    Outbox,
    Setting,
    StoredAttachment,
    Ticket,
    utcnow,
)

__all__ = [
    "AUTO_REPLY_KINDS",
    "OPEN_STATES",
    "AuthorKind",
    "Blob",
    "BlobChunk",
    "BlobDamagedError",
    "Correction",
    "Customer",
    "Direction",
    "Event",
    "EventKind",
    "Inbound",
    "InboundDisposition",
    "InboundStatus",
    "MailboxState",
    "Message",
    "OAuthToken",
    "Outbox",
    "OutboxKind",
    "OutboxStatus",
    "Prepared",
    "QuarantineReason",
    "Setting",
    "StoredAttachment",
    "Ticket",
    "TicketStatus",
    "Writer",
    "background_checkpoints",
    "blob_chunks",
    "exclusive",
    "insert_row",
    "keep_blob",
    "make_engine",
    "migrate",
    "new_row",
    "open_store",
    "pending_events",
    "prepared_insert",
    "session_scope",
    "utcnow",
    "write_scope",
]
