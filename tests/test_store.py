"""The store on SQLite and on a real PostgreSQL server: migrations, intake, races."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, func, select

from mailbot.intake import store_raw
from mailbot.store import Inbound, background_checkpoints, open_store, session_scope
from tests.helpers import make_mail


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/store.db"
    else:
        url = request.getfixturevalue("postgres_url")
    eng = open_store(url)
    yield eng
    eng.dispose()


def test_migrations_create_every_table_of_the_models(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables
    # Starting again is a no-op, not an error.
    open_store(engine.url.render_as_string(hide_password=False)).dispose()


def test_migrated_columns_match_the_models(engine: Engine) -> None:
    inspector = inspect(engine)
    for name, table in SQLModel.metadata.tables.items():
        columns = {c["name"] for c in inspector.get_columns(name)}
        assert columns == {c.name for c in table.columns}, name


def test_intake_dedups_by_uid_and_by_content(engine: Engine) -> None:
    raw = make_mail("a@praxis-weber.example", "Drucker", "geht nicht")
    with session_scope(engine) as s:
        assert store_raw(s, raw, mailbox="INBOX", uidvalidity=7, uid=1)[1]
        assert not store_raw(s, raw, mailbox="INBOX", uidvalidity=7, uid=1)[1]
        # Same message after a UIDVALIDITY change: recognised by Message-ID and content.
        assert not store_raw(s, raw, mailbox="INBOX", uidvalidity=8, uid=1)[1]
        other = make_mail("a@praxis-weber.example", "Drucker", "geht wieder")
        assert store_raw(s, other, mailbox="INBOX", uidvalidity=8, uid=2)[1]
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Inbound)).one() == 2


def test_uids_above_signed_32_bit_fit(engine: Engine) -> None:
    raw = make_mail("a@praxis-weber.example", "x", "y")
    with session_scope(engine) as s:
        inbound_id, _ = store_raw(
            s, raw, mailbox="INBOX", uidvalidity=4_294_967_295, uid=4_294_967_290
        )
    with Session(engine) as s:
        stored = s.get(Inbound, inbound_id)
        assert stored is not None and stored.uid == 4_294_967_290


def test_concurrent_intake_of_the_same_mail_stores_it_once(engine: Engine) -> None:
    raw = make_mail("a@praxis-weber.example", "Server", "weg")
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        with session_scope(engine) as s:
            results.append(store_raw(s, raw, mailbox="INBOX", uidvalidity=1, uid=5)[1])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]


def test_background_checkpoints_copy_the_wal_into_the_database(tmp_path: Path) -> None:
    """Writers leave their pages in the WAL (the self-checkpoint mark is far off); the
    checkpoint thread copies them into the database file while the block runs."""
    database = tmp_path / "wal.db"
    engine = open_store(f"sqlite:///{database}")
    try:
        for n in range(40):
            with session_scope(engine) as session:
                mail = make_mail("kunde@mueller.example", f"Mail {n}", "x" * 3000)
                store_raw(session, mail, mailbox="m")
        before = database.stat().st_size
        assert Path(f"{database}-wal").stat().st_size > 100_000  # still in the WAL
        with background_checkpoints(engine, every=0.05):
            deadline = time.monotonic() + 10
            while database.stat().st_size <= before and time.monotonic() < deadline:
                time.sleep(0.05)
        assert database.stat().st_size > before + 100_000
        with Session(engine) as session:
            assert session.exec(select(func.count()).select_from(Inbound)).one() == 40
    finally:
        engine.dispose()
