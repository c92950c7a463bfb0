"""Readers of the sections other than ``[sla]``: each turns one :class:`Table` into its type."""

from __future__ import annotations

from dataclasses import replace
from datetime import time
from email.utils import parseaddr
from pathlib import Path

from mailbot.config._model import (
    CustomerConfig,
    ImapConfig,
    LimitsConfig,
    MonitoringConfig,
    ServiceConfig,
    SmtpConfig,
    SpamConfig,
    StaffConfig,
)
from mailbot.config._oauth import read_sign_in
from mailbot.config._table import REQUIRED, Table
from mailbot.errors import ConfigError
from mailbot.sla import parse_clock

_SECURITY = ("ssl", "starttls", "none")
_SQLITE = "sqlite:///"


def read_store(t: Table, base: Path) -> tuple[str, Path]:
    """The store URL and the outbox directory; relative SQLite paths start at ``base``."""
    url = t.get_str("url", "sqlite:///mailbot.db")
    # Four slashes is an absolute path; three a relative one, which the file anchors.
    if url.startswith(_SQLITE) and not url.startswith(_SQLITE + "/"):
        rel = url[len(_SQLITE) :]
        if rel and rel != ":memory:":
            url = _SQLITE + str((base / rel).resolve())
    outbox = t.get_str("outbox")
    if outbox is not None:
        outbox_dir = (base / outbox).resolve()
    elif url.startswith(_SQLITE) and url != _SQLITE + ":memory:":
        outbox_dir = Path(url[len(_SQLITE) :]).parent / "outbox"
    else:
        outbox_dir = base / "outbox"
    t.done()
    return url, outbox_dir


def read_service(t: Table) -> ServiceConfig:
    service = ServiceConfig(
        name=t.get_str("name", ServiceConfig.name),
        address=t.get_str("address", ServiceConfig.address),
        hotline=t.get_str("hotline", ServiceConfig.hotline),
        from_address=t.get_str("from_address", ServiceConfig.from_address),
    )
    t.done()
    return service


def read_imap(t: Table, name: str, oauth_names: frozenset[str] = frozenset()) -> ImapConfig:
    sign_in = read_sign_in(t, oauth_names)
    security = t.choice("security", _SECURITY, "ssl")
    default_port = {"ssl": 993, "starttls": 143, "none": 143}[security]
    idle = t.get_float("idle_timeout", ImapConfig.idle_timeout)
    if idle > 1740:
        raise t.error("idle_timeout", "must be below 29 minutes")
    cfg = ImapConfig(
        name=t.get_str("name", name),
        host=t.get_str("host", REQUIRED),
        port=t.get_int("port", default_port, minimum=1),
        security=security,
        username=t.get_str("username", REQUIRED),
        password=sign_in.password,
        auth=sign_in.auth,
        oauth=sign_in.oauth,
        mechanism=sign_in.mechanism,
        folder=t.get_str("folder", ImapConfig.folder),
        processed_folder=t.get_str("processed_folder"),
        poll_interval=t.get_float("poll_interval", ImapConfig.poll_interval),
        idle_timeout=idle,
        timeout=t.get_float("timeout", ImapConfig.timeout),
        verify=t.get_bool("verify", ImapConfig.verify),
        ca_file=t.get_str("ca_file"),
        max_message_bytes=t.get_int("max_message_bytes", ImapConfig.max_message_bytes, 1),
        batch_size=t.get_int("batch_size", ImapConfig.batch_size, minimum=1),
    )
    t.done()
    return cfg


def read_mailboxes(
    root: Table, oauth_names: frozenset[str] = frozenset()
) -> tuple[ImapConfig, ...]:
    """``[imap]`` (one box) and ``[[mailboxes]]`` (any number), names unique."""
    boxes: list[ImapConfig] = []
    single = root.optional_table("imap")
    if single is not None:
        boxes.append(read_imap(single, "imap", oauth_names))
    for i, t in enumerate(root.entries("mailboxes")):
        boxes.append(read_imap(t, f"mailbox{i + 1}", oauth_names))
    names = [b.name for b in boxes]
    if len(set(names)) != len(names):
        raise ConfigError("mailboxes.name", root.path, "mailbox names must be unique")
    return tuple(boxes)


