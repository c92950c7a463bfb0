"""Schema migrations (Alembic) and opening a store."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from mailbot.store.engine import make_engine

log = logging.getLogger(__name__)


_MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to call on every start."""
    from alembic import command

    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two workers starting at once must not both create the tables.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7305747)")
        command.upgrade(_alembic_config(connection), "head")


def open_store(url: str) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine
