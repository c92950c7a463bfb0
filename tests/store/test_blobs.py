"""Blobs on SQLite and PostgreSQL: stored once by hash, read back a chunk at a time,
damage noticed, two workers storing the same new content at once."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from mailbot.store import (
    Blob,
    BlobChunk,
    BlobDamagedError,
    blob_chunks,
    keep_blob,
    open_store,
    session_scope,
)
from tests.helpers import STORE_BACKENDS

NOW = datetime(2026, 11, 24, 8, 35, tzinfo=UTC)


@pytest.fixture(params=STORE_BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/store.db"
    else:
        url = request.getfixturevalue("postgres_url")
    eng = open_store(url)
    yield eng
    eng.dispose()


def pieces(data: bytes, size: int = 100_000) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def count(engine: Engine, table: type[Blob] | type[BlobChunk]) -> int:
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(table)).one())


def test_a_content_is_stored_once_and_read_back_in_its_chunks(engine: Engine) -> None:
    data = os.urandom(350_000)
    sha = hashlib.sha256(data).hexdigest()
    with session_scope(engine) as s:
        assert keep_blob(s.connection(), sha, len(data), pieces(data), NOW) is True
    with session_scope(engine) as s:
        # The same file in another mail: nothing is written again.
        assert keep_blob(s.connection(), sha, len(data), pieces(data), NOW) is False
    assert (count(engine, Blob), count(engine, BlobChunk)) == (1, 4)
    with engine.connect() as connection:
        read = list(blob_chunks(connection, sha))
    assert [len(c) for c in read] == [100_000, 100_000, 100_000, 50_000]
    assert b"".join(read) == data


def test_an_empty_file_is_a_blob_without_chunks(engine: Engine) -> None:
    sha = hashlib.sha256(b"").hexdigest()
    with session_scope(engine) as s:
        assert keep_blob(s.connection(), sha, 0, [], NOW)
    with engine.connect() as connection:
        assert list(blob_chunks(connection, sha)) == []


def test_damaged_content_is_noticed_when_read(engine: Engine) -> None:
    data = os.urandom(250_000)
    sha = hashlib.sha256(data).hexdigest()
    with session_scope(engine) as s:
        keep_blob(s.connection(), sha, len(data), pieces(data), NOW)
        s.execute(
            update(BlobChunk).where(BlobChunk.seq == 1).values(data=b"x" * 100_000)  # type: ignore[arg-type]
        )
    with engine.connect() as connection, pytest.raises(BlobDamagedError):
        list(blob_chunks(connection, sha))


def test_two_workers_storing_the_same_new_content_store_it_once(engine: Engine) -> None:
    data = os.urandom(200_000)
    sha = hashlib.sha256(data).hexdigest()
    barrier = threading.Barrier(3)
    written: list[bool] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            with session_scope(engine) as s:
                written.append(keep_blob(s.connection(), sha, len(data), pieces(data), NOW))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(written) == [False, False, True]
    assert (count(engine, Blob), count(engine, BlobChunk)) == (1, 2)
    with engine.connect() as connection:
        assert b"".join(blob_chunks(connection, sha)) == data
