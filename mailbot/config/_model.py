"""The typed configuration: one frozen dataclass per section, and :class:`Config`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from email.utils import parseaddr
from functools import cached_property
from pathlib import Path

from mailbot.kinds import AuthMethod, OAuthFlow, OAuthProvider, SaslMechanism
from mailbot.mail.headers import domain_of_address, within_domain
from mailbot.sla import SlaSettings


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
    auth: AuthMethod = AuthMethod.PASSWORD
    #: the ``[oauth.NAME]`` whose tokens log in, with ``auth = "oauth2"``
    oauth: str = ""
    mechanism: SaslMechanism = SaslMechanism.XOAUTH2


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
    #: SMTP connections open at once, across all workers of one store (a relay caps
    #: them: Exchange Online takes 3 per mailbox)
    connections: int = 2
    #: mails handed to the relay per minute, across all workers of one store; 0 = no cap
    max_per_minute: int = 0
    auth: AuthMethod = AuthMethod.PASSWORD
    #: the ``[oauth.NAME]`` whose tokens log in, with ``auth = "oauth2"``
    oauth: str = ""
    mechanism: SaslMechanism = SaslMechanism.XOAUTH2


@dataclass(frozen=True)
class OAuthConfig:
    """One ``[oauth.NAME]`` table: a registered app at a provider and how its tokens
    are obtained. The endpoints and scopes are filled in for the known providers."""

    name: str
    provider: OAuthProvider
    flow: OAuthFlow
    client_id: str
    token_url: str
    #: confidential clients (app-only, Google's desktop apps); never printed
    client_secret: str = field(default="", repr=False)
    tenant: str = ""
    scopes: tuple[str, ...] = ()
    device_authorization_url: str = ""
    authorization_url: str = ""
    #: extra parameters of the authorization request (Google needs some to hand out a
    #: refresh token)
    authorize_params: tuple[tuple[str, str], ...] = ()
    #: the loopback port the browser comes back to (authorization_code); 0 = any free one
    redirect_port: int = 0
    #: the host name in the redirect URI (what the app registration names)
    redirect_host: str = "127.0.0.1"
    #: seconds for one request to the provider
    timeout: float = 30.0


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
class SpamConfig:
    """Whose spam verdicts count, and from which score on.

    A sender can write any header itself: a verdict counts only when it stands above
    the first ``Received`` line our own MX wrote (``mx`` names it as that line's
    ``by`` part), or anywhere when our server removes copies that came with the mail.
    """

    #: how our receiving server names itself in the ``by`` part of its Received line;
    #: ".example.net" (leading dot) matches any host of that domain
    mx: tuple[str, ...] = ()
    server_strips_foreign_headers: bool = False
    #: SpamAssassin: X-Spam-Status score from which a mail is spam (X-Spam-Flag: YES is)
    spamassassin_score: float = 5.0
    #: rspamd: X-Spamd-Result / X-Rspamd-Score from which a mail is spam (its default
    #: "add header" score), and the X-Rspamd-Action values that say spam
    rspamd_score: float = 6.0
    rspamd_actions: tuple[str, ...] = ("add header", "rewrite subject", "reject")
    #: Exchange Online / EOP: spam confidence level from which a mail is spam
    exchange_scl: int = 5
    #: local time of day of the daily spam notice to ``[staff] notify``
    notice_at: time = time(16, 0)


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
    #: attachments that go out with an announcement or a relay, in MiB together;
    #: the rest is named (0: none goes out)
    forward_attachments_mb: int = 10

    @property
    def forward_attachment_bytes(self) -> int:
        return self.forward_attachments_mb * 1024 * 1024


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
    oauth: tuple[OAuthConfig, ...] = ()
    spam: SpamConfig = field(default_factory=SpamConfig)

    def oauth_named(self, name: str) -> OAuthConfig | None:
        return next((o for o in self.oauth if o.name == name), None)

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
