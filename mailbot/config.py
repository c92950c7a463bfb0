"""Configuration: one TOML file, validated into typed sections.

Lookup order: ``--config PATH``, then ``$MAILBOT_CONFIG``, then ``./mailbot.toml``,
then the embedded defaults (SQLite beside the working directory, Maildir outbox,
no IMAP). Every problem is reported as one :class:`ConfigError` line that names
the key and the file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from mailbot.errors import ConfigError
from mailbot.mail.headers import domain_of_address, within_domain
from mailbot.sla.plan import SlaSettings

T = TypeVar("T")

_SECURITY = ("ssl", "starttls", "none")


class _Table:
    """Reads one TOML table, remembering which keys were used so leftovers are errors."""

    def __init__(self, data: Any, prefix: str, path: Path | None) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(prefix, path, "expected a table")
        self.data: Mapping[str, Any] = data
        self.prefix = prefix
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def _get(self, name: str, kind: type[T] | tuple[type, ...], default: Any, what: str) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is _REQUIRED:
                raise ConfigError(self.key(name), self.path, "missing")
            return default
        value = self.data[name]
        # bool is an int in Python; a port of `true` is a mistake, not 1.
        if isinstance(value, bool) and kind is not bool:
            raise ConfigError(self.key(name), self.path, f"expected {what}, got a boolean")
        if not isinstance(value, kind):
            raise ConfigError(self.key(name), self.path, f"expected {what}, got {value!r}")
        return value

    def get_str(self, name: str, default: Any = None) -> Any:
        return self._get(name, str, default, "a string")

    def get_int(self, name: str, default: Any = None, minimum: int | None = 0) -> Any:
        value = self._get(name, int, default, "an integer")
        if value is not None and minimum is not None and value < minimum:
            raise ConfigError(self.key(name), self.path, f"must be at least {minimum}")
        return value

    def get_float(self, name: str, default: Any = None) -> Any:
        value = self._get(name, (int, float), default, "a number")
        if value is not None and value < 0:
            raise ConfigError(self.key(name), self.path, "must not be negative")
        return None if value is None else float(value)

    def get_bool(self, name: str, default: Any = None) -> Any:
        return self._get(name, bool, default, "true or false")

    def str_list(self, name: str, default: Any = None) -> Any:
        value = self._get(name, list, default, "a list of strings")
        if value is not None and not all(isinstance(v, str) for v in value):
            raise ConfigError(self.key(name), self.path, "expected a list of strings")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: Any) -> Any:
        value = self.get_str(name, default)
        if value not in choices:
            raise ConfigError(self.key(name), self.path, f"must be one of {', '.join(choices)}")
        return value

    def secret(self, name: str) -> str:
        """A password given inline or through ``<name>_env`` naming an environment variable."""
        inline = self.get_str(name)
        env = self.get_str(f"{name}_env")
        if env is not None:
            if env not in os.environ:
                raise ConfigError(
                    self.key(f"{name}_env"), self.path, f"environment variable {env} is not set"
                )
            return os.environ[env]
        return inline or ""

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError(self.key(unknown[0]), self.path, "unknown key")


_REQUIRED = object()


@dataclass(frozen=True)
class ImapConfig:
    name: str
    host: str
    port: int
    security: str
    username: str
    password: str
    folder: str = "INBOX"
    processed_folder: str | None = None
    #: seconds between polls when the server has no IDLE, and the IDLE wake-up bound
    poll_interval: float = 60.0
    #: IDLE is re-issued after this many seconds (RFC 2177 asks for less than 29 minutes)
    idle_timeout: float = 540.0
    timeout: float = 30.0
    verify: bool = True
    ca_file: str | None = None
    #: messages bigger than this (RFC822.SIZE) are recorded but not downloaded
    max_message_bytes: int = 25 * 1024 * 1024
    #: how many messages one FETCH asks for
    batch_size: int = 100


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str
    username: str
    password: str
    timeout: float = 30.0
    verify: bool = True
    ca_file: str | None = None


@dataclass(frozen=True)
class ServiceConfig:
    """Who the bot speaks as, and what it promises on the phone."""

    name: str = "IT-Service"
    address: str = "service@localhost"
    hotline: str = "+49 2102 7315-747"
    #: SMTP From header; defaults to ``name <address>``
    from_address: str = ""

    @property
    def from_header(self) -> str:
        return self.from_address or f"{self.name} <{self.address}>"


@dataclass(frozen=True)
class StaffConfig:
    domains: tuple[str, ...] = ()
    notify: str | None = None
    authserv_id: str | None = None
    #: language of the mail to technicians
    language: str = "de"


@dataclass(frozen=True)
class MonitoringConfig:
    senders: tuple[str, ...] = ()
    resolve_on_recovery: bool = True


@dataclass(frozen=True)
class CustomerConfig:
    domain: str
    name: str
    contract: bool


@dataclass(frozen=True)
class LimitsConfig:
    max_message_bytes: int = 25 * 1024 * 1024
    max_mime_parts: int = 1000
    max_mime_depth: int = 30
    acks_per_hour: int = 10
    acks_per_day: int = 40
    #: `mailbot status` fails when the last successful fetch is older than this
    fetch_stale_after: float = 900.0
    #: processes that work through a backlog; 0 means one per core, 1 none forked
    processes: int = 0


@dataclass(frozen=True)
class Config:
    path: Path | None
    store_url: str
    outbox_dir: Path
    service: ServiceConfig
    imap: tuple[ImapConfig, ...] = ()
    smtp: SmtpConfig | None = None
    staff: StaffConfig = field(default_factory=StaffConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    customers: tuple[CustomerConfig, ...] = ()
    sla: SlaSettings = field(default_factory=SlaSettings)
    limits: LimitsConfig = field(default_factory=LimitsConfig)

    def customer_for(self, address: str) -> CustomerConfig | None:
        domain = domain_of_address(address)
        for customer in self.customers:
            if within_domain(domain, customer.domain):
                return customer
        return None

    def customer_for_host(self, host: str) -> CustomerConfig | None:
        """Monitoring names hosts like ``fs01.mueller-steuerberatung``: find the customer in it."""
        labels = set(host.lower().replace("_", "-").split("."))
        for customer in self.customers:
            if customer.domain.split(".")[0] in labels:
                return customer
        return None

    def is_staff(self, address: str) -> bool:
        domain = domain_of_address(address)
        return any(within_domain(domain, d) for d in self.staff.domains)

    def is_monitoring(self, address: str) -> bool:
        return address.lower() in self.monitoring.senders

    @cached_property
    def own_addresses(self) -> frozenset[str]:
        """Addresses the bot sends from: mail from them is never answered (asked for
        every mail, so worked out once)."""
        found = {self.service.address.lower()}
        _, addr = parseaddr(self.service.from_header)
        if addr:
            found.add(addr.lower())
        for box in self.imap:
            if "@" in box.username:
                found.add(box.username.lower())
        return frozenset(found)


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


def _imap(table: _Table, name: str) -> ImapConfig:
    security = table.choice("security", _SECURITY, "ssl")
    default_port = {"ssl": 993, "starttls": 143, "none": 143}[security]
    idle = table.get_float("idle_timeout", 540.0)
    if idle > 1740:
        raise ConfigError(table.key("idle_timeout"), table.path, "must be below 29 minutes")
    cfg = ImapConfig(
        name=table.get_str("name", name),
        host=table.get_str("host", _REQUIRED),
        port=table.get_int("port", default_port, minimum=1),
        security=security,
        username=table.get_str("username", _REQUIRED),
        password=table.secret("password"),
        folder=table.get_str("folder", "INBOX"),
        processed_folder=table.get_str("processed_folder"),
        poll_interval=table.get_float("poll_interval", 60.0),
        idle_timeout=idle,
        timeout=table.get_float("timeout", 30.0),
        verify=table.get_bool("verify", True),
        ca_file=table.get_str("ca_file"),
        max_message_bytes=table.get_int("max_message_bytes", 25 * 1024 * 1024, minimum=1),
        batch_size=table.get_int("batch_size", 100, minimum=1),
    )
    table.done()
    return cfg


def parse_config(data: Mapping[str, Any], path: Path | None) -> Config:
    root = _Table(data, "", path)
    base = path.parent if path is not None else Path.cwd()

    store = _Table(root.data.get("store", {}), "store", path)
    root.used.add("store")
    url = store.get_str("url", "sqlite:///mailbot.db")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url[len("sqlite:///") :]
        if rel and rel != ":memory:":
            url = "sqlite:///" + str((base / rel).resolve())
    outbox = store.get_str("outbox")
    if outbox is not None:
        outbox_dir = (base / outbox).resolve()
    elif url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        outbox_dir = Path(url[len("sqlite:///") :]).parent / "outbox"
    else:
        outbox_dir = base / "outbox"
    store.done()

    svc = _Table(root.data.get("service", {}), "service", path)
    root.used.add("service")
    service = ServiceConfig(
        name=svc.get_str("name", "IT-Service"),
        address=svc.get_str("address", "service@localhost"),
        hotline=svc.get_str("hotline", ServiceConfig.hotline),
        from_address=svc.get_str("from_address", ""),
    )
    svc.done()

    boxes: list[ImapConfig] = []
    if "imap" in root.data:
        root.used.add("imap")
        boxes.append(_imap(_Table(root.data["imap"], "imap", path), "imap"))
    if "mailboxes" in root.data:
        root.used.add("mailboxes")
        entries = root.data["mailboxes"]
        if not isinstance(entries, list):
            raise ConfigError("mailboxes", path, "expected [[mailboxes]] entries")
        for i, entry in enumerate(entries):
            boxes.append(_imap(_Table(entry, f"mailboxes[{i}]", path), f"mailbox{i + 1}"))
    names = [b.name for b in boxes]
    if len(set(names)) != len(names):
        raise ConfigError("mailboxes.name", path, "mailbox names must be unique")

    smtp: SmtpConfig | None = None
    if "smtp" in root.data:
        root.used.add("smtp")
        t = _Table(root.data["smtp"], "smtp", path)
        security = t.choice("security", _SECURITY, "starttls")
        default_port = {"ssl": 465, "starttls": 587, "none": 25}[security]
        smtp = SmtpConfig(
            host=t.get_str("host", _REQUIRED),
            port=t.get_int("port", default_port, minimum=1),
            security=security,
            username=t.get_str("username", ""),
            password=t.secret("password"),
            timeout=t.get_float("timeout", 30.0),
            verify=t.get_bool("verify", True),
            ca_file=t.get_str("ca_file"),
        )
        from_address = t.get_str("from_address")
        t.done()
        if from_address:
            _, addr = parseaddr(from_address)
            if "@" not in addr:
                raise ConfigError("smtp.from_address", path, "not a mail address")
            if "address" not in svc.data:
                service = ServiceConfig(
                    name=service.name,
                    address=addr,
                    hotline=service.hotline,
                    from_address=from_address,
                )
            else:
                service = ServiceConfig(
                    name=service.name,
                    address=service.address,
                    hotline=service.hotline,
                    from_address=from_address,
                )

    st = _Table(root.data.get("staff", {}), "staff", path)
    root.used.add("staff")
    staff = StaffConfig(
        domains=tuple(d.lower() for d in st.str_list("domains", [])),
        notify=st.get_str("notify"),
        authserv_id=st.get_str("authserv_id"),
        language=st.choice("language", ("de", "en"), "de"),
    )
    st.done()

    mon = _Table(root.data.get("monitoring", {}), "monitoring", path)
    root.used.add("monitoring")
    monitoring = MonitoringConfig(
        senders=tuple(s.lower() for s in mon.str_list("senders", [])),
        resolve_on_recovery=mon.get_bool("resolve_on_recovery", True),
    )
    mon.done()

    customers: list[CustomerConfig] = []
    if "customers" in root.data:
        root.used.add("customers")
        entries = root.data["customers"]
        if not isinstance(entries, list):
            raise ConfigError("customers", path, "expected [[customers]] entries")
        for i, entry in enumerate(entries):
            c = _Table(entry, f"customers[{i}]", path)
            customers.append(
                CustomerConfig(
                    domain=c.get_str("domain", _REQUIRED).lower(),
                    name=c.get_str("name", ""),
                    contract=c.get_bool("contract", False),
                )
            )
            c.done()

    sla = SlaSettings()
    if "sla" in root.data:
        root.used.add("sla")
        sla = SlaSettings.from_table(root.data["sla"], path)

    lim = _Table(root.data.get("limits", {}), "limits", path)
    root.used.add("limits")
    limits = LimitsConfig(
        max_message_bytes=lim.get_int("max_message_bytes", LimitsConfig.max_message_bytes, 1),
        max_mime_parts=lim.get_int("max_mime_parts", LimitsConfig.max_mime_parts, 1),
        max_mime_depth=lim.get_int("max_mime_depth", LimitsConfig.max_mime_depth, 1),
        acks_per_hour=lim.get_int("acks_per_hour", LimitsConfig.acks_per_hour, 0),
        acks_per_day=lim.get_int("acks_per_day", LimitsConfig.acks_per_day, 0),
        fetch_stale_after=lim.get_float("fetch_stale_after", LimitsConfig.fetch_stale_after),
        processes=lim.get_int("processes", LimitsConfig.processes, 0),
    )
    lim.done()
    root.done()

    return Config(
        path=path,
        store_url=url,
        outbox_dir=outbox_dir,
        service=service,
        imap=tuple(boxes),
        smtp=smtp,
        staff=staff,
        monitoring=monitoring,
        customers=tuple(customers),
        sla=sla,
        limits=limits,
    )
