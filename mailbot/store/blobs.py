"""Blobs: file contents named by their SHA-256, written and read a chunk at a time.

In the store rather than in files beside it: the store is what every worker shares
(several machines on one PostgreSQL see no common folder), a file and the mail that
carries it commit or roll back together, and a backup of the store is a backup of
everything. A content that is already stored (the logo of every signature, the same
PDF sent twice) is not written again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from mailbot.errors import MailbotError
from mailbot.store.fast import Prepared, prepared_insert
from mailbot.store.tables import Blob, BlobChunk

_BLOB = Blob.__table__  # type: ignore[attr-defined]
_CHUNK = BlobChunk.__table__  # type: ignore[attr-defined]
_INSERT_CHUNK = prepared_insert(BlobChunk)
_HAS_BLOB = Prepared(select(_BLOB.c.size).where(_BLOB.c.sha256 == bindparam("sha256")))
_READ_CHUNK = Prepared(
    select(_CHUNK.c.data).where(
        _CHUNK.c.sha256 == bindparam("sha256"), _CHUNK.c.seq == bindparam("seq")
    )
)


class BlobDamagedError(MailbotError, ValueError):
    """A stored content no longer matches the hash it is named by."""


def keep_blob(
    connection: Connection, sha256: str, size: int, chunks: Iterable[bytes], now: datetime
) -> bool:
    """Store the content ``chunks`` yield under ``sha256`` unless it is stored already;
    whether it was written now.

    Two workers storing the same new content at once: the second one's insert waits
    for the first's transaction (PostgreSQL) or its write turn (SQLite), then finds the
    row and writes nothing.
    """
    values = {"sha256": sha256, "size": size, "created_at": now}
    dialect = connection.dialect.name
    if dialect in ("sqlite", "postgresql"):
        module = sqlite if dialect == "sqlite" else postgresql
        statement = module.insert(_BLOB).values(**values).on_conflict_do_nothing()
        # RETURNING says whether a row went in: through SQLAlchemy, the rowcount of
        # this INSERT reads -1 on PostgreSQL whether it did or not.
        if connection.execute(statement.returning(_BLOB.c.sha256)).first() is None:
            return False
    else:
        if _HAS_BLOB.first(connection, {"sha256": sha256}) is not None:
            return False
        connection.execute(insert(_BLOB).values(**values))
    for seq, data in enumerate(chunks):
        # execute, not insert: the key is (sha256, seq), there is no new id to return
        _INSERT_CHUNK.execute(connection, {"sha256": sha256, "seq": seq, "data": data})
    return True


def blob_chunks(connection: Connection, sha256: str) -> Iterator[bytes]:
    """The content stored under ``sha256``, one chunk at a time; raises
    :class:`BlobDamagedError` at the end when what was read does not match its name."""
    digest = hashlib.sha256()
    seq = 0
    while (row := _READ_CHUNK.first(connection, {"sha256": sha256, "seq": seq})) is not None:
        data = bytes(row[0])
        digest.update(data)
        yield data
        seq += 1
    if digest.hexdigest() != sha256:
        raise BlobDamagedError(f"stored content {sha256[:12]}… is damaged or incomplete")
