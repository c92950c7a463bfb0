"""Finding the file, reading its TOML, and putting the sections together."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mailbot.config._model import Config
from mailbot.config._oauth import read_oauth
from mailbot.config._sections import (
    read_customers,
    read_limits,
    read_mailboxes,
    read_monitoring,
    read_service,
    read_smtp,
    read_spam,
    read_staff,
    read_store,
)
from mailbot.config._sla import read_sla
from mailbot.config._table import Table
from mailbot.errors import ConfigError
from mailbot.sla import SlaSettings


def find_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get("MAILBOT_CONFIG")
    if env:
        return Path(env)
    local = Path("mailbot.toml")
    return local if local.exists() else None


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    path = find_config_path(explicit)
    if path is None:
        return parse_config({}, None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("--config", path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("--config", path, f"cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(syntax)", path, str(exc)) from None
    return parse_config(data, path)


def parse_config(data: Mapping[str, Any], path: Path | None) -> Config:
    """The configuration of ``data`` (``tomllib`` output) read from ``path``.

    Relative paths in it start at the file's folder (the working directory without
    a file), so a service started from anywhere finds the same database.
    """
    root = Table(data, "", path)
    base = path.parent if path is not None else Path.cwd()
    store_url, outbox_dir = read_store(root.table("store"), base)
    service_table = root.table("service")
    service = read_service(service_table)
    # First: the mailboxes and the relay name their token sets.
    oauth = read_oauth(root)
    names = frozenset(o.name for o in oauth)
    imap = read_mailboxes(root, names)
    smtp = None
    smtp_table = root.optional_table("smtp")
    if smtp_table is not None:
        smtp, service = read_smtp(smtp_table, service, service_table, names)
    staff = read_staff(root.table("staff"))
    monitoring = read_monitoring(root.table("monitoring"))
    customers = read_customers(root)
    sla_table = root.optional_table("sla")
    sla = read_sla(sla_table) if sla_table is not None else SlaSettings()
    limits = read_limits(root.table("limits"))
    spam = read_spam(root.table("spam"))
    root.done()
    return Config(
        path=path,
        store_url=store_url,
        outbox_dir=outbox_dir,
        service=service,
        imap=imap,
        smtp=smtp,
        staff=staff,
        monitoring=monitoring,
        customers=customers,
        sla=sla,
        limits=limits,
        oauth=oauth,
        spam=spam,
    )