def read_smtp(
    t: Table,
    service: ServiceConfig,
    service_table: Table,
    oauth_names: frozenset[str] = frozenset(),
) -> tuple[SmtpConfig, ServiceConfig]:
    """The SMTP server, and the service as it sends: ``from_address`` here sets its From
    header, and its address too unless ``[service]`` names one."""
    sign_in = read_sign_in(t, oauth_names)
    security = t.choice("security", _SECURITY, "starttls")
    default_port = {"ssl": 465, "starttls": 587, "none": 25}[security]
    smtp = SmtpConfig(
        host=t.get_str("host", REQUIRED),
        port=t.get_int("port", default_port, minimum=1),
        security=security,
        username=t.get_str("username", REQUIRED if sign_in.oauth else ""),
        password=sign_in.password,
        auth=sign_in.auth,
        oauth=sign_in.oauth,
        mechanism=sign_in.mechanism,
        timeout=t.get_float("timeout", SmtpConfig.timeout),
        verify=t.get_bool("verify", SmtpConfig.verify),
        ca_file=t.get_str("ca_file"),
        connections=t.get_int("connections", SmtpConfig.connections, minimum=1),
        max_per_minute=t.get_int("max_per_minute", SmtpConfig.max_per_minute, minimum=0),
    )
    from_address = t.get_str("from_address")
    t.done()
    if from_address:
        _, addr = parseaddr(from_address)
        if "@" not in addr:
            raise t.error("from_address", "not a mail address")
        address = service.address if "address" in service_table else addr
        service = replace(service, address=address, from_address=from_address)
    return smtp, service


def read_staff(t: Table) -> StaffConfig:
    staff = StaffConfig(
        domains=tuple(d.lower() for d in t.str_list("domains", [])),
        notify=t.get_str("notify"),
        authserv_id=t.get_str("authserv_id"),
        language=t.choice("language", ("de", "en"), StaffConfig.language),
    )
    t.done()
    return staff


def read_monitoring(t: Table) -> MonitoringConfig:
    monitoring = MonitoringConfig(
        senders=tuple(s.lower() for s in t.str_list("senders", [])),
        resolve_on_recovery=t.get_bool(
            "resolve_on_recovery", MonitoringConfig.resolve_on_recovery
        ),
    )
    t.done()
    return monitoring


def read_customers(root: Table) -> tuple[CustomerConfig, ...]:
    customers: list[CustomerConfig] = []
    for t in root.entries("customers"):
        customers.append(
            CustomerConfig(
                domain=t.get_str("domain", REQUIRED).lower(),
                name=t.get_str("name", ""),
                contract=t.get_bool("contract", False),
            )
        )
        t.done()
    return tuple(customers)


def read_limits(t: Table) -> LimitsConfig:
    d = LimitsConfig
    limits = LimitsConfig(
        max_message_bytes=t.get_int("max_message_bytes", d.max_message_bytes, 1),
        max_mime_parts=t.get_int("max_mime_parts", d.max_mime_parts, 1),
        max_mime_depth=t.get_int("max_mime_depth", d.max_mime_depth, 1),
        acks_per_hour=t.get_int("acks_per_hour", d.acks_per_hour, 0),
        acks_per_day=t.get_int("acks_per_day", d.acks_per_day, 0),
        fetch_stale_after=t.get_float("fetch_stale_after", d.fetch_stale_after),
        processes=t.get_int("processes", d.processes, 0),
        forward_attachments_mb=t.get_int("forward_attachments_mb", d.forward_attachments_mb, 0),
    )
    t.done()
    return limits


def read_spam(t: Table) -> SpamConfig:
    d = SpamConfig
    mx = t.value("mx", [])
    if isinstance(mx, str):
        mx = [mx]
    if not isinstance(mx, list) or not all(isinstance(m, str) and m.strip() for m in mx):
        raise t.error("mx", "expected a host name or a list of host names")
    notice = t.get_str("notice_at", "")
    notice_at = d.notice_at
    if notice:
        try:
            minutes = parse_clock(notice)
        except ValueError as exc:
            raise t.error("notice_at", str(exc)) from None
        notice_at = time(minutes // 60, minutes % 60)
    actions = t.str_list("rspamd_actions", list(d.rspamd_actions))
    spam = SpamConfig(
        mx=tuple(m.strip().lower() for m in mx),
        server_strips_foreign_headers=t.get_bool(
            "server_strips_foreign_headers", d.server_strips_foreign_headers
        ),
        spamassassin_score=t.get_float("spamassassin_score", d.spamassassin_score),
        rspamd_score=t.get_float("rspamd_score", d.rspamd_score),
        rspamd_actions=tuple(a.strip().lower() for a in actions),
        exchange_scl=t.get_int("exchange_scl", d.exchange_scl, minimum=1),
        notice_at=notice_at,
    )
    t.done()
    return spam
