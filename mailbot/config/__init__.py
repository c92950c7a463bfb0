"""Configuration: one TOML file, validated into typed sections.

Lookup order: ``--config PATH``, then ``$MAILBOT_CONFIG``, then ``./mailbot.toml``,
then the embedded defaults (SQLite beside the working directory, Maildir outbox,
no IMAP). Every problem is reported as one :class:`~mailbot.errors.ConfigError`
line that names the key and the file.

Inside: ``_table`` is the one reader of a table, ``_sections`` and ``_sla`` read
the sections with it, ``_model`` holds the types, ``_load`` puts them together.
The SLA types live in :mod:`mailbot.sla`; this package builds them, never the
other way round.
"""

from mailbot.config._load import find_config_path, load_config, parse_config
from mailbot.config._model import (
    Config,
    CustomerConfig,
    ImapConfig,
    LimitsConfig,
    MonitoringConfig,
    OAuthConfig,
    ServiceConfig,
    SmtpConfig,
    SpamConfig,
    StaffConfig,
)
from mailbot.config._sla import parse_sla

__all__ = [
    "Config",
    "CustomerConfig",
    "ImapConfig",
    "LimitsConfig",
    "MonitoringConfig",
    "OAuthConfig",
    "ServiceConfig",
    "SmtpConfig",
    "SpamConfig",
    "StaffConfig",
    "find_config_path",
    "load_config",
    "parse_config",
    "parse_sla",
]
